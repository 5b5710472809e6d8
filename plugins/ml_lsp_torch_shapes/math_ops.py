"""Rules for ops that compute: element-wise arithmetic with broadcasting, comparisons,
matmul/mm/bmm/einsum, reductions (dim/keepdim), softmax, argmax/topk/sort, where,
masked_fill, tril/triu and the shape-keeping unary math."""

from __future__ import annotations

from ml_lsp.analysis import dims
from ml_lsp.analysis.ops import (NUM, UNK, OpCall, Seq, Tensor, as_dim, axis_in_range, broadcast_shapes,
                                 format_shape, norm_axis, unknown_tensor)
from ml_lsp_torch_shapes.shaping import dtype_of


def _t(call):
    return call.tensor(0)


def _scalar_dtype(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int) or isinstance(v, dims.Sym):
        return "long"
    if isinstance(v, float):
        return "float"
    return None


def _promote(a, b, op):
    if op == "div":
        return "float"
    if a == "float" or b == "float":
        return "float"
    if a is None or b is None:
        return None
    if a == "long" or b == "long":
        return "long"
    return "bool" if op not in ("add", "sub", "mul") else ("long" if op != "mul" else "bool")


def binary(op):
    def rule(call: OpCall):
        a = call.arg(0, "input")
        b = call.arg(1, "other")
        if not isinstance(a, Tensor):
            a, b = b, a
        if not isinstance(a, Tensor):
            return UNK
        if isinstance(b, Tensor) and (a.shape is None) != (b.shape is None) and (a.tail or b.tail):
            # (*, D) against (B, 1, D): the rank is unknown, the last dims broadcast
            star, ranked = (a, b) if a.shape is None else (b, a)
            if star.tail is not None:
                n = min(len(star.tail), len(ranked.shape))
                tail, mism = broadcast_shapes(tuple(star.tail[len(star.tail) - n:]), tuple(ranked.shape[len(ranked.shape) - n:]))
                if mism is None and tail is not None:
                    tail = tuple(star.tail[:len(star.tail) - n]) + tail
                    dt = "bool" if op == "cmp" else (None if op == "logical" else _promote(a.dtype, b.dtype, op))
                    # a side no longer than the known dims adds no leading dim: the star is
                    # still the input's own (a later ``b, t, d = h.shape`` tells its rank)
                    keeps = len(ranked.shape) <= len(star.tail)
                    return Tensor(None, dt, tail=tail or None, star_of=star.star_of if keeps and tail else None)
        if isinstance(b, Tensor):
            shape, mism = broadcast_shapes(a.shape, b.shape)
            if mism is not None:
                i, da, db = mism
                call.conflict("broadcast", f"shapes {format_shape(a.shape)} and {format_shape(b.shape)} do not "
                              f"broadcast: {da} vs {db} at dim {i}", expected=format_shape(a.shape),
                              got=format_shape(b.shape))
                return unknown_tensor(None)
            bdt = b.dtype
        elif b is UNK:
            # the other side may be a number or a tensor of any shape: the result keeps this
            # side's last dims (those not 1) and nothing is known of its rank
            if a.shape is None:
                return Tensor(None, _promote(a.dtype, None, op) if op not in ("cmp", "logical") else
                              ("bool" if op == "cmp" else None), tail=a.tail, star_of=a.star_of)
            tail = tuple(None if d == 1 else d for d in a.shape)
            dt = "bool" if op == "cmp" else (None if op == "logical" else _promote(a.dtype, None, op))
            return Tensor(None, dt, tail=tail or None)
        elif isinstance(b, (int, float, bool, dims.Sym)) or b is NUM:
            if a.shape is None:
                return Tensor(None, a.dtype if op not in ("cmp", "logical") else "bool", tail=a.tail,
                              star_of=a.star_of)
            shape, bdt = a.shape, (_scalar_dtype(b) if b is not NUM else (a.dtype if a.dtype == "float" else None))
            if bdt == "long" and a.dtype in ("float", "long"):
                bdt = a.dtype
            if bdt == "bool":
                bdt = a.dtype
        else:
            return UNK
        if op == "cmp":
            return Tensor(shape, "bool")
        if op == "logical":
            dt = "bool" if a.dtype == "bool" and bdt == "bool" else (a.dtype if a.dtype == bdt else None)
            return Tensor(shape, dt)
        return Tensor(shape, _promote(a.dtype, bdt, op))
    return rule


