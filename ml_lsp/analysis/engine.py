"""``analyze_source``: one module's text in, ``ModuleFacts`` out.

Order of work: module-level code (imports, constants, config classes, argparse, and the
call sites a script makes), then the entry class with the explicit inputs, then every
other ``nn.Module`` subclass whose ``forward`` no better-informed call reached, then
top-level functions nobody called (with ``only_entry``, not those: only what the entry
reaches). Each unit has its own step budget.
"""

from __future__ import annotations

import ast
import copy
import itertools
import re
from typing import Callable, Optional

from ml_lsp.analysis import dims, docshapes, ops
from ml_lsp.analysis.dims import Sym
from ml_lsp.analysis.symconfig import SymbolicConfig
from ml_lsp.analysis.facts import Binding, LayerFact, ModuleClassFact, ModuleFacts, ShapeHover
from ml_lsp.analysis.batch import BatchCache, CallerSites
from ml_lsp.analysis.keras.model import mentions_keras
from ml_lsp.analysis.interp import (ANNOTATION, COMMENT, EXPLICIT, INFERRED, CALLSITE, TIED, BudgetExceeded,
                                    Interp, LazyImport, Limits, ProbeDone, TENSOR_TYPES, _MODULE_CLASSES, _is_tensor_type,
                                    _param_names, resolved)
from ml_lsp.analysis.ops import Args, Ctor, LayerRule
from ml_lsp.analysis.parse import MAX_SOURCE_BYTES, parse_tolerant, too_large  # noqa: F401 (re-exported)
from ml_lsp.analysis.values import NUM, UNK, Choice, ClassVal, DictVal, Func, Instance, Layer, Ref, Repeated, Seq, Tensor


class InputError(ValueError):
    """Bad ``inputs`` / ``entry`` / ``init``: the message names the problem."""


_rules_cache: Optional[dict] = None


def default_rules() -> dict:
    """The op rules every ``ml_lsp_shape_rules`` plugin contributes (loaded once)."""
    global _rules_cache
    if _rules_cache is None:
        from ml_lsp.plugins import default_host
        rules = default_host().merged_mapping("ml_lsp_shape_rules")
        if not rules:  # not installed as a distribution (a bare checkout): the built-in table
            try:
                from ml_lsp_torch_shapes import all_rules
                rules = all_rules()
            except ImportError:
                rules = {}
        _rules_cache = rules
    return _rules_cache


_SHAPE_COMMENT = re.compile(r"#\s*shapes?\s*:\s*(.+)$")
_JAXTYPING_DTYPES = {"Float": "float", "Float32": "float", "Float64": "float", "Float16": "float",
                     "BFloat16": "float", "Int": "long", "Int64": "long", "Long": "long", "Int32": None,
                     "Bool": "bool", "Shaped": None, "Num": None, "Real": None, "Integer": "long",
                     "Inexact": "float"}


def analyze_source(text: str, path: Optional[str] = None, *, inputs: Optional[dict] = None,
                   entry: Optional[str] = None, init: Optional[str] = None, resolve_module=None,
                   rules=None, callers=None, batch: Optional[BatchCache] = None,
                   time_budget_s: Optional[float] = None,
                   cancelled: Optional[Callable[[], bool]] = None, generic: bool = False,
                   limits: Optional[Limits] = None, only_conflicts: bool = False,
                   only_entry: bool = False) -> ModuleFacts:
    """``callers``: optional (path, text) of other workspace files (scripts, training
    loops) whose calls of this file's models give their inputs (``model(torch.randn(...))``
    in train.py for the Net defined here). The caller reads them; the engine does no I/O.

    Bounds: a text above ``MAX_SOURCE_BYTES`` is not analysed (one note in ``problems``);
    after ``time_budget_s`` seconds the units not finished are left unknown (a note says
    so); ``cancelled()`` turning true abandons the analysis with ``AnalysisCancelled``.
    ``batch`` shares parsed files and caller runs between the analyses of one command.

    ``generic``: also run each model that a call in the file gave concrete inputs with its
    inputs inferred instead, and give each binding that differs its ``generic_shape``
    (``(B, 128)`` beside the call's ``(64, 128)``): what the editor shows in its hints.
    Diagnostics and everything else are those of the analysis without it.

    ``only_conflicts``: what is wanted is the proven conflicts (``ml-lsp check``): the
    methods nothing called are not run (those runs add shapes, never a conflict) and no
    binding or hover is recorded. The conflicts are those of the full analysis.

    ``only_entry`` (``ml-lsp shapes --entry``): the shapes wanted are the entry's, so the
    file's other classes and functions are not run on inputs of their own; ``check`` and
    the editor, which report on the whole file, leave it off."""
    large = too_large(text)
    if large is not None:
        return ModuleFacts(path=path, problems=[large])
    rules = default_rules() if rules is None else rules
    if limits is None:
        limits = Limits(time_budget_s, cancelled) if time_budget_s is not None or cancelled is not None else None
    parse = batch.parse if batch is not None else None
    tree, problems = parse(text, path) if parse is not None else parse_tolerant(text)
    interp = Interp(text, path, rules, resolve_module, limits=limits, parse=parse)
    interp.shapes_wanted = not only_conflicts
    problems = list(problems)
    try:
        if batch is not None and batch.modules is not None:
            batch.modules.run_module(interp, tree)  # the same run, its imported modules copied when known
        else:
            interp.run_module(tree)
    except BudgetExceeded:
        if not _out_of_time(interp):
            problems.append("module-level code too large to analyse fully (budget)")
    if callers and path is not None and not _out_of_time(interp):
        _collect_caller_sites(interp, text, path, rules, resolve_module, callers, batch)

    modules = [c for c in interp.classes if c.is_module]
    functions = [v for k, v in interp.globals.items() if isinstance(v, Func) and v.module is interp
                 and isinstance(v.node, (ast.FunctionDef, ast.AsyncFunctionDef)) and v.owner is None]
    explicit = {k: _parse_dims(k, v) for k, v in (inputs or {}).items()}

    if entry is not None:
        target = resolved(interp.globals.get(entry))
        if not isinstance(target, (ClassVal, Func)):
            names = ", ".join(c.name for c in modules) or "none"
            raise InputError(f"no class or function named {entry!r} (module classes: {names})")
        if isinstance(target, ClassVal):
            _analyze_class(interp, target, explicit, init, problems, is_entry=True)
        elif init is not None or (explicit and not set(explicit) <= set(_param_names(target.node))):
            # a factory (def ConvMixer(dim, depth): return nn.Sequential(...)): build the
            # model with --init, then feed it the inputs
            _analyze_factory(interp, target, explicit, init, problems)
        else:
            _analyze_function(interp, target, explicit, problems, EXPLICIT)
    # only_entry: what the entry's forward reaches (in any class or file) and its other
    # methods. On transformers' modeling_llama.py the other classes are four task heads,
    # each running the whole decoder again for shapes not asked for (0.25-0.8 s each, most
    # of a warm `ml-lsp shapes --entry LlamaModel`)
    others = entry is None or not only_entry
    if others:
        _analyze_other_units(interp, modules, functions, entry, explicit, init, problems)
    # generate(), encode() and the other methods nothing above called
    for cls in reversed(modules):
        if _out_of_time(interp) or only_conflicts:
            break
        if others or cls.name == entry:
            _analyze_methods(interp, cls, problems)
    if getattr(interp, "sites_by_class", None) and not _out_of_time(interp):
        _per_site_conflicts(interp, modules)
    generic_record = _generic_pass(interp, modules) if generic and not _out_of_time(interp) else None

    problems.extend(interp.problems)
    if _out_of_time(interp):
        # the units cut by the clock each noted "budget exceeded"; one note says why
        problems = [p for p in problems if "budget exceeded" not in p]
        spent = f"time budget of {interp.limits.seconds:g} s" if interp.limits.seconds is not None else "budget"
        problems.append(f"{spent} spent: shapes not reached by then are unknown")
    facts = _build_facts(interp, path, problems, modules, generic_record)
    facts.call_sites = list(getattr(interp, "used_call_sites", None) or [])
    if mentions_keras(text):
        _add_keras_facts(facts, text, tree)
    return facts


def _analyze_other_units(interp: Interp, modules: list, functions: list, entry, explicit, init, problems) -> None:
    """The file's units besides the entry, each on the inputs worked out for it."""
    # script entry points (def main(): with no required parameters) hold the call sites
    # (model = Net(); model(torch.randn(...))): run them before the classes
    for fn in functions:
        if fn.node.name != entry and not _required_params(fn) and not _out_of_time(interp):
            _analyze_function(interp, fn, {}, problems, CALLSITE)
    if entry is None and (explicit or init):
        # no --entry: the inputs go to the last module class (a file's main model is
        # usually defined after its building blocks)
        if modules:
            _analyze_class(interp, modules[-1], explicit, init, problems, is_entry=True)
    # Last-defined first: a file defines its building blocks before the model that uses
    # them, and a block reached from its model's forward gets the model's (more exact)
    # shapes, so its own inferred-input run is then skipped.
    for cls in reversed(modules):
        if (entry is not None and cls.name == entry) or _out_of_time(interp):
            continue
        _analyze_class(interp, cls, {}, None, problems, is_entry=False)
    for fn in functions:
        if (entry is not None and fn.node.name == entry) or _out_of_time(interp):
            continue
        _analyze_function(interp, fn, {}, problems, INFERRED)


