"""Record the shape of every tensor each statement binds while code runs.

Used by the shape tracer's child process and by the ground-truth harness of the test
suite. `ShapeRecorder` installs a `sys.settrace` function for the duration of a ``with``
block; only frames whose code comes from one of the given source files get a local trace
function, so torch's own Python frames cost one set lookup each.

After each statement of a recorded frame finishes (the next line event of that frame that
belongs to another statement, or the frame's return event), the names the statement binds
are read from the frame's locals and, when the value is a tensor (or a tuple/list holding
tensors), recorded as an entry with the keys of the ``ml-lsp shapes --json`` contract:
``scope`` (``Class.method`` or ``function``), ``line`` (the 1-based line where the binding
statement starts, found with the AST so a multi-line call is keyed by its first line),
``name``, ``shape`` (list of ints) and ``dtype`` (``"float"``, ``"long"``, ``"bool"``, or the
torch name such as ``"int32"``).

Which names a statement binds is read from the AST (assignment targets, each target of a
tuple unpacking separately, augmented and annotated assignments, ``for`` and ``with ... as``
targets, ``:=``), so ``x = self.drop(x)`` is recorded even when the layer returns the very
same tensor object, and a statement that raised is not recorded.

A tuple or list of tensors bound to one name (``out = self.lstm(x)``) is flattened into
one entry per tensor item, named with its index path: ``out[0]``, ``out[1][0]``, ...

A statement executed more than once (a loop, a forward called twice) gives one entry whose
shape keeps the dims that were the same every time and has ``None`` where they differed
(``None`` for the whole shape when the rank differed); ``count`` says how many times it ran.

torch is never imported here: tensors are recognised by duck typing (``.shape`` and
``.dtype`` attributes), so importing this module is cheap.
"""

from __future__ import annotations

import ast
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

#: tuples/lists longer than this are not expanded item by item (a list of 1,000 tensors
#: would flood the output and no static engine reports that).
MAX_SEQUENCE_ITEMS = 32

_DTYPE_NAMES = {
    "float32": "float", "float": "float", "float64": "float", "double": "float",
    "float16": "float", "half": "float", "bfloat16": "float",
    "int64": "long", "long": "long",
    "bool": "bool",
}


def dtype_name(dtype: Any) -> str | None:
    """``torch.float32`` -> ``"float"``, ``torch.int64`` -> ``"long"``, ``torch.bool`` ->
    ``"bool"``, anything else -> its torch name without the ``torch.`` prefix."""
    if dtype is None:
        return None
    text = str(dtype)
    if text.startswith("torch."):
        text = text[len("torch."):]
    return _DTYPE_NAMES.get(text, text)


def _is_tensor(value: Any) -> bool:
    # Duck typing instead of isinstance(torch.Tensor): this module must not import torch.
    # numpy arrays also have .shape/.dtype; keep only objects whose shape is a tuple of ints
    # and whose dtype prints as torch's.
    if type(value).__module__.split(".", 1)[0] != "torch":
        return False
    shape = getattr(value, "shape", None)
    return shape is not None and hasattr(value, "dtype")


def _is_sequence(value: Any) -> bool:
    """Plain tuples and lists, and torch's (values, indices) results (`x.max(dim=1)`);
    not other tuple subclasses such as a PackedSequence, which is one object to the user."""
    kind = type(value)
    return kind in (tuple, list) or (issubclass(kind, tuple) and kind.__module__ == "torch.return_types")


def _flatten(name: str, value: Any, depth: int = 0) -> list[tuple[str, Any]]:
    """The tensors in ``value`` with the name each is recorded under."""
    if _is_tensor(value):
        return [(name, value)]
    if depth < 3 and _is_sequence(value) and 0 < len(value) <= MAX_SEQUENCE_ITEMS:
        found: list[tuple[str, Any]] = []
        for index, item in enumerate(value):
            found.extend(_flatten(f"{name}[{index}]", item, depth + 1))
        return found
    return []


# ---------------------------------------------------------------------------------------
# Static facts about a source file: statement start lines, bound names, qualified names.

def _target_names(node: ast.AST | None, out: list[str]) -> None:
    if node is None:
        return
    if isinstance(node, ast.Name):
        out.append(node.id)
    elif isinstance(node, (ast.Tuple, ast.List)):
        for element in node.elts:
            _target_names(element, out)
    elif isinstance(node, ast.Starred):
        _target_names(node.value, out)
    # Attribute and Subscript targets (self.cache = x, d[k] = x) bind no local name.


