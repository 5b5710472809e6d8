"""The work done inside the tracer child (this module imports torch).

For one request: load the user's file (definitions only, see ``loader``), build each entry
class with its constructor defaults or the given ``init`` on the ``meta`` device (falling
back to a FakeTensor mode, then, only when the user enabled it, to a tiny CPU run), call
``forward`` with tensors of the given or statically inferred input shapes, and record the
shape of every tensor each statement of the user's files binds (``ShapeRecorder``). Input
dims given as symbols (``B``) are run at several values so that the dims that follow them
are reported as expressions of the symbol (``"B"``, ``"T+1"``).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import linecache
import os
import re
import sys
import time
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from ml_lsp.trace.failure import problem_from_exception
from ml_lsp.trace.interpreter import missing_package_text
from ml_lsp.trace.loader import (
    ENVIRONMENT_ERRORS, Failure, StandIn, forget_user_modules, is_user_file, load_user_module, loading, new_report,
    stand_in_used,
)
from ml_lsp.trace.recorder import ShapeRecorder, source_facts
from ml_lsp.trace.sizes import MAX_PLANS, batch_symbols, describe, fit, propose
from ml_lsp.trace.symbolic import base_values, fit_dim, symbol_values

MODES = ("meta", "fake", "cpu")
DTYPES = {"float": torch.float32, "long": torch.long, "bool": torch.bool,
          "int32": torch.int32, "half": torch.float16, "bfloat16": torch.bfloat16,
          "double": torch.float64}


class TextRecorder(ShapeRecorder):
    """The recorder, reading a file's statements from the editor's unsaved text when the
    request carried it (line numbers must match the code that actually ran)."""

    def __init__(self, paths, sources: dict[str, str]):
        super().__init__(paths)
        self._sources = {os.path.realpath(p): t for p, t in sources.items()}

    def _facts_for(self, filename):  # noqa: D401 - the recorder's hook, extended
        real = os.path.realpath(filename)
        if real in self._sources and filename not in self._facts_by_filename:
            self._facts_by_filename[filename] = source_facts(filename, self._sources[real])
        return super()._facts_for(filename)


class OpsUntraced(TorchFunctionMode):
    """Switch the recorder's ``sys.settrace`` off while a torch op runs: on the meta device
    many ops are Python decompositions, and tracing their thousands of calls made a
    recorded forward 3 to 30 times slower. The user's own frames are traced as before
    (their bindings are read between ops)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        trace = sys.gettrace()
        if trace is None:
            return func(*args, **(kwargs or {}))
        sys.settrace(None)
        try:
            return func(*args, **(kwargs or {}))
        finally:
            sys.settrace(trace)


