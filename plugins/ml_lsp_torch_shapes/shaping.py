"""Rules for ops that rearrange a tensor without computing: view/reshape, flatten,
permute/transpose, (un)squeeze, expand/repeat, chunk/split/unbind, cat/stack, indexing,
size queries and dtype/device conversions. A tensor method's receiver is ``args[0]``."""

from __future__ import annotations

from ml_lsp.analysis import dims
from ml_lsp.analysis.ops import (NUM, UNK, OpCall, Seq, Tensor, as_dim, axis_in_range, format_shape, int_of,
                                 norm_axis, numel, sizes_from_args, unknown_tensor)
from ml_lsp.analysis.values import Ref, Repeated


def _t(call: OpCall) -> Tensor | None:
    return call.tensor(0)


def _like(t: Tensor, shape, dtype=None) -> Tensor:
    return Tensor(None if shape is None else tuple(shape), t.dtype if dtype is None else dtype)


def exact_div(a, b):
    """a / b when provably exact, else None."""
    if a is None or b is None:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a // b if b and a % b == 0 else None
    if isinstance(b, int):
        if b and all(c % b == 0 for c in a.terms.values()):
            return dims.floordiv(a, b)
        return None
    if dims.same(a, b):
        return 1
    return dims.exact_quotient(a, b)


def never_equal(a, b) -> bool:
    """``a != b`` for every positive size of the symbols in them: their difference is a
    polynomial whose terms all have one sign (60*B*T against 64*B*T). Anything the engine
    could not put in that form (an opaque ``C//nh``) proves nothing."""
    if a is None or b is None:
        return False
    diff = dims.sub(a, b)
    if isinstance(diff, int) or diff is None:
        return isinstance(diff, int) and diff != 0
    signs = {c > 0 for c in diff.terms.values()}
    return len(signs) == 1


