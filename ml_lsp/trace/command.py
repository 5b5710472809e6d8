"""``ml-lsp shapes FILE... --trace [--compare]``: traced shapes, and the static engine
checked against them.

``ml_lsp.commands.shapes`` parses the arguments and calls ``run(args)`` here when
``--trace`` or ``--compare`` is given. ``args`` carries ``files``, ``entry``, ``init``,
``input`` (``["x=B,784", ...]``), ``json``, ``compare``, ``timeout`` and, when the shapes
command defines it, ``cpu_fallback``.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from ml_lsp.trace.session import DEFAULT_TIMEOUT, TraceFailed, TraceRequest, TraceSession

def parse_inputs(values) -> dict[str, list]:
    """``["x=B,784", "mask=B,T"]`` -> ``{"x": ["B", 784], ...}``, as for ``ml-lsp shapes``."""
    from ml_lsp.cli import parse_input_option

    return parse_input_option(values)


def static_facts(text: str, path: str, entry=None, init=None, inputs=None):
    """The static engine's facts for ``text``, or None when the engine is unavailable or
    failed (the trace does not depend on it)."""
    try:
        from ml_lsp.analysis import analyze_source
    except ImportError:
        return None
    kwargs = {"entry": entry, "init": init, "inputs": inputs or None}
    resolver = _module_resolver()
    if resolver is not None:
        kwargs["resolve_module"] = resolver
    from ml_lsp.analysis import InputError
    try:
        return analyze_source(text, path, **kwargs)
    except InputError:
        raise  # bad --entry/--init/--input: the user's to fix, said as such
    except Exception:  # the static engine's bug must not cost the user the trace
        return None


def _module_resolver():
    """Sibling imports resolved as ``ml-lsp shapes`` resolves them."""
    try:
        from ml_lsp.resolve import make_resolver
    except ImportError:
        return None
    return make_resolver()


def _dim_json(dim):
    try:
        from ml_lsp.analysis.dims import dim_json
    except ImportError:  # pragma: no cover - the engine ships dims.py
        return dim if isinstance(dim, (int, str)) or dim is None else str(dim)
    return dim_json(dim)


def class_inputs(facts, explicit: dict[str, list], entry: str | None) -> dict[str, dict]:
    """For each class the static engine knows: ``{param: {"dims": [...], "dtype": ...}}``,
    the explicit ``--input`` shapes for the entry class (or, with no entry, for every
    class whose forward takes those names), the statically inferred ones otherwise."""
    result: dict[str, dict] = {}
    classes = list(getattr(facts, "classes", None) or [])
    # A parameter's dtype from a binding of its name in forward, when that binding still has
    # the input's shape (``src = self.emb(src)`` is another value, whose float dtype would
    # hide that the input takes indices).
    bindings: dict[tuple[str, str], list] = {}
    for binding in getattr(facts, "bindings", None) or []:
        if binding.scope.endswith(".forward") and getattr(binding, "dtype", None):
            bindings.setdefault((binding.scope.rsplit(".", 1)[0], binding.name), []).append(binding)
    for cls in classes:
        spec = {}
        for param, shape in (getattr(cls, "input_shapes", None) or {}).items():
            if shape is None:
                continue
            same = [b for b in bindings.get((cls.name, param), []) if b.shape is not None
                    and tuple(b.shape) == tuple(shape)]
            spec[param] = {"dims": _runnable_dims([_dim_json(d) for d in shape]), "dtype": same[0].dtype if same else None}
        result[cls.name] = spec
    if explicit:
        targets = [entry] if entry else [name for name, spec in result.items() if set(explicit) <= set(spec)]
        for name in targets or ([entry] if entry else []):
            spec = dict(result.get(name) or {})
            for param, dims in explicit.items():
                spec[param] = {"dims": dims, "dtype": (spec.get(param) or {}).get("dtype")}
            result[name] = spec
    return result



def _runnable_dims(dims: list) -> list:
    """A run needs a rank: an input the engine knows only as ``(*, 256)`` (Linear takes any
    leading dims) is traced with one leading batch dim, ``(B, 256)``."""
    if "*" not in dims:
        return dims
    i = dims.index("*")
    batch = next(n for n in ("B", "N", "B0", "B1") if n not in dims)
    return dims[:i] + [batch] + dims[i + 1:]


def symbolic_entries(facts) -> list[dict]:
    """The static bindings whose shape has a symbolic dim (what the size search solves)."""
    if facts is None:
        return []
    try:
        entries = facts.to_json_entries()
    except Exception:  # the static engine's bug must not cost the user the trace
        return []
    return [{"scope": e["scope"], "line": e["line"], "name": e["name"], "shape": e["shape"]}
            for e in entries if any(isinstance(d, str) for d in e.get("shape") or [])]


def static_constraints(facts) -> list[dict]:
    """What the static engine says each layer call needs of its input, where the input's
    dim is an expression of the input symbols: ``self.head(x)`` with ``Linear(512)`` and
    ``x`` of ``(B, 32*(H//2)*(W//2))`` gives ``{"dim": "32*(H//2)*(W//2)", "value": 512,
    "line": 22, "layer": "Linear(...)"}``. The tracer picks its first sizes so that every
    such dim has its value (``ml_lsp.trace.sizes.fit``)."""
    if facts is None:
        return []
    try:
        refs, hovers = list(facts.layer_refs or []), list(facts.hovers or [])
    except Exception:  # noqa: BLE001 - the static engine's bug must not cost the user the trace
        return []
    # The first argument of a call is the hover that starts right after the callee's "(".
    argument = {(h.line, h.col): h for h in hovers if h.shape is not None}
    found: list[dict] = []
    for ref in refs:
        signature = ref.signature or ""
        if "->" not in signature:
            continue
        wanted = [d.strip() for d in signature.split("->", 1)[0].strip().strip("()").split(",")]
        arg = argument.get((ref.end_line, ref.end_col + 1))
        if arg is None or not wanted:
            continue
        shape = [_dim_json(d) for d in arg.shape]
        if wanted[0] == "*":
            pairs = list(zip(reversed(wanted[1:]), reversed(shape)))
        elif len(wanted) == len(shape):
            pairs = list(zip(wanted, shape))
        else:
            continue
        for need, dim in pairs:
            if need.isdigit() and isinstance(dim, str):
                item = {"dim": dim, "value": int(need), "line": ref.line, "layer": ref.call}
                if item not in found:
                    found.append(item)
    return found


def _workspace_root(path: Path) -> str:
    """The nearest folder above ``path`` with a pyproject.toml, setup.py or .git; else the
    file's own folder. Files under it count as the user's (recorded, reloaded each time)."""
    for folder in [path.parent, *path.parents]:
        if any((folder / marker).exists() for marker in ("pyproject.toml", "setup.py", ".git")):
            return str(folder)
    return str(path.parent)


def trace_file(session: TraceSession, path: Path, *, entry=None, init=None, explicit=None,
               timeout=DEFAULT_TIMEOUT, cpu_fallback=False, argv=None, text=None, facts=None,
               sources=None, class_inputs_extra=None, use_cache=True) -> dict:
    """Trace one file; returns the child's response, or a response whose only problem is
    the failure (timeout, crash)."""
    text = path.read_text(encoding="utf-8") if text is None else text
    if facts is None:
        facts = static_facts(text, str(path), entry, init, explicit)
    inputs = class_inputs(facts, explicit or {}, entry)
    # Shapes configured per class (the editor's ``inputs`` setting) win over inferred ones.
    for name, params in (class_inputs_extra or {}).items():
        spec = dict(inputs.get(name) or {})
        for param, dims in params.items():
            spec[param] = {"dims": list(dims), "dtype": (spec.get(param) or {}).get("dtype")}
        inputs[name] = spec
    request = TraceRequest(
        path=str(path), entry=entry, init=init, inputs=inputs,
        roots=[_workspace_root(path)], cpu_fallback=cpu_fallback, timeout=timeout,
        argv=list(argv or []), sources=dict(sources or {}), static=symbolic_entries(facts),
        constraints=static_constraints(facts))
    try:
        return session.trace(request, use_cache=use_cache)
    except TraceFailed as failure:
        problem = dict(failure.problem)
        stack = problem.get("stack") or []
        real = os.path.realpath(path)
        # The user's frames: the traced file first, else any file of the workspace; never
        # ml-lsp's own tracer or an installed library, even when they live under the
        # workspace folder (a checkout or a virtualenv inside the project).
        user = [f for f in stack if not _is_tool_frame(f["path"])]
        inside = [f for f in user if os.path.realpath(f["path"]) == real] or \
                 [f for f in user if os.path.realpath(f["path"]).startswith(os.path.realpath(request.roots[0]))]
        if inside:
            problem.setdefault("path", inside[0]["path"])
            problem.setdefault("line", inside[0]["line"])
            problem["message"] += f"; it was at line {inside[0]['line']} ({inside[0]['func']})"
        problem.setdefault("path", str(path))
        problem.setdefault("line", 1)
        return {"ok": True, "entries": [], "problems": [problem], "traced": [], "files": [str(path)]}


_ML_LSP_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def _is_tool_frame(path: str) -> bool:
    real = os.path.realpath(path)
    return real.startswith(_ML_LSP_DIR + os.sep) or f"{os.sep}site-packages{os.sep}" in real \
        or f"{os.sep}dist-packages{os.sep}" in real or real.startswith(os.path.realpath(sys.prefix) + os.sep) \
        or real.startswith(os.path.realpath(sys.base_prefix) + os.sep)


def run(args) -> int:
    from ml_lsp.cli import CommandFailed, UsageError

    files = [Path(f) for f in (getattr(args, "files", None) or [])]
    if not files:
        raise UsageError("give at least one FILE")
    for f in files:
        if f.is_dir():
            raise UsageError(f"FILE {f}: is a folder; `ml-lsp shapes --trace` takes Python files "
                             f"(for example {str(f).rstrip('/')}/*.py)")
        if not f.is_file():
            raise UsageError(f"FILE {f}: no such file")
    explicit = parse_inputs(getattr(args, "input", None) or [])
    timeout = float(getattr(args, "timeout", None) or DEFAULT_TIMEOUT)
    if timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    entry, init = getattr(args, "entry", None), getattr(args, "init", None)
    compare = bool(getattr(args, "compare", False))
    as_json = bool(getattr(args, "json", False))
    from ml_lsp.trace.interpreter import NoInterpreter, find_interpreter
    try:
        interpreter = find_interpreter(getattr(args, "python", None), "--python")
    except NoInterpreter as exc:
        raise CommandFailed(str(exc)) from None
    # the static pass first: a bad --entry, --init or --input is one usage line, before
    # anything is started or said about tracing
    static = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            static[path] = (text, static_facts(text, str(path), entry, init, explicit))
        except ValueError as exc:  # InputError
            raise UsageError(f"{path}: {exc}") from None
    if not as_json:
        print(f"tracing in {interpreter.describe()}", file=sys.stderr)
    session = TraceSession(interpreter=interpreter)
    out_files, problems, comparisons, traces = [], [], [], []
    from ml_lsp.trace import keras_trace  # Keras models are built by Keras itself
    keras_files = [p for p in files if keras_trace.is_keras(static[p][1])]
    keras_traced = keras_trace.trace(interpreter.python, keras_files, getattr(args, "timeout", None)) \
        if keras_files else {}
    try:
        if len(keras_files) < len(files):
            session.start()
        for path in files:
            text, facts = static[path]
            if path in keras_files:
                traced = keras_traced.get(str(path)) or {"shapes": [], "problems": []}
                out_files.append({"path": str(path), "shapes": traced["shapes"]})
                problems.extend(traced["problems"])
                if compare:
                    comparisons.append((path, facts, {"traced": []}, {str(path): traced["shapes"]}))
                continue
            # No cache: a file named twice is traced twice (the second time in the warm
            # child, which is what a re-trace after an edit costs in the editor).
            response = trace_file(session, path, entry=entry, init=init, explicit=explicit,
                                  timeout=timeout, cpu_fallback=bool(getattr(args, "cpu_fallback", True)),
                                  argv=shlex.split(getattr(args, "script_args", None) or ""),
                                  text=text, facts=facts, use_cache=False)
            if not response.get("ok"):
                raise CommandFailed(f"{path}: {response.get('error')}")
            by_path = _group_by_path(response["entries"], path)
            out_files.extend({"path": p, "shapes": entries} for p, entries in by_path.items())
            new = [p for p in response["problems"] if not _same_missing_package(p, problems)]
            problems.extend(new)
            for t in response.get("traced") or []:
                traces.append({"path": str(path), "entry": t.get("entry"), "mode": t.get("mode"),
                               "sizes": t.get("symbols") or {}, "pinned": t.get("pinned") or {},
                               "tried": t.get("sizes") or [], "seconds": response.get("trace_seconds"),
                               "cold": bool(response.get("cold"))})
            if not as_json:
                for note in response.get("notes") or []:
                    print(f"{path}: note: {note}", file=sys.stderr)
            if compare:
                comparisons.append((path, facts, response, by_path))
    finally:
        start_seconds = session.start_seconds
        session.close()

    status = 1 if problems else 0
    compare_json = []
    if compare:
        from ml_lsp.trace.compare import compare_entries
        for path, facts, response, by_path in comparisons:
            if facts is None:
                raise CommandFailed(f"{path}: the static engine is unavailable or failed; nothing to compare")
            symbols = sorted({s for t in response.get("traced") or [] for s in (t.get("symbols") or {})})
            real = os.path.realpath(path)
            traced_own = by_path.get(str(path)) or by_path.get(real) or []
            runs = {t["entry"]: t.get("runs") for t in response.get("traced") or [] if t.get("runs")}
            if path in keras_files:
                result = keras_trace.compare(facts.to_json_entries(), traced_own)
            else:
                result = compare_entries(facts.to_json_entries(), traced_own, symbols, runs)
            comparisons_text = [d.text(str(path)) for d in result.disagreements]
            compare_json.append({"path": str(path), **result.to_json(), "summary": result.summary()})
            if not as_json:
                for line in comparisons_text:
                    print(line)
                print(f"{path}: {result.summary()}")
            if result.disagreements:
                status = 1
    if as_json:
        data = {"files": out_files, "problems": problems, "traces": traces,
                "interpreter": dict(interpreter.to_json(), start_seconds=start_seconds)}
        if compare:
            data["compare"] = compare_json
        json.dump(data, sys.stdout, indent=1)
        sys.stdout.write("\n")
    elif not compare:
        _print_text(out_files)
    for problem in problems:
        print(_problem_line(problem), file=sys.stderr)
    return status


def _same_missing_package(problem: dict, earlier: list[dict]) -> bool:
    """A package missing for several files is said once."""
    return problem.get("kind") == "missing-package" and any(
        p.get("kind") == "missing-package" and p.get("package") == problem.get("package") for p in earlier)


def _group_by_path(entries: list[dict], requested: Path) -> dict[str, list[dict]]:
    """Entries per file, the requested file first; each entry in the shapes JSON form."""
    real = os.path.realpath(requested)
    grouped: dict[str, list[dict]] = {str(requested): []}
    for e in entries:
        key = str(requested) if os.path.realpath(e["path"]) == real else e["path"]
        grouped.setdefault(key, []).append(
            {"scope": e["scope"], "line": e["line"], "name": e["name"], "shape": e["shape"],
             "dtype": e["dtype"], "source": "trace"})
    return grouped


def format_shape(shape) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _print_text(out_files: list[dict]) -> None:
    for item in out_files:
        if not item["shapes"]:
            continue
        print(f"{item['path']}  (traced)")
        scope = None
        for e in item["shapes"]:
            if e["scope"] != scope:
                scope = e["scope"]
                print(f"  {scope}")
            dtype = f" {e['dtype']}" if e.get("dtype") else ""
            print(f"    {e['line']:>5}  {e['name']:<16} {format_shape(e['shape'])}{dtype}")


def _problem_line(problem: dict) -> str:
    where = problem.get("path") or "?"
    if problem.get("line"):
        where += f":{problem['line']}"
        if problem.get("col") is not None:
            where += f":{problem['col'] + 1}"
    return f"{where}: trace: {problem['message']}"