def _add_keras_facts(facts: ModuleFacts, text: str, tree) -> None:
    """Keras models are followed by their own small interpreter (``analysis.keras``); its
    layers become bindings (one per layer, on the line that creates or calls it), layer
    facts for hover, and each model a class-like fact whose count the hints show."""
    from ml_lsp.analysis.keras import analyze_keras

    kf = analyze_keras(text, tree)
    facts.keras = kf
    facts.problems.extend(kf.problems)
    taken = {(b.line, b.name) for b in facts.bindings}
    for lf in kf.layers:
        if (lf.line, lf.name) in taken:
            continue
        facts.bindings.append(Binding(lf.scope, lf.name, lf.line, lf.col, lf.end_line, lf.end_col, lf.shape,
                                      "float", f"{lf.cls} output", keras_layer=True, params=lf.params))
        facts.layers.append(LayerFact(lf.scope, lf.var or lf.name, lf.line, lf.col, lf.end_line, lf.end_col,
                                      call=lf.call, signature=f"-> {dims.format_shape(lf.shape)}",
                                      param_count=lf.params))
        facts.hovers.append(ShapeHover(lf.line, lf.col, lf.end_line, lf.end_col, lf.call, lf.shape, "float",
                                       f"{lf.name} ({lf.cls}) output"))
    for line, col, end_line, end_col, shape, name in kf.tensors:
        facts.hovers.append(ShapeHover(line, col, end_line, end_col, name, shape, "float", "Keras tensor"))
    for m in kf.models:
        label = m.var or f"{m.kind} model"
        sig = f"{dims.format_shape(m.input_shape)} -> {dims.format_shape(m.output_shape)}"
        facts.layers.append(LayerFact(label, label, m.line, m.col, m.end_line, m.end_col,
                                      call=f"{m.kind} Keras model", signature=sig, param_count=m.params))
        facts.classes.append(ModuleClassFact(label, m.line, m.col, param_count=m.params,
                                             input_shapes={"inputs": m.input_shape} if m.input_shape else {},
                                             output_shape=m.output_shape))
    facts.bindings.sort(key=lambda b: (b.line, b.col, b.name))
    facts.layers.sort(key=lambda f: (f.line, f.col))
    facts._by_line = None


def _out_of_time(interp: Interp) -> bool:
    """Between two units: the clock and the cancel flag, without waiting for a tick."""
    return interp.limits is not None and interp.limits.poll()


MAX_CALLERS = 16  # other files of a batch whose script code is searched for call sites


def _collect_caller_sites(interp: Interp, text: str, path: str, rules, resolve_module, callers, batch=None):
    """Run each caller's script code (quietly) and take, for every class this file defines,
    the call each caller makes with known input shapes. Several callers give one answer:
    the shapes that hold for all of them (a dim that differs becomes a symbol); each call
    used is listed in ``interp.used_call_sites``."""
    import os

    mine = {c.name for c in interp.classes}
    by_name = {c.name: c for c in interp.classes}
    here = os.path.realpath(path)
    in_file = set(interp.callsite_args)  # a call in the file itself outranks other files'
    found: dict = {}  # class name -> [(caller path, Args)]
    ctors: dict = {}
    for caller_path, caller_text in callers[:MAX_CALLERS]:
        if caller_path == path:
            continue
        key = (caller_path, caller_text)
        sites = batch.caller_sites.get(key) if batch is not None else None
        if sites is None:
            sites = _run_caller(interp, caller_path, caller_text, rules, resolve_module,
                                [(path, text), *callers], batch)
            if batch is not None:
                batch.caller_sites[key] = sites
        for (defined_in, name), args in sites.calls.items():
            if defined_in is not None and os.path.realpath(defined_in) == here \
                    and name in mine and name not in in_file:
                args.site_path = caller_path
                found.setdefault(name, []).append((caller_path, args))
                ctor = sites.constructors.get((defined_in, name))
                if ctor is not None:
                    ctors.setdefault(name, ctor)
    used = getattr(interp, "used_call_sites", None)
    if used is None:
        used = interp.used_call_sites = []
    interp.sites_by_class = found  # for _per_site_conflicts
    for name, sites in found.items():
        cls = by_name[name]
        interp.callsite_args[name] = sites[0][1] if len(sites) == 1 else _join_call_sites([a for _, a in sites])
        params = _forward_params(cls)
        for caller_path, args in sites:
            used.append(_call_site_fact(caller_path, name, args, params))
        ctor = ctors.get(name)
        if ctor is not None and cls not in interp.instances:
            try:  # the model as the caller built it
                interp.steps = 0
                interp.instances[cls] = interp.instantiate(cls, ctor, None, quiet=True)
            except BudgetExceeded:
                pass


def _call_site_origin(site, v) -> str:
    """What a hover on a forward input says: where its data came from and where the model
    is called (``MNIST batches of 64, train.py:22; called at train.py:12``)."""
    import os

    where = getattr(site, "site_path", None)
    line = getattr(site, "site_line", None)
    called = f"called at {os.path.basename(where)}:{line}" if where and line else ""
    if v.source:
        return f"{v.source}; {called}" if called else v.source
    return f"input (call site, {called})" if called else "input (call site)"


def _forward_params(cls) -> list:
    fwd = cls.lookup("forward") if hasattr(cls, "lookup") else None
    if isinstance(fwd, Func):
        return _param_names(fwd.node)[1:]
    return []


def _call_site_fact(caller_path, name, args, params):
    from ml_lsp.analysis.facts import CallSite

    inputs, sources = {}, {}
    for i, p in enumerate(params or [f"arg{i}" for i in range(len(args.args))]):
        v = args.arg(i, p)
        if isinstance(v, Tensor):
            inputs[p] = v.shape
            if v.source:
                sources[p] = v.source
    return CallSite(caller_path, getattr(args, "site_line", None), name, inputs, sources)


def _join_call_sites(all_args: list) -> Args:
    """One Args that holds for every call: equal dims kept, a dim that differs becomes a
    symbol (``B`` in front, ``d<i>`` elsewhere), a rank that differs makes it unknown."""
    first = all_args[0]
    n = min(len(a.args) for a in all_args)

    def join_value(values):
        if not all(isinstance(v, Tensor) for v in values):
            return values[0] if all(v is values[0] for v in values) else UNK
        shapes = [v.shape for v in values]
        dtype = values[0].dtype if all(v.dtype == values[0].dtype for v in values) else None
        sources = list(dict.fromkeys(v.source for v in values if v.source))
        source = "; ".join(sources)
        if any(s is None for s in shapes) or len({len(s) for s in shapes}) != 1:
            return Tensor(None, dtype, source=source)
        out = []
        for i, ds in enumerate(zip(*shapes)):
            if all(dims.same(d, ds[0]) for d in ds if d is not None) and all(d is not None for d in ds):
                out.append(ds[0])
            else:
                out.append(Sym.named("B") if i == 0 else Sym.named(f"d{i}"))
        return Tensor(tuple(out), dtype, "", source=source)

    args = [join_value([a.args[i] for a in all_args]) for i in range(n)]
    common = set(first.kwargs)
    for a in all_args[1:]:
        common &= set(a.kwargs)
    kwargs = {k: join_value([a.kwargs[k] for a in all_args]) for k in first.kwargs if k in common}
    joined = Args(args, kwargs)
    joined.site_line = None
    return joined


def _run_caller(interp: Interp, caller_path, caller_text, rules, resolve_module, sources, batch):
    """The call sites one caller script makes (none when it cannot be followed). Its
    imports of the given files resolve to their given text even without a resolver, so
    the answer does not depend on which file of a batch asked first."""
    import os

    known = {os.path.realpath(p): (p, t) for p, t in sources}

    def resolve(name, from_path):
        found = resolve_module(name, from_path) if resolve_module else None
        if found is None and from_path is not None:  # a sibling module, without a resolver
            base = os.path.join(os.path.dirname(from_path), *name.lstrip(".").split(".")) + ".py"
            found = known.get(os.path.realpath(base))
        if found is not None:
            return known.get(os.path.realpath(found[0]), found)
        return found

    parse = batch.parse if batch is not None else None
    other = Interp(caller_text, caller_path, rules, resolve, module_cache={}, limits=interp.limits, parse=parse)
    try:
        other.run_module(parse(caller_text, caller_path)[0] if parse else parse_tolerant(caller_text)[0])
        for fn in [v for v in other.globals.values() if isinstance(v, Func) and v.module is other
                   and v.owner is None and not _required_params(v)]:
            other.steps = 0
            other.call_func(fn, Args(), None)
    except BudgetExceeded:
        pass
    except Exception:  # a caller we cannot follow gives no call site, nothing more
        return CallerSites()
    return CallerSites(dict(other.callsite_by_path), dict(other.ctor_by_path))


def _analyze_factory(interp: Interp, fn: Func, explicit: dict, init, problems):
    interp.steps = 0
    args = _init_args(interp, init, fn) if init is not None else Args()
    was = interp.recording
    interp.recording = False
    try:
        model = interp.call_func(fn, args, None)
    except BudgetExceeded:
        model = UNK
    finally:
        interp.recording = was
    if not isinstance(model, (Layer, Instance)):
        raise InputError(f"{fn.qualname}({init or ''}) does not build a module this engine can follow")
    if isinstance(model, Instance):
        cls = model.cls
        interp.instances[cls] = model
        _analyze_class(interp, cls, explicit, None, problems, is_entry=True)
        return
    inputs = [Tensor(shape, None, "input (given)") for shape in explicit.values()]
    interp.quality = EXPLICIT
    interp.steps = 0
    try:
        interp.call(model, Args(inputs), None, None)
    except BudgetExceeded:
        problems.append(f"{fn.qualname}: analysis budget exceeded")
    finally:
        interp.quality = CALLSITE


def _defaulted_params(fn: Func) -> list:
    """(parameter, default expression) of each parameter of ``fn`` that has a default,
    positional and keyword-only."""
    a = fn.node.args
    positional = a.posonlyargs + a.args
    return list(zip(positional[len(positional) - len(a.defaults):], a.defaults)) + \
        [(p, d) for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]


def _required_params(fn: Func) -> list:
    a = fn.node.args
    defaulted = {p.arg for p, _ in _defaulted_params(fn)}
    return [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs if p.arg not in defaulted]


def _parse_dims(name, dims_list):
    out = []
    for d in dims_list:
        if isinstance(d, bool):
            raise InputError(f"input {name}: bad dim {d!r}")
        if isinstance(d, int):
            out.append(d)
        elif d is None:
            out.append(None)
        else:
            try:
                out.append(dims.parse_dim(str(d)))
            except ValueError:
                raise InputError(f"input {name}: {d!r} is not a dimension (use an int or a name)") from None
    return tuple(out)