def _walrus_names(nodes: Iterable[ast.AST | None], out: list[str]) -> None:
    for node in nodes:
        if node is None:
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.NamedExpr):
                _target_names(sub.target, out)


def _bound_names(stmt: ast.stmt) -> list[str]:
    names: list[str] = []
    if isinstance(stmt, ast.Assign):
        for target in stmt.targets:
            _target_names(target, names)
        _walrus_names([stmt.value], names)
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        if not (isinstance(stmt, ast.AnnAssign) and stmt.value is None):
            _target_names(stmt.target, names)
        _walrus_names([stmt.value], names)
    elif isinstance(stmt, (ast.For, ast.AsyncFor)):
        _target_names(stmt.target, names)
        _walrus_names([stmt.iter], names)
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        for item in stmt.items:
            _target_names(item.optional_vars, names)
        _walrus_names([item.context_expr for item in stmt.items], names)
    elif isinstance(stmt, (ast.If, ast.While)):
        _walrus_names([stmt.test], names)
    elif isinstance(stmt, (ast.Expr, ast.Return)):
        _walrus_names([stmt.value], names)
    return names


def _header_end(stmt: ast.stmt) -> int:
    """Last line of a statement's own text: the whole statement for a simple one, the
    header (up to the line before the first body statement) for a compound one."""
    body = getattr(stmt, "body", None)
    if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
        first = body[0]
        # `for b in blocks: x = b(x)` puts the body on the header's line.
        return max(stmt.lineno, first.lineno - 1) if first.lineno > stmt.lineno else stmt.lineno
    return stmt.end_lineno or stmt.lineno


@dataclass
class SourceFacts:
    """What the recorder needs to know about one source file."""

    path: str
    #: line -> the first line of the innermost statement that line belongs to
    statement_start: dict[int, int] = field(default_factory=dict)
    #: statement first line -> names bound by the statements starting there
    bound: dict[int, tuple[str, ...]] = field(default_factory=dict)
    #: (function name, first line of its def/decorators) -> qualified name (Python < 3.11)
    qualnames: dict[tuple[str, int], str] = field(default_factory=dict)
    #: first line of a ``for`` whose body starts on a later line -> the body's first and last line
    loop_bodies: dict[int, tuple[int, int]] = field(default_factory=dict)