class InputUses(TorchFunctionMode):
    """Which dtype the code takes each dummy input of unknown dtype as, read from the ops
    it meets while one forward runs (the inputs went in as float): an index into a table
    (``embedding``, ``gather``, ``x[idx]``) is ``long``; a mask (``masked_fill``'s mask,
    ``where``'s condition, ``~m``, ``key_padding_mask=``) is ``bool``; a per-sample value
    of rank 0 or 1 that the code converts to float itself (``t[:, None].float()``, what a
    timestep embedding does) is ``long``. An input also fed to a float op (``linear``,
    ``conv``, ``matmul``...) stays float. Values derived from an input without changing it
    (indexing, views, ``to(device)``, a product with ones) count as that input."""

    _VIEWS = frozenset({
        "__getitem__", "view", "reshape", "flatten", "unsqueeze", "squeeze", "expand", "expand_as", "contiguous",
        "repeat", "permute", "transpose", "t", "clone", "detach", "__mul__", "__rmul__", "mul", "long", "int",
        "bool", "unbind", "chunk", "split", "rearrange", "repeat_interleave"})
    _INDEX_TAKERS = frozenset({
        "embedding", "gather", "index_select", "take", "take_along_dim", "one_hot", "bincount", "embedding_bag",
        "scatter", "scatter_add", "index_add", "index_put"})
    _MASK_TAKERS = frozenset({"masked_fill", "masked_select", "masked_scatter"})
    _NOT = frozenset({"__invert__", "logical_not", "bitwise_not", "__and__", "__or__", "logical_and", "logical_or"})
    _CASTS = frozenset({"float", "double", "half", "bfloat16"})
    _FLOAT_OPS = frozenset({
        "linear", "conv1d", "conv2d", "conv3d", "conv_transpose2d", "matmul", "bmm", "mm", "einsum", "layer_norm",
        "group_norm", "batch_norm", "instance_norm", "softmax", "log_softmax", "scaled_dot_product_attention",
        "sigmoid", "tanh", "gelu", "relu", "silu", "dropout", "exp", "sin", "cos", "rsqrt", "sqrt", "pow", "log",
        "log1p", "reciprocal", "erf", "atan", "sinh", "cosh"})

    def __init__(self, tensors: dict[str, Any]):
        super().__init__()
        self._keep = list(tensors.values())  # ids stay valid while tracked values live
        self._origin: dict[int, tuple[str, Any]] = {id(t): (name, t) for name, t in tensors.items()}
        self.uses: dict[str, set[str]] = {name: set() for name in tensors}

    def _source(self, value) -> str | None:
        found = self._origin.get(id(value))
        return found[0] if found is not None and found[1] is value else None

    def _sources(self, values) -> list[str]:
        out = []
        for value in values:
            if isinstance(value, (list, tuple)):
                out.extend(self._sources(value))
            else:
                name = self._source(value)
                if name is not None:
                    out.append(name)
        return out

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        try:  # before the call: a float index may make it raise
            self._observe(name, args, kwargs)
        except Exception:  # noqa: BLE001, S110 - never let the watching change what the model does
            pass
        result = func(*args, **kwargs)
        try:
            self._derive(name, args, result)
        except Exception:  # noqa: BLE001, S110 - as above
            pass
        return result

    def _mark(self, names, use: str) -> None:
        for name in names:
            self.uses[name].add(use)

    def _observe(self, name: str, args, kwargs) -> None:
        name = name.rstrip("_") if name.endswith("_") and not name.startswith("__") else name
        first = self._sources(args[:1])
        if name in self._INDEX_TAKERS:
            # embedding(input, weight), gather(x, dim, index), index_select(x, dim, index)
            self._mark(self._sources(args[:1] if name in ("embedding", "one_hot", "bincount", "embedding_bag")
                                     else args[1:]) + self._sources([kwargs.get("index"), kwargs.get("input")]
                                                                    if name == "embedding" else [kwargs.get("index")]),
                       "index")
        elif name == "__getitem__" and len(args) > 1 and self._sources(args[1:2]):
            self._mark(self._sources(args[1:2]), "index")
        elif name in self._MASK_TAKERS:
            self._mark(self._sources(args[1:2]) + self._sources([kwargs.get("mask")]), "mask")
        elif name == "where" and args:
            self._mark(self._sources(args[:1]), "mask")
        elif name in self._NOT and first:
            self._mark(first, "mask")
        elif name in self._CASTS or (name in ("to", "type") and any(
                getattr(a, "is_floating_point", False) for a in list(args[1:]) + list(kwargs.values()))):
            self._mark([n for n in first if len(self._origin_shape(n)) <= 1], "cast")
            # What follows works on the converted value (the very same object when the
            # dummy input already was float): no longer the input.
            self._origin.pop(id(args[0]), None)
        elif name in self._FLOAT_OPS:
            self._mark(self._sources(args) + self._sources(kwargs.values()), "float")
        for key, value in kwargs.items():
            if "padding_mask" in key:
                self._mark(self._sources([value]), "mask")

    def _derive(self, name: str, args, result) -> None:
        first = self._sources(args[:1])
        if first and (name in self._VIEWS or name == "to"):
            source = first[0]
            for item in (result if isinstance(result, (list, tuple)) else [result]):
                if isinstance(item, torch.Tensor) and id(item) not in self._origin:
                    self._origin[id(item)] = (source, item)
                    self._keep.append(item)

    def _origin_shape(self, name: str) -> tuple:
        for source, value in self._origin.values():
            if source == name:
                return tuple(value.shape)
        return ()

    def dtypes(self) -> dict[str, str]:
        """``{input: dtype}`` for the inputs whose uses say other than float."""
        out = {}
        for name, uses in self.uses.items():
            if "float" in uses:
                continue
            if "index" in uses:
                out[name] = "long"
            elif "mask" in uses:
                out[name] = "bool"
            elif "cast" in uses:
                out[name] = "long"
        return out


# The recorder's trace function while a recorded forward runs, else None.
_ACTIVE_TRACE: list = [None]


def _traced_entry(func):
    """``func`` (a function of the user's files) switching the recorder on for its own
    frame: outside the user's code (nn.Module's call machinery, torch ops) tracing is off,
    because CPython runs every frame slower while a trace function is set."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        trace = _ACTIVE_TRACE[0]
        previous = sys.gettrace()
        if trace is None or previous is trace:
            return func(*args, **kwargs)
        sys.settrace(trace)
        try:
            return func(*args, **kwargs)
        finally:
            sys.settrace(previous)

    wrapper.__ml_lsp_traced__ = True
    return wrapper


def wrap_user_functions(roots: list[str]) -> None:
    """Wrap every function and method defined in the user's files (see ``_traced_entry``),
    in every user module's namespace, so that ``from blocks import helper`` gets the same
    wrapper as ``blocks.helper``."""
    wrapped: dict = {}

    def wrap(value):
        if inspect.isfunction(value) and not getattr(value, "__ml_lsp_traced__", False) \
                and (is_user_file(value.__code__.co_filename, roots) or _decorates_user_code(value, roots)):
            if value not in wrapped:
                wrapped[value] = _traced_entry(value)
            return wrapped[value]
        return None

    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if not filename or not is_user_file(filename, roots):
            continue
        for name, value in list(vars(module).items()):
            if inspect.isfunction(value):
                new = wrap(value)
                if new is not None:
                    setattr(module, name, new)
            elif _library_object_calling_user_code(value, roots):
                # ``@use_kernel_forward_from_hub`` turns a user function into a library
                # nn.Module whose forward calls it: switch tracing on in that forward.
                kind = type(value)
                for attr in ("forward", "__call__"):
                    new = wrap(vars(kind).get(attr))
                    if new is not None:
                        setattr(kind, attr, new)
            elif isinstance(value, type) and is_user_file(getattr(sys.modules.get(value.__module__), "__file__", "") or "", roots):
                for attr, member in list(vars(value).items()):
                    if isinstance(member, (staticmethod, classmethod)):
                        new = wrap(member.__func__)
                        if new is not None:
                            setattr(value, attr, type(member)(new))
                    else:
                        new = wrap(member)
                        if new is not None:
                            setattr(value, attr, new)


def _decorates_user_code(value, roots: list[str]) -> bool:
    """A library decorator's wrapper around a user function (``@torch.autocast(...)``,
    ``@deprecate_kwarg``, ``@lru_cache``-style closures): the wrapper's own frame is the
    library's, so tracing stays off through it unless the wrapper itself switches it on."""
    try:
        inner = inspect.unwrap(value)
    except ValueError:  # a __wrapped__ cycle
        return False
    candidates = [inner] if inner is not value else []
    # A decorator without functools.wraps keeps the user function in its closure.
    for cell in getattr(value, "__closure__", None) or ():
        try:
            candidates.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    return any(inspect.isfunction(c) and is_user_file(c.__code__.co_filename, roots) for c in candidates)