def _init_args(interp: Interp, init: str, target=None) -> Args:
    """``--init`` evaluated in the module; ``target`` (the entry class or factory function)
    is the signature it must fit: an unknown keyword or one argument too many is bad usage."""
    try:
        call = ast.parse(f"_f({init})", mode="eval").body
    except SyntaxError as exc:
        raise InputError(f"--init {init!r} is not a Python argument list: {exc.msg}") from None
    if target is not None:
        _check_init_fits(call, init, target)
    frame = interp.module_frame
    was = interp.recording
    interp.recording = False
    try:
        args = [interp.eval(a, frame) for a in call.args]
        kwargs = {k.arg: interp.eval(k.value, frame) for k in call.keywords if k.arg}
    finally:
        interp.recording = was
    return Args(args, kwargs)


def _check_init_fits(call: ast.Call, init: str, target) -> None:
    if isinstance(target, ClassVal):
        fn, name, skip = target.lookup("__init__"), target.name, 1
    else:
        fn, name, skip = target, getattr(target, "qualname", "?"), 0
    node = getattr(fn, "node", None)
    if fn is None and isinstance(target, ClassVal) and _only_module_init(target) and (call.args or call.keywords):
        given = ", ".join([ast.unparse(a) for a in call.args] + [k.arg or "**" for k in call.keywords])
        raise InputError(f"--init {init!r}: {name} takes no arguments (it has no __init__ of its own, "
                         f"and nn.Module's takes none), {given} given; leave out --init")
    if not isinstance(fn, Func) or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return  # a constructor we cannot see (a library base's, a dataclass): nothing to check
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return
    a = node.args
    positional = [p.arg for p in (a.posonlyargs + a.args)][skip:]
    accepted = [p.arg for p in a.args[max(0, skip - len(a.posonlyargs)):]] + [p.arg for p in a.kwonlyargs]
    form = f"{name}({', '.join(positional + [p.arg for p in a.kwonlyargs])})"
    if a.kwarg is None:
        for k in call.keywords:
            if k.arg not in accepted:
                raise InputError(f"--init {init!r}: {name} takes no argument {k.arg!r}; "
                                 f"its parameters: {form}")
    if a.vararg is None and len(call.args) > len(positional):
        raise InputError(f"--init {init!r}: {name} takes {len(positional)} positional argument"
                         f"{'s' * (len(positional) != 1)}, {len(call.args)} given; its parameters: {form}")


def _only_module_init(cls: ClassVal) -> bool:
    """No class in the MRO defines ``__init__`` and every library base is ``nn.Module``
    itself: the constructor is ``nn.Module.__init__``, which raises on any argument."""
    if cls.is_dataclass or cls.mro_error:
        return False
    bases = [b for c in cls.mro() for b in c.bases if not isinstance(b, ClassVal)]
    return bool(bases) and all(isinstance(b, Ref) and b.qual in _MODULE_CLASSES for b in bases)


def _default_ctor_args(interp: Interp, cls: ClassVal, symbolic: bool) -> Args:
    """Constructor arguments for a class nobody instantiated: defaults, a config class
    named by the annotation built with its defaults, else a symbol named after the
    parameter (``n_embd``). ``symbolic``: the integer fields of such a config are symbols
    (a config is made to be replaced: nothing says the model is built with its defaults;
    with explicit inputs, the defaults are the model run). The class's own defaults stay
    values: ``Net(hidden=128)`` is what ``Net()`` builds, and what its author reads."""
    init = cls.lookup("__init__")
    if not isinstance(init, Func):
        return Args()
    a = init.node.args
    params = a.posonlyargs + a.args
    n_defaults = len(a.defaults)
    kwargs = {}
    for i, p in enumerate(params[1:], start=1):
        if i >= len(params) - n_defaults:
            continue
        kwargs[p.arg] = _value_for_param(interp, p, symbolic)
    for p, d in zip(a.kwonlyargs, a.kw_defaults):
        if d is None:
            kwargs[p.arg] = _value_for_param(interp, p, symbolic)
    return Args([], kwargs)


def _is_size(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _symbolic_defaults(init: Func) -> dict:
    """The integer defaults of a constructor nobody called, as symbols hinted with the
    default (``hidden_size=4096`` becomes ``hidden_size``): the user's model may be built
    with any value, so a shape that printed the default would be a guess shown as fact."""
    a = init.node.args
    params = [p.arg for p in a.posonlyargs + a.args]
    defaults = getattr(init, "defaults", [])
    out = {}
    for p, d in zip(params[len(params) - len(defaults):], defaults):
        if _is_size(d):
            out[p] = Sym.named(p, d)
    for p, d in zip(a.kwonlyargs, getattr(init, "kw_defaults", [])):
        if _is_size(d):
            out[p.arg] = Sym.named(p.arg, d)
    return out


def _default_config(interp: Interp, cls: ClassVal, symbolic: bool):
    """A config class built with its defaults, integer fields kept symbolic (see
    ``_symbolic_defaults``) where ``symbolic``."""
    init = cls.lookup("__init__")
    if not symbolic:
        kwargs = {}
    elif cls.is_dataclass or not isinstance(init, Func):
        kwargs = {}
        for c in reversed(cls.mro()):
            for f in c.attrs.get("__fields__", []):
                if _is_size(c.attrs.get(f)):
                    kwargs[f] = Sym.named(f, c.attrs[f])
    else:
        kwargs = _symbolic_defaults(init)
    try:
        return interp.instantiate(cls, Args([], kwargs), None, quiet=True)
    except BudgetExceeded:
        return UNK


def _opaque_forward(ctor, call):
    x = call.args[0] if call.args else None
    return Tensor(None, x.dtype if isinstance(x, Tensor) else None)


#: a module handed to the constructor that nobody gave (torchtune's ``q_proj: nn.Module``)
_OPAQUE_MODULE = LayerRule(params=(), forward=_opaque_forward)


def _is_module_annotation(ann) -> bool:
    return (isinstance(ann, ast.Attribute) and ann.attr == "Module") or (isinstance(ann, ast.Name) and ann.id == "Module")


def _annotation_options(ann) -> list:
    """The members of ``Union[A, B]``, ``A | B`` or ``Optional[A]``, else ``[ann]``."""
    if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):
        return _annotation_options(ann.left) + _annotation_options(ann.right)
    if isinstance(ann, ast.Subscript) and _annotation_head(ann) in ("Union", "Optional"):
        inner = ann.slice
        return [o for e in (inner.elts if isinstance(inner, ast.Tuple) else [inner]) for o in _annotation_options(e)]
    return [ann]


def _annotation_head(ann) -> str:
    value = ann.value if isinstance(ann, ast.Subscript) else ann
    return value.attr if isinstance(value, ast.Attribute) else (value.id if isinstance(value, ast.Name) else "")


def _value_for_annotation(interp: Interp, ann):
    """What a parameter nobody gave holds, where its annotation says: ``type[Union[BasicBlock,
    Bottleneck]]`` is either class (torchvision's ResNet(block, layers)); ``list[int]`` a list
    of numbers, how many unknown. Else None."""
    head = _annotation_head(ann)
    if isinstance(ann, ast.Subscript) and head in ("type", "Type"):
        classes = [resolved(interp.globals.get(o.id)) for o in _annotation_options(ann.slice)
                   if isinstance(o, ast.Name)]
        classes = [c for c in classes if isinstance(c, ClassVal)]
        if classes:
            return classes[0] if len(classes) == 1 else Choice(classes)
    if isinstance(ann, ast.Subscript) and head in ("list", "List", "Sequence", "tuple", "Tuple") and \
            _annotation_head(ann.slice.elts[0] if isinstance(ann.slice, ast.Tuple) and ann.slice.elts else ann.slice) == "int":
        return Repeated(NUM, "tuple" if head.lower() == "tuple" else "list")
    return None


def _value_for_param(interp: Interp, p: ast.arg, symbolic: bool):
    ann = p.annotation
    if ann is not None and _is_module_annotation(ann):
        # called, it gives a tensor whose shape nothing here tells: what forward does with it
        # (q.view(b, s, heads, head_dim)) still has shapes
        return Layer("torch.nn.Module", _OPAQUE_MODULE, Ctor(_OPAQUE_MODULE, Args()), p.arg)
    if ann is not None:
        typed = _value_for_annotation(interp, ann)
        if typed is not None:
            return typed
        name = ann.id if isinstance(ann, ast.Name) else (ann.value if isinstance(ann, ast.Constant) else None)
        target = resolved(interp.globals.get(name)) if isinstance(name, str) else None
        if isinstance(target, ClassVal):
            return _default_config(interp, target, symbolic)
        if isinstance(ann, ast.Name) and ann.id in ("int",):
            return Sym.named(p.arg)
        if isinstance(ann, ast.Name) and ann.id in ("bool", "float", "str"):
            return UNK
    lowered = p.arg.lower()
    if lowered in ("config", "cfg", "conf", "args", "opt", "hparams", "params", "kwargs") or \
            lowered.endswith("config") or lowered.endswith("cfg"):
        # a config object: build the one class whose name says it is one, if unique
        cands = [c for c in interp.classes if not c.is_module and
                 (c.name.lower().endswith("config") or c.name.lower().endswith("args") or c.is_dataclass)]
        if not cands:
            # none defined here: the one config class the file imports (transformers'
            # `from .configuration_llama import LlamaConfig` for LlamaMLP(config))
            names = [k for k, v in interp.globals.items() if k.endswith("Config") and type(v) is LazyImport]
            if len(names) == 1:
                target = resolved(interp.globals[names[0]])
                if isinstance(target, ClassVal) and not target.is_module:
                    cands = [target]
        if len(cands) == 1:
            return _default_config(interp, cands[0], symbolic)
        if lowered != "kwargs":
            # a dict or namespace the file never builds: each field is what its name says
            return SymbolicConfig(f"{p.arg} (not given)")
        return UNK
    if lowered.startswith(("use_", "is_", "has_", "with_")) or lowered in ("bias", "causal", "bidirectional"):
        return UNK
    return Sym.named(p.arg)