def source_facts(path: str, text: str | None = None) -> SourceFacts | None:
    """Parse ``path`` (or ``text``) once; ``None`` when it cannot be read or parsed."""
    try:
        if text is None:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        tree = ast.parse(text, filename=path)
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None
    facts = SourceFacts(path)
    bound: dict[int, list[str]] = {}
    # ast.walk is breadth-first: outer statements are seen before inner ones, so an inner
    # statement's lines overwrite its parent's (the innermost statement wins).
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        for line in range(node.lineno, _header_end(node) + 1):
            facts.statement_start[line] = node.lineno
        names = _bound_names(node)
        if names:
            bound.setdefault(node.lineno, []).extend(names)
        if isinstance(node, (ast.For, ast.AsyncFor)) and node.body[0].lineno > node.lineno:
            facts.loop_bodies[node.lineno] = (node.body[0].lineno, node.body[-1].end_lineno or node.body[-1].lineno)
    facts.bound = {line: tuple(dict.fromkeys(names)) for line, names in bound.items()}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qualname = prefix + child.name
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                facts.qualnames[(child.name, first)] = qualname
                facts.qualnames.setdefault((child.name, child.lineno), qualname)
                visit(child, qualname + ".<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return facts


# ---------------------------------------------------------------------------------------
# Recording.

@dataclass
class _Observation:
    shape: tuple[int, ...] | None
    dtype: str | None
    count: int = 1

    def merge(self, shape: tuple[int, ...], dtype: str | None) -> None:
        self.count += 1
        if self.shape is not None:
            if len(self.shape) != len(shape):
                self.shape = None
            elif self.shape != shape:
                self.shape = tuple(a if a == b else None for a, b in zip(self.shape, shape))
        if self.dtype != dtype:
            self.dtype = None


class ShapeRecorder:
    """Context manager: records tensor bindings in frames running code from ``paths``.

    >>> with ShapeRecorder(["model.py"]) as rec:
    ...     model(x)
    >>> rec.entries()   # [{"scope": "Net.forward", "line": 12, "name": "x", ...}, ...]

    ``include_module``: also record module-level statements (scope ``"<module>"``).
    Comprehension, generator and lambda frames are never recorded (no static engine reports
    their internal names).
    """

    def __init__(self, paths: Iterable[str], *, include_module: bool = False):
        self._wanted = {os.path.realpath(p) for p in paths}
        self._include_module = include_module
        self._facts_by_filename: dict[str, SourceFacts | None] = {}
        self._observations: dict[tuple[str, str, int, str], _Observation] = {}
        self._order: list[tuple[str, str, int, str]] = []
        self._previous_trace = None
        self._thread: int | None = None

    # -- the trace functions ------------------------------------------------------------
    def _facts_for(self, filename: str) -> SourceFacts | None:
        try:
            return self._facts_by_filename[filename]
        except KeyError:
            facts = None
            real = os.path.realpath(filename)
            if real in self._wanted:
                facts = source_facts(real)
            self._facts_by_filename[filename] = facts
            return facts

    def _scope_of(self, code, facts: SourceFacts) -> str:
        qualname = getattr(code, "co_qualname", None)
        if qualname:
            return qualname
        return facts.qualnames.get((code.co_name, code.co_firstlineno), code.co_name)

    def _global_trace(self, frame, event, arg):
        if event != "call":
            return None
        code = frame.f_code
        facts = self._facts_for(code.co_filename)
        if facts is None:
            return None
        name = code.co_name
        if name.startswith("<"):
            if not (name == "<module>" and self._include_module):
                return None
        return self._frame_tracer(frame, facts, self._scope_of(code, facts))

    def _frame_tracer(self, frame, facts: SourceFacts, scope: str):
        path = facts.path
        starts = facts.statement_start
        bound = facts.bound
        loops = facts.loop_bodies
        current = [None, False]  # first line of the running statement, did it raise

        def finish(next_line: int | None = None) -> None:
            line, raised = current
            if line is None or raised:
                return
            if line in loops and not (next_line is not None and loops[line][0] <= next_line <= loops[line][1]):
                # the loop's header left for a line outside its body: the iterator was done
                # and bound nothing; its target holds what the body last made of it
                return
            names = bound.get(line)
            if names:
                self._record(path, scope, line, names, frame.f_locals)

        def local_trace(frame_, event, arg):
            if event == "line":
                start = starts.get(frame_.f_lineno, frame_.f_lineno)
                if start != current[0]:
                    finish(frame_.f_lineno)
                    current[0] = start
                    current[1] = False
                # Back at the first line of the same statement: a one-line loop body
                # (`for b in blocks: x = b(x)`) or a multi-line call returning to its
                # first line; values are read when the statement is left.
            elif event == "exception":
                current[1] = True
            elif event == "return":
                finish()
                current[0] = None
            return local_trace

        return local_trace

    def _record(self, path: str, scope: str, line: int, names: tuple[str, ...], local_vars) -> None:
        for name in names:
            if name not in local_vars:
                continue
            for item_name, tensor in _flatten(name, local_vars[name]):
                try:
                    shape = tuple(int(d) for d in tensor.shape)
                except (TypeError, ValueError):  # symbolic sizes: keep what is concrete
                    shape = tuple(d if isinstance(d, int) else None for d in tensor.shape)
                dtype = dtype_name(getattr(tensor, "dtype", None))
                key = (path, scope, line, item_name)
                seen = self._observations.get(key)
                if seen is None:
                    self._observations[key] = _Observation(shape, dtype)
                    self._order.append(key)
                else:
                    seen.merge(shape, dtype)

    # -- public API -----------------------------------------------------------------------
    def __enter__(self) -> "ShapeRecorder":
        self._previous_trace = sys.gettrace()
        self._thread = threading.get_ident()
        sys.settrace(self._global_trace)
        return self

    def __exit__(self, *exc_info) -> None:
        sys.settrace(self._previous_trace)
        self._previous_trace = None

    def entries(self) -> list[dict]:
        """One dict per (file, scope, line, name), sorted by file and line (targets of one
        statement in source order): ``{"path", "scope", "line", "name", "shape", "dtype",
        "count"}``; ``path`` is the file's real path."""
        keys = sorted(self._order, key=lambda k: (k[0], k[2], k[1]))
        result = []
        for key in keys:
            path, scope, line, name = key
            seen = self._observations[key]
            result.append({
                "path": path,
                "scope": scope,
                "line": line,
                "name": name,
                "shape": None if seen.shape is None else list(seen.shape),
                "dtype": seen.dtype,
                "count": seen.count,
            })
        return result


def record_call(paths: Iterable[str], func, *args, include_module: bool = False, **kwargs):
    """Call ``func(*args, **kwargs)`` under a `ShapeRecorder`; returns (result, entries)."""
    with ShapeRecorder(paths, include_module=include_module) as recorder:
        result = func(*args, **kwargs)
    return result, recorder.entries()