def view(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    sizes = sizes_from_args(call, 1, "shape" if call.name == "reshape" else "size")
    if sizes is None:
        return unknown_tensor(t.dtype)
    raw = call.args[1:] if "shape" not in call.kwargs and "size" not in call.kwargs else []
    if len(raw) == 1 and isinstance(raw[0], Seq):
        raw = raw[0].items
    minus = [i for i, d in enumerate(sizes) if d == -1]
    if len(minus) > 1:
        call.conflict("view_multiple_minus_one", f"{call.name}: only one dimension can be -1, got "
                      f"{format_shape(tuple(sizes))}", expected="at most one -1", got=format_shape(tuple(sizes)))
        return unknown_tensor(t.dtype)
    total = numel(t.shape)
    if minus:
        others = [d for i, d in enumerate(sizes) if i != minus[0]]
        prod = dims.product(others)
        inferred = exact_div(total, prod) if total is not None and prod is not None else None
        if isinstance(total, int) and isinstance(prod, int) and prod and total % prod:
            call.conflict("view_numel", f"{call.name}{format_shape(tuple(sizes))}: a tensor of shape "
                          f"{format_shape(t.shape)} ({total} elements) does not divide into rows of {prod}",
                          expected=f"numel divisible by {prod}", got=f"{format_shape(t.shape)} ({total} elements)")
            return unknown_tensor(t.dtype)
        sizes = list(sizes)
        sizes[minus[0]] = inferred
    elif total is not None:
        new_total = dims.product(sizes)
        if isinstance(total, int) and isinstance(new_total, int) and total != new_total:
            call.conflict("view_numel", f"{call.name}{format_shape(tuple(sizes))} ({new_total} elements) of a tensor "
                          f"of shape {format_shape(t.shape)} ({total} elements)",
                          expected=f"{total} elements", got=f"{new_total} elements")
            return unknown_tensor(t.dtype)
        if never_equal(total, new_total):
            call.conflict("view_numel", f"{call.name}{format_shape(tuple(sizes))} ({dims.render(new_total)} elements) "
                          f"of a tensor of shape {format_shape(t.shape)} ({dims.render(total)} elements): the counts "
                          "differ for every size of its dims",
                          expected=f"{dims.render(total)} elements", got=f"{dims.render(new_total)} elements")
            return unknown_tensor(t.dtype)
    if any(isinstance(d, int) and d < 0 for d in sizes if d is not None):
        return unknown_tensor(t.dtype)
    return _like(t, sizes)


def flatten(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    start = call.arg(1, "start_dim", 0)
    end = call.arg(2, "end_dim", -1)
    if t.shape is None:
        if end == -1 and isinstance(start, int) and not isinstance(start, bool) and 0 <= start <= 8:
            return Tensor((None,) * (start + 1), t.dtype)  # the rank is known even if the input's is not
        return unknown_tensor(t.dtype)
    r = len(t.shape)
    if r == 0:
        return _like(t, (1,))
    if not axis_in_range(call, start, r, "start_dim") or not axis_in_range(call, end, r, "end_dim"):
        return unknown_tensor(t.dtype)
    s, e = norm_axis(start, r), norm_axis(end, r)
    if s is None or e is None or s > e:
        return unknown_tensor(t.dtype)
    return _like(t, t.shape[:s] + (dims.product(t.shape[s:e + 1]),) + t.shape[e + 1:])


def flatten_layer_forward(layer, call):
    return flatten(OpCall(call.qual, [call.args[0] if call.args else UNK, layer["start_dim"], layer["end_dim"]]))


def unflatten(call: OpCall):
    t = _t(call)
    dim = call.arg(1, "dim")
    sizes = call.arg(2, "sizes")
    if t is None or t.shape is None or not isinstance(sizes, Seq):
        return unknown_tensor(t.dtype if t else "float")
    a = norm_axis(dim, len(t.shape))
    if a is None:
        return unknown_tensor(t.dtype)
    new = [as_dim(x) for x in sizes.items]
    if new.count(-1) == 1:
        i = new.index(-1)
        new[i] = exact_div(t.shape[a], dims.product([d for j, d in enumerate(new) if j != i]))
    return _like(t, t.shape[:a] + tuple(new) + t.shape[a + 1:])


def permute(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    order = sizes_from_args(call, 1, "dims")
    if order is None or t.shape is None:
        return unknown_tensor(t.dtype)
    r = len(t.shape)
    if len(order) != r:
        call.conflict("permute_dims", f"permute{format_shape(tuple(order))} names {len(order)} dims of a "
                      f"tensor of shape {format_shape(t.shape)} (rank {r})",
                      expected=f"{r} dims", got=f"{len(order)} dims")
        return unknown_tensor(t.dtype)
    idx = [norm_axis(o, r) for o in order]
    if any(i is None for i in idx) or len(set(idx)) != r:
        if all(isinstance(o, int) for o in order):
            call.conflict("permute_dims", f"permute{format_shape(tuple(order))} is not a permutation of the "
                          f"dims of {format_shape(t.shape)}", expected=f"a permutation of 0..{r - 1}",
                          got=format_shape(tuple(order)))
        return unknown_tensor(t.dtype)
    return _like(t, [t.shape[i] for i in idx])


def movedim(call: OpCall):
    """``movedim(x, source, destination)`` (ints or sequences of them): the moved dims go
    to their places, the others keep their order."""
    t = _t(call)
    if t is None:
        return UNK
    if t.shape is None:
        return unknown_tensor(t.dtype)
    r = len(t.shape)
    src, dst = call.arg(1, "source"), call.arg(2, "destination")
    src = list(src.items) if isinstance(src, Seq) else [src]
    dst = list(dst.items) if isinstance(dst, Seq) else [dst]
    src = [norm_axis(s, r) if isinstance(s, int) and not isinstance(s, bool) else None for s in src]
    dst = [norm_axis(d, r) if isinstance(d, int) and not isinstance(d, bool) else None for d in dst]
    if len(src) != len(dst) or None in src or None in dst or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        return unknown_tensor(t.dtype)
    moved = dict(zip(dst, src))  # output position -> input dim
    rest = iter(i for i in range(r) if i not in src)
    return _like(t, [t.shape[moved[i]] if i in moved else t.shape[next(rest)] for i in range(r)])


def transpose(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    d0, d1 = call.arg(1, "dim0"), call.arg(2, "dim1")
    if t.shape is None:
        return unknown_tensor(t.dtype)
    r = len(t.shape)
    if not axis_in_range(call, d0, r) or not axis_in_range(call, d1, r):
        return unknown_tensor(t.dtype)
    a, b = norm_axis(d0, r), norm_axis(d1, r)
    if a is None or b is None:
        return unknown_tensor(t.dtype)
    s = list(t.shape)
    s[a], s[b] = s[b], s[a]
    return _like(t, s)


def t_(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    if t.shape is None:
        return unknown_tensor(t.dtype)
    if len(t.shape) <= 2:
        return _like(t, tuple(reversed(t.shape)))
    if call.name == "t":
        call.conflict("dim_out_of_range", f"t() expects a tensor of rank <= 2, got {format_shape(t.shape)}",
                      expected="rank <= 2", got=format_shape(t.shape))
    return _like(t, tuple(reversed(t.shape)))


def big_t(call: OpCall):
    t = _t(call)
    if t is None or t.shape is None:
        return unknown_tensor(t.dtype if t else "float")
    return _like(t, tuple(reversed(t.shape)))


def m_t(call: OpCall):
    t = _t(call)
    if t is None or t.shape is None or len(t.shape) < 2:
        return unknown_tensor(t.dtype if t else "float")
    return _like(t, t.shape[:-2] + (t.shape[-1], t.shape[-2]))


def unsqueeze(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    d = call.arg(1, "dim")
    if t.shape is None:
        return unknown_tensor(t.dtype)
    r = len(t.shape) + 1
    if not axis_in_range(call, d, r):
        return unknown_tensor(t.dtype)
    a = norm_axis(d, r)
    if a is None:
        return unknown_tensor(t.dtype)
    s = list(t.shape)
    s.insert(a, 1)
    return _like(t, s)


def squeeze(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    if t.shape is None:
        return unknown_tensor(t.dtype)
    d = call.arg(1, "dim")
    r = len(t.shape)
    if d is None:
        if any(x is None or isinstance(x, dims.Sym) for x in t.shape):
            return unknown_tensor(t.dtype)  # a symbolic dim may be 1
        return _like(t, [x for x in t.shape if x != 1])
    axes = [d] if not isinstance(d, Seq) else list(d.items)
    if r == 0:
        return _like(t, ())
    idx = []
    for ax in axes:
        if not axis_in_range(call, ax, r):
            return unknown_tensor(t.dtype)
        a = norm_axis(ax, r)
        if a is None:
            return unknown_tensor(t.dtype)
        idx.append(a)
    s = []
    for i, x in enumerate(t.shape):
        if i in idx:
            if x == 1:
                continue
            if not isinstance(x, int):
                return unknown_tensor(t.dtype)
        s.append(x)
    return _like(t, s)


def expand(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    sizes = sizes_from_args(call, 1, "size")
    if sizes is None:
        return unknown_tensor(t.dtype)
    if t.shape is None:
        if all(d is not None and d != -1 for d in sizes):
            return _like(t, sizes)
        return unknown_tensor(t.dtype)
    r = len(t.shape)
    if len(sizes) < r:
        return unknown_tensor(t.dtype)
    out = []
    lead = len(sizes) - r
    for i, d in enumerate(sizes):
        if i < lead:
            out.append(d if d != -1 else None)
            continue
        cur = t.shape[i - lead]
        if d == -1:
            out.append(cur)
        elif cur == 1 or cur is None:
            out.append(d)
        elif isinstance(cur, int) and isinstance(d, int) and cur != d:
            call.conflict("broadcast", f"expand{format_shape(tuple(sizes))}: dim {i} of {format_shape(t.shape)} "
                          f"is {cur}, not 1", expected=f"{d} or 1", got=str(cur))
            return unknown_tensor(t.dtype)
        else:
            out.append(d if dims.same(cur, d) or isinstance(d, int) else None)
    return _like(t, out)


def expand_as(call: OpCall):
    t, o = _t(call), call.tensor(1, "other")
    if t is None or o is None:
        return UNK
    return _like(t, o.shape)


def repeat(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    reps = sizes_from_args(call, 1, "repeats")
    if reps is None or t.shape is None:
        return unknown_tensor(t.dtype)
    if len(reps) < len(t.shape):
        call.conflict("dim_out_of_range", f"repeat{format_shape(tuple(reps))} needs at least as many repeats as "
                      f"dims of {format_shape(t.shape)}", expected=f">= {len(t.shape)} repeats", got=str(len(reps)))
        return unknown_tensor(t.dtype)
    shape = (1,) * (len(reps) - len(t.shape)) + t.shape
    return _like(t, [dims.mul(a, b) for a, b in zip(shape, reps)])


def repeat_interleave(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    reps, d = call.arg(1, "repeats"), call.arg(2, "dim")
    if t.shape is None or d is None:
        return unknown_tensor(t.dtype)
    a = norm_axis(d, len(t.shape))
    r = as_dim(reps)
    if a is None or r is None:
        return unknown_tensor(t.dtype)
    s = list(t.shape)
    s[a] = dims.mul(s[a], r)
    return _like(t, s)


def same(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    return _like(t, t.shape)


same.keeps_shape = True

_DTYPES = {"float32": "float", "float": "float", "float64": "float", "double": "float", "float16": "float",
           "half": "float", "bfloat16": "float", "int64": "long", "long": "long", "bool": "bool",
           "int32": None, "int": None, "int16": None, "int8": None, "uint8": None}


def dtype_of(v):
    """A dtype argument (``torch.long``) as our dtype name; False when not a dtype."""
    if isinstance(v, Ref) and v.qual.startswith("torch."):
        name = v.qual[6:]
        if name in _DTYPES:
            return _DTYPES[name]
        if name == "dtype":
            return None  # x.dtype of a tensor of unknown dtype: a dtype, which one unknown
    if isinstance(v, Tensor):
        return v.dtype
    return False


def to(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    dt = False
    for v in list(call.args[1:]) + [call.kwargs.get("dtype")]:
        d = dtype_of(v)
        if d is not False:
            dt = d
    if dt is False:
        return _like(t, t.shape)
    return Tensor(t.shape, dt)


to.keeps_shape = True


def as_dtype(dtype):
    def rule(call: OpCall):
        t = _t(call)
        if t is None:
            return UNK
        return Tensor(t.shape, dtype)
    rule.keeps_shape = True
    return rule


def type_(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    d = dtype_of(call.arg(1, "dtype"))
    if call.arg(1, "dtype") is None:
        return UNK  # x.type() returns a string
    return Tensor(t.shape, d if d is not False else None)


type_.keeps_shape = True  # CLIP's x.type(self.conv1.weight.dtype): the next layer still tells x's shape


def chunk(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    n = int_of(call.arg(1, "chunks"))
    d = call.arg(2, "dim", 0)
    if n is None or t.shape is None or n <= 0:
        return UNK
    r = len(t.shape)
    if not axis_in_range(call, d, r):
        return UNK
    a = norm_axis(d, r)
    if a is None:
        return UNK
    size = t.shape[a]
    if isinstance(size, int):
        pieces = _cut(size, -(-size // n))
    else:
        pieces = [exact_div(size, n)] * n
    return _pieces_along(t, a, pieces)


def _cut(size: int, step: int) -> list[int]:
    """Lengths of consecutive pieces of ``step`` along ``size``; the last one may be shorter."""
    return [min(step, size - start) for start in range(0, size, step)]


def _pieces_along(t, axis: int, pieces: list) -> Seq:
    """A tuple of tensors like ``t``, with ``axis`` of each piece's length."""
    out = []
    for p in pieces:
        s = list(t.shape)
        s[axis] = p
        out.append(_like(t, s))
    return Seq(out, "tuple")


def split(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    spec = call.arg(1, "split_size_or_sections", call.kwargs.get("split_size", call.kwargs.get("split_sizes")))
    d = call.arg(2, "dim", 0)
    if t.shape is None:
        if not t.probe:
            return UNK
        # an input the engine probes for its first consumer (Interp.learn_hints): sections
        # given, as many pieces; a size, pieces alike, how many unknown; each piece of the
        # input's rank, which the conv that reads it tells
        if isinstance(spec, Seq):
            return Seq([Tensor(None, t.dtype) for _ in spec.items], "tuple")
        return Repeated(Tensor(None, t.dtype), "tuple") if as_dim(spec) is not None else UNK
    r = len(t.shape)
    if not axis_in_range(call, d, r):
        return UNK
    a = norm_axis(d, r)
    if a is None:
        return UNK
    size = t.shape[a]
    if isinstance(spec, Seq):
        sections = [as_dim(x) for x in spec.items]
        total = 0
        for s in sections:
            total = dims.add(total, s)
        if isinstance(total, int) and isinstance(size, int) and total != size:
            call.conflict("dim_out_of_range", f"split sections {format_shape(tuple(sections))} sum to {total}, "
                          f"but dim {a} of {format_shape(t.shape)} is {size}", expected=str(size), got=str(total))
            return UNK
        pieces = sections
    else:
        step = as_dim(spec)
        if step is None:
            return UNK
        if isinstance(size, int) and isinstance(step, int) and step > 0:
            pieces = _cut(size, step)
        else:
            k = exact_div(size, step)
            if not isinstance(k, int) or k > 64:
                # how many pieces is unknown: pieces alike, their length along the axis too
                # (the last may be shorter)
                s = list(t.shape)
                s[a] = None
                return Repeated(_like(t, s), "tuple")
            pieces = [step] * k
    return _pieces_along(t, a, pieces)


def unfold(call: OpCall):
    """Tensor.unfold(dim, size, step): sliding windows, a new last dim of ``size``."""
    t = _t(call)
    if t is None:
        return UNK
    d, size_, step = call.arg(1, "dimension"), as_dim(call.arg(2, "size")), as_dim(call.arg(3, "step"))
    if t.shape is None:
        return unknown_tensor(t.dtype)
    r = len(t.shape)
    if not axis_in_range(call, d, r):
        return unknown_tensor(t.dtype)
    a = norm_axis(d, r)
    if a is None or size_ is None or step is None:
        return unknown_tensor(t.dtype)
    s = list(t.shape)
    s[a] = dims.add(dims.floordiv(dims.sub(s[a], size_), step), 1)
    return _like(t, s + [size_])


def scatter(call: OpCall):
    """scatter/scatter_add/index_put/index_fill...: the result has self's shape."""
    t = _t(call)
    if t is None:
        return UNK
    return _like(t, t.shape)


scatter.keeps_shape = True


def gather(call: OpCall):
    t, index = _t(call), call.tensor(2, "index")
    if t is None:
        return UNK
    return Tensor(index.shape if index is not None else None, t.dtype)


def take_along_dim(call: OpCall):
    """``x.take_along_dim(idx, dim)``: idx's size along dim, the other dims broadcast
    (CLIP's end-of-text token: (b, s, d) with (b, 1, 1) indices is (b, 1, d)); with no dim,
    the flattened input's elements at idx: idx's shape."""
    t, index, d = _t(call), call.tensor(1, "indices"), call.arg(2, "dim")
    if t is None:
        return UNK
    if index is None:
        return unknown_tensor(t.dtype)
    if d is None:
        return _like(t, index.shape)
    if t.shape is None or index.shape is None or len(index.shape) != len(t.shape):
        return unknown_tensor(t.dtype)
    a = norm_axis(d, len(t.shape))
    if a is None:
        return unknown_tensor(t.dtype)
    out = []
    for i, (x, y) in enumerate(zip(t.shape, index.shape)):
        out.append(y if i == a or x == 1 else x if y == 1 or dims.same(x, y) else None)
    return _like(t, out)


def index_select(call: OpCall):
    t, d, index = _t(call), call.arg(1, "dim"), call.tensor(2, "index")
    if t is None:
        return UNK
    if t.shape is None or index is None or (index.shape is not None and len(index.shape) > 1):
        return unknown_tensor(t.dtype)
    a = norm_axis(d, len(t.shape))
    if a is None:
        return unknown_tensor(t.dtype)
    s = list(t.shape)
    # the index is 1-D (or 0-D, one index) whatever its length: the rank is the input's, and
    # the selected dim unknown where the index's length is (``(skip == 0).nonzero().squeeze()``)
    s[a] = None if index.shape is None else index.shape[0] if index.shape else 1
    return _like(t, s)


def masked_select(call: OpCall):
    t = _t(call)
    return Tensor((None,), t.dtype) if t is not None else UNK


def nonzero(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    if call.kwargs.get("as_tuple") is True:
        return UNK
    return Tensor((None, len(t.shape) if t.shape is not None else None), "long")


def unique(call: OpCall):
    """torch.unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None): as
    many values as the data holds (the dim is unknown); the inverse has x's shape, the counts
    one per value."""
    t = _t(call)
    if t is None:
        return UNK
    inverse = call.arg(2, "return_inverse", False)
    counts = call.arg(3, "return_counts", False)
    d = call.arg(4, "dim", None)
    if not isinstance(inverse, bool) or not isinstance(counts, bool):
        return UNK
    if d is None:
        values = Tensor((None,), t.dtype)
        along = 0
    elif t.shape is None:
        return UNK
    else:
        a = norm_axis(d, len(t.shape))
        if a is None:
            return UNK
        values = Tensor(t.shape[:a] + (None,) + t.shape[a + 1:], t.dtype)
        along = a
    if not inverse and not counts:
        return values
    out = [values]
    if inverse:
        out.append(Tensor(t.shape if d is None else (t.shape[along],), "long"))
    if counts:
        out.append(Tensor((None,), "long"))
    return Seq(out, "tuple")


def unbind(call: OpCall):
    t = _t(call)
    if t is None or t.shape is None:
        return UNK
    d = call.arg(1, "dim", 0)
    a = norm_axis(d, len(t.shape))
    if a is None or not isinstance(t.shape[a], int) or t.shape[a] > 256:
        return UNK
    return Seq([_like(t, t.shape[:a] + t.shape[a + 1:]) for _ in range(t.shape[a])], "tuple")


def size(call: OpCall):
    t = _t(call)
    if t is None:
        return UNK
    d = call.arg(1, "dim")
    if t.shape is None:
        # (*, 256).size(-1) is 256 whatever the rank
        if t.tail and isinstance(d, int) and not isinstance(d, bool) and -len(t.tail) <= d < 0:
            return t.tail[d] if t.tail[d] is not None else NUM
        return NUM if d is not None else UNK
    if d is None:
        return Seq([x if x is not None else NUM for x in t.shape], "size")
    r = len(t.shape)
    if not axis_in_range(call, d, r):
        return UNK
    a = norm_axis(d, r)
    if a is None:
        return NUM
    return t.shape[a] if t.shape[a] is not None else NUM


def numel_(call: OpCall):
    t = _t(call)
    if t is None or t.shape is None:
        return UNK
    n = numel(t.shape)
    return n if n is not None else UNK


def dim_(call: OpCall):
    t = _t(call)
    return len(t.shape) if t is not None and t.shape is not None else UNK


def _equal_dim(a, b):
    """A dim two tensors must share (cat's other dims): what either knows of it, a known
    size before a symbol (the op raises unless they are equal)."""
    if a is None or dims.same(a, b):
        return b if a is None else a
    if b is None:
        return a
    if isinstance(a, int) or isinstance(b, int):
        return a if isinstance(a, int) else b
    return None


def cat(call: OpCall):
    seq = call.arg(0, "tensors")
    d = call.arg(1, "dim", call.kwargs.get("axis", 0))
    if not isinstance(seq, Seq) or not seq.items:
        return UNK
    ts = [x for x in seq.items if isinstance(x, Tensor)]
    if len(ts) != len(seq.items):
        return unknown_tensor(None)
    dtype = ts[0].dtype if all(x.dtype == ts[0].dtype for x in ts) else None
    known = [x for x in ts if x.shape is not None and not (len(x.shape) == 1 and x.shape[0] == 0)]
    if not known:
        return unknown_tensor(dtype)
    r = len(known[0].shape)
    for x in known[1:]:
        if len(x.shape) != r:
            call.conflict("cat_dims", f"{call.name}: tensors of different ranks, {format_shape(known[0].shape)} "
                          f"and {format_shape(x.shape)}", expected=f"rank {r}", got=f"rank {len(x.shape)}")
            return unknown_tensor(dtype)
    if not axis_in_range(call, d, r):
        return unknown_tensor(dtype)
    a = norm_axis(d, r)
    if a is None:
        return unknown_tensor(dtype)
    out = list(known[0].shape)
    for i in range(r):
        if i == a:
            continue
        for x in known[1:]:
            if dims.clash(out[i], x.shape[i]):
                call.conflict("cat_dims", f"{call.name} along dim {a}: dim {i} differs, "
                              f"{format_shape(known[0].shape)} vs {format_shape(x.shape)}",
                              expected=format_shape(known[0].shape), got=format_shape(x.shape))
                return unknown_tensor(dtype)
            out[i] = _equal_dim(out[i], x.shape[i])
    if any(x.shape is None for x in ts):
        out[a] = None
    else:
        # a 1-D empty tensor is skipped, as torch does (a cache's torch.tensor([]) before
        # its first update): it adds nothing along the dim
        total = 0
        for x in known:
            total = dims.add(total, x.shape[a])
        out[a] = total
    return Tensor(tuple(out), dtype)


def stack(call: OpCall):
    seq = call.arg(0, "tensors")
    d = call.arg(1, "dim", 0)
    if not isinstance(seq, Seq) or not seq.items:
        return UNK
    ts = [x for x in seq.items if isinstance(x, Tensor)]
    if len(ts) != len(seq.items):
        return unknown_tensor(None)
    dtype = ts[0].dtype if all(x.dtype == ts[0].dtype for x in ts) else None
    shapes = [x.shape for x in ts]
    if any(s is None for s in shapes):
        base = next((s for s in shapes if s is not None), None)
        if base is None:
            return unknown_tensor(dtype)
        shape = base
    else:
        shape = shapes[0]
        for s in shapes[1:]:
            if len(s) != len(shape) or any(dims.clash(x, y) for x, y in zip(s, shape)):
                call.conflict("cat_dims", f"{call.name}: all tensors must have the same shape, got "
                              f"{format_shape(shapes[0])} and {format_shape(s)}",
                              expected=format_shape(shapes[0]), got=format_shape(s))
                return unknown_tensor(dtype)
            shape = dims.join_shape(shape, s)
    r = len(shape) + 1
    if not axis_in_range(call, d, r):
        return unknown_tensor(dtype)
    a = norm_axis(d, r)
    if a is None:
        return unknown_tensor(dtype)
    s = list(shape)
    s.insert(a, len(ts))
    return Tensor(tuple(s), dtype)


def getitem(call: OpCall):
    """Basic and advanced indexing: ints, slices, None, ..., index tensors, bool masks."""
    from ml_lsp.analysis.interp import SliceVal
    t = _t(call)
    key = call.arg(1)
    if t is None:
        return UNK
    items = list(key.items) if isinstance(key, Seq) and key.kind == "tuple" else [key]
    consumed = 0
    for it in items:
        if it is None or it is Ellipsis:
            continue
        if isinstance(it, Tensor) and it.dtype == "bool":
            if it.shape is None:
                return unknown_tensor(t.dtype)
            consumed += len(it.shape)
        else:
            consumed += 1
    if t.shape is None:
        return unknown_tensor(t.dtype)
    r = len(t.shape)
    n_ell = sum(1 for it in items if it is Ellipsis)
    if n_ell > 1:
        return unknown_tensor(t.dtype)
    if consumed > r:
        call.conflict("dim_out_of_range", f"too many indices ({consumed}) for a tensor of shape {format_shape(t.shape)}",
                      expected=f"at most {r} indices", got=str(consumed))
        return unknown_tensor(t.dtype)
    if n_ell:
        i = items.index(Ellipsis)
        items = items[:i] + [SliceVal(None, None, None)] * (r - consumed) + items[i + 1:]
    else:
        items = items + [SliceVal(None, None, None)] * (r - consumed)
    out = []
    adv_shapes, adv_pos, adv_positions = [], None, []
    pos = 0
    for it in items:
        if it is None:
            out.append(1)
            continue
        if isinstance(it, SliceVal):
            out.append(_slice_len(t.shape[pos], it))
            pos += 1
            continue
        if isinstance(it, Tensor):
            if it.dtype == "bool":
                k = len(it.shape)
                for j in range(k):
                    if dims.clash(it.shape[j], t.shape[pos + j]):
                        call.conflict("broadcast", f"boolean mask of shape {format_shape(it.shape)} does not match "
                                      f"{format_shape(t.shape)}", expected=format_shape(t.shape[pos:pos + k]),
                                      got=format_shape(it.shape))
                        return unknown_tensor(t.dtype)
                adv_shapes.append((None,))
                pos += k
            else:
                if it.dtype == "float":
                    return unknown_tensor(t.dtype)
                adv_shapes.append(it.shape)
                pos += 1
            adv_positions.append(len(out))
            if adv_pos is None:
                adv_pos = len(out)
            out.append("ADV")
            continue
        if isinstance(it, Seq):  # a list index: advanced, shape (len,)
            adv_shapes.append((len(it.items),) if all(isinstance(x, (int, bool)) for x in it.items) else None)
            adv_positions.append(len(out))
            if adv_pos is None:
                adv_pos = len(out)
            out.append("ADV")
            pos += 1
            continue
        d = as_dim(it)
        if d is None and it is not UNK:
            return unknown_tensor(t.dtype)
        size_here = t.shape[pos]
        if isinstance(d, int) and isinstance(size_here, int) and not (-size_here <= d < size_here):
            call.conflict("dim_out_of_range", f"index {d} is out of range for dim {pos} of size {size_here} "
                          f"in {format_shape(t.shape)}", expected=f"index in [{-size_here}, {size_here - 1}]",
                          got=str(d))
            return unknown_tensor(t.dtype)
        pos += 1
    if adv_shapes:
        bshape = ()
        from ml_lsp.analysis.ops import broadcast_shapes
        for s in adv_shapes:
            if s is None:
                return unknown_tensor(t.dtype)
            bshape, mism = broadcast_shapes(bshape, s)
            if bshape is None:
                return unknown_tensor(t.dtype)
        adjacent = adv_positions == list(range(adv_positions[0], adv_positions[0] + len(adv_positions)))
        rest = [d for d in out if d != "ADV"]
        if adjacent:
            before = [d for d in out[:adv_pos] if d != "ADV"]
            after = [d for d in out[adv_pos:] if d != "ADV"]
            out = before + list(bshape) + after
        else:
            out = list(bshape) + rest
    return _like(t, out)


def _slice_len(size, s):
    lo, hi, st = s.lower, s.upper, s.step
    if lo is None and hi is None and (st is None or st == 1):
        return size
    # a bound of unknown value (a numpy cumsum's element: MoE's token_idxs[start:end]) gives
    # a length of unknown value, never the whole dim
    for v in (lo, hi, st):
        if v is not None and as_dim(v) is None:
            return None
    lo, hi, st = as_dim(lo) if lo is not None else None, as_dim(hi) if hi is not None else None, \
        as_dim(st) if st is not None else 1
    if isinstance(size, int) and all(v is None or isinstance(v, int) for v in (lo, hi)) and isinstance(st, int) \
            and st > 0:
        return len(range(*slice(lo, hi, st).indices(size)))
    if st != 1 or size is None:
        return None
    # symbolic: x[:T] on a dim known to be T, x[1:] -> T-1, x[:-1] -> T-1, x[a:b] -> b-a when both known
    if lo is None:
        lo = 0
    if hi is None:
        hi = size
    if isinstance(lo, int) and lo < 0:
        lo = dims.add(size, lo)
    if isinstance(hi, int) and hi < 0:
        hi = dims.add(size, hi)
    if dims.same(hi, size):
        out = dims.sub(hi, lo)
        return out if out is not None and not (isinstance(out, int) and out < 0) else None
    if isinstance(hi, dims.Sym) and lo == 0 and s.upper is not None:
        # buf[:, :T] of a buffer sized for the longest sequence (positional tables, causal
        # masks): T. Only ever a symbol, never an int, so a runtime check cannot contradict it.
        return hi
    return None


RULES = {}
for _name, _rule in {
    "view": view, "reshape": view, "flatten": flatten, "unflatten": unflatten, "permute": permute,
    "transpose": transpose, "swapaxes": transpose, "swapdims": transpose, "movedim": movedim, "moveaxis": movedim,
    "t": t_, "T": big_t, "mT": m_t, "mH": m_t, "H": big_t, "unsqueeze": unsqueeze, "squeeze": squeeze, "expand": expand, "broadcast_to": expand,
    "expand_as": expand_as, "repeat": repeat, "repeat_interleave": repeat_interleave, "contiguous": same,
    "clone": same, "detach": same, "cpu": same, "cuda": same, "requires_grad_": same, "pin_memory": same,
    "to": to, "float": as_dtype("float"), "double": as_dtype("float"), "half": as_dtype("float"),
    "bfloat16": as_dtype("float"), "long": as_dtype("long"), "int": as_dtype(None), "bool": as_dtype("bool"),
    "byte": as_dtype(None), "char": as_dtype(None), "short": as_dtype(None),
    "type": type_, "type_as": to, "chunk": chunk, "split": split,
    "split_with_sizes": split, "unbind": unbind, "unfold": unfold,
    "scatter": scatter, "scatter_": scatter, "scatter_add": scatter, "scatter_add_": scatter,
    "scatter_reduce": scatter, "index_fill": scatter, "index_fill_": scatter, "index_add": scatter,
    "index_add_": scatter, "index_copy": scatter, "index_copy_": scatter, "index_reduce": scatter,
    "index_reduce_": scatter, "index_put": scatter, "index_put_": scatter,
    "masked_scatter_": scatter, "copy_": scatter, "gather": gather, "take_along_dim": take_along_dim,
    "index_select": index_select, "masked_select": masked_select, "nonzero": nonzero, "size": size,
    "numel": numel_, "dim": dim_, "ndimension": dim_, "__getitem__": getitem, "view_as": expand_as,
    "reshape_as": expand_as, "detach_": same, "zero_": same, "fill_": same, "normal_": same, "uniform_": same,
    "bernoulli_": same, "bernoulli": same, "random_": same, "exponential_": same, "cauchy_": same,
    "log_normal_": same, "geometric_": same, "clamp_": same, "copy": same, "share_memory_": same,
}.items():
    RULES[f"torch.Tensor.{_name}"] = _rule
RULES["torch.bernoulli"] = same
# the pre-0.4 wrapper old tutorials still use: Variable(t) is t
RULES["torch.autograd.Variable"] = RULES["torch.autograd.variable.Variable"] = same
for _name in ("reshape", "flatten", "unflatten", "permute", "transpose", "swapaxes", "swapdims", "t",
              "scatter", "scatter_add", "scatter_reduce", "gather", "take_along_dim", "index_select", "masked_select",
              "nonzero", "unsqueeze", "squeeze", "chunk", "split", "split_with_sizes", "unbind", "numel", "clone",
              "detach", "repeat_interleave", "broadcast_to", "movedim", "moveaxis"):
    RULES[f"torch.{_name}"] = RULES[f"torch.Tensor.{_name}"]
RULES["torch.cat"] = RULES["torch.concat"] = RULES["torch.concatenate"] = cat
RULES["torch.unique"] = RULES["torch.Tensor.unique"] = unique
RULES["torch.stack"] = stack
RULES["torch.nn.functional.flatten"] = flatten