def _shape_comment(interp: Interp, fn: Func) -> dict:
    node = fn.node
    first_body = node.body[0].lineno if node.body else node.lineno
    out = {}
    for ln in range(node.lineno, max(node.lineno, first_body - 1) + 1):
        if ln - 1 >= len(interp.lines):
            break
        m = _SHAPE_COMMENT.search(interp.lines[ln - 1])
        if not m:
            continue
        try:
            call = ast.parse(f"_f({m.group(1)})", mode="eval").body
        except SyntaxError:
            continue
        for kw in call.keywords:
            if isinstance(kw.value, (ast.Tuple, ast.List)):
                try:
                    out[kw.arg] = tuple(dims._eval_dim(e, "") if not (isinstance(e, ast.Name) and e.id in ("_", "None"))
                                        else None for e in kw.value.elts)
                except ValueError:
                    continue
    return out


def _jaxtyping(ann) -> Optional[tuple]:
    """``Float[Tensor, "batch 784"]`` -> ((batch, 784), "float")."""
    if not isinstance(ann, ast.Subscript):
        return None
    base = ann.value
    name = base.attr if isinstance(base, ast.Attribute) else (base.id if isinstance(base, ast.Name) else "")
    if name not in _JAXTYPING_DTYPES:
        return None
    sl = ann.slice
    if not (isinstance(sl, ast.Tuple) and len(sl.elts) == 2 and isinstance(sl.elts[1], ast.Constant)
            and isinstance(sl.elts[1].value, str)):
        return None
    shape = []
    for tok in sl.elts[1].value.split():
        if tok.isdigit():
            shape.append(int(tok))
        elif tok in ("_",):
            shape.append(None)
        elif tok.startswith(("*", "#", "...")) or tok == "...":
            return None
        elif tok.isidentifier():
            shape.append(Sym.named(tok))
        else:
            try:
                shape.append(dims.parse_dim(tok.split("=")[0]))
            except ValueError:
                shape.append(None)
    return tuple(shape), _JAXTYPING_DTYPES[name]


def _forward_inputs(interp: Interp, fn: Func, explicit: dict, owner_instance, problems, is_entry,
                    use_call_site: bool = True):
    """Decide each forward parameter's input: (args, quality)."""
    params = fn.node.args.posonlyargs + fn.node.args.args
    if owner_instance is not None:
        params = params[1:]
    n_positional = len(params)
    # keyword-only parameters are inputs too (x-transformers' forward(self, x, *, condition))
    params = params + fn.node.args.kwonlyargs
    defaulted = {p.arg for p, _ in _defaulted_params(fn)}
    comment = _shape_comment(interp, fn)
    values, quality, missing = {}, INFERRED, []
    if is_entry:
        unknown = [k for k in explicit if k not in {p.arg for p in params}]
        if unknown and fn.node.args.kwarg is not None:
            # forward(self, input, **kwargs) reads kwargs["labels"]; forward(*args, **kwargs)
            # passes them on: the inputs go in by name
            for k in unknown:
                values[k] = Tensor(explicit[k], None, "input (given)")
                quality = max(quality, EXPLICIT)
            unknown = []
        if unknown:
            raise InputError(f"--input {unknown[0]}: {fn.qualname} has no parameter {unknown[0]!r} "
                             f"(parameters: {', '.join(p.arg for p in params) or 'none'})")
    for p in params:
        has_default = p.arg in defaulted
        if is_entry and p.arg in explicit:
            values[p.arg] = Tensor(explicit[p.arg], None, "input (given)")
            quality = max(quality, EXPLICIT)
        elif p.arg in comment:
            values[p.arg] = Tensor(comment[p.arg], None, "input (# shape: comment)")
            quality = max(quality, COMMENT)
        elif p.annotation is not None and _jaxtyping(p.annotation):
            shape, dt = _jaxtyping(p.annotation)
            values[p.arg] = Tensor(shape, dt or "float", "input (annotation)")
            quality = max(quality, ANNOTATION)
        elif has_default:
            continue
        else:
            missing.append(p.arg)
    # a model's call site gives its forward's inputs (not another method's)
    site = interp.callsite_args.get(fn.owner.name) \
        if use_call_site and fn.owner is not None and fn.node.name == "forward" else None
    if site is not None and missing:
        # a call in the file (model(torch.randn(64, 1, 28, 28))) gives the rest
        for i, p in enumerate(params):
            v = site.arg(i, p.arg) if i < n_positional else site.kwargs.get(p.arg)
            if p.arg in missing and isinstance(v, Tensor) and v.shape is not None:
                values[p.arg] = Tensor(v.shape, v.dtype, _call_site_origin(site, v), source=v.source)
                missing.remove(p.arg)
                quality = max(quality, CALLSITE)
    if missing or not (values or (is_entry and explicit)):
        # documented shapes keep the quality of inferred inputs: the records of a helper that
        # several classes call are then joined (a dim they differ on is unknown) rather than
        # taken from the one class whose forward is documented
        docs = _documented_shapes(fn)
        for p in params:
            if p.arg in docs and p.arg in missing:
                values[p.arg] = docs[p.arg]
                missing.remove(p.arg)
        if not values and not missing:
            # every parameter is optional (transformers' forward(input_ids=None, ...,
            # inputs_embeds=None)): the first documented one is the input a caller gives
            first = next((p.arg for p in params if p.arg in docs), None)
            if first is not None:
                values[first] = docs[first]
    return values, quality, missing


_DOCUMENTED = "input (documented shape)"


def _documented_shapes(fn: Func) -> dict:
    """Parameter name -> Tensor of the shape the function's documentation states (its
    docstring, the docstring constant a decorator adds, transformers' ``@auto_docstring``
    table); the documented dim names are its symbols."""
    node, module = fn.node, fn.module
    found: dict = {}
    for deco in getattr(node, "decorator_list", []):
        name = _deco(deco).rsplit(".", 1)[-1]
        if name == "auto_docstring":
            found.update(_auto_docstring_table(module))
        elif isinstance(deco, ast.Call):
            for arg in deco.args:  # @add_start_docstrings_to_model_forward(GPT2_INPUTS_DOCSTRING)
                text = _docstring_constant(module, arg)
                if text:
                    found.update(docshapes.docstring_shapes(text))
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        found.update(docshapes.docstring_shapes(ast.get_docstring(node)))
    if not found:
        return {}
    annotations = {a.arg: a.annotation for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs}
    out = {}
    for name, (shape, dtype) in found.items():
        if name not in annotations:
            continue
        dtype = dtype or docshapes.annotation_dtype(annotations[name])
        out[name] = Tensor(tuple(_documented_dim(d) for d in shape), dtype, _DOCUMENTED)
    return out


def _documented_dim(text):
    if isinstance(text, int):
        return text
    if text.isidentifier():
        return Sym.named(text)
    try:
        return dims.parse_dim(text)
    except ValueError:  # self.channels, an expression not read: a dim of unknown size
        return None


def _docstring_constant(module, node) -> Optional[str]:
    """The text of a module-level docstring constant a decorator names, with a
    ``.format("batch_size, sequence_length")`` applied."""
    fmt = None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        fmt = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        node = node.func.value
    if not isinstance(node, ast.Name):
        return None
    text = getattr(module, "globals", {}).get(node.id)
    if not isinstance(text, str):
        return None
    if fmt:
        try:
            text = text.format(*fmt)
        except (IndexError, KeyError, ValueError):
            return None
    return text


def _auto_docstring_table(module) -> dict:
    """transformers' shared argument table, read from the module ``auto_docstring`` is
    imported from (its source, never run)."""
    lazy = getattr(module, "globals", {}).get("auto_docstring")
    stmt = getattr(lazy, "stmt", None)
    resolve = getattr(module, "resolve_module", None)
    if not isinstance(stmt, ast.ImportFrom) or resolve is None:
        return {}
    base = "." * stmt.level + (stmt.module or "")
    for name in (f"{base}.auto_docstring" if stmt.module else f"{base}auto_docstring", base):
        try:
            found = resolve(name, module.path)
        except Exception:  # a resolver failing is an import not followed
            found = None
        if found is not None and "class ModelArgs" in found[1]:
            return docshapes.argument_tables(found[1])
    return {}


def _probe(interp: Interp, target, instance, values: dict, missing: list, fn: Func):
    """Run once with unknown-shape probes to learn each parameter's first consumer."""
    hints: dict = {}
    if not missing and all(v.dtype is not None for v in values.values() if isinstance(v, Tensor)):
        return hints
    args = dict(values)
    for p in missing:
        args[p] = Tensor(None, None, probe=p)
    for p, v in values.items():
        if isinstance(v, Tensor) and v.dtype is None:
            args[p] = Tensor(v.shape, None, probe=p)
    interp.recording = False
    interp.hints = hints
    interp.probe_wanted = set(args)
    interp.steps = 0
    depth, stack = interp.depth, list(interp.call_stack)
    state = _model_state(instance)
    try:
        _run(interp, target, instance, args, fn)
    except (BudgetExceeded, ProbeDone):
        interp.depth, interp.call_stack = depth, stack
    finally:
        interp.recording = True
        interp.hints = None
        interp.probe_wanted = set()
        _put_back(state)
    return hints


def _model_state(instance, limit: int = 256) -> list:
    """The attributes of the model and of the sub-modules it holds, as they are now: a
    run that is not the recorded one (the probe, a rank trial) must not leave a cache
    behind (megatron's AliBi sets self.cached_seq_len in forward, and the recorded run then
    took the cached branch that torch never takes on a first call)."""
    saved, todo, seen = [], [instance], set()
    while todo and len(saved) < limit:
        inst = todo.pop()
        if not isinstance(inst, (Instance, Layer)) or id(inst) in seen:
            continue
        seen.add(id(inst))
        if isinstance(inst, Instance):
            saved.append((inst, dict(inst.attrs)))
        # a library ModuleList or ModuleDict (a Layer) is walked through, not saved: it holds
        # the blocks (litgpt's transformer.h: an adapter block's attention keeps its prompt's
        # keys in self.adapter_kv_cache, which the probe must not leave set)
        held = [*(inst.children or ()), *inst.attrs.values()] if isinstance(inst, Layer) else inst.attrs.values()
        todo.extend(v for v in held if isinstance(v, (Instance, Layer)))
    return saved


