"""diffusers' attention entry point. Its processors call ``dispatch_attention_fn``, which
picks a backend function from a registry its decorators fill when the module loads (the
engine does not run decorators), so the function is read as the rule below wherever it is
defined: in diffusers' own tree and through an import alike."""

from __future__ import annotations

from ml_lsp.analysis import dims
from ml_lsp.analysis.ops import UNK, OpCall, Tensor, format_shape, unknown_tensor


def dispatch_attention_fn(call: OpCall):
    """``dispatch_attention_fn(query, key, value, ...)`` on (batch, length, heads, head_dim)
    tensors, as every backend takes them: the query's shape with the value's head dim."""
    q, k, v = call.tensor(0, "query"), call.tensor(1, "key"), call.tensor(2, "value")
    if q is None:
        return UNK
    if v is None or q.shape is None or v.shape is None or len(q.shape) != 4 or len(v.shape) != 4:
        return unknown_tensor(q.dtype)
    if k is not None and k.shape is not None and len(k.shape) == 4 and dims.clash(q.shape[-1], k.shape[-1]):
        call.conflict("matmul_inner", f"dispatch_attention_fn: query {format_shape(q.shape)} and key "
                      f"{format_shape(k.shape)} differ in the head dim", expected=format_shape(q.shape),
                      got=format_shape(k.shape))
        return unknown_tensor(q.dtype)
    return Tensor(q.shape[:-1] + (v.shape[-1],), q.dtype)


RULES = {"diffusers.models.attention_dispatch.dispatch_attention_fn": dispatch_attention_fn}
