"""Rules for einx's indexing and element-wise functions (``get_at``, ``add``, ``where`` ...),
as vector-quantize-pytorch writes codebook look-ups: ``get_at("[c] d, b n -> b n d",
codebook, indices)``. The subset followed: operands of named axes, one anonymous ``...``
each, ``[...]`` marking the indexed axes of ``get_at``'s first operand, and ``(a b)``
compositions on the output side; any other pattern gives an unknown result."""

from __future__ import annotations

import re

from ml_lsp.analysis import dims
from ml_lsp.analysis.ops import UNK, OpCall, Tensor, broadcast_shapes, unknown_tensor

_TOKEN = re.compile(r"\[|\]|\(|\)|\.\.\.|[A-Za-z_][A-Za-z0-9_]*|\d+|\S")


def _operand(text: str):
    """``"q [c] d"`` -> [("q", False), ("c", True), ("d", False)]; ``...`` is ("...", False);
    None for what this rule does not follow (compositions, ``b...``, stray symbols)."""
    out, bracket = [], False
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok == "[":
            if bracket:
                return None
            bracket = True
        elif tok == "]":
            if not bracket:
                return None
            bracket = False
        elif tok == "..." or tok.isidentifier() or tok.isdigit():
            end = m.end()
            if tok == "..." and out and text[m.start() - 1:m.start()] not in (" ", "[", ""):
                return None  # "b..." repeats an axis: not followed
            if tok != "..." and text[end:end + 3] == "...":
                return None
            out.append((tok, bracket))
        else:
            return None
    return None if bracket or sum(t == "..." for t, _ in out) > 1 else out


def _bind(axes: list, shape, sizes: dict):
    """Names of one operand bound to the dims of its tensor; the ``...`` dims, or None
    when the ranks disagree or a name meets two different sizes."""
    if shape is None:
        return None
    named = [t for t, _ in axes if t != "..."]
    ell_len = len(shape) - len(named)
    if ell_len < 0 or (ell_len and not any(t == "..." for t, _ in axes)):
        return None
    ell, i = (), 0
    for t, _ in axes:
        if t == "...":
            ell = tuple(shape[i:i + ell_len])
            i += ell_len
            continue
        d = shape[i]
        i += 1
        if t.isdigit():
            if isinstance(d, int) and d != int(t):
                return None
            continue
        if t in sizes and sizes[t] is not None and d is not None and dims.clash(sizes[t], d):
            return None
        if t not in sizes or sizes[t] is None:
            sizes[t] = d
    return ell


def _output(text: str, sizes: dict, ell):
    out, group = [], None
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok == "(":
            if group is not None:
                return None
            group = []
        elif tok == ")":
            if group is None:
                return None
            out.append(dims.product(group) if group else 1)
            group = None
        elif tok == "...":
            if group is not None or ell is None:
                return None
            out.extend(ell)
        elif tok.isdigit() or tok.isidentifier():
            d = int(tok) if tok.isdigit() else sizes.get(tok)
            if not tok.isdigit() and tok not in sizes:
                return None
            (group if group is not None else out).append(d)
        else:
            return None
    return None if group is not None else tuple(out)


def _split(call: OpCall):
    pattern = call.arg(0, "description")
    if not isinstance(pattern, str) or "->" not in pattern:
        return None
    lhs, _, rhs = pattern.partition("->")
    return [s.strip() for s in lhs.split(",")], rhs.strip()


def get_at(call: OpCall):
    """``get_at("b n [c] d, b n -> b n d", codes, indices)``: the tensor's bracketed axes are
    indexed by the other operands, whose axes (and the tensor's others) make the result."""
    parts = _split(call)
    tensors = list(call.args[1:])
    if parts is None or not tensors or not all(isinstance(t, Tensor) for t in tensors):
        return UNK
    lhs, rhs = parts
    if len(lhs) != len(tensors):
        return unknown_tensor(tensors[0].dtype)
    sizes = {k: v for k, v in call.kwargs.items() if isinstance(v, int) or isinstance(v, dims.Sym)}
    ell = None
    for i, (text, t) in enumerate(zip(lhs, tensors)):
        axes = _operand(text)
        if axes is None or (i > 0 and any(b for _, b in axes)):
            return unknown_tensor(tensors[0].dtype)
        e = _bind(axes, t.shape, sizes)
        if e is None and t.shape is not None:
            return unknown_tensor(tensors[0].dtype)
        if any(tok == "..." for tok, _ in axes):
            ell = e
    if "[" in rhs:
        return unknown_tensor(tensors[0].dtype)
    shape = _output(rhs, sizes, ell)
    return Tensor(shape, tensors[0].dtype) if shape is not None else unknown_tensor(tensors[0].dtype)


def elementwise(dtype=None):
    """``einx.add("... j, ... j k -> ... (j k)", a, b)``: each operand's axes bound, the
    ``...`` parts broadcast, the output composed; a number is an operand with no axes."""
    def rule(call: OpCall):
        parts = _split(call)
        ops = list(call.args[1:])
        if parts is None or not ops:
            return UNK
        lhs, rhs = parts
        tensors = [t for t in ops if isinstance(t, Tensor)]
        out_dtype = dtype or (tensors[-1].dtype if tensors else None)
        if len(lhs) != len(ops) or not tensors:
            return unknown_tensor(out_dtype)
        sizes: dict = {}
        ell = ()
        for text, v in zip(lhs, ops):
            axes = _operand(text)
            if axes is None or any(b for _, b in axes):
                return unknown_tensor(out_dtype)
            if not isinstance(v, Tensor):
                if axes or not isinstance(v, (int, float, bool)):
                    return unknown_tensor(out_dtype)
                continue
            e = _bind(axes, v.shape, sizes)
            if e is None:
                return unknown_tensor(out_dtype)
            if any(tok == "..." for tok, _ in axes):
                ell, mism = broadcast_shapes(ell, e)
                if mism is not None or ell is None:
                    return unknown_tensor(out_dtype)
        shape = _output(rhs, sizes, tuple(ell))
        return Tensor(shape, out_dtype) if shape is not None else unknown_tensor(out_dtype)
    return rule


RULES = {"einx.get_at": get_at, "einx.op.index.get_at": get_at}
for _name in ("add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "maximum", "minimum",
              "where", "logaddexp"):
    RULES[f"einx.{_name}"] = elementwise()
for _name in ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "logical_and",
              "logical_or"):
    RULES[f"einx.{_name}"] = elementwise("bool")