def _put_back(state: list) -> None:
    for inst, attrs in state:
        inst.attrs.clear()
        inst.attrs.update(attrs)


MAX_RANK_TRIALS = 8


def _recorded_run(interp: Interp, cls, instance, values: dict, missing: list, hints: dict, fn: Func,
                  quality, problems, record_inputs=False):
    """Run forward for real with the inferred inputs. A first consumer such as
    Linear(784, ...) accepts (B, 784) and (B, T, 784): when the first guess runs into
    contradictions further on, the other ranks are tried (quietly) and the run is redone
    with the one contradicted least. A conflict from inferred inputs is reported only if
    every rank tried clashes at that site: only then is it proven whatever the real rank."""
    flex = [p for p in missing if ("alternatives", p) in hints and ("rank", p) not in hints
            and isinstance(values.get(p), Tensor) and values[p].shape is not None]
    stars = [p for p in missing if isinstance(values.get(p), Tensor) and values[p].star_of == p]
    guessed = [p for p in missing if isinstance(values.get(p), Tensor) and values[p].shape is not None]
    unknown = [p for p in missing if isinstance(values.get(p), Tensor) and values[p].shape is None]
    documented = [p for p, v in values.items() if isinstance(v, Tensor) and v.origin == _DOCUMENTED]
    redo = flex or stars or guessed or (unknown and interp.shapes_wanted) or documented
    snapshot = _snapshot(interp) if redo else None
    state = _model_state(instance) if redo else None
    interp.star_ranks = {} if stars else None
    interp.size_facts = {} if guessed or documented else None
    interp.contracts = {} if missing or documented else None
    try:
        _real_run(interp, cls, instance, values, fn, quality, problems, record_inputs)
    finally:
        demands, interp.star_ranks = interp.star_ranks or {}, None
        facts, interp.size_facts = interp.size_facts or {}, None

    def redo(changed: dict) -> None:
        """The run again from where it started, with the inputs ``changed``."""
        _restore(interp, snapshot)
        _put_back(state)
        values.update(changed)
        _real_run(interp, cls, instance, values, fn, quality, problems, record_inputs)
    sized = {p: _sized_input(values[p], facts) for p in guessed + documented if facts}
    sized = {p: v for p, v in sized.items() if v is not None}
    if sized:
        # PatchEmbed's _assert(H == self.img_size[0]): the model built takes H = 224 only;
        # the run is redone with the sizes the asserts ask for
        redo(sized)
    ranked = {p: _ranked_input(values[p], *demands[p]) for p in stars if p in demands}
    if ranked:
        # (*, 96) kept its leading dims down to ``b, n, _ = h.shape``: the input has that
        # rank; the run is redone with it
        redo(ranked)
    open_rank = [p for p in unknown if p not in demands and values[p].shape is None
                 and (values[p].star_of == p or not values[p].tail)]
    if open_rank and interp.shapes_wanted and interp.steps <= MAX_TRIAL_STEPS:
        # each trial is a whole run of forward: a block's (diffusers' norms: ~100 steps),
        # not a whole model's (BertForMaskedLM: ~3,000, nine trials made its file 3x slower)
        decided = _ranks_that_run(interp, instance, values, open_rank, fn)
        if decided:
            redo(decided)
    contract, interp.contracts = interp.contracts, None
    if contract and snapshot is not None:
        sizable = [p for p in missing + documented if isinstance(values.get(p), Tensor)
                   and values[p].shape is not None]
        _size_by_contracts(interp, values, sizable, contract, redo)
    tentative = interp.rec.tentative
    interp.rec.tentative = {}
    if not tentative:
        return
    keep = {k[:2] for k in tentative}
    if flex:
        combos = []
        for p in flex:
            base = values[p]
            for shape, dtype in hints[("alternatives", p)]:
                combos.append({p: Tensor(shape, dtype or base.dtype, base.origin, guess=True)})
        best, best_score = None, len(keep)
        for combo in combos[:MAX_RANK_TRIALS]:
            keys, score = _trial(interp, instance, values, combo, fn)
            keep &= keys
            if score < best_score:
                best, best_score = combo, score
        if best is not None:
            redo(best)
            tentative = interp.rec.tentative
            interp.rec.tentative = {}
    for key, conflict in tentative.items():
        if key[:2] in keep and key not in interp.rec.conflicts:
            interp.rec.conflicts[key] = conflict


def _size_by_contracts(interp, values: dict, inputs: list, contract: dict, redo) -> None:
    """Inferred inputs whose dims the layers fixed: CogVideoX's text projection is a
    Linear(4096) on ``(batch_size, seq_length, embedding_dim)``, so embedding_dim is 4096;
    efficientformer's attention adds a (8, 49, 49) bias to its (B, 8, N, N) scores, so N is
    49 (dims.note_contract). The run is redone with those sizes, and kept only where it
    finds no clash the first run did not: a fact from one path must not make another
    path's error. ``redo(changed)`` runs again from the start with those inputs changed."""
    # a dim two inputs share (the batch B of x and of a guessed RNN state) is not one
    # input's to fix: the guess may have put it where the layer wants another size
    seen: dict = {}
    for p, v in values.items():
        for d in (v.shape or ()) if isinstance(v, Tensor) else ():
            if isinstance(d, Sym):
                seen.setdefault(d, set()).add(p)
    # (one symbol found equal to another is renamed wherever it is: both stay symbols)
    contract = {sym: size for sym, size in contract.items()
                if isinstance(size, Sym) or len(seen.get(sym, ())) == 1}
    sized = {p: _sized_input(values[p], contract) for p in inputs if contract}
    sized = {p: v for p, v in sized.items() if v is not None}
    if not sized:
        return
    rec = interp.rec
    before, raised = set(rec.tentative) | set(rec.conflicts), interp.run_raised
    old = {p: values[p] for p in sized}
    redo(sized)
    if (set(rec.tentative) | set(rec.conflicts)) - before or (interp.run_raised and not raised):
        redo(old)


def _real_run(interp, cls, instance, values, fn, quality, problems, record_inputs):
    interp.quality = quality
    interp.rec.run += 1
    interp.rec.guess_runs.add(interp.rec.run)
    interp.steps = 0
    interp.memo.clear()
    interp.rec.tentative = {}
    interp.run_raised = False
    raised = interp.may_raise
    if interp.contracts is not None:
        interp.contracts = {}  # the last run's, on the inputs it ran with
    token = dims.CONTRACT_FACTS.set(interp.contracts)
    try:
        if record_inputs:
            _record_inputs(interp, fn, values)
        out = _run(interp, cls, instance, values, fn)
        # no path returned: each raised (a forward that returns nothing returns None too)
        interp.run_raised = out is None and interp.may_raise > raised and _returns_value(fn)
    except BudgetExceeded:
        problems.append(f"{fn.qualname}: analysis budget exceeded; later shapes unknown")
    finally:
        dims.CONTRACT_FACTS.reset(token)
        interp.quality = CALLSITE
        interp.rec.run += 1  # what records next (a constructor, a script) is no forward's guess
        if any(_is_unranked(v) for v in values.values()):
            # an input no consumer told anything of, whose rank no unpacking showed either:
            # its stand-in dim must not reach a hint or a hover (what kept its leading dims
            # but changed the last, a Linear's (*, 256), stays)
            _scrub_unranked(interp)


#: the most steps the run before the rank trials (or the run that fills the lines under an
#: optional tensor) may have taken for them to be tried
MAX_TRIAL_STEPS = 1000

#: the ranks tried for an input nothing told the rank of: its leading dims before the last
#: dims known of it (``(*, D)``), or its whole shape when nothing is known of it
_TRIAL_LEADS = (("B",), ("B", "T"))
_TRIAL_SHAPES = (("B", "D"), ("B", "T", "D"), ("B", "C", "H", "W"))


def _trial_shapes(v: Tensor, i: int) -> list:
    # the batch dim is shared; another input's other dims are its own
    def named(names):
        return tuple(Sym.named(n if n == "B" or i == 0 else f"{n}{i}") for n in names)
    if not v.tail or _is_unranked(v):
        return [named(names) for names in _TRIAL_SHAPES]
    return [named(lead) + tuple(v.tail) for lead in _TRIAL_LEADS]


def _ranks_that_run(interp: Interp, instance, values: dict, inputs: list, fn: Func) -> dict:
    """Inputs whose rank nothing told: known as ``(*, D)`` (diffusers' AdaLayerNormZero:
    ``emb = self.linear(self.silu(emb))`` then ``emb.chunk(6, dim=1)``), or not at all
    (its TemporalConvLayer reshapes ``hidden_states`` to 5-d for a Conv3d). Forward is
    run quietly with each rank for each (``(B, D)``, ``(B, T, D)``; and ``(B, C, H, W)``
    for one of which nothing is known), each combination. An input takes a rank where
    every run without a shape error gave it that rank (``emb`` of rank 3 chunks its T and
    then meets ``x`` with 6·D against D); where runs of more than one rank are clean (a
    Linear takes any) or none is, it stays as it was."""
    # those known as (*, D) first (two ranks each), then the others, up to MAX_RANK_TRIALS
    # runs; an input left out stays unknown in every run
    chosen, runs = [], 1
    for p in sorted(inputs, key=lambda p: not values[p].tail or _is_unranked(values[p])):
        n = len(_trial_shapes(values[p], 0))
        if runs * n <= MAX_RANK_TRIALS + 1:
            chosen.append(p)
            runs *= n
    inputs = chosen
    options = [_trial_shapes(values[p], i) for i, p in enumerate(inputs)]
    clean = []
    for shapes in itertools.product(*options):
        combo = {p: Tensor(shape, values[p].dtype, f"{values[p].origin}; the rank its forward runs with", guess=True)
                 for p, shape in zip(inputs, shapes)}
        token = ops.SIZES_NOT_ONE.set(True)
        try:
            _keys, score = _trial(interp, instance, values, combo, fn)
        finally:
            ops.SIZES_NOT_ONE.reset(token)
        if score == 0:
            clean.append(combo)
    if not clean:
        return {}
    decided = {}
    for p in inputs:
        ranks = {len(c[p].shape) for c in clean}
        if len(ranks) == 1:
            decided[p] = clean[0][p]
    return decided


