"""The ground truth for what plain ``ml-lsp shapes FILE`` is asked: each class built with its
constructor's defaults, called with the inputs the static engine inferred for it.

Without ``--init`` and ``--input`` the engine analyses the model its constructor's defaults
build (ViT's 768 wide, not the manifest's 64) with input shapes it inferred from their first
use. Scoring that against the runtime of the manifest's small model calls every default dim
a contradiction. So, per class: the engine's inferred inputs (``"classes"`` in its
``--json``) with each symbol given a value become input specs for runtime.py, which builds
``Class()`` on the meta device and records what forward binds. This module turns the
engine's inputs into those specs; it imports neither torch nor the engine.
"""

from __future__ import annotations

import ast
import re

#: values for the symbols of an inferred input when the manifest's input cannot give them:
#: distinct, so that a dim that follows the wrong symbol shows
SMALL_VALUES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29)
#: values for a last attempt where torch raised on the small ones: an inferred ``(B, 2, L)``
#: is a right shape for a model whose convolutions take L down 2048-fold, but not with L = 5
#: (the batch keeps 2; the meta device runs these at no cost)
LARGE_VALUES = (4099, 4111, 4127, 4129, 4133, 4139, 4153, 4157, 4159, 4177)
_BATCH_NAMES = ("B", "b", "N", "n", "bs", "bsz", "batch", "batch_size")

_SPEC = re.compile(r"^(\w+)=([\d,\s]*?)(?:\s+(\S+))?$")
_NAME = re.compile(r"[A-Za-z_]\w*")


def manifest_inputs(specs) -> dict[str, tuple[list[int], str]]:
    """``["x=2,3,32,32", "ids=2,16 long<100>"]`` -> ``{"x": ([2, 3, 32, 32], "float"), ...}``."""
    out = {}
    for text in specs:
        match = _SPEC.match(text.strip())
        if match:
            dims = [int(d) for d in match.group(2).replace(" ", "").split(",") if d]
            out[match.group(1)] = (dims, match.group(3) or "float")
    return out


def _value(dim, symbols: dict[str, int], fallback: int | None, values=SMALL_VALUES):
    """An inferred dim as an int: an int as it is; a symbol (``B``) or an expression of
    symbols (``T+1``) with the values in ``symbols`` (a new symbol takes ``fallback``, or
    the next small value not yet used); ``None`` (unknown) takes ``fallback`` too."""
    if isinstance(dim, bool):
        return int(dim)
    if isinstance(dim, int):
        return dim
    if dim is None:
        if fallback is None:
            fallback = symbols[f"?{len(symbols)}"] = _fresh(symbols, values)
        return fallback
    text = str(dim)
    for name in _NAME.findall(text):
        if name not in symbols:
            fresh = 2 if values is not SMALL_VALUES and name in _BATCH_NAMES else _fresh(symbols, values)
            symbols[name] = fallback if fallback is not None and text == name else fresh
    try:
        value = eval(text, {"__builtins__": {}}, dict(symbols))  # noqa: S307 - the engine's own dim text
    except Exception:  # noqa: BLE001 - a dim text we cannot evaluate
        return None
    return value if isinstance(value, int) and value > 0 else None


def _fresh(symbols: dict[str, int], values=SMALL_VALUES) -> int:
    used = set(symbols.values())
    return next((v for v in values if v not in used), values[-1])


def _class_def(source: str, cls: str):
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    return next((n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls), None)


def _method(class_def, name: str):
    if class_def is None:
        return None
    return next((f for f in class_def.body if isinstance(f, ast.FunctionDef) and f.name == name), None)


def _defaulted(fn: ast.FunctionDef) -> list:
    """(parameter, default expression) of each parameter of ``fn`` that has a default,
    positional and keyword-only (``self`` has none)."""
    a = fn.args
    positional = a.posonlyargs + a.args
    return list(zip(positional[len(positional) - len(a.defaults):], a.defaults)) + \
        [(p, d) for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]


def constructor_defaults(source: str, cls: str) -> dict[str, int]:
    """The integer defaults of class ``cls``'s own ``__init__`` in ``source``
    (``dim: int = 384`` -> {"dim": 384}): the engine names a size it kept symbolic after its
    constructor parameter (``(B, N, dim)``), which the model built with its defaults has."""
    init = _method(_class_def(source, cls), "__init__")
    if init is None:
        return {}
    return {p.arg: d.value for p, d in _defaulted(init) if isinstance(d, ast.Constant) and type(d.value) is int
            and d.value > 0}


def concrete(guessed: dict[str, list | None], given: dict[str, tuple[list[int], str]],
             aligned: bool, known: dict[str, int] | None = None, values=SMALL_VALUES) -> list[str] | None:
    """One set of input specs for runtime.py: each inferred shape with its symbols given
    values; ``aligned``: a symbol or unknown dim takes the manifest's size of the same input
    at the same place counted from the right (an image model built with defaults wants the
    manifest's 224, not 5), else the distinct small values. A rank-polymorphic ``(*, 256)``
    takes the manifest's leading dims where they fit, else one leading dim. The dtype is the
    manifest's for an input of that name, else float. None when a dim has no value."""
    symbols: dict[str, int] = dict(known or {})
    specs = []
    for name, shape in guessed.items():
        if shape is None:
            return None
        sizes, dtype = given.get(name, ([], "float"))
        shape = list(shape)
        if "*" in shape:
            star = shape.index("*")
            tail = shape[star + 1:]
            lead = sizes[:len(sizes) - len(tail)] if aligned and len(sizes) > len(tail) else [None]
            shape = shape[:star] + lead + tail
        dims = []
        for i, dim in enumerate(shape):
            j = len(sizes) - len(shape) + i
            fallback = sizes[j] if aligned and 0 <= j < len(sizes) else None
            value = _value(dim, symbols, fallback, values)
            if value is None:
                return None
            dims.append(value)
        spec = f"{name}=" + ",".join(map(str, dims))
        if dtype.startswith("long"):
            dtype = "long<2>"   # indices valid for any table the defaults build
        specs.append(spec + ("" if dtype == "float" else f" {dtype}"))
    return specs


