"""Rules for ``torch.nn.functional``: the functional twins of the layers (linear, conv,
pools, norms, embedding, activations, dropout), interpolate, pad, pixel_shuffle,
scaled_dot_product_attention, one_hot and the losses."""

from __future__ import annotations

from ml_lsp.analysis import dims
from ml_lsp.analysis.ops import (UNK, OpCall, Seq, Tensor, as_dim, broadcast_shapes, conv_out, conv_transpose_out,
                                 format_shape, norm_axis, same_as_input, tuple_n, unknown_tensor)
from ml_lsp_torch_shapes import shaping

F = "torch.nn.functional."


def _x(call, i=0, name="input"):
    return call.tensor(i, name)


def linear(call: OpCall):
    x, w = _x(call), call.tensor(1, "weight")
    if x is None:
        return UNK
    if w is None or w.shape is None or x.shape is None or len(w.shape) not in (1, 2):
        return unknown_tensor("float")
    fin = w.shape[-1]
    if x.shape and dims.clash(x.shape[-1], fin):
        call.conflict("linear_in_features", f"F.linear: weight {format_shape(w.shape)} expects (*, {dims.render(fin)}), "
                      f"got {format_shape(x.shape)}", expected=f"(*, {dims.render(fin)})", got=format_shape(x.shape))
        return unknown_tensor("float")
    return Tensor(x.shape[:-1] + ((w.shape[0],) if len(w.shape) == 2 else ()), "float")


def _conv_operands(call: OpCall, n: int):
    """(input, weight, None) of a functional convolution over ``n`` spatial dims, or
    (None, None, answer) when their shapes cannot be read."""
    x, w = _x(call), call.tensor(1, "weight")
    if x is None:
        return None, None, UNK
    if w is None or w.shape is None or x.shape is None or len(w.shape) != n + 2 or len(x.shape) not in (n + 1, n + 2):
        return None, None, unknown_tensor("float")
    return x, w, None


def conv(n):
    def rule(call: OpCall):
        x, w, unread = _conv_operands(call, n)
        if unread is not None:
            return unread
        batched = len(x.shape) == n + 2
        groups = as_dim(call.arg(6, "groups", 1))
        cin = x.shape[1] if batched else x.shape[0]
        want = dims.mul(w.shape[1], groups) if groups is not None else None
        if dims.clash(cin, want):
            call.conflict("conv_in_channels", f"F.conv{n}d: weight {format_shape(w.shape)} expects "
                          f"{dims.render(want)} input channels, got {format_shape(x.shape)}",
                          expected=f"(B, {dims.render(want)}, ...)", got=format_shape(x.shape))
            return unknown_tensor("float")
        s = tuple_n(call.arg(3, "stride", 1), n)
        pad = call.arg(4, "padding", 0)
        d = tuple_n(call.arg(5, "dilation", 1), n)
        sp = x.shape[-n:]
        if pad == "same":
            out = list(sp)
        else:
            p = tuple_n(0 if pad == "valid" else pad, n)
            if None in (s, p, d):
                out = [None] * n
            else:
                out = [conv_out(sp[i], w.shape[2 + i], s[i], p[i], d[i]) for i in range(n)]
        lead = (x.shape[0], w.shape[0]) if batched else (w.shape[0],)
        return Tensor(lead + tuple(out), "float")

    def hint(call: OpCall):
        # an input first met here (MS-SSIM's F.conv2d(img, window, groups=channel)): batched,
        # with the channels the weight and groups ask for
        w = call.tensor(1, "weight")
        groups = as_dim(call.arg(6, "groups", 1))
        cin = dims.mul(w.shape[1], groups) if w is not None and w.shape is not None and len(w.shape) == n + 2 \
            and groups is not None else dims.Sym.named("C")
        return (dims.Sym.named("B"), cin) + _SPATIAL[-n:], "float"
    rule.input_hint = hint
    return rule


_SPATIAL = (dims.Sym.named("D"), dims.Sym.named("H"), dims.Sym.named("W"))