def _library_object_calling_user_code(value, roots: list[str]) -> bool:
    """An instance (not a function, class or module) of a class defined outside the user's
    files whose ``forward``/``__call__`` wraps a user function."""
    if inspect.isfunction(value) or isinstance(value, type) or inspect.ismodule(value):
        return False
    members = vars(type(value))
    return any(inspect.isfunction(members.get(attr)) and not getattr(members[attr], "__ml_lsp_traced__", False)
               and _decorates_user_code(members[attr], roots) for attr in ("forward", "__call__"))


class _QuietModuleCalls:
    """Tracing off inside ``nn.Module.__call__`` (hooks, dispatch); the user's ``forward``
    switches it back on for its own frame (``_traced_entry``)."""

    def __enter__(self):
        self.original = torch.nn.Module.__call__
        original = self.original

        def quiet_call(module, *args, **kwargs):
            previous = sys.gettrace()
            if previous is None:
                return original(module, *args, **kwargs)
            sys.settrace(None)
            try:
                return original(module, *args, **kwargs)
            finally:
                sys.settrace(previous)

        torch.nn.Module.__call__ = quiet_call
        return self

    def __exit__(self, *exc):
        torch.nn.Module.__call__ = self.original


def handle(request: dict) -> dict:
    started = time.perf_counter()
    path = os.path.realpath(request["path"])
    roots = sorted({os.path.realpath(r) for r in request.get("roots") or []} | {os.path.dirname(path)})
    sources = {os.path.realpath(p): t for p, t in (request.get("sources") or {}).items()}
    for source_path, text in sources.items():
        linecache.cache[source_path] = (len(text), None, text.splitlines(True), source_path)
    modes = [m for m in request.get("modes") or ["meta", "fake"] if m in MODES]
    timeout = float(request.get("timeout") or 0) or None
    # Size search stops here, leaving time for the symbol runs of a size that worked.
    search_deadline = time.monotonic() + timeout * 0.6 if timeout else None
    forget_user_modules(roots)
    report = new_report()
    response: dict[str, Any] = {"ok": True, "entries": [], "problems": [], "traced": [], "files": [],
                                "notes": []}
    sys.argv = [path] + list(request.get("argv") or [])
    saved_path = list(sys.path)
    try:
        return _handle(request, path, roots, sources, modes, search_deadline, report, response, started)
    finally:
        sys.path[:] = saved_path  # the next file's folders, not this one's


def _handle(request, path, roots, sources, modes, search_deadline, report, response, started) -> dict:
    with loading(roots, sources):
        try:
            module = load_user_module(path, sources.get(path), roots)
        except BaseException as exc:  # a syntax error in the file, or a bug of ours
            if isinstance(exc, KeyboardInterrupt):
                raise
            response["problems"].append(problem_from_exception(exc, "import", roots, fallback=(path, 1)))
            response["files"] = _user_files(roots, path)
            response["seconds"] = time.perf_counter() - started
            return response
        files = _user_files(roots, path)
        wrap_user_functions(roots)
        entry = request.get("entry")
        specs = request.get("inputs") or {}
        static = [e for e in request.get("static") or [] if any(isinstance(d, str) for d in e.get("shape") or [])]
        if entry:
            cls = getattr(module, entry, None)
            if isinstance(cls, StandIn):
                # Its own definition did not run: what it needed is the problem.
                failure = object.__getattribute__(cls, "_ml_lsp_failure")
                response["problems"].append(failure_problem(failure, entry))
                response["files"] = files
                response["notes"] = report.notes()
                response["seconds"] = time.perf_counter() - started
                return response
            # A Module class, or a function that builds one (``def ConvMixer(dim, depth): return
            # nn.Sequential(...)``).
            if not ((isinstance(cls, type) and issubclass(cls, torch.nn.Module)) or inspect.isfunction(cls)):
                response["problems"].append({
                    "kind": "inputs", "entry": entry, "path": path, "line": 1, "col": None,
                    "end_line": None, "end_col": None, "operands": [], "error": "NoSuchClass",
                    "message": f"no nn.Module class or factory named '{entry}' in {os.path.basename(path)}; "
                               f"classes found: {', '.join(_module_classes(module)) or 'none'}"})
                response["files"] = files
                return response
            targets = [entry]
        else:
            targets = _module_classes(module)
        per_entry = []
        for name in targets:
            cls = getattr(module, name)
            result = trace_class(cls, module, request.get("init") if name == entry else None,
                                 specs.get(name) or {}, modes, files, roots, sources, bool(entry), static,
                                 search_deadline, request.get("constraints") or [])
            response["traced"].append(result["traced"])
            response["problems"].extend(result["problems"])
            response["notes"].extend(result.get("notes") or [])
            per_entry.append((name, result["entries"]))
    response["notes"] = report.notes() + response["notes"]
    if not entry:
        # Tracing a whole file: a class whose inputs nobody knows is skipped with a note
        # (its statements are often traced anyway, inside the class that uses it).
        for problem in [p for p in response["problems"] if p["kind"] == "inputs"]:
            response["problems"].remove(problem)
            response["notes"].append(problem["message"])
    response["problems"] = _once_per_package(response["problems"])
    response["entries"] = _merge_entries(per_entry)
    response["files"] = sorted(set(files) | set(_user_files(roots, path)))
    response["seconds"] = time.perf_counter() - started
    return response