def _returns_value(fn: Func) -> bool:
    return any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(fn.node))


def _trial(interp, instance, values, combo, fn):
    run_values = dict(values)
    run_values.update(combo)
    interp.recording = False
    interp.trial_conflicts = []
    interp.steps = 0
    penalty = 0
    state = _model_state(instance)
    try:
        _run(interp, None, instance, run_values, fn)
    except BudgetExceeded:
        penalty = 1000
    finally:
        interp.recording = True
        _put_back(state)
        keys = {k[:2] for k in interp.trial_conflicts}  # (line, col): some clash there
        interp.trial_conflicts = None
    return keys, penalty + len(keys)


def _snapshot(interp: Interp):
    rec = interp.rec
    return (dict(rec.bindings), dict(rec.hovers), dict(rec.layers), dict(rec.layer_uses), dict(rec.conflicts),
            dict(interp.forward_io), dict(interp.forward_quality), set(rec.vague))


def _restore(interp: Interp, snap):
    """Back to ``snap``, in place: the recorder keys its notes of which run recorded what by
    the stores' identity (Recorder.run_of), so a store must stay the same dict."""
    rec = interp.rec
    stores = (rec.bindings, rec.hovers, rec.layers, rec.layer_uses, rec.conflicts, interp.forward_io,
              interp.forward_quality)
    for store, saved in zip(stores + (rec.vague,), snap):
        store.clear()
        store.update(saved)
    for store in (rec.bindings, rec.hovers):  # scrubbed or not when the snapshot was taken
        for key in store:
            rec.wrote(store, key)


def _from_hints(hints: dict, p: str, default):
    """A parameter's inferred input: its first consumer's hint, with the rank (and dim
    names) a ``B, T, C = x.size()`` unpacking revealed."""
    names = hints.get(("rank", p))
    if p in hints:
        shape, dtype, origin = hints[p]
    elif names is not None:
        shape, dtype, origin = None, None, "inferred from its unpacked size"
    else:
        return default
    guess = shape is not None
    if names is None and shape is not None and ("any_rank", p) in hints and ("alternatives", p) in hints:
        # Linear(256) takes (B, 256), (B, T, 256) and (256,): nothing in the code says which,
        # so the input is (*, 256), the dims every rank it accepts shares; (B, 256) would be
        # a made-up rank (a later reshape(b, -1, h, d) then "solves" -1 = 1)
        tail = dims.common_tail([shape] + [alt for alt, _dtype in hints[("alternatives", p)]])
        if tail:
            return Tensor(None, dtype, origin, guess=True, tail=tail, star_of=p)
    if names is not None:
        named = tuple(Sym.named(n) if n else None for n in names)
        if shape is None:
            shape = named
        elif len(shape) == 2 and len(names) > 2:
            # Linear-style hint (B, in) on a tensor unpacked as B, T, C: (B, T, in)
            shape = (shape[0],) + named[1:-1] + (shape[1],)
    return Tensor(shape, dtype, origin, guess=guess)


#: names for the leading dims of an input whose rank an unpacking showed but did not name
_LEADING_NAMES = ("B", "T", "S", "U", "V")


def _ranked_input(star: Tensor, names: list, line: int, tail_names: tuple = ()) -> Tensor:
    """Input ``(*, 96)`` whose leading dims an unpacking on ``line`` counted (and named)."""
    free = iter(n for n in _LEADING_NAMES if n not in names)
    lead = tuple(Sym.named(n if n else next(free, f"d{i}")) for i, n in enumerate(names))
    tail = tuple(star.tail)
    if _is_unranked(star):
        # the stand-in last dim takes the unpacking's name (``b, t, d_in = x.shape``)
        tail = tuple(Sym.named(n or "C") for n in tail_names[:len(tail)])
        return Tensor(lead + tail, star.dtype, f"input, rank from line {line}", guess=True)
    return Tensor(lead + tail, star.dtype, f"{star.origin}; rank from line {line}", guess=True)


def _unranked_input(p: str) -> Tensor:
    """An input whose first consumer said nothing (a custom LayerNorm, ``x + pos``): run as
    ``(*, D)``, so that element-wise work keeps its unknown leading dims and a later
    ``b, t, d = h.shape``, in this forward or a sub-module's, tells its rank. Every model
    input has at least one dim."""
    return Tensor(None, None, "input (shape unknown)", guess=True, tail=(Sym.named(dims.UNRANKED),), star_of=p)


def _sized_input(t: Tensor, facts: dict) -> Optional[Tensor]:
    """``t`` with each dim an assert fixed (``H`` -> 224; ``B*T`` -> ``B*S`` where T is S),
    or None when none is."""
    shape = tuple(dims.substitute(d, facts) for d in t.shape)
    if shape == tuple(t.shape):
        return None
    return Tensor(shape, t.dtype, f"{t.origin}; sizes from its asserts", guess=t.guess)


def _mentions_unranked(shape) -> bool:
    return shape is not None and any(dims.mentions_unranked(d) for d in shape)


def _scrub_unranked(interp: Interp) -> None:
    """Every recorded shape that holds the stand-in last dim of an unranked input: unknown."""
    rec = interp.rec
    for store in (rec.bindings, rec.hovers):
        # what was written before the last scrub was scrubbed then
        for key in rec.take_written(store):
            if key not in store:
                continue
            quality, shape, dtype, make = store[key]
            elems = make[2] if len(make) > 2 else None
            if elems:
                elems = [(sfx, None if _mentions_unranked(sh) else sh, dt) for sfx, sh, dt in elems]
                make = make[:2] + (elems,) + make[3:]
            if _mentions_unranked(shape):
                shape = None
            store[key] = (quality, shape, dtype, make)
    for key, (quality, ins, out) in list(interp.forward_io.items()):
        built = interp.forward_built.get(key)
        ins_before, ins = ins, {p: None if _mentions_unranked(v) else v for p, v in ins.items()}
        interp.forward_io[key] = (quality, ins, None if _mentions_unranked(out) else out)
        if built and built[1] is ins_before:
            interp.forward_built[key] = (built[0], ins)


def _is_unranked(t) -> bool:
    return isinstance(t, Tensor) and t.shape is None and t.tail is not None and len(t.tail) == 1 \
        and dims.same(t.tail[0], Sym.named(dims.UNRANKED))


def _run(interp: Interp, target, instance, kwargs: dict, fn: Func):
    if instance is not None and fn.node.name == "forward":
        return interp.call_module(instance, Args([], kwargs), None, None)
    if instance is not None:  # another method of the model: self is the instance
        return interp.call_func(fn, Args([instance], kwargs), None)
    # a function the engine calls of its own accord (a script's main(), timm's model factory
    # `def swinv2_tiny_window16_256(pretrained=False, **kwargs)`): its **kwargs are whatever
    # a caller passes, not none (timm's registry sets img_size=256 through them)
    a = Args([], kwargs)
    a.open_kwargs = True
    return interp.call_func(fn, a, None)


METHOD_QUALITY = INFERRED - 1
_NOT_ANALYSED = {"staticmethod", "classmethod", "property", "cached_property", "functools.cached_property"}


def _analyze_methods(interp: Interp, cls: ClassVal, problems, again: bool = False):
    """The model's methods other than ``forward`` that no run so far called
    (``generate``, ``encode``, a loss helper), each with its inputs inferred as a forward's
    are, ``self`` being the instance the class analysis built; a parameter named as one of
    forward's (``idx``) takes the input forward ran with."""
    instance = interp.instances.get(cls) or interp.standalone.get(cls) or interp.first_instance.get(cls)
    if instance is None:
        return
    io = interp.forward_io.get(cls.name)
    for name, fn in list(cls.attrs.items()):
        if not isinstance(fn, Func) or fn.owner is not cls or name in ("forward", "__init__") \
                or name.startswith("__") or (fn in interp.called and not again) or _out_of_time(interp) \
                or {_deco(d) for d in fn.node.decorator_list} & _NOT_ANALYSED:
            continue
        values, quality, missing = _forward_inputs(interp, fn, {}, instance, problems, False)
        # its integer defaults are what a caller may replace (yolov5's _make_grid(nx=20, ny=20)
        # is called with each level's size): symbols hinted with the default, not the default
        for p, v in _symbolic_defaults(fn).items():
            values.setdefault(p, v)
        for p in list(missing):
            shape = io[1].get(p) if io is not None else None
            if shape is not None and shape[:1] == (dims.STAR,):
                # forward's (*, 256): the same unknown rank
                values[p] = Tensor(None, None, "input (as forward's)", tail=tuple(shape[1:]))
                missing.remove(p)
            elif shape is not None:
                values[p] = Tensor(shape, None, "input (as forward's)")
                missing.remove(p)
        hints = _probe(interp, fn, instance, values, missing, fn)
        for p in missing:
            values[p] = _from_hints(hints, p, UNK)
        for p, v in values.items():
            if isinstance(v, Tensor) and v.dtype is None and p in hints:
                v.dtype = hints[p][1]
        # shapes only: a method run with inputs nobody gave it (its defaults, a model
        # built with default arguments) proves no error
        conflicts = dict(interp.rec.conflicts)
        # below every forward run: what generate() feeds forward (a growing sequence)
        # never blurs the shapes forward's own analysis found
        _recorded_run(interp, fn, instance, values, missing, hints, fn, METHOD_QUALITY, problems)
        interp.rec.conflicts = conflicts