def matmul(call: OpCall):
    a, b = call.tensor(0, "input"), call.tensor(1, "other")
    if a is None or b is None:
        return UNK
    if a.shape is None or b.shape is None:
        return unknown_tensor(a.dtype)
    sa, sb = a.shape, b.shape
    if len(sa) == 0 or len(sb) == 0:
        call.conflict("matmul_inner", f"{call.name}: both arguments need at least 1 dim, got "
                      f"{format_shape(sa)} and {format_shape(sb)}", expected="rank >= 1",
                      got=f"{format_shape(sa)} @ {format_shape(sb)}")
        return unknown_tensor(a.dtype)
    strict = {"mm": 2, "bmm": 3, "spmm": 2}.get(call.name)
    if strict is not None and (len(sa) != strict or len(sb) != strict):
        call.conflict("matmul_inner", f"{call.name} expects two {strict}-D tensors, got {format_shape(sa)} and "
                      f"{format_shape(sb)}", expected=f"{strict}-D", got=f"{format_shape(sa)}, {format_shape(sb)}")
        return unknown_tensor(a.dtype)
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if dims.clash(ka, kb):
        call.conflict("matmul_inner", f"{call.name}: inner dims differ, {format_shape(sa)} @ {format_shape(sb)} "
                      f"({ka} vs {kb})", expected=f"(..., {dims.render(ka)}) @ ({dims.render(ka)}, ...)",
                      got=f"{format_shape(sa)} @ {format_shape(sb)}")
        return unknown_tensor(a.dtype)
    if len(sa) == 1 and len(sb) == 1:
        return Tensor((), a.dtype)
    if len(sb) == 1:
        return Tensor(sa[:-1], a.dtype)
    if len(sa) == 1:
        return Tensor(sb[:-2] + sb[-1:], a.dtype)
    return _batched(call, sa, sb, (sa[-2], sb[-1]), a.dtype)


def _batched(call, sa, sb, tail, dtype):
    """The broadcast of two operands' batch dims (all but the last two), then ``tail``;
    batch dims that cannot broadcast are a conflict."""
    batch, mism = broadcast_shapes(sa[:-2], sb[:-2])
    if mism is not None:
        call.conflict("broadcast", f"{call.name}: batch dims {format_shape(sa[:-2])} and {format_shape(sb[:-2])} "
                      f"do not broadcast", expected=format_shape(sa[:-2]), got=format_shape(sb[:-2]))
        return unknown_tensor(dtype)
    if batch is None:
        return unknown_tensor(dtype)
    return Tensor(tuple(batch) + tuple(tail), dtype)