def failure_problem(failure: Failure, entry: str | None) -> dict:
    """A problem for a top-level statement the traced class needed and that did not run:
    an absent package (said once, with the command that installs it, on the import line),
    or the statement's own error on its line."""
    problem = {"kind": "import", "entry": entry, "path": failure.path, "line": failure.line, "col": None,
               "end_line": None, "end_col": None, "operands": [], "error": failure.error.split(":", 1)[0]}
    if failure.missing_module:
        package = install_name(failure.missing_module)
        command, message = missing_package_text(package, sys.executable)
        problem.update(kind="missing-package", package=package, install=command, error="ModuleNotFoundError",
                       message=message)
    elif failure.error.startswith(ENVIRONMENT_ERRORS):
        # Module-level code that needs its own command line, data or network: not the
        # user's mistake, and the model cannot be traced without what it would have made.
        problem.update(kind="module-level", message=(
            f"not traced: {entry or 'the model'} needs what line {failure.line} makes "
            f"(`{failure.statement}`), which did not run here: {failure.error}"))
    else:
        problem["message"] = f"import failed: `{failure.statement}` (line {failure.line}): {failure.error}"
    return problem


#: import names whose distribution is called something else
_DISTRIBUTIONS = {"cv2": "opencv-python", "PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml",
                  "skimage": "scikit-image", "bs4": "beautifulsoup4", "attr": "attrs", "Crypto": "pycryptodome",
                  "google.protobuf": "protobuf", "lightning": "lightning", "pytorch_lightning": "pytorch-lightning",
                  "timm": "timm", "einops": "einops", "dateutil": "python-dateutil", "faiss": "faiss-cpu",
                  "sentencepiece": "sentencepiece", "tensorboardX": "tensorboardX"}


def install_name(module: str) -> str:
    top = module.split(".")[0]
    return _DISTRIBUTIONS.get(module) or _DISTRIBUTIONS.get(top) or top.replace("_", "-")


def _once_per_package(problems: list[dict]) -> list[dict]:
    seen, kept = set(), []
    for problem in problems:
        if problem.get("kind") == "missing-package":
            if problem.get("package") in seen:
                continue
            seen.add(problem.get("package"))
        kept.append(problem)
    return kept


def _module_classes(module) -> list[str]:
    names = []
    for name, value in vars(module).items():
        if (isinstance(value, type) and issubclass(value, torch.nn.Module)
                and value.__module__ == module.__name__):
            names.append(name)
    return names


def _user_files(roots: list[str], path: str) -> list[str]:
    files = {path}
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if filename and is_user_file(filename, roots):
            files.add(os.path.realpath(filename))
    return sorted(files)


def _merge_entries(per_entry: list[tuple[str, list[dict]]]) -> list[dict]:
    """One entry per (scope, line, name): a class's statements as seen inside another
    traced class (its real use) win over the class traced on its own with inferred inputs."""
    chosen: dict[tuple, tuple[bool, dict]] = {}
    for name, entries in per_entry:
        for e in entries:
            key = (e["path"], e["scope"], e["line"], e["name"])
            own = e["scope"].split(".", 1)[0] == name
            if key not in chosen or (chosen[key][0] and not own):
                chosen[key] = (own, e)
    return sorted((e for _, e in chosen.values()), key=lambda e: (e["path"], e["line"], e["scope"]))


# ---------------------------------------------------------------------------------------