def _deco(node) -> str:
    node = node.func if isinstance(node, ast.Call) else node
    if isinstance(node, ast.Attribute):
        return f"{_deco(node.value)}.{node.attr}" if isinstance(node.value, (ast.Name, ast.Attribute)) else node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _generic_pass(interp: Interp, modules: list):
    """Each model a call in the file ran with concrete inputs, run again with its inputs
    inferred, into a recorder of its own: {binding or hover key: (shape, call line)}.
    Nothing else of the analysis changes (its conflicts and problems are dropped here)."""
    # a model whose inputs came from another file's call (a training script's batches) shows
    # those: they are the workspace's answer, not a call in this file made for a demo
    from_workspace = {c.cls for c in getattr(interp, "used_call_sites", None) or ()}
    reached = [c for c in modules if interp.forward_quality.get(c.name) == CALLSITE and c.name in interp.callsite_args
               and c.name not in from_workspace]
    if not reached:
        return None
    from ml_lsp.analysis.interp import Recorder

    saved = (interp.rec, interp.forward_quality, interp.forward_io, interp.problems)
    interp.rec, interp.forward_quality, interp.forward_io, interp.problems = Recorder(), {}, {}, []
    generic: dict = {}
    try:
        for cls in reversed(reached):  # the main model first: it reaches its blocks
            if _out_of_time(interp):
                break
            _analyze_class(interp, cls, {}, None, [], is_entry=False, use_call_site=False)
            _analyze_methods(interp, cls, [], again=True)
            line = interp.callsite_lines.get(cls.name)
            for store in (interp.rec.bindings, interp.rec.hovers):
                for key, (_q, shape, _dtype, _extra) in store.items():
                    generic.setdefault(key, (shape, line))
    except BudgetExceeded:
        pass
    finally:
        interp.rec, interp.forward_quality, interp.forward_io, interp.problems = saved
    return generic


def _per_site_conflicts(interp: Interp, modules: list) -> None:
    """Where several call sites were joined into one input (a differing dim a symbol), a
    contradiction one of them proves is still reported: each such model runs again with
    each call's own inputs, into a recorder of its own; only its conflicts are kept, each
    naming the call that proves it. Bindings and hovers stay those of the joined input."""
    import os
    from ml_lsp.analysis.interp import Recorder

    by_name = {c.name: c for c in modules}
    for name, sites in interp.sites_by_class.items():
        cls = by_name.get(name)
        if cls is None or len(sites) < 2:
            continue
        joined = interp.callsite_args.get(name)
        saved = (interp.rec, interp.forward_quality, interp.forward_io, interp.problems)
        found: dict = {}
        try:
            for caller_path, args in sites:
                if _out_of_time(interp):
                    break
                interp.rec, interp.forward_quality, interp.forward_io, interp.problems = Recorder(), {}, {}, []
                interp.callsite_args[name] = args
                _analyze_class(interp, cls, {}, None, [], is_entry=False)
                where = f"{os.path.basename(caller_path)}:{getattr(args, 'site_line', None) or '?'}"
                for key, conflict in interp.rec.conflicts.items():
                    if key not in found:
                        conflict.message = f"{conflict.message} (with the inputs of the call at {where})"
                        found[key] = conflict
        except BudgetExceeded:
            pass
        finally:
            interp.rec, interp.forward_quality, interp.forward_io, interp.problems = saved
            interp.callsite_args[name] = joined
        for key, conflict in found.items():
            interp.rec.conflicts.setdefault(key, conflict)


def _batch_from_call(values: dict, site, fwd: Func) -> None:
    """Inputs the model does not pin down (an unknown rank, unknown dims) take the call's
    shape with its first dim as the batch ``B``: a model fed (64, 1, 28, 28) whose code
    constrains nothing but 28x28 is shown for (B, 1, 28, 28)."""
    if site is None:
        return
    params = _param_names(fwd.node)[1:]
    for i, p in enumerate(params):
        given, inferred = site.arg(i, p), values.get(p)
        if not isinstance(given, Tensor) or not given.shape or not isinstance(inferred, Tensor):
            continue
        shape = inferred.shape
        if shape is not None and None not in shape:
            continue
        if shape is None or len(shape) != len(given.shape):
            shape = (None,) * len(given.shape)
        merged = tuple(d if d is not None else (Sym.named("B") if k == 0 else given.shape[k])
                       for k, d in enumerate(shape))
        values[p] = Tensor(merged, inferred.dtype or given.dtype, "input (the call's, any batch size)")


def _generic_shape(concrete, generic):
    """The inferred-input shape where it says more about the model than the call's: the
    same rank, each dim the call's or a symbol in its place (never less known)."""
    if generic is None or concrete is None or len(generic) != len(concrete) or generic == concrete:
        return None
    for g, c in zip(generic, concrete):
        if g != c and (g is None or isinstance(g, int) or not _SIMPLE_DIM.match(dims.render(g))):
            return None  # less known, or an expression no reader wants in a hint
    return generic


_SIMPLE_DIM = re.compile(r"^[A-Za-z_]\w*(?:\s*[-+*]\s*(?:\d+|[A-Za-z_]\w*))?$")


def _analyze_class(interp: Interp, cls: ClassVal, explicit, init, problems, is_entry, use_call_site=True):
    fwd = cls.lookup("forward")
    if not isinstance(fwd, Func):
        # still build it, so its layers and parameter count are known
        if cls not in interp.first_instance:
            _instance_for(interp, cls, init if is_entry else None, problems)
        return
    values, quality, missing = _forward_inputs(interp, fwd, explicit, True, problems, is_entry, use_call_site)
    if is_entry and init is not None:
        # the model the user asked for outranks a call site that built it differently
        quality += 0.5
    if interp.forward_quality.get(cls.name, 0) >= quality and not is_entry:
        return  # reached from a better-informed call: nothing to add
    # inputs given with no constructor: the model they were meant for is the default one
    instance = _instance_for(interp, cls, init if is_entry else None, problems,
                             symbolic_defaults=not (is_entry and explicit))
    if instance is None:
        return
    if missing:
        _from_example_input_array(instance, fwd, values, missing)
    read = [k for k in _kwargs_read(fwd) if k not in values and k not in missing] if missing else []
    hints = _probe(interp, cls, instance, values, missing + read, fwd)
    # forward(self, input, **kwargs) reading kwargs['labels']: an input too, where the probe
    # learned what it is (the conditional VAE's labels, read by a Linear)
    missing = missing + [k for k in read if k in hints or ("rank", k) in hints]
    for p in missing:
        values[p] = _from_hints(hints, p, None) or _unranked_input(p)
    for p, v in values.items():
        if v.dtype is None and p in hints:
            v.dtype = hints[p][1]  # else unknown: an index tensor and a float input look alike
    if not use_call_site:
        _batch_from_call(values, interp.callsite_args.get(cls.name), fwd)
    optional = [p for p in _optional_tensor_params(fwd) if p not in values] if interp.shapes_wanted else []
    before = (_snapshot(interp), _model_state(instance)) if optional else None
    _recorded_run(interp, cls, instance, values, missing, hints, fwd, quality, problems, record_inputs=True)
    if not optional:
        return
    raised = interp.run_raised
    if not raised and ((is_entry and explicit) or interp.steps > MAX_TRIAL_STEPS):
        # the inputs the user gave are the run asked for; and filling lines is worth one more
        # run of a block's forward, not of a whole model's (see MAX_TRIAL_STEPS)
        return
    # The optional tensors given too. Where every path raised without them (torchtune's
    # attention: ``y`` is optional only with a kv-cache set up, else ValueError), that is
    # the run; otherwise it only fills the lines the first run never reached (diffusers'
    # ``if temb is not None:`` branch) or could not follow (``self.linear(emb)`` on the
    # None), each other line keeping what the first run found.
    first = None if raised else _snapshot(interp)
    _restore(interp, before[0])
    _put_back(before[1])
    # an input whose first consumer the first probe never reached (it came after a line
    # that raises with the optional tensor None: diffusers' AdaLayerNormZero runs
    # self.silu(emb) before self.norm(x)) is probed again beside the optional ones
    unhinted = [p for p in missing if p not in hints and ("rank", p) not in hints]
    more = _probe(interp, cls, instance, values, optional + unhinted, fwd)
    given = dict(values)
    # a documented shape first, as for the inputs forward needs (torchtune's mask [b x s x s])
    docs = _documented_shapes(fwd)
    for p in optional:
        given[p] = docs.get(p) or _from_hints(more, p, None) or _unranked_input(p)
    for p in unhinted:
        given[p] = _from_hints(more, p, None) or given[p]
    _recorded_run(interp, cls, instance, given, missing + optional, {**hints, **more}, fwd, quality, problems,
                  record_inputs=raised)
    if first is not None:
        rec = interp.rec
        second = (dict(rec.bindings), dict(rec.hovers))
        _restore(interp, first)
        for store, extra in zip((rec.bindings, rec.hovers), second):
            for key, v in extra.items():
                rec.wrote(store, key)
                if key not in store or (store[key][1] is None and v[1] is not None):
                    store[key] = v
                    continue
                quality, shape, dtype, make = store[key]
                if v[1] is not None and dims.STAR not in v[1] and dims.STAR not in shape:
                    # a line whose value differs with the optional tensor given (torchtune's
                    # Gemma2: a causal (s_x, s_x) mask made without one, the caller's
                    # (b, s, s) with one) holds only what both runs agree on
                    joined = dims.join_shape(shape, v[1])
                    if joined != tuple(shape):
                        store[key] = (quality, joined, dtype, make)


def _optional_tensor_params(fn: Func) -> list:
    """The parameters of ``fn`` that default to None and are annotated as tensors
    (``y: Optional[torch.Tensor] = None``)."""
    def says_tensor(option) -> bool:
        if _annotation_head(option) in TENSOR_TYPES:
            return True
        # a module-level alias of a Union with a tensor in it (``mask: Optional[_MaskType]``)
        alias = fn.module.globals.get(option.id) if isinstance(option, ast.Name) else None
        return isinstance(alias, Ref) and _is_tensor_type(alias.qual)

    return [p.arg for p, d in _defaulted_params(fn)
            if isinstance(d, ast.Constant) and d.value is None and p.annotation is not None
            and any(says_tensor(o) for o in _annotation_options(p.annotation))]