def input_attempts(guessed: dict[str, list | None] | None, manifest_specs,
                   known: dict[str, int] | None = None) -> list[list[str]] | None:
    """The input attempts for a class built with its defaults, in order: the manifest's sizes
    for the inferred symbols, then distinct small values; a symbol named after a constructor
    parameter takes its default (``known``). None when the engine inferred no shape for an
    input (there is then nothing the engine was asked to score against)."""
    if guessed is None:
        return None
    given = manifest_inputs(manifest_specs)
    if not guessed and given:
        return None     # forward takes inputs the engine did not name
    attempts = []
    for aligned in (True, False):
        specs = concrete(guessed, given, aligned, known)
        if specs is None:
            return None
        if specs not in attempts:
            attempts.append(specs)
    return attempts


def larger_attempt(guessed: dict[str, list | None] | None, manifest_specs,
                   known: dict[str, int] | None = None) -> list[str] | None:
    """The inputs of input_attempts with every symbol but the batch large (LARGE_VALUES):
    tried where torch raised on each of those, since a symbol's small value may be only
    too small for the model (a kernel larger than the input), not a wrong shape."""
    if not input_attempts(guessed, manifest_specs, known):
        return None
    return concrete(guessed, manifest_inputs(manifest_specs), False, known, LARGE_VALUES)


def required_arguments(source: str, cls: str, init: str | None) -> str | None:
    """For a class whose own ``__init__`` has parameters without a default (``dim``,
    ``heads``): the manifest's ``init`` cut down to those (``"dim=32, heads=4"``); every other
    parameter keeps its default, as in the engine's run without arguments (it keeps the
    required ones unknown and runs the defaults of the rest). "" when the class needs no
    argument; None when the manifest does not give each required one by a name or a place
    this can read."""
    fn = _method(_class_def(source, cls), "__init__")
    if fn is None:
        return "" if init is None else None
    a = fn.args
    params = (a.posonlyargs + a.args)[1:]
    defaulted = {p.arg for p, _ in _defaulted(fn)}
    required = [p.arg for p in params + a.kwonlyargs if p.arg not in defaulted]
    if not required:
        return ""
    if not init:
        return None
    text = f"f({init})"
    try:
        call = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    given = {}
    for i, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred) or i >= len(params):
            return None
        given[params[i].arg] = arg
    for kw in call.keywords:
        if kw.arg is None:
            return None
        given[kw.arg] = kw.value
    if any(name not in given for name in required):
        return None
    return ", ".join(f"{name}={ast.get_source_segment(text, given[name])}" for name in required)


def without_optional(source: str, cls: str, specs, ran=()) -> list[str]:
    """The manifest's input specs less those of ``forward`` parameters that have a default
    (``mask=None``) and are not among ``ran`` (the inputs the engine says it ran forward
    with: torchtune's attention takes ``y=None`` but raises without it, so the engine runs
    it with ``y``): the engine without inputs runs forward as it is called without them."""
    fn = _method(_class_def(source, cls), "forward")
    if fn is None:
        return list(specs)
    optional = {p.arg for p, _ in _defaulted(fn)} - set(ran)
    return [s for s in specs if s.split("=", 1)[0].strip() not in optional]


def _class_entry(result: dict | None, file_matches, cls: str) -> dict | None:
    """Class ``cls``'s entry in ``ml-lsp shapes --json``'s ``"classes"`` of the file."""
    for item in (result or {}).get("files", []):
        if file_matches(item.get("path", "")):
            for entry in item.get("classes") or []:
                if entry.get("name") == cls:
                    return entry
    return None


def guessed_inputs(result: dict | None, file_matches, cls: str) -> dict | None:
    """The inputs the engine analysed class ``cls`` with, from ``ml-lsp shapes --json``'s
    ``"classes"`` of the file; None when it does not list the class."""
    entry = _class_entry(result, file_matches, cls)
    return None if entry is None else entry.get("inputs") or {}


def built_at(result: dict | None, file_matches, cls: str) -> int | None:
    """The line of the file's own constructor call whose model the engine's inputs of
    ``cls`` ran (``"built_at"``: a ``__main__`` demo's ``SimVQ(dim=512, ...)``), or None."""
    line = (_class_entry(result, file_matches, cls) or {}).get("built_at")
    return line if isinstance(line, int) else None


def constructor_arguments(source: str, line: int, cls: str) -> str | None:
    """The arguments of the call of ``cls`` on ``line`` of ``source`` as an ``--init``
    string (``dim = 512, codebook_size = 1024``), for runtime.py to build the model the
    file builds there; None when that line has no such call. Names the arguments use must
    be module globals (runtime.py evaluates them in the file's namespace), else the
    constructor fails and the class is scored as one that needs arguments."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.lineno == line):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        if name != cls:
            continue
        parts = [ast.get_source_segment(source, a) for a in node.args]
        parts += [(f"{kw.arg}=" if kw.arg else "**") + ast.get_source_segment(source, kw.value)
                  for kw in node.keywords]
        if any(p is None for p in parts):
            return None
        return ", ".join(" ".join(p.split()) for p in parts)
    return None