def fused_product(inner: str, drop_batch: bool = False):
    """``input + product(a, b)``: addmm (mm), baddbmm (bmm), addbmm (bmm summed over the
    batch), addmv (mv), addr (outer). ``input`` broadcasts to the product's shape, which is
    the result's; GPT-2's Conv1D is ``torch.addmm(bias, x2d, weight)``."""
    def rule(call: OpCall):
        inp = call.arg(0, "input")
        names = {"mm": ("mat1", "mat2"), "bmm": ("batch1", "batch2"), "mv": ("mat", "vec"),
                 "outer": ("vec1", "vec2")}[inner]
        sub = OpCall(f"torch.{inner}", [call.arg(1, names[0]), call.arg(2, names[1])])
        product = (outer if inner == "outer" else matmul)(sub)
        for c in sub.conflicts:  # the product's own message, under the name the user wrote
            if c["message"].startswith(inner):
                c["message"] = call.name + c["message"][len(inner):]
            call.conflicts.append(c)
        if not isinstance(product, Tensor) or product.shape is None:
            return product if product is not UNK else unknown_tensor(inp.dtype if isinstance(inp, Tensor) else None)
        shape = product.shape[1:] if drop_batch and len(product.shape) == 3 else product.shape
        if isinstance(inp, Tensor) and inp.shape is not None:
            joined, mism = broadcast_shapes(inp.shape, shape)
            if mism is not None or len(inp.shape) > len(shape):
                call.conflict("broadcast", f"{call.name}: input {format_shape(inp.shape)} does not broadcast to "
                              f"the product's {format_shape(shape)}", expected=format_shape(shape),
                              got=format_shape(inp.shape))
                return unknown_tensor(product.dtype)
        return Tensor(shape, product.dtype)
    return rule


def cdist(call: OpCall):
    """``torch.cdist(x1 (*, P, M), x2 (*, R, M))`` -> ``(*, P, R)``: pairwise distances,
    the batch dims broadcast, the feature dims must agree."""
    a, b = call.tensor(0, "x1"), call.tensor(1, "x2")
    if a is None or b is None:
        return UNK
    if a.shape is None or b.shape is None:
        return unknown_tensor(a.dtype)
    sa, sb = a.shape, b.shape
    if len(sa) < 2 or len(sb) < 2:
        call.conflict("matmul_inner", f"cdist: both arguments need at least 2 dims, got {format_shape(sa)} "
                      f"and {format_shape(sb)}", expected="(*, P, M) and (*, R, M)",
                      got=f"{format_shape(sa)}, {format_shape(sb)}")
        return unknown_tensor(a.dtype)
    if dims.clash(sa[-1], sb[-1]):
        call.conflict("matmul_inner", f"cdist: feature dims differ, {format_shape(sa)} and {format_shape(sb)} "
                      f"({sa[-1]} vs {sb[-1]})", expected=f"(*, R, {dims.render(sa[-1])})", got=format_shape(sb))
        return unknown_tensor(a.dtype)
    return _batched(call, sa, sb, (sa[-2], sb[-2]), a.dtype)


def outer(call: OpCall):
    a, b = call.tensor(0), call.tensor(1, "vec2")
    if a is None or b is None or a.shape is None or b.shape is None or len(a.shape) != 1 or len(b.shape) != 1:
        return unknown_tensor(a.dtype if a else "float")
    return Tensor((a.shape[0], b.shape[0]), a.dtype)