def trace_class(cls, module, init: str | None, spec: dict, modes: list[str], files: list[str],
                roots: list[str], sources: dict[str, str], explicit: bool, static: list[dict] | None = None,
                search_deadline: float | None = None, constraints: list[dict] | None = None) -> dict:
    path = os.path.realpath(inspect.getsourcefile(cls) or module.__file__)
    class_line = _class_line(cls)
    traced = {"entry": cls.__name__, "mode": None, "inputs": {}, "symbols": {}, "runs": [], "sizes": [],
              "pinned": {}, "seconds": 0.0}
    out = {"entries": [], "problems": [], "traced": traced, "notes": []}
    started = time.perf_counter()
    try:
        inputs, symbols, positional = _input_plan(cls, spec)
    except ValueError as exc:
        out["problems"].append({
            "kind": "inputs", "entry": cls.__name__, "path": path, "line": class_line,
            "col": None, "end_line": None, "end_col": None, "operands": [], "error": "InputsUnknown",
            "message": f"cannot trace {cls.__name__}: {exc}", "explicit": explicit})
        return out
    traced["inputs"] = {k: {"dims": v["dims"], "dtype": v.get("dtype")} for k, v in inputs.items()}
    free = [s for s in symbols if s not in batch_symbols(inputs, symbols)]
    undeclared = [name for name, given in inputs.items() if not given.get("dtype")]
    plan = inputs
    as_long = False
    inferred: set[str] = set()   # undeclared inputs whose dtype was read from their uses
    models: dict[str, Any] = {}
    queue = [base_values(symbols)]
    # The first sizes tried are ones the static engine says the layers take, when it says.
    fitted = fit(constraints or [], queue[0], free) if free else None
    if fitted is not None and fitted != queue[0]:
        queue.insert(0, fitted)
    tried: list[dict] = []
    attempts: list[tuple[dict, _TracedFailure]] = []   # per size: the failure of its last mode
    first_mode = 0
    success = None
    final = None   # a failure no other size or mode can help (constructor, stand-in)
    while queue and success is None and final is None:
        env = queue.pop(0)
        if env in tried:
            continue
        if tried and (len(tried) >= MAX_PLANS or (search_deadline and time.monotonic() > search_deadline)):
            break
        tried.append(env)
        last = None
        index = first_mode
        while index < len(modes):
            mode = modes[index]
            if mode not in models:
                models[mode] = _build_in_mode(cls, module, init, mode)
            model = models[mode]
            if isinstance(model, _TracedFailure):
                last = model
                if stand_in_used(model.exc) is None and _mode_related(model.exc) and index + 1 < len(modes):
                    index += 1
                    continue
                final = model
                break
            uses: list[InputUses] = []
            watch = [k for k in undeclared if k not in inferred]
            try:
                entries = _forward(model, plan, env, mode, files, sources, positional, watch, uses)
            except _TracedFailure as failure:
                last = failure
                if stand_in_used(failure.exc) is not None:
                    final = failure
                    break
                guessed = uses[0].dtypes() if uses else {}
                if guessed:
                    # An input the code uses as indices or a mask went in as float: the same
                    # again with the dtype its uses say (each run may reach further uses).
                    inferred |= set(guessed)
                    plan = {k: dict(v, dtype=guessed[k]) if k in guessed else v for k, v in plan.items()}
                    continue
                if not as_long and undeclared and _WANTS_INDICES.search(str(failure.exc)):
                    # Inputs of unknown dtype went in as float; an index-taking layer
                    # (Embedding) refuses them: the same again with those inputs as long.
                    as_long = True
                    plan = {k: dict(v, dtype="long") if k in undeclared else v for k, v in inputs.items()}
                    continue
                if _mode_related(failure.exc) and index + 1 < len(modes):
                    index += 1
                    continue
                break
            guessed = uses[0].dtypes() if uses else {}
            if guessed:
                # It ran with float where the code reads indices or a mask (meta kernels do
                # not check): the bindings at the dtype its uses say, if that runs too.
                inferred |= set(guessed)
                typed = {k: dict(v, dtype=guessed[k]) if k in guessed else v for k, v in plan.items()}
                try:
                    entries = _forward(model, typed, env, mode, files, sources, positional)
                    plan = typed
                except _TracedFailure:
                    pass
            success = (env, mode, entries)
            break
        first_mode = index if index < len(modes) else first_mode
        if success is None and final is None and last is not None:
            attempts.append((env, last))
            if free and last.kind == "forward":
                problem = problem_from_exception(last.exc, "forward", roots, fallback=(path, class_line))
                queue.extend(propose(problem, str(last.exc), static or [], env, free))
    traced["sizes"] = [{"sizes": describe(env, symbols), "ok": False, "error": _short(f.exc)} for env, f in attempts]
    if success is not None:
        env, mode, entries = success
        traced["mode"] = mode
        traced["inputs"] = {k: {"dims": v["dims"], "dtype": v.get("dtype") or "float"} for k, v in plan.items()}
        traced["sizes"].append({"sizes": describe(env, symbols), "ok": True, "error": None})
        runs, per_run = [env], [entries]
        for alternate in symbol_values(symbols, base=env)[1:]:
            try:
                per_run.append(_forward(models[mode], plan, alternate, mode, files, sources, positional))
                runs.append(alternate)
            except _TracedFailure:
                continue  # a size the model does not take: that symbol stays at its value
        moved = {s for run in runs[1:] for s in symbols if run[s] != env[s]}
        traced["pinned"] = {s: env[s] for s in free if s not in moved}
        traced["symbols"] = dict(env)
        traced["runs"] = runs
        out["entries"] = _fit_runs(per_run, runs, symbols)
        if attempts:
            out["notes"].append(
                f"{cls.__name__}: traced at {describe(env, free)} ({', '.join(describe(e, free) for e, _ in attempts)} "
                f"did not fit the model: {_short(attempts[-1][1].exc)})")
        traced["seconds"] = time.perf_counter() - started
        return out
    failure = final or (attempts[-1][1] if attempts else None)
    if failure is None:
        traced["seconds"] = time.perf_counter() - started
        return out
    used = stand_in_used(failure.exc)
    if used is not None:
        out["problems"].append(failure_problem(used.failure, cls.__name__))
        traced["seconds"] = time.perf_counter() - started
        return out
    if failure.kind == "forward" and failure.partial and symbols and isinstance(models.get(failure.mode), _Built):
        # The other symbol values too, each up to the same error, so what ran before it
        # keeps its symbolic dims (``h (B, 100)``, not ``(2, 100)``).
        runs, per_run = [failure.env], list(failure.partial)
        for alternate in symbol_values(symbols, base=failure.env)[1:]:
            try:
                per_run.append(_forward(models[failure.mode], plan, alternate, failure.mode, files, sources,
                                        positional))
            except _TracedFailure as again:
                per_run.append(again.partial[0] if again.partial else [])
            runs.append(alternate)
        failure.partial, failure.runs = per_run, runs
    problem = _failure_problem(failure, attempts, modes, free, symbols, roots, path, class_line, cls)
    # What ran before the user's error is shown beside it; not what ran at sizes the
    # tracer guessed and the model does not take.
    partial = problem.pop("partial", [])
    if problem["kind"] != "sizes":
        out["entries"] = partial
    out["problems"].append(problem)
    traced["seconds"] = time.perf_counter() - started
    return out