def conv_transpose(n):
    """``F.conv_transpose{n}d(input, weight, bias, stride, padding, output_padding, groups,
    dilation)``; the weight is (C_in, C_out / groups, *kernel) (diffusers' FIR upsampler)."""
    def rule(call: OpCall):
        x, w, unread = _conv_operands(call, n)
        if unread is not None:
            return unread
        batched = len(x.shape) == n + 2
        cin = x.shape[1] if batched else x.shape[0]
        if dims.clash(cin, w.shape[0]):
            call.conflict("conv_in_channels", f"F.conv_transpose{n}d: weight {format_shape(w.shape)} expects "
                          f"{dims.render(w.shape[0])} input channels, got {format_shape(x.shape)}",
                          expected=f"(B, {dims.render(w.shape[0])}, ...)", got=format_shape(x.shape))
            return unknown_tensor("float")
        groups = as_dim(call.arg(6, "groups", 1))
        s = tuple_n(call.arg(3, "stride", 1), n)
        p = tuple_n(call.arg(4, "padding", 0), n)
        op = tuple_n(call.arg(5, "output_padding", 0), n)
        d = tuple_n(call.arg(7, "dilation", 1), n)
        sp = x.shape[-n:]
        if None in (s, p, op, d):
            out = [None] * n
        else:
            out = [conv_transpose_out(sp[i], w.shape[2 + i], s[i], p[i], op[i], d[i]) for i in range(n)]
        cout = dims.mul(w.shape[1], groups) if groups is not None else None
        lead = (x.shape[0], cout) if batched else (cout,)
        return Tensor(lead + tuple(out), "float")
    return rule


def pool(n, kind):
    def rule(call: OpCall):
        x = _x(call)
        if x is None:
            return UNK
        if x.shape is None or len(x.shape) not in (n + 1, n + 2):
            return unknown_tensor(x.dtype)
        k = tuple_n(call.arg(1, "kernel_size"), n)
        stride = call.arg(2, "stride")
        s = k if stride is None or (isinstance(stride, Seq) and not stride.items) else tuple_n(stride, n)
        p = tuple_n(call.arg(3, "padding", 0), n)
        d = tuple_n(call.arg(4, "dilation", 1) if kind == "max" else 1, n)
        ceil = call.arg(5 if kind == "max" else 4, "ceil_mode", False)
        if None in (k, s, p, d) or ceil is not False:
            out = [None] * n
        else:
            out = [conv_out(x.shape[-n + i], k[i], s[i], p[i], d[i]) for i in range(n)]
        return Tensor(x.shape[:-n] + tuple(out), x.dtype)
    rule.input_hint = lambda call: ((dims.Sym.named("B"), dims.Sym.named("C")) + _SPATIAL[-n:], "float")
    return rule


def adaptive_pool(n):
    def rule(call: OpCall):
        x = _x(call)
        if x is None:
            return UNK
        if x.shape is None or len(x.shape) not in (n + 1, n + 2):
            return unknown_tensor(x.dtype)
        size = call.arg(1, "output_size")
        items = list(size.items) if isinstance(size, Seq) else [size] * n
        if len(items) != n:
            return unknown_tensor(x.dtype)
        out = [x.shape[-n + i] if v is None else as_dim(v) for i, v in enumerate(items)]
        return Tensor(x.shape[:-n] + tuple(out), x.dtype)
    return rule


def keep(call: OpCall):
    return same_as_input(call)


keep.keeps_shape = True


def glu(call: OpCall):
    x = _x(call)
    if x is None or x.shape is None:
        return unknown_tensor("float")
    a = norm_axis(call.arg(1, "dim", -1), len(x.shape))
    if a is None:
        return unknown_tensor("float")
    s = list(x.shape)
    s[a] = shaping.exact_div(s[a], 2)
    return Tensor(tuple(s), x.dtype)


def layer_norm(call: OpCall):
    x = _x(call)
    ns = call.arg(1, "normalized_shape")
    if x is None:
        return UNK
    shape = [as_dim(v) for v in ns.items] if isinstance(ns, Seq) else None
    if shape is not None and x.shape is not None and len(x.shape) >= len(shape):
        tail = x.shape[len(x.shape) - len(shape):]
        if any(dims.clash(a, b) for a, b in zip(tail, shape)):
            call.conflict("norm_features", f"F.layer_norm{format_shape(tuple(shape))} got {format_shape(x.shape)}",
                          expected=f"(*, {', '.join(dims.render(d) for d in shape)})", got=format_shape(x.shape))
    return Tensor(x.shape, x.dtype)