def einsum(call: OpCall):
    eq = call.arg(0, "equation")
    ops = list(call.args[1:])
    if len(ops) == 1 and isinstance(ops[0], Seq):
        ops = list(ops[0].items)
    if not isinstance(eq, str) or not ops or not all(isinstance(o, Tensor) for o in ops):
        return UNK
    dtype = ops[0].dtype
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ops):
        call.conflict("einsum_dims", f"einsum {eq!r} names {len(terms)} operands, got {len(ops)}",
                      expected=f"{len(terms)} operands", got=str(len(ops)))
        return unknown_tensor(dtype)
    sizes: dict = {}
    ell = None
    for term, op in zip(terms, ops):
        if op.shape is None:
            return unknown_tensor(dtype)
        letters = term.replace("...", "")
        if "..." in term:
            n_ell = len(op.shape) - len(letters)
            if n_ell < 0:
                return unknown_tensor(dtype)
            i = term.index("...")
            ell_shape = op.shape[i:i + n_ell]
            ell = ell_shape if ell is None else (broadcast_shapes(ell, ell_shape)[0])
            shape = op.shape[:i] + op.shape[i + n_ell:]
        else:
            if len(letters) != len(op.shape):
                call.conflict("einsum_dims", f"einsum {eq!r}: operand {term!r} has {len(letters)} letters but the "
                              f"tensor has shape {format_shape(op.shape)}", expected=f"rank {len(letters)}",
                              got=format_shape(op.shape))
                return unknown_tensor(dtype)
            shape = op.shape
        for ch, d in zip(letters, shape):
            if ch in sizes:
                prev = sizes[ch]
                if prev != 1 and d != 1 and dims.clash(prev, d):
                    call.conflict("einsum_dims", f"einsum {eq!r}: {ch!r} is {dims.render(prev)} in one operand and "
                                  f"{dims.render(d)} in another", expected=f"{ch}={dims.render(prev)}",
                                  got=f"{ch}={dims.render(d)}")
                    return unknown_tensor(dtype)
                if prev == 1:
                    sizes[ch] = d
                elif not dims.same(prev, d) and d != 1:
                    sizes[ch] = None
            else:
                sizes[ch] = d
    if arrow:
        out_letters = rhs
    else:
        counts = {}
        for ch in lhs.replace(",", "").replace("...", ""):
            counts[ch] = counts.get(ch, 0) + 1
        out_letters = ("..." if "..." in lhs else "") + "".join(sorted(c for c, n in counts.items() if n == 1))
    out = []
    i = 0
    while i < len(out_letters):
        if out_letters.startswith("...", i):
            if ell is None:
                return unknown_tensor(dtype)
            out.extend(ell)
            i += 3
            continue
        ch = out_letters[i]
        if ch not in sizes:
            return unknown_tensor(dtype)
        out.append(sizes[ch])
        i += 1
    return Tensor(tuple(out), dtype)


def _reduce_shape(call, t, dim, keepdim):
    if t.shape is None:
        return None, True
    r = len(t.shape)
    if dim is None:
        return ((1,) * r if keepdim else ()), True
    axes = list(dim.items) if isinstance(dim, Seq) else [dim]
    idx = []
    for ax in axes:
        if not axis_in_range(call, ax, r):
            return None, False
        a = norm_axis(ax, r) if r else 0
        if a is None:
            return None, True
        idx.append(a)
    if keepdim is not True and keepdim is not False:
        return None, True
    if keepdim:
        return tuple(1 if i in idx else d for i, d in enumerate(t.shape)), True
    return tuple(d for i, d in enumerate(t.shape) if i not in idx), True


def reduction(dtype=None, with_indices=False):
    def rule(call: OpCall):
        t = _t(call)
        if t is None:
            return UNK
        dim = call.arg(1, "dim", call.kwargs.get("axis"))
        if isinstance(dim, Tensor):  # torch.max(a, b): element-wise
            return binary("max")(call)
        keepdim = call.arg(2, "keepdim", False)
        shape, ok = _reduce_shape(call, t, dim, keepdim)
        dt = dtype if dtype is not None else t.dtype
        if call.name in ("sum", "prod", "cumsum") and t.dtype == "bool":
            dt = "long"
        if call.name in ("mean", "std", "var", "norm"):
            dt = "float"
        out = Tensor(shape, dt)
        if with_indices and dim is not None:
            return Seq([out, Tensor(shape, "long")], "tuple", names=["values", "indices"])
        return out
    return rule


def norm(call: OpCall):
    """x.norm(p="fro", dim=None, keepdim=False): the first positional is p, not dim."""
    t = _t(call)
    if t is None:
        return UNK
    dim = call.arg(2, "dim")
    keepdim = call.arg(3, "keepdim", False)
    shape, _ = _reduce_shape(call, t, dim, keepdim)
    return Tensor(shape, "float")