def _failure_problem(failure, attempts, modes, free, symbols, roots, path, class_line, cls) -> dict:
    """The problem to show when no size and no mode worked. A failure that is the same at
    every size tried is the user's, on their line, said as the static engine says it where
    it can be; one that moved with the sizes was the tracer's guess and is said as that,
    on the class."""
    env = failure.env or {}
    note = f"traced on {failure.mode}" + (", " + ", ".join(f"{k}={v}" for k, v in env.items()) if env else "")
    problem = problem_from_exception(failure.exc, failure.kind, roots, fallback=(path, class_line),
                                     entry=cls.__name__, note=note if len(attempts) <= 1 else "")
    problem["mode"] = failure.mode
    out_entries = _fit_runs(failure.partial, failure.runs or [env], symbols) if failure.partial else []
    problem["partial"] = out_entries
    if failure.kind == "forward" and free and len(attempts) > 1:
        places = {(p.get("path"), p.get("line"), p.get("error")) for p in
                  (problem_from_exception(f.exc, "forward", roots, fallback=(path, class_line)) for _, f in attempts)}
        tried = "; ".join(describe(e, free) for e, _ in attempts)
        if len(places) == 1:
            if problem.get("phrase"):
                problem["message"] = f"forward failed: {problem['phrase']}" + "".join(
                    "; operands: " + ", ".join(f"`{o['expr']}` {o['value']}" for o in problem["operands"])
                    for _ in [0] if problem["operands"])
            problem["message"] += f" (traced on {failure.mode} at every input size tried: {tried})"
        else:
            problem.update(kind="sizes", path=path, line=class_line, col=None, end_line=None, end_col=None,
                           message=f"could not find input sizes {cls.__name__} takes (tried {tried}); "
                                   f"at {describe(env, symbols)}: {_short(failure.exc)}")
    if "cpu" not in modes and _NEEDS_DATA.search(str(failure.exc)):
        problem["message"] += ("; if this op needs real data, enable a tiny CPU run "
                               "(--cpu-fallback, or the trace_cpu_fallback setting)")
    return problem


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _mode_related(exc: BaseException) -> bool:
    """A failure of the data-free mode itself (an op with no meta kernel, a value read on
    meta), which the next mode may not have."""
    text = f"{type(exc).__name__}: {exc}"
    return isinstance(exc, NotImplementedError) or bool(_NEEDS_DATA.search(text) or _MIXED_DEVICES.search(text))


# A tensor the model made on the CPU itself (``torch.FloatTensor(n)``, a legacy constructor
# that ignores the device context) meeting the meta inputs: FakeTensor mode handles it.
_MIXED_DEVICES = re.compile(r"device.{0,40}\bmeta\b|\bmeta\b.{0,40}device", re.IGNORECASE)


def _class_line(cls) -> int:
    try:
        return inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return 1


# Failures of the data-free modes themselves (not of the user's code).
_NEEDS_DATA = re.compile(r"meta tensor|'Meta' backend|meta device|FakeTensor|data.dependent|DataDependent|"
                         r"DynamicOutputShape|dynamic output shape", re.IGNORECASE)


_WANTS_INDICES = re.compile(r"\bLong\b|\bInt\b|indices|scalar type", re.IGNORECASE)


class _TracedFailure(Exception):
    def __init__(self, kind: str, exc: BaseException, env: dict, mode: str = ""):
        self.kind, self.exc, self.env, self.mode = kind, exc, env, mode
        self.partial: list[list[dict]] = []  # per run: what was recorded before the error
        self.runs: list[dict] = []  # the sizes of those runs, when more than ``env``


