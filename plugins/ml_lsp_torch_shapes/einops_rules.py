"""Rules for einops (``rearrange``, ``reduce``, ``repeat`` and the ``Rearrange``/``Reduce``
layers), which much attention and vision code uses in place of view/permute."""

from __future__ import annotations

import re

from ml_lsp.analysis import dims
from ml_lsp.analysis.einops_pattern import parse_side
from ml_lsp.analysis.ops import UNK, LayerRule, OpCall, Seq, Tensor, as_dim, format_shape, unknown_tensor


def solve(pattern: str, shape, sizes: dict, call: OpCall):
    """Axis sizes from the left side of a pattern; None when it does not fit."""
    lhs, arrow, rhs = pattern.partition("->")
    left, right = parse_side(lhs), parse_side(rhs)
    if left is None or right is None or not arrow:
        return None
    axes = dict(sizes)
    n_ell = 0
    if shape is None:
        return None
    fixed = [g for g in left if g != ["..."]]
    if ["..."] in left:
        n_ell = len(shape) - len(fixed)
        if n_ell < 0:
            return None
    elif len(left) != len(shape):
        call.conflict("einsum_dims", f"{call.name} pattern {lhs.strip()!r} has {len(left)} axes, the tensor "
                      f"{format_shape(shape)} has {len(shape)}", expected=f"rank {len(left)}",
                      got=format_shape(shape))
        return None
    i = 0
    ell = ()
    for g in left:
        if g == ["..."]:
            ell = tuple(shape[i:i + n_ell])
            i += n_ell
            continue
        d = shape[i]
        i += 1
        names = [n for n in g if not n.isdigit()]
        known = dims.product([int(n) if n.isdigit() else axes[n] for n in g if n.isdigit() or n in axes])
        unknown = [n for n in names if n not in axes]
        if len(unknown) == 1:
            if known is None or d is None:
                axes[unknown[0]] = None
            elif isinstance(d, int) and isinstance(known, int):
                if known == 0 or d % known:
                    call.conflict("einsum_dims", f"{call.name}: axis {d} of {format_shape(shape)} does not divide "
                                  f"by {known} for group ({' '.join(g)})", expected=f"multiple of {known}",
                                  got=str(d))
                    return None
                axes[unknown[0]] = d // known
            else:
                q = dims.exact_quotient(d, known) if isinstance(known, dims.Sym) else (
                    dims.floordiv(d, known) if isinstance(known, int) and isinstance(d, dims.Sym)
                    and all(c % known == 0 for c in d.terms.values()) else None)
                axes[unknown[0]] = q
        elif len(unknown) > 1:
            for n in unknown:
                axes[n] = None
        elif known is not None and d is not None and dims.clash(known, d):
            call.conflict("einsum_dims", f"{call.name}: axis ({' '.join(g)}) = {dims.render(known)} but the tensor "
                          f"{format_shape(shape)} has {dims.render(d)}", expected=dims.render(known),
                          got=dims.render(d))
            return None
    return axes, ell, left, right


def _shape_for(x: Tensor, pattern: str):
    """The shape solved against: a tensor of unknown rank whose pattern names every axis
    (no ``...``) has that many, its known trailing dims last (einops raises otherwise);
    with none known (two branches of other ranks joined: FSQ's image input packed to
    ``b n d`` or not), each of them unknown."""
    if x.shape is not None:
        return x.shape
    left = parse_side(pattern.partition("->")[0])
    if left is None or ["..."] in left or len(x.tail or ()) > len(left):
        return None
    tail = tuple(None if dims.mentions_unranked(d) else d for d in x.tail or ())
    return (None,) * (len(left) - len(tail)) + tail


def _compose(right, axes, ell):
    out = []
    for g in right:
        if g == ["..."]:
            out.extend(ell)
            continue
        out.append(dims.product([int(n) if n.isdigit() else axes.get(n) for n in g]) if g else 1)
    return tuple(out)


def _sizes(call: OpCall):
    return {k: as_dim(v) for k, v in call.kwargs.items() if k != "reduction"}


def rearrange(call: OpCall):
    x, pattern = call.arg(0, "tensor"), call.arg(1, "pattern")
    if isinstance(x, Seq) and all(isinstance(t, Tensor) for t in x.items) and x.items:
        # a list of tensors is stacked along a new first axis
        first = x.items[0]
        x = Tensor((len(x.items),) + first.shape if first.shape is not None else None, first.dtype)
    if not isinstance(x, Tensor) or not isinstance(pattern, str):
        return UNK
    found = solve(pattern, _shape_for(x, pattern), _sizes(call), call)
    if found is None:
        return unknown_tensor(x.dtype)
    axes, ell, left, right = found
    return Tensor(_compose(right, axes, ell), x.dtype)


def reduce_(call: OpCall):
    x, pattern = call.arg(0, "tensor"), call.arg(1, "pattern")
    if not isinstance(x, Tensor) or not isinstance(pattern, str):
        return UNK
    found = solve(pattern, _shape_for(x, pattern), _sizes(call), call)
    if found is None:
        return unknown_tensor(x.dtype)
    axes, ell, left, right = found
    return Tensor(_compose(right, axes, ell), x.dtype)


def repeat(call: OpCall):
    x, pattern = call.arg(0, "tensor"), call.arg(1, "pattern")
    if not isinstance(x, Tensor) or not isinstance(pattern, str):
        return UNK
    lhs, _, rhs = pattern.partition("->")
    found = solve(pattern, _shape_for(x, pattern), _sizes(call), call)
    if found is None:
        return unknown_tensor(x.dtype)
    axes, ell, left, right = found
    return Tensor(_compose(right, axes, ell), x.dtype)