def embedding(call: OpCall):
    idx, w = _x(call), call.tensor(1, "weight")
    if idx is None or w is None or idx.shape is None or w.shape is None or len(w.shape) != 2:
        return unknown_tensor("float")
    return Tensor(idx.shape + (w.shape[1],), w.dtype)


def one_hot(call: OpCall):
    x = call.tensor(0, "tensor")
    n = call.arg(1, "num_classes", -1)
    if x is None or x.shape is None:
        return unknown_tensor("long")
    d = as_dim(n)
    return Tensor(x.shape + (None if d == -1 else d,), "long")


def resize(x: Tensor, size, scale):
    if x.shape is None or len(x.shape) < 3:
        return unknown_tensor(x.dtype)
    n = len(x.shape) - 2
    if size is not None and size is not UNK:
        s = tuple_n(size, n)
        if s is None:
            return unknown_tensor(x.dtype)
        return Tensor(x.shape[:2] + tuple(s), x.dtype)
    if scale is not None:
        sc = list(scale.items) if isinstance(scale, Seq) else [scale] * n
        out = []
        for d, f in zip(x.shape[2:], sc):
            if isinstance(f, float) and f.is_integer():
                f = int(f)
            if isinstance(f, int) and not isinstance(f, bool):
                out.append(dims.mul(d, f))
            elif isinstance(f, float) and isinstance(d, int):
                import math
                out.append(int(math.floor(d * f)))
            else:
                out.append(None)
        return Tensor(x.shape[:2] + tuple(out), x.dtype)
    return unknown_tensor(x.dtype)


def interpolate(call: OpCall):
    x = _x(call)
    if x is None:
        return UNK
    return resize(x, call.arg(1, "size"), call.arg(2, "scale_factor"))