def _input_plan(cls, spec: dict) -> tuple[dict, list[str], bool]:
    """``{param: {"dims": [...], "dtype": ...}}`` for the forward parameters to pass, the
    input symbols in order of appearance, and whether to pass them by position (a factory
    function's module, or given names that are not the forward's: ``x`` for
    ``Sequential.forward(input)``), in the order given."""
    if inspect.isfunction(cls):
        return _positional_plan(spec)
    try:
        signature = inspect.signature(cls.forward)
    except (TypeError, ValueError):
        raise ValueError("its forward has no readable signature")
    params = [p for p in signature.parameters.values() if p.name != "self"]
    names = {p.name for p in params}
    required = [p for p in params if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if spec and not (set(spec) & names) and len(spec) >= len(required):
        return _positional_plan(spec)
    plan: dict[str, dict] = {}
    symbols: list[str] = []
    missing = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        given = spec.get(p.name)
        if given is None:
            if p.default is p.empty:
                missing.append(p.name)
            continue
        dims = list(given.get("dims") or [])
        for d in dims:
            if d is None:
                raise ValueError(
                    f"the shape of forward parameter '{p.name}' is not fully known "
                    f"({_dims_text(dims)}); pass --input {p.name}=D1,D2,...")
            if isinstance(d, str):
                for sym in _names(d):
                    if sym not in symbols:
                        symbols.append(sym)
        plan[p.name] = {"dims": dims, "dtype": given.get("dtype"), "high": given.get("high")}
    if any(p.kind == p.VAR_KEYWORD for p in params):
        # ``forward(self, input, **kwargs)`` reading ``kwargs['labels']``: the other given
        # inputs go in by name.
        for name, given in spec.items():
            if name in names or name in plan:
                continue
            dims = list(given.get("dims") or [])
            if any(d is None for d in dims):
                continue
            for d in dims:
                if isinstance(d, str):
                    symbols.extend(sym for sym in _names(d) if sym not in symbols)
            plan[name] = {"dims": dims, "dtype": given.get("dtype"), "high": given.get("high")}
    if missing:
        raise ValueError(
            "unknown input shape for forward parameter(s) " + ", ".join(f"'{m}'" for m in missing)
            + "; pass --input " + " --input ".join(f"{m}=D1,D2,..." for m in missing))
    return plan, symbols, False


def _positional_plan(spec: dict) -> tuple[dict, list[str], bool]:
    plan, symbols = {}, []
    for name, given in spec.items():
        dims = list(given.get("dims") or [])
        if any(d is None for d in dims):
            raise ValueError(f"the shape of input '{name}' is not fully known ({_dims_text(dims)})")
        for d in dims:
            if isinstance(d, str):
                symbols.extend(sym for sym in _names(d) if sym not in symbols)
        plan[name] = {"dims": dims, "dtype": given.get("dtype"), "high": given.get("high")}
    if not plan:
        raise ValueError("no input shapes given; pass --input NAME=D1,D2,...")
    return plan, symbols, True


def _dims_text(dims) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def _names(expr: str) -> list[str]:
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        raise ValueError(f"'{expr}' is not a dim (an int, a name, or an expression like T+1)")
    return [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]


def _concrete(dims: list, env: dict[str, int]) -> list[int]:
    from ml_lsp.trace.symbolic import eval_dim
    out = []
    for d in dims:
        value = eval_dim(d, env)
        if value is None or value < 0:
            raise ValueError(f"dim {d!r} cannot be evaluated")
        out.append(value)
    return out


def _build(cls, module, init: str | None):
    args: tuple = ()
    kwargs: dict = {}
    if init and init.strip():
        namespace = dict(vars(module))
        namespace["__ml_lsp_args__"] = lambda *a, **k: (a, k)
        args, kwargs = eval(f"__ml_lsp_args__({init})", namespace)
    else:
        kwargs = _config_arguments(cls, module)
    try:
        model = cls(*args, **kwargs)
    except TypeError as exc:
        if "required" in str(exc) and "argument" in str(exc) and not init:
            raise TypeError(f"{exc}; give the constructor's arguments (--init \"...\", "
                            "or a default for each parameter)") from exc
        raise
    model.eval()
    return model


_CONFIG_PARAM = re.compile(r"^(config|cfg|conf|args|params|hparams|hp|model_args|model_config|opt|options)$")
_CONFIG_CLASS = re.compile(r"(Config|Configuration|Args|Arguments|Params|Hparams|Options)$")


def _config_arguments(cls, module) -> dict:
    """Constructor parameters with no default that take a configuration object
    (``def __init__(self, config: GPTConfig)``): that class built with its own defaults, as
    the static engine assumes. Annotated with a class, or named like a config with exactly
    one config-like class in the module. Anything else stays missing (a clear TypeError)."""
    try:
        if inspect.isfunction(cls):
            params = list(inspect.signature(cls).parameters.values())
        else:
            params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return {}
    candidates = [v for n, v in vars(module).items() if isinstance(v, type)
                  and _CONFIG_CLASS.search(n) and not issubclass(v, torch.nn.Module)]
    kwargs = {}
    for p in params:
        if p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = None if p.annotation is p.empty else p.annotation
        if isinstance(annotation, str):
            annotation = vars(module).get(annotation.strip("'\""))
        if not (isinstance(annotation, type) and annotation.__module__ not in ("builtins", "typing")):
            annotation = candidates[0] if len(candidates) == 1 and _CONFIG_PARAM.match(p.name) else None
        if annotation is None:
            continue
        try:
            kwargs[p.name] = annotation()
        except Exception:
            continue
    return kwargs


def _device_context(mode: str, fake_mode):
    if mode == "meta":
        return torch.device("meta")
    if mode == "fake":
        return fake_mode
    return contextlib.nullcontext()


def _make_input(dims: list[int], dtype_name: str | None, mode: str, high: int | None = None):
    dtype = DTYPES.get(dtype_name or "float", torch.float32)
    if mode == "cpu":
        if dtype.is_floating_point:
            return torch.randn(dims, dtype=dtype)
        if dtype == torch.bool:
            return torch.rand(dims) > 0.5
        # Integer inputs are usually indices: below ``high`` when the request says, else
        # 0 or 1, which every embedding table accepts.
        return torch.randint(0, max(int(high or 2), 1), dims, dtype=dtype)
    # meta: the ambient device is meta; fake: the ambient mode makes it a FakeTensor
    return torch.zeros(dims, dtype=dtype)


class _Built:
    """A model built in one mode, with what its forward must run under."""

    def __init__(self, model, mode: str, fake_mode=None):
        self.model, self.mode, self.fake_mode = model, mode, fake_mode


@contextlib.contextmanager
def _parameters_on_meta():
    """Construction on the CPU with every parameter and buffer moved to the meta device as
    it is registered (what ``accelerate.init_empty_weights`` does): a constructor that
    reads values (``[x.item() for x in torch.linspace(0, 0.1, 12)]``) runs, and no weight
    takes memory."""
    module_class = torch.nn.Module
    register_parameter, register_buffer = module_class.register_parameter, module_class.register_buffer

    def parameter_on_meta(self, name, param):
        register_parameter(self, name, param)
        param = self._parameters.get(name)
        if param is not None and param.device.type != "meta":
            kwargs = dict(param.__dict__)
            self._parameters[name] = type(param)(param.to("meta"), **kwargs) if kwargs \
                else type(param)(param.to("meta"), requires_grad=param.requires_grad)

    def buffer_on_meta(self, name, tensor, *args, **kwargs):
        register_buffer(self, name, tensor, *args, **kwargs)
        buffer = self._buffers.get(name)
        if buffer is not None and buffer.device.type != "meta":
            self._buffers[name] = buffer.to("meta")

    module_class.register_parameter, module_class.register_buffer = parameter_on_meta, buffer_on_meta
    try:
        yield
    finally:
        module_class.register_parameter, module_class.register_buffer = register_parameter, register_buffer


def _build_in_mode(cls, module, init, mode: str):
    """The model built for ``mode``, or the ``_TracedFailure`` of its constructor."""
    fake_mode = None
    if mode == "fake":
        from torch._subclasses.fake_tensor import FakeTensorMode
        fake_mode = FakeTensorMode(allow_non_fake_inputs=True)
    with torch.no_grad():
        try:
            with _device_context(mode, fake_mode):
                return _Built(_build(cls, module, init), mode, fake_mode)
        except Exception as exc:
            failure = _TracedFailure("constructor", exc, {}, mode)
        if mode == "meta" and _mode_related(failure.exc) and stand_in_used(failure.exc) is None:
            try:
                with _parameters_on_meta():
                    return _Built(_build(cls, module, init), mode)
            except Exception:
                pass
    return failure


def _forward(built: _Built, inputs: dict, env: dict, mode: str, files, sources, positional: bool,
             watch: list[str] | None = None, uses: list | None = None) -> list[dict]:
    """Run forward once at the sizes ``env`` gives (twice on the CPU, on different random
    values, so that a dim that depends on the values comes out unknown); the recorded
    entries, or ``_TracedFailure`` with what was recorded before the error. ``watch``:
    inputs whose dtype is unknown; their `InputUses` is appended to ``uses``."""
    recorder = TextRecorder(files, sources)
    with torch.no_grad(), _device_context(mode, built.fake_mode):
        for draw in range(2 if mode == "cpu" else 1):
            torch.manual_seed(draw)
            try:
                tensors = {name: _make_input(_concrete(spec["dims"], env), spec["dtype"], mode, spec.get("high"))
                           for name, spec in inputs.items()}
            except ValueError as exc:
                raise _TracedFailure("inputs", exc, env, mode) from None
            try:
                watcher = contextlib.nullcontext()
                if watch and uses is not None and draw == 0:
                    watcher = InputUses({k: v for k, v in tensors.items() if k in watch})
                    uses.append(watcher)
                with OpsUntraced(), watcher, _QuietModuleCalls(), recorder:
                    _ACTIVE_TRACE[0] = sys.gettrace()
                    try:
                        if positional:
                            built.model(*tensors.values())
                        else:
                            built.model(**tensors)
                    finally:
                        _ACTIVE_TRACE[0] = None
            except Exception as exc:
                failure = _TracedFailure("forward", exc, env, mode)
                failure.partial = [recorder.entries()]
                raise failure from None
    return recorder.entries()


def _fit_runs(per_run: list[list[dict]], runs: list[dict], symbols: list[str]) -> list[dict]:
    base = per_run[0]
    if len(per_run) == 1:
        return [_public(e, e["shape"]) for e in base]
    by_key = [{(e["path"], e["scope"], e["line"], e["name"]): e for e in entries} for entries in per_run]
    out = []
    for e in base:
        key = (e["path"], e["scope"], e["line"], e["name"])
        seen = [m.get(key) for m in by_key]
        shapes = [s["shape"] if s else None for s in seen]
        if any(s is None for s in shapes) or len({len(s) for s in shapes}) != 1:
            shape = None if e["shape"] is None else [None] * len(e["shape"])
        else:
            shape = []
            for i in range(len(shapes[0])):
                values = [s[i] for s in shapes]
                shape.append(None if any(v is None for v in values) else fit_dim(values, runs, symbols))
        dtype = e["dtype"] if all(s and s["dtype"] == e["dtype"] for s in seen) else None
        out.append(_public(dict(e, dtype=dtype), shape))
    return out


def _public(e: dict, shape) -> dict:
    return {"path": e["path"], "scope": e["scope"], "line": e["line"], "name": e["name"],
            "shape": shape, "dtype": e["dtype"], "source": "trace"}
