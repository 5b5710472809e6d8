"""Turning an exception raised by the user's code inside the tracer into a problem on the
user's line: the innermost frame of a workspace file, the failing expression's columns
(Python 3.11+ keeps them in the traceback) and, TensorSensor-style, the shapes of that
expression's operands, evaluated again in the failing frame."""

from __future__ import annotations

import ast
import linecache
import traceback
from typing import Any

from ml_lsp.trace.loader import StandIn, is_user_file
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
        if user_frame is not None:
            code = user_frame.f_code
            problem["scope"] = getattr(code, "co_qualname", code.co_name)
        if kind == "forward" and user_frame is not None:
            problem["operands"] = operand_shapes(user_frame, summary)
            phrase = layer_phrase(user_frame, summary)
            if phrase:
                problem["phrase"] = phrase
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


def layer_phrase(frame, summary) -> str | None:
    """The failing call said as the static engine says it, when it is a layer of a kind
    whose input the engine checks (``Linear(512 -> 5) expects (*, 512), got (2, 64)``)."""
    node = _failing_node(summary)
    if not isinstance(node, ast.Call) or not node.args:
        return None
    local_vars = dict(frame.f_locals)
    try:
        layer = eval(compile(ast.Expression(node.func), "<operand>", "eval"), frame.f_globals, local_vars)
        first = node.args[0]
        value = eval(compile(ast.Expression(first.value if isinstance(first, ast.Starred) else first),
                             "<operand>", "eval"), frame.f_globals, local_vars)
    except BaseException:
        return None
    shape = getattr(value, "shape", None)
    if not _is_module(layer) or shape is None:
        return None
    try:
        return _phrase(layer, tuple(int(d) for d in shape))
    except (TypeError, ValueError, AttributeError):
        return None


def _phrase(layer, shape: tuple) -> str | None:
    kind = type(layer).__name__
    got = _shape_text(shape)
    spatial = {"1d": "L", "2d": "H, W", "3d": "D, H, W"}
    if hasattr(layer, "in_features") and hasattr(layer, "out_features") and "Bilinear" not in kind:
        fin, fout = layer.in_features, layer.out_features
        if not shape or shape[-1] != fin:
            return f"{kind}({fin} -> {fout}) expects (*, {fin}), got {got}"
        return None
    if hasattr(layer, "in_channels") and hasattr(layer, "out_channels") and kind[-2:] in spatial:
        want = layer.in_channels
        rank = 2 + len(spatial[kind[-2:]].split(","))
        if len(shape) not in (rank, rank - 1) or shape[-(rank - 1)] != want:
            return f"{kind}({want} -> {layer.out_channels}) expects (B, {want}, {spatial[kind[-2:]]}), got {got}"
        return None
    if hasattr(layer, "num_features") and kind[-2:] in spatial and "Norm" in kind:
        want = layer.num_features
        if len(shape) < 2 or shape[1] != want:
            return f"{kind}({want}) expects (B, {want}, {spatial[kind[-2:]]}), got {got}"
        return None
    if hasattr(layer, "normalized_shape"):
        want = tuple(layer.normalized_shape)
        if tuple(shape[-len(want):]) != want:
            return f"{kind}({', '.join(map(str, want))}) expects (*, {', '.join(map(str, want))}), got {got}"
        return None
    return None


def _is_module(value: Any) -> bool:
    if isinstance(value, StandIn):
        return False
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