def _kwargs_read(fn: Func) -> list:
    """The keys ``forward(self, x, **kwargs)`` reads from its kwargs by name
    (``kwargs['labels']``, ``kwargs.get('labels')``), in order."""
    kwarg = fn.node.args.kwarg
    if kwarg is None:
        return []
    found = []
    for node in ast.walk(fn.node):
        key = None
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == kwarg.arg \
                and isinstance(node.slice, ast.Constant):
            key = node.slice.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "pop") \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == kwarg.arg and node.args \
                and isinstance(node.args[0], ast.Constant):
            key = node.args[0].value
        if isinstance(key, str) and key.isidentifier() and key not in found:
            found.append(key)
    return found


def _from_example_input_array(instance, fwd: Func, values: dict, missing: list) -> None:
    """Lightning's ``self.example_input_array`` (a tensor, a tuple of them, or a dict by
    name), set in ``__init__``, is the input the module documents for its forward."""
    example = instance.attrs.get("example_input_array")
    params = [p.arg for p in (fwd.node.args.posonlyargs + fwd.node.args.args)[1:]]
    if isinstance(example, Tensor):
        given = {params[0]: example} if params else {}
    elif isinstance(example, Seq):
        given = dict(zip(params, example.items))
    elif isinstance(example, DictVal):
        given = {k: v for k, v in example.items.items() if k in params}
    else:
        return
    for name, v in given.items():
        if name in missing and isinstance(v, Tensor) and v.shape is not None:
            values[name] = Tensor(v.shape, v.dtype, "input (example_input_array)", source="example_input_array")
            missing.remove(name)


def _record_inputs(interp: Interp, fn: Func, values: dict):
    """Hovers on the parameters of the def line."""
    for p in fn.node.args.posonlyargs + fn.node.args.args + fn.node.args.kwonlyargs:
        v = values.get(p.arg)
        if isinstance(v, Tensor):
            interp.record_hover(p, v)


def _instance_for(interp: Interp, cls: ClassVal, init, problems, symbolic_defaults=True):
    interp.steps = 0
    try:
        if init is not None:
            args = _init_args(interp, init, cls)
            inst = interp.instantiate(cls, args, None, quiet=True)
            interp.instances[cls] = inst
            return inst
        if cls in interp.instances:
            return interp.instances[cls]
        # arguments the engine made up (defaults, a config built with its defaults): an
        # assert they fail says nothing about the user's model
        interp.assumed_ctor_args = True
        # what the constructor binds with arguments made up (Swin's window_partition of its
        # attention mask) ranks below every forward run: it does not stand for them
        quality, interp.quality = interp.quality, METHOD_QUALITY
        try:
            inst = interp.instantiate(cls, _default_ctor_args(interp, cls, symbolic_defaults), None, quiet=True)
        finally:
            interp.assumed_ctor_args = False
            interp.quality = quality
        interp.standalone[cls] = inst
        return inst
    except BudgetExceeded:
        problems.append(f"{cls.name}.__init__: analysis budget exceeded")
        return None


def _analyze_function(interp: Interp, fn: Func, explicit, problems, quality):
    if fn in _called_functions(interp):
        return
    values, q, missing = _forward_inputs(interp, fn, explicit, None, problems, quality == EXPLICIT)
    hints = _probe(interp, fn, None, values, missing, fn)
    for p in missing:
        values[p] = _from_hints(hints, p, UNK)
    for p, v in values.items():
        if isinstance(v, Tensor) and v.dtype is None and p in hints:
            v.dtype = hints[p][1]
    _recorded_run(interp, fn, None, values, missing, hints, fn, max(q, quality), problems)


def _called_functions(interp):
    return interp.called


# ---------------------------------------------------------------- facts


def _layer_signature(layer: Layer) -> Optional[str]:
    rule = layer.rule
    if not isinstance(rule, LayerRule) or rule.signature is None or not isinstance(layer.ctor, Ctor):
        return None
    try:
        sig = rule.signature(layer.ctor)
    except Exception:
        return None
    if not sig:
        return None
    a, b = sig
    return f"{_sig_shape(a)} -> {_sig_shape(b)}"


def _sig_shape(shape) -> str:
    if isinstance(shape, str):
        return shape
    if shape is None:
        return "(...)"
    return "(" + ", ".join(d if isinstance(d, str) else dims.render(d) for d in shape) + ")"


def _hinted_ctor(ctor: Ctor) -> Ctor:
    """The constructor with sizes made up from defaults replaced by their hints: a model
    nobody built is counted as built with its defaults."""
    if not any(isinstance(v, Sym) for v in ctor.values.values()):
        return ctor
    hinted = copy.copy(ctor)
    hinted.values = {k: (dims.size_hint(v) if isinstance(v, Sym) else v) for k, v in ctor.values.items()}
    return hinted


def count_params(value, seen=None, ties=None) -> Optional[int]:
    """Trainable parameter count of a layer / user module, None when any part is unknown.
    A weight tied to another layer's (``lm_head.weight = wte.weight``) counts once, as
    ``model.parameters()`` does, when both layers are part of what is counted."""
    if seen is None:
        seen, ties = set(), []
        total = count_params(value, seen, ties)
        if total is None:
            return None
        for source, size in ties:
            if id(source) in seen:
                if size is None:
                    return None
                total -= size
        return total
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, Layer):
        for source, attr in (value.attrs.get(TIED) or {}).values():
            ties.append((source, _weight_size(source, attr)))
        if value.children is not None:
            total = 0
            for c in value.children:
                n = count_params(c, seen, ties)
                if n is None:
                    return None
                total += n
            return total
        if value.name in ("Sequential", "ModuleList", "ModuleDict"):
            return None
        rule = value.rule
        if isinstance(rule, LayerRule) and isinstance(value.ctor, Ctor):
            if rule.param_count is None:
                return 0 if rule.keeps_shape and not _has_affine(value) else None
            try:
                n = rule.param_count(_hinted_ctor(value.ctor))
            except Exception:
                return None
            return n if isinstance(n, int) else None
        return None
    if isinstance(value, Instance):
        if not value.complete or value.attrs.get("__incomplete__"):
            return None
        total = 0
        for k, v in value.attrs.items():
            if isinstance(v, (Layer, Instance)):
                if isinstance(v, Instance) and not v.cls.is_module:
                    continue
                n = count_params(v, seen, ties)
            elif isinstance(v, Tensor) and v.param:
                n = dims.size_hint(dims.product(v.shape)) if v.shape is not None else None
            elif isinstance(v, (DictVal, Seq)):  # ParameterDict / ParameterList
                items = v.items.values() if isinstance(v, DictVal) else v.items
                n = 0
                for x in items:
                    if isinstance(x, Tensor) and x.param:
                        k = dims.size_hint(dims.product(x.shape)) if x.shape is not None else None
                        if k is None:
                            n = None
                            break
                        n += k
            else:
                continue
            if n is None:
                return None
            total += n
        return total
    return 0


def _weight_size(layer, attr: str) -> Optional[int]:
    rule = layer.rule
    try:
        shape = rule.weights(layer.ctor).get(attr) if isinstance(rule, LayerRule) and rule.weights else None
    except Exception:
        return None
    return dims.size_hint(dims.product(shape)) if shape is not None else None


def _has_affine(layer) -> bool:
    return False


def _build_facts(interp: Interp, path, problems, modules, generic=None) -> ModuleFacts:
    rec = interp.rec
    facts = ModuleFacts(path=path, problems=problems)
    bindings = []
    generic = generic or {}
    for key, (q, shape, dtype, extra) in rec.bindings.items():
        scope, line, col, name = key
        target, origin, elems = extra
        binding = Binding(scope, name, line, col, target.end_lineno, target.end_col_offset,
                          shape, dtype, origin or "", elems)
        if key in generic and elems is None:
            binding.generic_shape = _generic_shape(shape, generic[key][0])
            binding.call_line = generic[key][1] if binding.generic_shape is not None else None
        bindings.append(binding)
    bindings.sort(key=lambda b: (b.line, b.col, b.name))
    facts.bindings = bindings
    hovers = []
    for key, (q, shape, dtype, extra) in rec.hovers.items():
        line, col, end_line, end_col = key
        node, origin = extra
        hover = ShapeHover(line, col, end_line, end_col, interp.src(node) if hasattr(node, "lineno") else "",
                           shape, dtype, origin or "")
        if key in generic:
            hover.generic_shape = _generic_shape(shape, generic[key][0])
            hover.call_line = generic[key][1] if hover.generic_shape is not None else None
        hovers.append(hover)
    facts.hovers = hovers
    layer_by_id = {}
    for (owner, attr, line, col), (q, node, layer) in rec.layers.items():
        if node is not None:
            span = (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)
        else:
            span = (layer.line, layer.col, layer.end_line, layer.end_col)
        lf = LayerFact(owner, attr, *span, call=layer.call_text, signature=_layer_signature(layer),
                       param_count=count_params(layer))
        facts.layers.append(lf)
        layer_by_id[id(layer)] = lf
    facts.layers.sort(key=lambda f: (f.line, f.col))
    facts.layer_refs = []
    for span, layer in rec.layer_uses.items():
        base = layer_by_id.get(id(layer))
        if base is None:
            continue
        facts.layer_refs.append(LayerFact(base.owner, base.attr, *span, call=base.call,
                                          signature=base.signature, param_count=base.param_count))
    for cls in modules:
        inst = interp.instances.get(cls) or interp.standalone.get(cls) or interp.first_instance.get(cls)
        io = interp.forward_io.get(cls.name)
        built = interp.forward_built.get(cls.name)
        facts.classes.append(ModuleClassFact(
            cls.name, cls.node.lineno, cls.node.col_offset,
            param_count=count_params(inst) if inst is not None else None,
            input_shapes=dict(io[1]) if io else {}, output_shape=io[2] if io else None,
            built_at=built[0] if io and built and built[1] is io[1] else None))
    facts.conflicts = sorted(rec.conflicts.values(), key=lambda c: (c.line, c.col))
    return facts