def argreduce(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    dim = call.arg(1, "dim")
    keepdim = call.arg(2, "keepdim", False)
    shape, _ = _reduce_shape(call, t, dim, keepdim)
    return Tensor(shape, "long")


def softmax(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    dim = call.arg(1, "dim")
    if t.shape is not None and dim is not None:
        axis_in_range(call, dim, len(t.shape))
    return Tensor(t.shape, "float")


softmax.keeps_shape = True


def along_dim(call: OpCall):
    """cumsum/cumprod/flip/roll-like: same shape, dim checked."""
    t = _t(call)
    if t is None:
        return UNK
    dim = call.arg(1, "dim")
    if t.shape is not None and isinstance(dim, int):
        axis_in_range(call, dim, len(t.shape))
    dt = "long" if t.dtype == "bool" and call.name in ("cumsum", "cumprod") else t.dtype
    if call.name in ("cumsum", "cumprod"):
        given = dtype_of(call.arg(None, "dtype"))
        if given is not False:  # cumsum(x, dim, dtype=torch.float32)
            dt = given
    return Tensor(t.shape, dt)


def topk(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    k = as_dim(call.arg(1, "k"))
    dim = call.arg(2, "dim", -1)
    if t.shape is None:
        return Seq([unknown_tensor(t.dtype), unknown_tensor("long")], "tuple", names=["values", "indices"])
    r = len(t.shape)
    if not axis_in_range(call, dim, r):
        return UNK
    a = norm_axis(dim, r)
    if a is None:
        return UNK
    if isinstance(k, int) and isinstance(t.shape[a], int) and k > t.shape[a]:
        call.conflict("dim_out_of_range", f"topk: k={k} is larger than dim {a} of {format_shape(t.shape)}",
                      expected=f"k <= {t.shape[a]}", got=f"k={k}")
        return UNK
    s = list(t.shape)
    s[a] = k
    return Seq([Tensor(tuple(s), t.dtype), Tensor(tuple(s), "long")], "tuple", names=["values", "indices"])


def multinomial(call: OpCall):
    """``torch.multinomial(probs, num_samples)``: (C,) -> (n,), (B, C) -> (B, n), long."""
    t = _t(call)
    if t is None:
        return UNK
    n = as_dim(call.arg(1, "num_samples"))
    if t.shape is None or len(t.shape) not in (1, 2) or n is None:
        return unknown_tensor("long")
    return Tensor(t.shape[:-1] + (n,), "long")


def sort(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    return Seq([Tensor(t.shape, t.dtype), Tensor(t.shape, "long")], "tuple", names=["values", "indices"])


def argsort(call: OpCall):
    t = _t(call)
    return Tensor(t.shape, "long") if t is not None else UNK


def where(call: OpCall):
    cond = call.tensor(0, "condition")
    if cond is None:
        return UNK
    if len(call.args) == 1 and not call.kwargs:
        if cond.shape is None:
            return UNK
        return Seq([Tensor((None,), "long") for _ in cond.shape], "tuple")
    x, y = call.arg(1, "input"), call.arg(2, "other")
    shape = cond.shape
    dtypes = []
    for v in (x, y):
        if isinstance(v, Tensor):
            shape2, mism = broadcast_shapes(shape, v.shape)
            if mism is not None:
                call.conflict("broadcast", f"where: {format_shape(shape)} and {format_shape(v.shape)} do not "
                              f"broadcast", expected=format_shape(shape), got=format_shape(v.shape))
                return unknown_tensor(None)
            shape = shape2
            dtypes.append(v.dtype)
        elif isinstance(v, float):
            dtypes.append("float")
    dt = dtypes[0] if dtypes and all(d == dtypes[0] for d in dtypes) else ("float" if "float" in dtypes else None)
    return Tensor(shape, dt)


def masked_fill(call: OpCall):
    t = _t(call)
    mask = call.tensor(1, "mask")
    if t is None:
        return UNK
    if mask is not None:
        shape, mism = broadcast_shapes(t.shape, mask.shape)
        if mism is not None or (shape is not None and t.shape is not None and len(shape) > len(t.shape)):
            call.conflict("broadcast", f"masked_fill: mask {format_shape(mask.shape)} does not broadcast to "
                          f"{format_shape(t.shape)}", expected=format_shape(t.shape), got=format_shape(mask.shape))
            return unknown_tensor(t.dtype)
    return Tensor(t.shape, t.dtype)


masked_fill.keeps_shape = True


def unary(dtype="same"):
    def rule(call: OpCall):
        t = _t(call)
        if t is None:
            return UNK
        return Tensor(t.shape, t.dtype if dtype == "same" else dtype)
    rule.keeps_shape = True
    return rule


def clamp(call: OpCall):
    t = _t(call)
    return Tensor(t.shape, t.dtype) if t is not None else UNK


clamp.keeps_shape = True


def diff_dim_reduce_scalar(call: OpCall):
    t = _t(call)
    return Tensor((), t.dtype if t else "float") if t is not None else UNK


def dot(call: OpCall):
    a, b = call.tensor(0), call.tensor(1)
    if a is None or b is None:
        return UNK
    if a.shape is not None and b.shape is not None and len(a.shape) == 1 and len(b.shape) == 1 \
            and dims.clash(a.shape[0], b.shape[0]):
        call.conflict("matmul_inner", f"dot: {format_shape(a.shape)} and {format_shape(b.shape)} differ",
                      expected=format_shape(a.shape), got=format_shape(b.shape))
    return Tensor((), a.dtype)


def lerp(call: OpCall):
    return binary("add")(call)


def add_pointwise_product(call: OpCall):
    """addcmul/addcdiv: ``input + value * t1 (op) t2``; the three broadcast together."""
    add = binary("add")
    partial = add(OpCall(call.qual, [call.arg(0, "input"), call.arg(1, "tensor1")]))
    return add(OpCall(call.qual, [partial, call.arg(2, "tensor2")]))


RULES = {}
_BIN = {"add": "add", "sub": "sub", "subtract": "sub", "mul": "mul", "multiply": "mul", "div": "div",
        "divide": "div", "true_divide": "div", "floor_divide": "floordiv", "remainder": "mod", "fmod": "mod",
        "pow": "pow", "maximum": "max", "minimum": "min", "atan2": "div", "hypot": "div",
        "eq": "cmp", "ne": "cmp", "lt": "cmp", "le": "cmp", "gt": "cmp", "ge": "cmp", "greater": "cmp",
        "less": "cmp", "logical_and": "logical", "logical_or": "logical", "logical_xor": "logical",
        "bitwise_and": "logical", "bitwise_or": "logical", "bitwise_xor": "logical", "isclose": "cmp",
        "fmax": "max", "fmin": "min", "xlogy": "div"}
for _n, _op in _BIN.items():
    RULES[f"torch.{_n}"] = RULES[f"torch.Tensor.{_n}"] = binary(_op)
    RULES[f"torch.{_n}"].keeps_shape = "scalar"
for _n in ("add_", "sub_", "mul_", "div_", "pow_"):
    RULES[f"torch.Tensor.{_n}"] = binary(_n[:-1])
for _n in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__"):
    RULES[f"torch.Tensor.{_n}"] = binary(_n.strip("_").lstrip("r") if _n != "__rsub__" else "sub")
for _n in ("matmul", "mm", "bmm", "mv"):
    RULES[f"torch.{_n}"] = RULES[f"torch.Tensor.{_n}"] = matmul


def _strict_product(rank: int):
    """mm / bmm: matmul's rule, and what an input first met here must be: the rank the op
    takes, its last dim the other operand's rows (GAT's ``torch.mm(h, self.W)``)."""
    def rule(call: OpCall):
        return matmul(call)

    def hint(call: OpCall):
        b = call.tensor(1, "mat2")
        if b is None or b.shape is None or len(b.shape) != rank:
            return None
        lead = (dims.Sym.named("N"),) if rank == 2 else (b.shape[0], dims.Sym.named("N"))
        return lead + (b.shape[-2],), b.dtype or "float"
    rule.input_hint = hint
    return rule


RULES["torch.mm"] = RULES["torch.Tensor.mm"] = _strict_product(2)
RULES["torch.bmm"] = RULES["torch.Tensor.bmm"] = _strict_product(3)
RULES["torch.Tensor.__matmul__"] = matmul
# sparse @ dense gives a dense result of the same shape as the dense product (GCN layers)
RULES["torch.spmm"] = RULES["torch.sparse.mm"] = RULES["torch.Tensor.spmm"] = matmul
RULES["torch.outer"] = RULES["torch.Tensor.outer"] = RULES["torch.ger"] = outer
RULES["torch.cdist"] = cdist
for _n, _inner, _drop in (("addmm", "mm", False), ("baddbmm", "bmm", False), ("addbmm", "bmm", True),
                          ("addmv", "mv", False), ("addr", "outer", False)):
    RULES[f"torch.{_n}"] = RULES[f"torch.Tensor.{_n}"] = RULES[f"torch.Tensor.{_n}_"] = fused_product(_inner, _drop)
for _n in ("addcmul", "addcdiv", "addcmul_", "addcdiv_"):
    RULES[f"torch.Tensor.{_n}"] = RULES[f"torch.{_n.rstrip('_')}"] = add_pointwise_product
RULES["torch.einsum"] = einsum
RULES["torch.functional.einsum"] = einsum
RULES["torch.dot"] = RULES["torch.Tensor.dot"] = RULES["torch.inner"] = dot
for _n in ("sum", "mean", "prod", "std", "var", "amax", "amin", "logsumexp", "nansum", "nanmean"):
    RULES[f"torch.{_n}"] = RULES[f"torch.Tensor.{_n}"] = reduction()
RULES["torch.norm"] = RULES["torch.Tensor.norm"] = norm
# linalg.norm(A, ord, dim, keepdim) and vector_norm(x, ord, dim, keepdim) take their
# arguments where x.norm(p, dim, keepdim) does (torchtune's DoRA weight norm)
RULES["torch.linalg.norm"] = RULES["torch.linalg.vector_norm"] = norm


def matrix_norm(call: OpCall):
    """torch.linalg.matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False)."""
    t = _t(call)
    if t is None:
        return UNK
    shape, _ = _reduce_shape(call, t, call.arg(2, "dim", Seq([-2, -1])), call.arg(3, "keepdim", False))
    return Tensor(shape, "float")


RULES["torch.linalg.matrix_norm"] = matrix_norm
for _n in ("max", "min", "median", "mode"):
    RULES[f"torch.{_n}"] = RULES[f"torch.Tensor.{_n}"] = reduction(with_indices=True)
for _n in ("all", "any"):
    RULES[f"torch.{_n}"] = RULES[f"torch.Tensor.{_n}"] = reduction(dtype="bool")
RULES["torch.count_nonzero"] = RULES["torch.Tensor.count_nonzero"] = reduction(dtype="long")
for _n in ("argmax", "argmin"):
    RULES[f"torch.{_n}"] = RULES[f"torch.Tensor.{_n}"] = argreduce
for _n in ("softmax", "log_softmax", "softmin"):
    RULES[f"torch.{_n}"] = RULES[f"torch.Tensor.{_n}"] = softmax
    RULES[f"torch.nn.functional.{_n}"] = softmax
for _n in ("cumsum", "cumprod", "flip", "roll", "cummax", "logcumsumexp"):
    RULES[f"torch.{_n}"] = RULES[f"torch.Tensor.{_n}"] = along_dim
RULES["torch.topk"] = RULES["torch.Tensor.topk"] = topk
RULES["torch.sort"] = RULES["torch.Tensor.sort"] = sort
RULES["torch.multinomial"] = RULES["torch.Tensor.multinomial"] = multinomial
RULES["torch.argsort"] = RULES["torch.Tensor.argsort"] = argsort
RULES["torch.where"] = where
RULES["torch.Tensor.where"] = lambda call: where(OpCall(call.qual, [call.args[1] if len(call.args) > 1 else UNK,
                                                                    call.args[0]] + list(call.args[2:])))
for _n in ("masked_fill", "masked_fill_", "masked_scatter"):
    RULES[f"torch.Tensor.{_n}"] = masked_fill
RULES["torch.masked_fill"] = masked_fill
for _n in ("tril", "triu", "tril_", "triu_"):
    RULES[f"torch.{_n}"] = RULES[f"torch.Tensor.{_n}"] = unary()
_FLOAT_UNARY = ("exp", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tan", "tanh",
                "sigmoid", "erf", "erfc", "reciprocal", "asin", "acos", "atan", "sinh", "cosh", "softplus",
                "exp_", "sigmoid_", "tanh_", "lgamma", "digamma", "angle", "atanh", "asinh", "acosh", "arctanh",
                "arcsin", "arccos", "arctan", "erfinv", "exp2", "logit", "sinc", "deg2rad", "rad2deg", "i0")
_SAME_UNARY = ("abs", "neg", "negative", "positive", "sign", "floor", "ceil", "round", "trunc", "frac",
               "square", "relu", "relu_", "abs_", "neg_", "clamp_", "clamp_min", "clamp_max", "nan_to_num",
               "sgn", "bitwise_not", "logical_not", "detach", "conj", "fix",
               "round_", "floor_", "ceil_", "trunc_", "sign_", "frac_", "fix_")
for _n in _FLOAT_UNARY:
    RULES[f"torch.{_n}"] = RULES[f"torch.Tensor.{_n}"] = unary("float")
for _n in _SAME_UNARY:
    RULES[f"torch.{_n}"] = RULES[f"torch.Tensor.{_n}"] = unary()
RULES["torch.logical_not"] = RULES["torch.Tensor.logical_not"] = unary("bool")
for _n in ("isnan", "isinf", "isneginf", "isposinf", "isfinite", "isreal", "signbit", "isin"):
    RULES[f"torch.{_n}"] = RULES[f"torch.Tensor.{_n}"] = unary("bool")
for _n in ("clamp", "clip", "clamp_"):
    RULES[f"torch.{_n}"] = RULES[f"torch.Tensor.{_n}"] = clamp
RULES["torch.lerp"] = RULES["torch.Tensor.lerp"] = lerp
RULES["torch.Tensor.item"] = lambda call: _item(call)  # a Python number
RULES["torch.Tensor.tolist"] = lambda call: _tolist(call)


def _item(call):
    t = call.arg(0)
    return t.fill if isinstance(t, Tensor) and t.fill is not None else NUM


def _tolist(call):
    """Nested lists as long as the tensor's dims, of its elements where every one is known
    (np.linspace(0, 0, depth)), else of numbers: timm's NesT loops over
    ``(4 ** torch.arange(num_levels)).flip(0).tolist()``, three levels, not an unknown count."""
    t = call.arg(0)
    if not isinstance(t, Tensor) or t.shape is None:
        return UNK
    element = t.fill if t.fill is not None else NUM
    if len(t.shape) == 0:
        return element
    if len(t.shape) > 2 or not all(type(d) is int and 0 <= d <= 1024 for d in t.shape):
        return UNK
    if len(t.shape) == 1:
        return Seq([element] * t.shape[0], "list")
    return Seq([Seq([element] * t.shape[1], "list") for _ in range(t.shape[0])], "list")
# the process group's size and rank: numbers (t / dist.get_world_size() keeps t's shape)
for _n in ("get_world_size", "get_rank", "get_local_rank", "get_node_local_rank"):
    RULES[f"torch.distributed.{_n}"] = lambda call: NUM
