"""Which line of the user's own code a captured value belongs to, what to call it, and
which ``for`` loops around that line count epochs.

Everything here is computed once per call site (or at the bounded sampling rate), never
on every training step: the per-step hooks only look up a cache keyed by code object.
"""

from __future__ import annotations

import ast
import linecache
import os
import site
import sys
import sysconfig
from dataclasses import dataclass
from types import CodeType, FrameType


def _library_roots() -> tuple[str, ...]:
    roots = set()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            roots.add(paths[key])
    try:
        roots.update(site.getsitepackages())
        roots.add(site.getusersitepackages())
    except AttributeError:  # virtualenvs with an old site.py
        pass
    # Our own package (bootstrap, hooks) is never the user's code, even when installed
    # editable from a checkout.
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # .../ml_lsp
    return tuple(os.path.realpath(r).rstrip(os.sep) + os.sep for r in roots if r)


_ROOTS = _library_roots()
# id(code) -> (code, is the user's): by identity, because hashing a code object hashes all
# its constants; the code is kept so that its id is not reused.
_is_user_code: dict[int, tuple[CodeType, bool]] = {}


def is_user_code(code: CodeType) -> bool:
    known = _is_user_code.get(id(code))
    if known is not None and known[0] is code:
        return known[1]
    name = code.co_filename
    if name.startswith("<"):  # <frozen runpy>, <string>, <stdin>
        user = False
    else:
        user = not os.path.realpath(name).startswith(_ROOTS)
    _is_user_code[id(code)] = (code, user)
    return user


def user_frame(frame: FrameType | None) -> FrameType | None:
    """The innermost frame, from ``frame`` outwards, that runs the user's own code."""
    while frame is not None and not is_user_code(frame.f_code):
        frame = frame.f_back
    return frame


_paths: dict[str, str] = {}


def frame_path(frame: FrameType) -> str:
    name = frame.f_code.co_filename
    path = _paths.get(name)
    if path is None:
        path = _paths[name] = os.path.abspath(name)
    return path


# -- parsed sources ----------------------------------------------------------------------

_trees: dict[str, ast.Module | None] = {}


def parsed(path: str) -> ast.Module | None:
    if path not in _trees:
        source = "".join(linecache.getlines(path))
        try:
            _trees[path] = ast.parse(source) if source else None
        except (SyntaxError, ValueError):
            _trees[path] = None
    return _trees[path]


def _nodes_on_line(tree: ast.AST, line: int, kind: type) -> list:
    return [n for n in ast.walk(tree) if isinstance(n, kind)
            and n.lineno <= line <= (n.end_lineno or n.lineno)]


def _expr_name(node: ast.AST | None) -> str | None:
    """``loss`` -> loss, ``out.loss`` -> loss, ``losses["ce"]`` -> losses,
    ``scaler.scale(loss)`` -> loss, ``(loss / accum)`` -> loss; else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            return node.slice.value
        return _expr_name(node.value)
    if isinstance(node, ast.BinOp):
        return _expr_name(node.left)
    if isinstance(node, ast.Call) and node.args:
        return _expr_name(node.args[0])
    return None


def backward_name(path: str, line: int) -> str | None:
    """The name of what ``.backward()`` is called on at ``path:line`` (``loss`` for
    ``loss.backward()``, ``accelerator.backward(loss)``, ``scaler.scale(loss).backward()``),
    or None when the line holds no such call or the receiver has no plain name."""
    tree = parsed(path)
    if tree is None:
        return None
    for call in _nodes_on_line(tree, line, ast.Call):
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "backward":
            # accelerator.backward(loss) / manual_backward(loss): the tensor is the argument.
            if call.args and isinstance(call.args[0], (ast.Name, ast.Attribute, ast.Subscript)):
                return _expr_name(call.args[0])
            return _expr_name(func.value)
        if isinstance(func, ast.Name) and func.id.endswith("backward") and call.args:
            return _expr_name(call.args[0])  # torch.autograd.backward(loss) imported bare
    return None


# -- loops around a line -----------------------------------------------------------------

# Iterables whose length is cheap to know: range(...) and its progress-bar wrappers.
_RANGE_CALLS = {"range", "trange"}
_WRAPPERS = {"tqdm", "track", "progress_bar"}


@dataclass(frozen=True)
class RangeLoop:
    """``for <var> in range(<args>)`` with args simple enough to evaluate safely."""
    line: int
    var: str
    args: tuple[ast.expr, ...]


def _range_args(node: ast.expr) -> tuple[ast.expr, ...] | None:
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    if name in _RANGE_CALLS and node.args and not node.keywords and len(node.args) <= 3:
        return tuple(node.args) if all(_is_pure(a) for a in node.args) else None
    if name in _WRAPPERS and node.args:
        return _range_args(node.args[0])
    return None


def _is_pure(node: ast.AST) -> bool:
    """An expression we may evaluate without side effects: names, attributes, constants,
    arithmetic and constant subscripts (``args.epochs``, ``cfg["epochs"]``, ``n // 2``)."""
    allowed = (ast.Name, ast.Attribute, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Subscript,
               ast.Load, ast.operator, ast.unaryop)
    return all(isinstance(n, allowed) for n in ast.walk(node))


def _enclosing_function(tree: ast.Module, line: int) -> ast.AST:
    best: ast.AST = tree
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) \
                and node.lineno <= line <= (node.end_lineno or node.lineno):
            if best is tree or node.lineno >= best.lineno:  # the innermost one
                best = node
    return best


_loops: dict[tuple[str, int], tuple[RangeLoop, ...]] = {}


def range_loops_around(path: str, line: int) -> tuple[RangeLoop, ...]:
    """The ``for ... in range(...)`` loops of the same function whose body holds ``line``
    (outermost first)."""
    key = (path, line)
    if key not in _loops:
        found: list[RangeLoop] = []
        tree = parsed(path)
        if tree is not None:
            scope = _enclosing_function(tree, line)
            for node in ast.walk(scope):
                if isinstance(node, ast.For) and node.body and \
                        node.body[0].lineno <= line <= (node.end_lineno or node.lineno) and \
                        isinstance(node.target, ast.Name) and \
                        _enclosing_function(tree, node.lineno) is scope:
                    args = _range_args(node.iter)
                    if args is not None:
                        found.append(RangeLoop(node.lineno, node.target.id, args))
        _loops[key] = tuple(sorted(found, key=lambda loop: loop.line))
    return _loops[key]


_compiled: dict[int, object] = {}


def loop_position(loop: RangeLoop, frame: FrameType) -> tuple[int, int] | None:
    """(current, total) of ``loop`` running in ``frame``, 1-based (``epoch 3/10`` while the
    third pass runs), or None when it cannot be told without side effects."""
    f_locals = frame.f_locals
    value = f_locals.get(loop.var, None)
    if not isinstance(value, int):
        return None
    try:
        values = []
        for arg in loop.args:
            code = _compiled.get(id(arg))
            if code is None:
                code = compile(ast.Expression(arg), "<ml-lsp loop>", "eval")
                _compiled[id(arg)] = code
            values.append(eval(code, frame.f_globals, dict(f_locals)))  # noqa: S307 - pure, checked above
        span = range(*values)
        return span.index(value) + 1, len(span)
    except Exception:  # not ints, shadowed variable, value outside the range...
        return None


def outer_user_frames(frame: FrameType | None, limit: int = 8):
    """``frame`` and the user frames that called it, innermost first (bounded walk)."""
    while frame is not None and limit > 0:
        if is_user_code(frame.f_code):
            yield frame
            limit -= 1
        frame = frame.f_back