def pad_shape(x: Tensor, pads):
    if x.shape is None or pads is None or len(pads) % 2 or len(pads) // 2 > len(x.shape):
        return unknown_tensor(x.dtype)
    s = list(x.shape)
    for i in range(len(pads) // 2):
        ax = len(s) - 1 - i
        s[ax] = dims.add(dims.add(s[ax], pads[2 * i]), pads[2 * i + 1])
    return Tensor(tuple(s), x.dtype)


def pad(call: OpCall):
    x = _x(call)
    p = call.arg(1, "pad")
    if x is None:
        return UNK
    if not isinstance(p, Seq):
        return unknown_tensor(x.dtype)
    return pad_shape(x, [as_dim(v) for v in p.items])


def _pixel_shuffle(factor: str, up: bool):
    """pixel_shuffle: (*, C·r², H, W) -> (*, C, H·r, W·r); pixel_unshuffle, its inverse
    (diffusers' DC-AE blocks): (*, C, H·r, W·r) -> (*, C·r², H, W)."""
    def rule(call: OpCall):
        x = _x(call)
        r = as_dim(call.arg(1, factor))
        if x is None:
            return UNK
        if x.shape is None or len(x.shape) < 3 or r is None:
            return unknown_tensor(x.dtype)
        c, h, w = x.shape[-3:]
        rr = dims.mul(r, r)
        out = (shaping.exact_div(c, rr), dims.mul(h, r), dims.mul(w, r)) if up else \
            (dims.mul(c, rr), shaping.exact_div(h, r), shaping.exact_div(w, r))
        return Tensor(x.shape[:-3] + out, x.dtype)
    return rule


pixel_shuffle = _pixel_shuffle("upscale_factor", up=True)
pixel_unshuffle = _pixel_shuffle("downscale_factor", up=False)


def unfold_patches(call: OpCall):
    """F.unfold / nn.Unfold: (N, C, H, W) -> (N, C·kh·kw, L), L the sliding blocks' count
    (each spatial dim as a convolution's output); unbatched (C, H, W) likewise without N."""
    x = _x(call)
    if x is None:
        return UNK
    if x.shape is None or len(x.shape) not in (3, 4):
        return unknown_tensor(x.dtype)
    k = tuple_n(call.arg(1, "kernel_size"), 2)
    d = tuple_n(call.arg(2, "dilation", 1), 2)
    p = tuple_n(call.arg(3, "padding", 0), 2)
    s = tuple_n(call.arg(4, "stride", 1), 2)
    if None in (k, d, p, s):
        return Tensor(x.shape[:-3] + (None, None), x.dtype)
    h, w = (conv_out(x.shape[-2 + i], k[i], s[i], p[i], d[i]) for i in range(2))
    blocks = dims.mul(h, w)
    return Tensor(x.shape[:-3] + (dims.mul(x.shape[-3], dims.mul(k[0], k[1])), blocks), x.dtype)


def fold_patches(call: OpCall):
    """F.fold / nn.Fold: (N, C·kh·kw, L) -> (N, C, *output_size); unbatched likewise."""
    x = _x(call)
    if x is None:
        return UNK
    if x.shape is None or len(x.shape) not in (2, 3):
        return unknown_tensor(x.dtype)
    out = tuple_n(call.arg(1, "output_size"), 2)
    k = tuple_n(call.arg(2, "kernel_size"), 2)
    c = shaping.exact_div(x.shape[-2], dims.mul(k[0], k[1])) if k is not None and None not in k else None
    return Tensor(x.shape[:-2] + (c, *(out if out is not None else (None, None))), x.dtype)


def sdpa(call: OpCall):
    q, k, v = call.tensor(0, "query"), call.tensor(1, "key"), call.tensor(2, "value")
    if q is None:
        return UNK
    if v is None or q.shape is None or v.shape is None or len(q.shape) < 2 or len(v.shape) < 2:
        return unknown_tensor("float")
    if k is not None and k.shape is not None and len(k.shape) >= 2:
        if dims.clash(q.shape[-1], k.shape[-1]):
            call.conflict("matmul_inner", f"scaled_dot_product_attention: query {format_shape(q.shape)} and key "
                          f"{format_shape(k.shape)} differ in the last dim", expected=format_shape(q.shape),
                          got=format_shape(k.shape))
            return unknown_tensor("float")
        if dims.clash(k.shape[-2], v.shape[-2]):
            call.conflict("matmul_inner", f"scaled_dot_product_attention: key {format_shape(k.shape)} and value "
                          f"{format_shape(v.shape)} differ in length", expected=format_shape(k.shape[:-1]),
                          got=format_shape(v.shape[:-1]))
            return unknown_tensor("float")
        for other in (k, v):
            batch, mism = broadcast_shapes(q.shape[:-2], other.shape[:-2])
            if mism is not None:
                call.conflict("broadcast", f"scaled_dot_product_attention: batch dims of query "
                              f"{format_shape(q.shape)} and {format_shape(other.shape)} do not broadcast",
                              expected=format_shape(q.shape[:-2]), got=format_shape(other.shape[:-2]))
                return unknown_tensor("float")
    return Tensor(q.shape[:-1] + (v.shape[-1],), q.dtype)


def mha_functional(call: OpCall):
    """``F.multi_head_attention_forward(query (L, N, E), key (S, N, E), value, E, heads, ...)``
    -> ``(output (L, N, E_out), weights)``: E_out is the out projection's rows (CLIP's
    AttentionPool2d projects to its output_dim); weights are None without need_weights,
    (N, L, S) averaged over heads, (N, heads, L, S) otherwise. Unbatched (L, E) drops N."""
    q, k = call.tensor(0, "query"), call.tensor(1, "key")
    if q is None:
        return UNK
    need = call.arg(15, "need_weights", True)
    avg = call.arg(23, "average_attn_weights", True)
    w_out = call.tensor(11, "out_proj_weight")
    e_out = w_out.shape[0] if w_out is not None and w_out.shape is not None and len(w_out.shape) == 2 else None
    if q.shape is None or len(q.shape) not in (2, 3) or e_out is None:
        return Seq([unknown_tensor(q.dtype), None if need is False else unknown_tensor(q.dtype)], "tuple")
    out = Tensor(q.shape[:-1] + (e_out,), q.dtype)
    if need is False:
        return Seq([out, None], "tuple")
    heads = call.arg(4, "num_heads")
    if k is None or k.shape is None or len(k.shape) != len(q.shape) or avg not in (True, False):
        return Seq([out, unknown_tensor(q.dtype)], "tuple")
    l_, s_ = q.shape[0], k.shape[0]
    batch = (q.shape[1],) if len(q.shape) == 3 else ()
    w = batch + (l_, s_) if avg else batch + (as_dim(heads), l_, s_)
    return Seq([out, Tensor(w, q.dtype)], "tuple")


def cosine_similarity(call: OpCall):
    a, b = _x(call, 0, "x1"), _x(call, 1, "x2")
    if a is None or b is None:
        return UNK
    shape, mism = broadcast_shapes(a.shape, b.shape)
    if mism is not None:
        call.conflict("broadcast", f"cosine_similarity: {format_shape(a.shape)} and {format_shape(b.shape)} do not "
                      f"broadcast", expected=format_shape(a.shape), got=format_shape(b.shape))
        return unknown_tensor("float")
    if shape is None:
        return unknown_tensor("float")
    ax = norm_axis(call.arg(2, "dim", 1), len(shape))
    if ax is None:
        return unknown_tensor("float")
    return Tensor(shape[:ax] + shape[ax + 1:], "float")


def pairwise_distance(call: OpCall):
    a, b = _x(call, 0, "x1"), _x(call, 1, "x2")
    if a is None or b is None:
        return UNK
    shape, mism = broadcast_shapes(a.shape, b.shape)
    if mism is not None:
        call.conflict("broadcast", f"pairwise_distance: {format_shape(a.shape)} and {format_shape(b.shape)} do "
                      f"not broadcast", expected=format_shape(a.shape), got=format_shape(b.shape))
        return unknown_tensor("float")
    if shape is None or not shape:
        return unknown_tensor("float")
    keep = call.arg(4, "keepdim", False)
    return Tensor(shape[:-1] + ((1,) if keep is True else ()), "float")


def affine_grid(call: OpCall):
    size = call.arg(1, "size")
    if not isinstance(size, Seq) or len(size.items) < 3:
        return unknown_tensor("float")
    d = [as_dim(v) for v in size.items]
    return Tensor((d[0],) + tuple(d[2:]) + (len(d) - 2,), "float")


def grid_sample(call: OpCall):
    x, grid = _x(call), call.tensor(1, "grid")
    if x is None:
        return UNK
    if x.shape is None or grid is None or grid.shape is None or len(x.shape) != len(grid.shape):
        return unknown_tensor(x.dtype)
    return Tensor(x.shape[:2] + grid.shape[1:-1], x.dtype)


def _reduced(call, x, default_scalar=True):
    red = call.kwargs.get("reduction", "mean")
    if red == "none":
        return Tensor(x.shape if x is not None else None, "float")
    if red in ("mean", "sum"):
        return Tensor((), "float")
    return unknown_tensor("float")


def cross_entropy(call: OpCall, index_only: bool = False):
    """Class-index targets have the input's shape without the class dim (dim 1, or 0
    unbatched); probability targets have the input's shape. A target of unknown dtype is
    judged by its rank: one less than the input is indices, equal is probabilities.
    ``index_only``: nll_loss takes class indices only; a float target there is a dtype
    mistake (TR018), not a probability target of the wrong shape."""
    x, y = _x(call), call.tensor(1, "target")
    if x is None:
        return UNK
    if x.shape is not None and y is not None and y.shape is not None:
        xs, ys = x.shape, y.shape
        index_shape = (xs[:1] + xs[2:]) if len(xs) >= 2 else ()
        mode = "index" if index_only else {"long": "index", "float": "prob"}.get(y.dtype)
        if mode is None:
            mode = "index" if len(ys) == len(xs) - 1 else ("prob" if len(ys) == len(xs) else None)
        if mode is None:
            call.conflict("cross_entropy_shapes", f"{call.name}: target {format_shape(ys)} fits input "
                          f"{format_shape(xs)} neither as class indices {format_shape(index_shape)} nor as "
                          f"probabilities {format_shape(xs)}", expected=format_shape(index_shape),
                          got=format_shape(ys))
            return Tensor((), "float")
        expect = index_shape if mode == "index" else xs
        if len(ys) != len(expect) or any(dims.clash(a, b) for a, b in zip(ys, expect)):
            what = "class-index target" if mode == "index" else "probability target"
            call.conflict("cross_entropy_shapes", f"{call.name}: input {format_shape(xs)} needs a {what} "
                          f"{format_shape(expect)}, got {format_shape(ys)}",
                          expected=format_shape(expect), got=format_shape(ys))
            return Tensor((), "float")
    red = call.kwargs.get("reduction", "mean")
    if red == "none":
        if x.shape is not None and len(x.shape) >= 2:
            return Tensor(x.shape[:1] + x.shape[2:], "float")
        return unknown_tensor("float")
    return Tensor((), "float")


def nll_loss(call: OpCall):
    return cross_entropy(call, index_only=True)


def pointwise_loss(call: OpCall):
    x, y = _x(call), call.tensor(1, "target")
    if x is None:
        return UNK
    if y is not None and x.shape is not None and y.shape is not None:
        shape, mism = broadcast_shapes(x.shape, y.shape)
        if mism is not None:
            call.conflict("loss_broadcast", f"{call.name}: input {format_shape(x.shape)} and target "
                          f"{format_shape(y.shape)} do not broadcast", expected=format_shape(x.shape),
                          got=format_shape(y.shape))
            return Tensor((), "float")
        if tuple(shape) != tuple(x.shape) or len(x.shape) != len(y.shape):
            if any(dims.clash(a, b) for a, b in zip(x.shape, y.shape)) or len(x.shape) != len(y.shape):
                call.conflict("loss_broadcast", f"{call.name}: input {format_shape(x.shape)} and target "
                              f"{format_shape(y.shape)} differ and would broadcast to {format_shape(shape)}",
                              expected=format_shape(x.shape), got=format_shape(y.shape))
                return Tensor((), "float")
    red = call.kwargs.get("reduction", "mean")
    if red == "none":
        return Tensor(x.shape, "float")
    return Tensor((), "float")


def dropout(call: OpCall):
    return same_as_input(call)


dropout.keeps_shape = True


def normalize(call: OpCall):
    return same_as_input(call)


normalize.keeps_shape = True

RULES = {
    F + "linear": linear, F + "conv1d": conv(1), F + "conv2d": conv(2), F + "conv3d": conv(3),
    F + "conv_transpose1d": conv_transpose(1), F + "conv_transpose2d": conv_transpose(2),
    F + "conv_transpose3d": conv_transpose(3),
    F + "max_pool1d": pool(1, "max"), F + "max_pool2d": pool(2, "max"), F + "avg_pool1d": pool(1, "avg"),
    F + "avg_pool2d": pool(2, "avg"), F + "max_pool3d": pool(3, "max"), F + "avg_pool3d": pool(3, "avg"),
    F + "adaptive_avg_pool1d": adaptive_pool(1), F + "adaptive_avg_pool2d": adaptive_pool(2),
    F + "adaptive_max_pool1d": adaptive_pool(1), F + "adaptive_max_pool2d": adaptive_pool(2),
    F + "adaptive_avg_pool3d": adaptive_pool(3),
    F + "layer_norm": layer_norm, F + "embedding": embedding, F + "one_hot": one_hot,
    F + "interpolate": interpolate, F + "upsample": interpolate, F + "pad": pad, F + "pixel_shuffle": pixel_shuffle,
    F + "scaled_dot_product_attention": sdpa, F + "cosine_similarity": cosine_similarity,
    F + "multi_head_attention_forward": mha_functional,
    F + "cross_entropy": cross_entropy, F + "nll_loss": nll_loss,
    F + "pairwise_distance": pairwise_distance, "torch.pairwise_distance": pairwise_distance,
    F + "glu": glu, F + "affine_grid": affine_grid, F + "grid_sample": grid_sample, F + "normalize": normalize, "torch.cosine_similarity": cosine_similarity,
    F + "pixel_unshuffle": pixel_unshuffle, F + "unfold": unfold_patches, F + "fold": fold_patches,
}
for _n in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "kl_div", "soft_margin_loss"):
    RULES[F + _n] = pointwise_loss
for _n in ("relu", "relu6", "gelu", "silu", "elu", "selu", "celu", "leaky_relu", "sigmoid", "tanh", "softplus",
           "mish", "hardswish", "hardsigmoid", "hardtanh", "logsigmoid", "softsign", "tanhshrink", "threshold",
           "relu_", "elu_", "leaky_relu_", "hardshrink", "softshrink", "rrelu", "prelu"):
    RULES[F + _n] = keep
for _n in ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"):
    RULES[F + _n] = dropout
for _n in ("batch_norm", "instance_norm", "group_norm", "local_response_norm", "rms_norm"):
    RULES[F + _n] = keep
for _n in ("relu", "sigmoid", "tanh", "dropout", "selu", "celu", "rrelu"):
    RULES.setdefault(f"torch.{_n}", keep)
for _n in ("relu", "sigmoid", "tanh"):
    RULES.setdefault(f"torch.Tensor.{_n}", keep)
