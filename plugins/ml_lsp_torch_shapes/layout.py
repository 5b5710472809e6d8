"""Memory layout facts: which tensors are known contiguous, and how permute/transpose
reorder them, so that ``view`` on a tensor whose merged dims are no longer adjacent in
memory is reported (torch raises "view size is not compatible with input tensor's size
and stride"; ``reshape`` or ``.contiguous()`` first is the fix).

A tensor's ``layout`` is None when not known (the default for every rule's result: the
check then stays silent). A tuple gives, for each dim, the dim of a contiguous tensor it
came from: ``(0, 1, 2)`` is contiguous, ``(0, 2, 1)`` after ``transpose(1, 2)``. Only a few
allocating ops are known to return contiguous tensors (creation ops, matmul, Linear,
``contiguous()``); this module wraps those rules and the view/permute/transpose rules,
leaving their shape logic as it is."""

from __future__ import annotations

import dataclasses
import functools

from ml_lsp.analysis import dims
from ml_lsp.analysis.ops import LayerRule, OpCall, Tensor, format_shape, norm_axis
from ml_lsp_torch_shapes import creation, layers, math_ops, shaping


def _identity(out):
    if isinstance(out, Tensor) and out.shape is not None:
        out.layout = tuple(range(len(out.shape)))
    return out


def _contiguous_result(rule):
    @functools.wraps(rule)
    def wrapped(call: OpCall):
        return _identity(rule(call))
    return wrapped


def _contiguous_layer(rule: LayerRule) -> LayerRule:
    forward = rule.forward

    def wrapped(layer, call):
        return _identity(forward(layer, call))
    return dataclasses.replace(rule, forward=wrapped)


def _permute(rule):
    @functools.wraps(rule)
    def wrapped(call: OpCall):
        t = call.tensor(0)
        out = rule(call)
        layout = getattr(t, "layout", None)
        if layout is None or not isinstance(out, Tensor) or out.shape is None or t.shape is None:
            return out
        r = len(t.shape)
        if len(out.shape) != r or len(layout) != r:
            return out
        if call.name in ("transpose", "swapaxes", "swapdims"):
            a, b = norm_axis(call.arg(1, "dim0"), r), norm_axis(call.arg(2, "dim1"), r)
            if a is None or b is None:
                return out
            order = list(range(r))
            order[a], order[b] = order[b], order[a]
        else:
            order = [norm_axis(o, r) for o in shaping.sizes_from_args(call, 1, "dims") or ()]
            if len(order) != r or any(o is None for o in order):
                return out
        out.layout = tuple(layout[i] for i in order)
        return out
    return wrapped


_UNKNOWN = object()


def _product_run(seq, start, target):
    """The last index k > start with seq[start] * ... * seq[k] == target; None when no run
    of two or more makes it; _UNKNOWN when an unknown dim is met on the way."""
    acc, k = seq[start], start
    while k + 1 < len(seq) and not dims.same(acc, target):
        k += 1
        if seq[k] is None:
            return _UNKNOWN
        acc = dims.mul(acc, seq[k])
    return k if dims.same(acc, target) and k > start else None


def _merged_groups(src: tuple, dst: tuple):
    """The groups of source dims that ``view(dst)`` merges into one dim, or None when the
    sizes do not line up provably. Dims of size 1 are left out (their stride is free)."""
    i, j, groups = 0, 0, []
    src_idx = [k for k, d in enumerate(src) if d != 1]
    s = [src[k] for k in src_idx]
    d = [x for x in dst if x != 1]
    while i < len(s) and j < len(d):
        if s[i] is None or d[j] is None:
            return None
        if dims.same(s[i], d[j]):
            i, j = i + 1, j + 1
            continue
        # a merge: s[i] * s[i+1] * ... == d[j]
        k = _product_run(s, i, d[j])
        if k is _UNKNOWN:
            return None
        if k is not None:
            groups.append([src_idx[m] for m in range(i, k + 1)])
            i, j = k + 1, j + 1
            continue
        # a split: d[j] * d[j+1] * ... == s[i] (always possible, whatever the strides)
        m = _product_run(d, j, s[i])
        if m is _UNKNOWN:
            return None
        if m is not None:
            i, j = i + 1, m + 1
            continue
        return None
    return groups if i == len(s) and j == len(d) else None


def _view(rule):
    @functools.wraps(rule)
    def wrapped(call: OpCall):
        t = call.tensor(0)
        out = rule(call)
        layout = getattr(t, "layout", None)
        if layout is None or not isinstance(out, Tensor) or out.shape is None or t.shape is None \
                or len(layout) != len(t.shape):
            return out
        if layout == tuple(range(len(layout))):
            return _identity(out)  # a view or reshape of a contiguous tensor is contiguous
        if call.name != "view" or call.conflicts:
            return out
        groups = _merged_groups(tuple(t.shape), tuple(out.shape))
        bad = next((g for g in groups or () if any(layout[b] != layout[a] + 1 for a, b in zip(g, g[1:]))), None)
        if bad is not None:
            merged = ", ".join(str(g) for g in bad)
            call.conflict("view_non_contiguous",
                          f"view{format_shape(out.shape)} merges dims {merged} of a {format_shape(t.shape)} "
                          f"tensor that permute/transpose left non-contiguous: view raises at run time; use "
                          f".reshape(...) or call .contiguous() first",
                          expected="contiguous dims", got=f"dims {merged} not adjacent in memory")
        return out
    return wrapped


RULES = {}
for _q in ("torch.randn", "torch.rand", "torch.zeros", "torch.ones", "torch.empty", "torch.full",
           "torch.randint", "torch.arange"):
    RULES[_q] = _contiguous_result(creation.RULES[_q])
for _q in ("torch.matmul", "torch.bmm", "torch.mm", "torch.Tensor.__matmul__"):
    RULES[_q] = _contiguous_result(math_ops.RULES[_q])
RULES["torch.Tensor.contiguous"] = _contiguous_result(shaping.RULES["torch.Tensor.contiguous"])
RULES["torch.nn.Linear"] = _contiguous_layer(layers.RULES["torch.nn.Linear"])
for _q in ("torch.Tensor.permute", "torch.permute", "torch.Tensor.transpose", "torch.transpose",
           "torch.Tensor.swapaxes", "torch.Tensor.swapdims"):
    RULES[_q] = _permute(shaping.RULES[_q])
for _q in ("torch.Tensor.view", "torch.Tensor.reshape", "torch.reshape"):
    RULES[_q] = _view(shaping.RULES[_q])
