"""Turning an exception raised by the user's code inside the tracer into a problem on the
user's line: the innermost frame of a workspace file, the failing expression's columns
(Python 3.11+ keeps them in the traceback) and, TensorSensor-style, the shapes of that
expression's operands, evaluated again in the failing frame."""

from __future__ import annotations

import ast
import linecache
import traceback
from typing import Any

from ml_lsp.trace.loader import is_user_file
from ml_lsp.trace.recorder import dtype_name

MAX_OPERANDS = 6


def problem_from_exception(exc: BaseException, kind: str, roots: list[str], *,
                           fallback: tuple[str, int] | None = None,
                           entry: str | None = None, note: str = "") -> dict:
    """``kind``: "import", "constructor", "forward" or "inputs". ``fallback``: (path, line)
    used when no frame of the user's files is on the traceback."""
    message = f"{type(exc).__name__}: {_one_line(exc).rstrip('.')}"
    problem: dict[str, Any] = {"kind": kind, "entry": entry, "error": type(exc).__name__,
                               "path": None, "line": None, "col": None, "end_line": None,
                               "end_col": None, "operands": []}
    if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        problem.update(path=exc.filename, line=exc.lineno,
                       col=max((exc.offset or 1) - 1, 0))
        problem["message"] = f"{kind} failed: {message}"
        return problem
    user_frame = None
    summary = None
    tb = exc.__traceback__
    frames = list(traceback.walk_tb(tb))
    summaries = traceback.extract_tb(tb)  # with the columns of each failing expression
    for (frame, _), fs in zip(frames, summaries):
        if is_user_file(fs.filename, roots):
            user_frame, summary = frame, fs
    if summary is not None:
        problem.update(path=summary.filename, line=summary.lineno)
        line_text = linecache.getline(summary.filename, summary.lineno)
        if getattr(summary, "colno", None) is not None and summary.end_lineno == summary.lineno:
            problem["col"] = _char_col(line_text, summary.colno)
            problem["end_line"] = summary.end_lineno
            problem["end_col"] = _char_col(line_text, summary.end_colno)
        if kind == "forward" and user_frame is not None:
            problem["operands"] = operand_shapes(user_frame, summary)
    elif fallback is not None:
        problem.update(path=fallback[0], line=fallback[1])
    text = f"{kind} failed: {message}"
    if problem["operands"]:
        text += "; operands: " + ", ".join(f"`{o['expr']}` {o['value']}" for o in problem["operands"])
    if note:
        text += f" ({note})"
    problem["message"] = text
    return problem


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or repr(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = " ".join(lines[:3])
    return text if len(text) <= 400 else text[:397] + "..."


def _char_col(line_text: str, byte_col: int | None) -> int | None:
    if byte_col is None:
        return None
    return len(line_text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def operand_shapes(frame, summary) -> list[dict]:
    """The failing expression's operands and what they hold (a shape, a layer)."""
    node = _failing_node(summary)
    if node is None:
        return []
    operands: list[ast.expr] = []
    if isinstance(node, ast.BinOp):
        operands = [node.left, node.right]
    elif isinstance(node, ast.Call):
        operands.append(node.func)
        operands.extend(a.value if isinstance(a, ast.Starred) else a for a in node.args)
        operands.extend(k.value for k in node.keywords)
    elif isinstance(node, ast.Subscript):
        operands = [node.value, node.slice]
    result = []
    local_vars = dict(frame.f_locals)
    for operand in operands[:MAX_OPERANDS]:
        if isinstance(operand, ast.Constant):
            continue
        try:
            value = eval(compile(ast.Expression(operand), "<operand>", "eval"), frame.f_globals, local_vars)
        except BaseException:
            continue
        expr = operand
        if operand is getattr(node, "func", None) and not _is_module(value):
            # x.view(...): the operand is the tensor the method is called on.
            owner = getattr(value, "__self__", None)
            if owner is None or not isinstance(operand, ast.Attribute):
                continue
            value, expr = owner, operand.value
        described = describe_value(value)
        if described:
            result.append({"expr": ast.unparse(expr), "value": described})
    return result


def _is_module(value: Any) -> bool:
    return hasattr(value, "named_parameters") and hasattr(value, "forward")


def _failing_node(summary) -> ast.expr | None:
    colno, end_colno = getattr(summary, "colno", None), getattr(summary, "end_colno", None)
    if colno is None or end_colno is None:
        return None
    source = "".join(linecache.getline(summary.filename, n)
                     for n in range(summary.lineno, (summary.end_lineno or summary.lineno) + 1))
    # The failing expression alone, re-parsed from its exact source span.
    lines = source.splitlines(keepends=True)
    if not lines:
        return None
    if len(lines) == 1:
        raw = lines[0].encode("utf-8")[colno:end_colno].decode("utf-8", errors="ignore")
    else:
        first = lines[0].encode("utf-8")[colno:].decode("utf-8", errors="ignore")
        last = lines[-1].encode("utf-8")[:end_colno].decode("utf-8", errors="ignore")
        raw = first + "".join(lines[1:-1]) + last
    try:
        tree = ast.parse("(" + raw + "\n)", mode="eval")
    except SyntaxError:
        return None
    return tree.body


def describe_value(value: Any) -> str | None:
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype") and type(value).__module__.startswith("torch"):
        return f"{_shape_text(shape)} {dtype_name(value.dtype)}"
    if _is_module(value):
        try:
            extra = value.extra_repr()
        except Exception:
            extra = ""
        text = f"{type(value).__name__}({extra})" if extra and "\n" not in extra else type(value).__name__
        if len(text) > 120:
            text = text[:117] + "..."
        weight = getattr(value, "weight", None)
        if getattr(weight, "shape", None) is not None:
            text += f" with weight {_shape_text(weight.shape)}"
        return text
    if isinstance(value, (tuple, list)) and value and all(getattr(v, "shape", None) is not None for v in value[:8]):
        return "[" + ", ".join(_shape_text(v.shape) for v in value[:8]) + (", ..." if len(value) > 8 else "") + "]"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return None


def _shape_text(shape) -> str:
    dims = [str(int(d)) if str(d).lstrip("-").isdigit() else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