def einsum(call: OpCall):
    """``einops.einsum(a, b, "b l d_in, d_in n -> b l n")``: the pattern comes last and its
    axes are words. Each word becomes one letter of a torch.einsum equation."""
    from ml_lsp_torch_shapes.math_ops import einsum as torch_einsum
    if not call.args or not isinstance(call.args[-1], str):
        return UNK
    pattern, tensors = call.args[-1], list(call.args[:-1])
    lhs, arrow, rhs = pattern.partition("->")
    letters: dict = {}
    free = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

    def side(text):
        out = []
        for word in text.split():
            if word == "...":
                out.append("...")
                continue
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", word):
                return None  # a group or a number: not an einsum axis
            if word not in letters:
                letters[word] = next(free, None)
                if letters[word] is None:
                    return None
            out.append(letters[word])
        return "".join(out)

    terms = [side(t) for t in lhs.split(",")]
    out = side(rhs) if arrow else ""
    if any(t is None for t in terms) or out is None:
        return UNK
    inner = OpCall(call.qual, [",".join(terms) + "->" + out] + tensors, {})
    result = torch_einsum(inner)
    names = {v: k for k, v in letters.items()}
    for c in inner.conflicts:
        message = c["message"].replace(repr(inner.args[0]), repr(pattern))
        message = re.sub(r"'([A-Za-z])'", lambda m: repr(names.get(m.group(1), m.group(1))), message)
        call.conflict(c["kind"], message, c["expected"], c["got"], c["fix"])
    return result


def _star(pattern) -> tuple[int, int] | None:
    """``"b * d"`` -> (position of ``*``, number of axes); None for a pattern without
    exactly one ``*`` or with a group (pack/unpack take plain axis names)."""
    if not isinstance(pattern, str) or "(" in pattern:
        return None
    words = pattern.split()
    return (words.index("*"), len(words)) if words.count("*") == 1 else None


def pack(call: OpCall):
    """``einops.pack([a, b], "b * d")`` -> (packed, shapes): the named axes stay, each
    tensor's ``*`` axes are flattened and the tensors joined along that axis."""
    tensors, star = call.arg(0, "tensors"), _star(call.arg(1, "pattern"))
    if not isinstance(tensors, Seq) or star is None or not tensors.items:
        return UNK
    pos, n = star
    after = n - 1 - pos
    kept, stars, dtype = None, [], None
    for t in tensors.items:
        if not isinstance(t, Tensor) or t.shape is None or len(t.shape) < n - 1:
            return Seq([unknown_tensor(getattr(t, "dtype", None)), UNK])
        shape = t.shape
        middle = shape[pos:len(shape) - after]
        outer = shape[:pos] + shape[len(shape) - after:]
        if kept is not None:
            for a, b in zip(kept, outer):
                if dims.clash(a, b):
                    call.conflict("einsum_dims", f"pack: the tensors' axes outside '*' differ: "
                                  f"{format_shape(kept)} and {format_shape(outer)}",
                                  expected=format_shape(kept), got=format_shape(outer))
                    return Seq([unknown_tensor(t.dtype), UNK])
        kept = outer if kept is None else tuple(dims.join_dim(a, b) for a, b in zip(kept, outer))
        stars.append(tuple(middle))
        dtype = t.dtype if dtype is None else dtype
    total = 0
    for middle in stars:
        total = dims.add(total, dims.product(middle)) if total is not None else None
    packed = kept[:pos] + (total,) + kept[pos:]
    return Seq([Tensor(packed, dtype), Seq([Seq(list(m)) for m in stars], "list")])


def unpack(call: OpCall):
    """``einops.unpack(packed, shapes, "b * d")``: one tensor per packed shape."""
    x, shapes, star = call.arg(0, "tensor"), call.arg(1, "packed_shapes"), _star(call.arg(2, "pattern"))
    if not isinstance(x, Tensor) or star is None:
        return UNK
    pos, n = star
    if x.shape is not None and len(x.shape) != n:
        call.conflict("einsum_dims", f"unpack pattern has {n} axes, the tensor {format_shape(x.shape)} has "
                      f"{len(x.shape)}", expected=f"rank {n}", got=format_shape(x.shape))
        return UNK
    if not isinstance(shapes, Seq):
        return UNK
    out = []
    for s in shapes.items:
        if x.shape is None or not isinstance(s, Seq):
            out.append(unknown_tensor(x.dtype))
            continue
        out.append(Tensor(x.shape[:pos] + tuple(as_dim(d) for d in s.items) + x.shape[pos + 1:], x.dtype))
    return Seq(out, "list")


def _layer(fn):
    def forward(layer, call: OpCall):
        x = call.tensor(0)
        if x is None:
            return UNK
        kwargs = {k: v for k, v in layer.args.kwargs.items() if k != "pattern"}
        return fn(OpCall(call.qual, [x, layer["pattern"]], kwargs))
    return LayerRule(params=("pattern", "reduction"), forward=forward, param_count=lambda c: 0)


RULES = {
    "einops.rearrange": rearrange, "einops.reduce": reduce_, "einops.repeat": repeat,
    "einops.einops.rearrange": rearrange,
    "einops.einsum": einsum, "einops.einops.einsum": einsum,
    "einops.pack": pack, "einops.packing.pack": pack, "einops.unpack": unpack, "einops.packing.unpack": unpack,
    "einops.layers.torch.Rearrange": _layer(rearrange),
    "einops.layers.torch.Reduce": LayerRule(
        params=("pattern", "reduction"),
        forward=lambda layer, call: reduce_(OpCall(call.qual, [call.tensor(0) or UNK, layer["pattern"]],
                                                   {k: v for k, v in layer.args.kwargs.items()
                                                    if k not in ("pattern", "reduction")})),
        param_count=lambda c: 0),
}
