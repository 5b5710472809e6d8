"""Rules for ``torch.nn`` modules: constructor parameters, forward shape, parameter count,
signature for hovers and the input a first consumer implies. One ``LayerRule`` each."""

from __future__ import annotations

from ml_lsp.analysis import dims
from ml_lsp.analysis.ops import (UNK, Ctor, LayerRule, LayerSpec, OpCall, Seq, Tensor, as_dim, conv_out,
                                 conv_transpose_out, format_shape, norm_axis, same_as_input, sym, tuple_n, unknown_tensor)
from ml_lsp.analysis.values import Obj
from ml_lsp_torch_shapes import shaping

B, H, W, L, T, D = sym("B"), sym("H"), sym("W"), sym("L"), sym("T"), sym("D")


def _x(call: OpCall, i=0):
    return call.tensor(i)


def _r(d):
    return dims.render(d)


# ---------------------------------------------------------------- linear family

def linear_forward(layer: Ctor, call: OpCall):
    x = _x(call)
    if x is None:
        return UNK
    fin, fout = layer.dim("in_features"), layer.dim("out_features")
    if x.shape is None:
        # of unknown rank, whatever its last dims: the output ends with out_features (a
        # known tail is lifted by the engine, which checks it against in_features)
        return unknown_tensor(x.dtype) if x.tail else Tensor(None, "float", tail=(fout,), vague=True)
    if len(x.shape) == 0:
        call.conflict("linear_in_features", f"Linear({_r(fin)} -> {_r(fout)}) got a 0-d tensor",
                      expected=f"(*, {_r(fin)})", got="()")
        return unknown_tensor(x.dtype)
    last = x.shape[-1]
    if dims.clash(last, fin):
        call.conflict("linear_in_features",
                      f"Linear({_r(fin)} -> {_r(fout)}) expects (*, {_r(fin)}), got {format_shape(x.shape)}",
                      expected=f"(*, {_r(fin)})", got=format_shape(x.shape),
                      fix=("in_features", last) if isinstance(last, int) else None)
        return Tensor(x.shape[:-1] + (fout,), "float")
    return Tensor(x.shape[:-1] + (fout,), "float")


def _linear_params(c: Ctor):
    fin, fout = c.int("in_features"), c.int("out_features")
    if fin is None or fout is None:
        return None
    return fin * fout + (fout if c.get("bias", True) is not False else 0)


Linear = LayerRule(
    params=("in_features", "out_features", "bias", "device", "dtype"), defaults={"bias": True},
    forward=linear_forward, param_count=_linear_params,
    signature=lambda c: (("*", c.dim("in_features")), ("*", c.dim("out_features"))),
    input_hint=lambda c: ((B, c.dim("in_features")), "float") if c.dim("in_features") is not None else None,
    hint_alternatives=lambda c: [((B, T, c.dim("in_features")), "float"), ((c.dim("in_features"),), "float"),
                                 ((B, T, sym("S"), c.dim("in_features")), "float")],
    any_leading_dims=True,
    weights=lambda c: {"weight": (c.dim("out_features"), c.dim("in_features")),
                       "bias": (c.dim("out_features"),) if c.get("bias", True) is not False else None})


def lazy_linear_forward(layer: Ctor, call: OpCall):
    x = _x(call)
    if x is None or x.shape is None or not x.shape:
        return unknown_tensor("float")
    return Tensor(x.shape[:-1] + (layer.dim("out_features"),), "float")


LazyLinear = LayerRule(params=("out_features", "bias"), forward=lazy_linear_forward)


def bilinear_forward(layer: Ctor, call: OpCall):
    x1, x2 = _x(call, 0), _x(call, 1)
    if x1 is None or x2 is None:
        return UNK
    out = layer.dim("out_features")
    for x, name in ((x1, "in1_features"), (x2, "in2_features")):
        want = layer.dim(name)
        if x.shape and dims.clash(x.shape[-1], want):
            call.conflict("linear_in_features", f"Bilinear expects {name}={_r(want)}, got {format_shape(x.shape)}",
                          expected=f"(*, {_r(want)})", got=format_shape(x.shape),
                          fix=(name, x.shape[-1]) if isinstance(x.shape[-1], int) else None)
            return unknown_tensor("float")
    if x1.shape is None:
        return unknown_tensor("float")
    return Tensor(x1.shape[:-1] + (out,), "float")


def _bilinear_params(c):
    a, b, o = c.int("in1_features"), c.int("in2_features"), c.int("out_features")
    if None in (a, b, o):
        return None
    return a * b * o + (o if c.get("bias", True) is not False else 0)


Bilinear = LayerRule(params=("in1_features", "in2_features", "out_features", "bias"), forward=bilinear_forward,
                     param_count=_bilinear_params,
                     input_hints=lambda c: [((B, c.dim("in1_features")), "float"),
                                            ((B, c.dim("in2_features")), "float")],
                     signature=lambda c: (f"(*, {_r(c.dim('in1_features'))}), (*, {_r(c.dim('in2_features'))})",
                                          ("*", c.dim("out_features"))))


# ---------------------------------------------------------------- convolutions and pools

_BATCH_NAMES = {"b", "batch", "batch_size", "bs", "bsz", "n_batch", "nbatch"}


def _names_a_batch(d) -> bool:
    """A symbolic dim whose name says it is the batch (``batch_size``, ``B``)."""
    return isinstance(d, dims.Sym) and str(d).lower() in _BATCH_NAMES


def _spatial_check(call, x, n, what):
    """x must be (B, C, *n spatial) or unbatched (C, *n). Returns batched flag or None."""
    if x.shape is None:
        return None
    r = len(x.shape)
    if r == n + 2:
        return True
    if r == n + 1:
        return False
    call.conflict("input_rank", f"{what} expects a {n + 1}-D (unbatched) or {n + 2}-D (batched) input, "
                  f"got {format_shape(x.shape)}", expected=f"{n + 2}-D", got=format_shape(x.shape))
    return "bad"


def conv_rule(n: int, transpose=False):
    params = ("in_channels", "out_channels", "kernel_size", "stride", "padding") + (
        ("output_padding", "groups", "bias", "dilation", "padding_mode") if transpose else
        ("dilation", "groups", "bias", "padding_mode"))
    defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True, "output_padding": 0}
    name = f"Conv{'Transpose' if transpose else ''}{n}d"

    def forward(layer: Ctor, call: OpCall):
        x = _x(call)
        if x is None:
            return UNK
        batched = _spatial_check(call, x, n, name)
        cin, cout = layer.dim("in_channels"), layer.dim("out_channels")
        if batched is None:
            # of unknown rank ((C, H, W) or (B, C, H, W)): the output ends with the out
            # channels and n sizes, whichever (what a stage the engine could not follow gave)
            return unknown_tensor("float") if x.tail else Tensor(None, "float", tail=(cout,) + (None,) * n, vague=True)
        if batched == "bad":
            return unknown_tensor("float")
        c = x.shape[1] if batched else x.shape[0]
        if not batched and _names_a_batch(c):
            # (batch_size, sequence_length, hidden_size) from a wrong docstring (diffusers'
            # ControlNet documents its image as that) read as unbatched (C, H, W): the rank is
            # someone's mistake, not a fact, so the output is unknown rather than made up
            return unknown_tensor("float")
        if dims.clash(c, cin):
            call.conflict("conv_in_channels", f"{name}({_r(cin)} -> {_r(cout)}) expects {_r(cin)} input channels, "
                          f"got {format_shape(x.shape)}",
                          expected=f"(B, {_r(cin)}, ...)", got=format_shape(x.shape),
                          fix=("in_channels", c) if isinstance(c, int) else None)
        spatial = x.shape[-n:]
        k = tuple_n(layer["kernel_size"], n)
        s = tuple_n(layer["stride"], n)
        d = tuple_n(layer["dilation"], n)
        pad = layer["padding"]
        out_sp = []
        if isinstance(pad, str):
            if pad == "same" and not transpose:
                out_sp = list(spatial)
            elif pad == "valid":
                pad = 0
            else:
                return unknown_tensor("float")
        if not out_sp:
            p = tuple_n(pad, n)
            if None in (k, s, d, p) or k is None:
                out_sp = [None] * n
            elif transpose:
                op = tuple_n(layer["output_padding"], n) or [None] * n
                out_sp = [conv_transpose_out(spatial[i], k[i], s[i], p[i], op[i], d[i]) for i in range(n)]
            else:
                out_sp = [conv_out(spatial[i], k[i], s[i], p[i], d[i]) for i in range(n)]
        for i, o in enumerate(out_sp):
            if isinstance(o, int) and o <= 0:
                call.conflict("spatial_nonpositive", f"{name}: input {format_shape(x.shape)} is too small for "
                              f"kernel {_r(k[i]) if k else '?'} (output size {o})", expected="output size >= 1",
                              got=str(o))
                return unknown_tensor("float")
        lead = (x.shape[0], cout) if batched else (cout,)
        return Tensor(lead + tuple(out_sp), "float")

    def param_count(c: Ctor):
        cin, cout, g = c.int("in_channels"), c.int("out_channels"), c.int("groups")
        k = tuple_n(c["kernel_size"], n)
        if None in (cin, cout, g) or k is None or any(not isinstance(x, int) for x in k):
            return None
        kk = 1
        for x in k:
            kk *= x
        w = (cin // g) * cout * kk if not transpose else cin * (cout // g) * kk
        return w + (cout if c.get("bias", True) is not False else 0)

    def hint(c: Ctor):
        cin = c.dim("in_channels")
        if cin is None:
            return None
        sp = {1: (L,), 2: (H, W), 3: (D, H, W)}[n]
        return (B, cin) + sp, "float"

    def weights(c: Ctor):
        k = tuple_n(c["kernel_size"], n) or [None] * n
        g = c.dim("groups") or 1
        cin, cout = c.dim("in_channels"), c.dim("out_channels")
        w = (cout, dims.floordiv(cin, g)) + tuple(k) if not transpose else (cin, dims.floordiv(cout, g)) + tuple(k)
        return {"weight": w, "bias": (cout,) if c.get("bias", True) is not False else None}

    def unbatched(c: Ctor):
        h = hint(c)
        return [((h[0][1:]), "float")] if h else []

    sp_names = {1: "L", 2: "H, W", 3: "D, H, W"}[n]
    return LayerRule(params=params, defaults=defaults, forward=forward, param_count=param_count,
                     hint_alternatives=unbatched,
                     signature=lambda c: (f"(B, {_r(c.dim('in_channels'))}, {sp_names})",
                                          f"(B, {_r(c.dim('out_channels'))}, {sp_names}')"),
                     input_hint=hint, weights=weights)


def pool_rule(n: int, kind: str):
    if kind == "max":
        params = ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode")
    else:
        params = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
    defaults = {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False}
    name = f"{'Max' if kind == 'max' else 'Avg'}Pool{n}d"

    def forward(layer: Ctor, call: OpCall):
        x = _x(call)
        if x is None:
            return UNK
        batched = _spatial_check(call, x, n, name)
        if batched is None or batched == "bad":
            return unknown_tensor(x.dtype)
        k = tuple_n(layer["kernel_size"], n)
        stride = layer["stride"]
        s = k if stride is None else tuple_n(stride, n)
        p = tuple_n(layer["padding"], n)
        d = tuple_n(layer.get("dilation", 1), n)
        ceil = layer.get("ceil_mode", False)
        out = []
        for i in range(n):
            L_ = x.shape[-n + i]
            if None in (k, s, p, d) or ceil is not False:
                if ceil is True and k and s and p and d and all(isinstance(v, int) for v in
                                                                 (L_, k[i], s[i], p[i], d[i])):
                    num = L_ + 2 * p[i] - d[i] * (k[i] - 1) - 1
                    o = -(-num // s[i]) + 1
                    if (o - 1) * s[i] >= L_ + p[i]:
                        o -= 1
                    out.append(o)
                else:
                    out.append(None)
                continue
            out.append(conv_out(L_, k[i], s[i], p[i], d[i]))
        for o in out:
            if isinstance(o, int) and o <= 0:
                call.conflict("spatial_nonpositive", f"{name}: input {format_shape(x.shape)} is too small "
                              f"(output size {o})", expected="output size >= 1", got=str(o))
                return unknown_tensor(x.dtype)
        t = Tensor(x.shape[:-n] + tuple(out), x.dtype)
        if layer.get("return_indices") is True:
            return Seq([t, Tensor(t.shape, "long")], "tuple")
        return t

    return LayerRule(params=params, defaults=defaults, forward=forward, param_count=lambda c: 0,
                     signature=lambda c: (f"(B, C, {'L' if n == 1 else 'H, W'})", f"(B, C, {'L' if n == 1 else 'H, W'}')"))


def adaptive_pool_rule(n: int, kind: str):
    def forward(layer: Ctor, call: OpCall):
        x = _x(call)
        if x is None:
            return UNK
        batched = _spatial_check(call, x, n, f"Adaptive{kind}Pool{n}d")
        # of unknown rank with n sizes or more known at its end ((*, 1280, ?, ?)): the last n
        # are the output size's, whatever the rank
        known = x.tail if batched is None and x.tail and len(x.tail) >= n else x.shape
        if known is None or batched == "bad":
            return unknown_tensor(x.dtype)
        size = layer["output_size"]
        if isinstance(size, Seq):
            items = list(size.items)
            if len(items) != n:
                return unknown_tensor(x.dtype)
        else:
            items = [size] * n
        out = []
        for i, v in enumerate(items):
            out.append(known[-n + i] if v is None else as_dim(v))
        if batched is None:
            return Tensor(None, x.dtype, tail=tuple(known[:-n]) + tuple(out), star_of=x.star_of, vague=x.vague)
        t = Tensor(x.shape[:-n] + tuple(out), x.dtype)
        if layer.get("return_indices") is True:
            return Seq([t, Tensor(t.shape, "long")], "tuple")
        return t
    return LayerRule(params=("output_size", "return_indices"), forward=forward, param_count=lambda c: 0)


# ---------------------------------------------------------------- normalization

def batchnorm_rule(n: int, name="BatchNorm", affine_default=True):
    ranks = {1: (2, 3), 2: (4,), 3: (5,)}[n]
    if name == "InstanceNorm":
        ranks = {1: (2, 3), 2: (3, 4), 3: (4, 5)}[n]

    def forward(layer: Ctor, call: OpCall):
        x = _x(call)
        if x is None:
            return UNK
        if x.shape is None:
            # a norm keeps the shape, the known last dims of one of unknown rank too
            return Tensor(None, x.dtype, tail=x.tail, star_of=x.star_of, vague=x.vague) if x.tail \
                else unknown_tensor(x.dtype)
        nf = layer.dim("num_features")
        if len(x.shape) not in ranks:
            call.conflict("input_rank", f"{name}{n}d expects a {' or '.join(f'{r}-D' for r in ranks)} input, got "
                          f"{format_shape(x.shape)}", expected=" or ".join(f"{r}-D" for r in ranks),
                          got=format_shape(x.shape))
            return unknown_tensor(x.dtype)
        c = x.shape[1] if not (name == "InstanceNorm" and len(x.shape) == ranks[0] and n > 1) else x.shape[0]
        if dims.clash(c, nf):
            call.conflict("norm_features", f"{name}{n}d({_r(nf)}) expects {_r(nf)} channels at dim 1, got "
                          f"{format_shape(x.shape)}", expected=f"(B, {_r(nf)}, ...)", got=format_shape(x.shape),
                          fix=("num_features", c) if isinstance(c, int) else None)
        return Tensor(x.shape, x.dtype)

    def params(c):
        nf = c.int("num_features")
        if nf is None:
            return None
        return 2 * nf if c.get("affine", affine_default) is not False else 0

    return LayerRule(params=("num_features", "eps", "momentum", "affine", "track_running_stats"),
                     defaults={"affine": affine_default}, forward=forward, param_count=params, keeps_shape=True,
                     signature=lambda c: (f"(B, {_r(c.dim('num_features'))}, ...)",
                                          f"(B, {_r(c.dim('num_features'))}, ...)"),
                     input_hint=lambda c: ((B, c.dim("num_features")) + ((H, W) if n == 2 else ()), "float")
                     if c.dim("num_features") is not None and n == 2 else None,
                     weights=lambda c: {"weight": (c.dim("num_features"),), "bias": (c.dim("num_features"),)})


def _normalized_shape(c: Ctor):
    ns = c["normalized_shape"]
    if isinstance(ns, Seq):
        return tuple(as_dim(v) for v in ns.items)
    d = as_dim(ns)
    return (d,) if (d is not None or ns is UNK) else None


def layernorm_forward(layer: Ctor, call: OpCall):
    x = _x(call)
    if x is None:
        return UNK
    ns = _normalized_shape(layer)
    if x.shape is not None and ns is not None:
        if len(x.shape) < len(ns):
            call.conflict("norm_features", f"{call.name}{format_shape(ns)} needs at least {len(ns)} dims, got "
                          f"{format_shape(x.shape)}", expected=f"(*, {', '.join(_r(d) for d in ns)})",
                          got=format_shape(x.shape))
            return unknown_tensor(x.dtype)
        tail = x.shape[len(x.shape) - len(ns):]
        for a, b in zip(tail, ns):
            if dims.clash(a, b):
                call.conflict("norm_features", f"{call.name}({', '.join(_r(d) for d in ns)}) expects "
                              f"(*, {', '.join(_r(d) for d in ns)}), got {format_shape(x.shape)}",
                              expected=f"(*, {', '.join(_r(d) for d in ns)})", got=format_shape(x.shape),
                              fix=("normalized_shape", tail[0]) if len(ns) == 1 and isinstance(tail[0], int) else None)
                break
    return Tensor(x.shape, x.dtype)


def _layernorm_params(c: Ctor):
    ns = _normalized_shape(c)
    if ns is None or any(not isinstance(d, int) for d in ns):
        return None
    n = 1
    for d in ns:
        n *= d
    affine = c.get("elementwise_affine", True) is not False
    bias = c.get("bias", True) is not False
    return (n + (n if bias else 0)) if affine else 0


def _layernorm_hints(c: Ctor):
    ns = _normalized_shape(c)
    if ns is None:
        return []
    return [((B, T) + tuple(ns), "float"), ((B,) + tuple(ns), "float")]


LayerNorm = LayerRule(params=("normalized_shape", "eps", "elementwise_affine", "bias"),
                      defaults={"elementwise_affine": True, "bias": True}, forward=layernorm_forward,
                      input_hint=lambda c: (_layernorm_hints(c) or [None])[0],
                      hint_alternatives=lambda c: _layernorm_hints(c)[1:],
                      any_leading_dims=True,
                      param_count=_layernorm_params, keeps_shape=True,
                      signature=lambda c: (f"(*, {', '.join(_r(d) for d in (_normalized_shape(c) or ()))})",
                                           f"(*, {', '.join(_r(d) for d in (_normalized_shape(c) or ()))})"),
                      weights=lambda c: {"weight": _normalized_shape(c), "bias": _normalized_shape(c)})

RMSNorm = LayerRule(params=("normalized_shape", "eps", "elementwise_affine"),
                    defaults={"elementwise_affine": True, "bias": False}, forward=layernorm_forward,
                    param_count=lambda c: (lambda n: None if n is None else n // 1)(
                        _layernorm_params(Ctor(LayerNorm, c.args))) if c.get("elementwise_affine", True) is not False
                    else 0,
                    keeps_shape=True)


def _rmsnorm_params(c: Ctor):
    ns = _normalized_shape(c)
    if ns is None or any(not isinstance(d, int) for d in ns):
        return None
    n = 1
    for d in ns:
        n *= d
    return n if c.get("elementwise_affine", True) is not False else 0


RMSNorm.param_count = _rmsnorm_params


def groupnorm_forward(layer: Ctor, call: OpCall):
    x = _x(call)
    if x is None:
        return UNK
    if x.shape is not None and len(x.shape) >= 2:
        c, nc = x.shape[1], layer.dim("num_channels")
        if dims.clash(c, nc):
            call.conflict("norm_features", f"GroupNorm({_r(layer.dim('num_groups'))}, {_r(nc)}) expects {_r(nc)} "
                          f"channels at dim 1, got {format_shape(x.shape)}", expected=f"(B, {_r(nc)}, ...)",
                          got=format_shape(x.shape), fix=("num_channels", c) if isinstance(c, int) else None)
    return Tensor(x.shape, x.dtype)


GroupNorm = LayerRule(params=("num_groups", "num_channels", "eps", "affine"), defaults={"affine": True},
                      forward=groupnorm_forward, keeps_shape=True,
                      param_count=lambda c: (2 * c.int("num_channels") if c.get("affine", True) is not False else 0)
                      if c.int("num_channels") is not None else None,
                      signature=lambda c: (f"(B, {_r(c.dim('num_channels'))}, ...)",
                                           f"(B, {_r(c.dim('num_channels'))}, ...)"))


# ---------------------------------------------------------------- embedding

def embedding_forward(layer: Ctor, call: OpCall):
    x = _x(call)
    if x is None:
        return UNK
    if x.dtype == "float" and not (x.origin or "").startswith("input"):
        call.conflict("embedding_input", f"Embedding expects integer indices, got a float tensor "
                      f"{format_shape(x.shape)}", expected="long indices", got=f"float {format_shape(x.shape)}")
    d = layer.dim("embedding_dim")
    if x.shape is None:
        return Tensor(None, "float", tail=tuple(x.tail or ()) + (d,), vague=x.vague or not x.tail)  # any indices, then d
    return Tensor(x.shape + (d,), "float")


Embedding = LayerRule(params=("num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type",
                              "scale_grad_by_freq", "sparse"), forward=embedding_forward,
                      param_count=lambda c: c.int("num_embeddings") * c.int("embedding_dim")
                      if c.int("num_embeddings") is not None and c.int("embedding_dim") is not None else None,
                      signature=lambda c: ("(*) long", ("*", c.dim("embedding_dim"))),
                      input_hint=lambda c: ((B, T), "long"),
                      hint_alternatives=lambda c: [((B,), "long"), ((B, T, sym("S")), "long")],
                      weights=lambda c: {"weight": (c.dim("num_embeddings"), c.dim("embedding_dim"))})


# ---------------------------------------------------------------- recurrent

def rnn_rule(kind: str):
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
    if kind == "RNN":
        params = ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first", "dropout",
                  "bidirectional")
    else:
        params = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
                  "proj_size")
    defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0, "bidirectional": False,
                "proj_size": 0, "nonlinearity": "tanh"}

    def forward(layer: Ctor, call: OpCall):
        x = call.arg(0, "input")
        packed = isinstance(x, Obj) and x.name == "packed_sequence"
        if packed:
            out = forward(_with(layer, batch_first=True), OpCall(call.qual, [x.attrs["padded"]]))
            if isinstance(out, Seq) and out.items and isinstance(out.items[0], Tensor):
                out.items[0] = _packed(Tensor((out.items[0].shape or (None, None, None))[:1] + (None,) +
                                              (out.items[0].shape or (None, None, None))[2:], "float"))
            return out
        x = _x(call)
        if x is None:
            return UNK
        hid = layer.dim("hidden_size")
        proj = layer.get("proj_size", 0)
        hout = as_dim(proj) if proj not in (0, None) else hid
        nl = layer.dim("num_layers")
        bf = layer.get("batch_first", False)
        bi = layer.get("bidirectional", False)
        nd = 2 if bi is True else (1 if bi is False else None)
        insz = layer.dim("input_size")
        h_out = dims.mul(nd, hout) if nd is not None else None
        if x.shape is None:
            out = unknown_tensor("float")
            return Seq([out, Seq([unknown_tensor("float"), unknown_tensor("float")]) if kind == "LSTM"
                        else unknown_tensor("float")], "tuple")
        if len(x.shape) not in (2, 3):
            call.conflict("input_rank", f"{kind} expects a 2-D or 3-D input, got {format_shape(x.shape)}",
                          expected="(T, B, input_size)", got=format_shape(x.shape))
            return UNK
        if dims.clash(x.shape[-1], insz):
            call.conflict("rnn_input_size", f"{kind}(input_size={_r(insz)}) got {format_shape(x.shape)}",
                          expected=f"(..., {_r(insz)})", got=format_shape(x.shape),
                          fix=("input_size", x.shape[-1]) if isinstance(x.shape[-1], int) else None)
        layers = dims.mul(nd, nl) if nd is not None else None
        hx = call.arg(1, "hx")
        if hx is not None:
            _check_hidden(call, kind, x, hx, layers, hout, hid, bf)
        if len(x.shape) == 2:
            out = Tensor((x.shape[0], h_out), "float")
            h = Tensor((layers, hout), "float")
            c = Tensor((layers, hid), "float")
        else:
            if bf is True:
                n, t = x.shape[0], x.shape[1]
                out = Tensor((n, t, h_out), "float")
            elif bf is False:
                t, n = x.shape[0], x.shape[1]
                out = Tensor((t, n, h_out), "float")
            else:
                n = None
                out = Tensor((None, None, h_out), "float")
            h = Tensor((layers, n, hout), "float")
            c = Tensor((layers, n, hid), "float")
        if kind == "LSTM":
            return Seq([out, Seq([h, c], "tuple")], "tuple")
        return Seq([out, h], "tuple")

    def param_count(c: Ctor):
        ins, hid, nl = c.int("input_size"), c.int("hidden_size"), c.int("num_layers")
        bi, bias = c.get("bidirectional", False), c.get("bias", True)
        if None in (ins, hid, nl) or bi not in (True, False) or c.get("proj_size", 0) not in (0, None):
            return None
        nd = 2 if bi else 1
        total = 0
        for layer_i in range(nl):
            inp = ins if layer_i == 0 else hid * nd
            per = gates * hid * (inp + hid) + (2 * gates * hid if bias is not False else 0)
            total += per * nd
        return total

    def hint(c: Ctor):
        ins, bf = c.dim("input_size"), c.get("batch_first", False)
        if ins is None or bf not in (True, False):
            return None
        return ((B, T, ins) if bf else (T, B, ins)), "float"

    def unbatched_seq(c: Ctor):
        ins = c.dim("input_size")
        return [((T, ins), "float")] if ins is not None else []

    return LayerRule(params=params, defaults=defaults, forward=forward, param_count=param_count, input_hint=hint,
                     hint_alternatives=unbatched_seq,
                     signature=lambda c: (f"({'B, T' if c.get('batch_first') is True else 'T, B'}, "
                                          f"{_r(c.dim('input_size'))})",
                                          f"({'B, T' if c.get('batch_first') is True else 'T, B'}, "
                                          f"{'2*' if c.get('bidirectional') is True else ''}"
                                          f"{_r(c.dim('hidden_size'))})"))


def _with(layer: Ctor, **values) -> Ctor:
    c = Ctor(layer.rule, layer.args)
    c.values.update(values)
    return c


def _packed(padded_batch_first: Tensor) -> Obj:
    """A PackedSequence, kept as its padded batch-first view (time length unknown)."""
    return Obj({"padded": padded_batch_first}, "packed_sequence")


def pack_padded_sequence(call: OpCall):
    x = call.tensor(0, "input")
    bf = call.arg(2, "batch_first", False)
    if x is None or x.shape is None or len(x.shape) < 2 or bf not in (True, False):
        return UNK
    n = x.shape[0] if bf else x.shape[1]
    return _packed(Tensor((n, None) + x.shape[2:], x.dtype))


def pad_packed_sequence(call: OpCall):
    p = call.arg(0, "sequence")
    bf = call.arg(1, "batch_first", False)
    if not (isinstance(p, Obj) and p.name == "packed_sequence") or bf not in (True, False):
        return UNK
    t = p.attrs["padded"]
    if t.shape is None:
        return UNK
    n, rest = t.shape[0], t.shape[2:]
    padded = Tensor((n, None) + rest if bf else (None, n) + rest, t.dtype)
    return Seq([padded, Tensor((n,), "long")], "tuple")


def _check_hidden(call, kind, x, hx, layers, hout, hid, bf):
    """h0 (and c0) must be (D*num_layers, N, H_out) — (D*num_layers, H_out) unbatched."""
    states = list(hx.items) if kind == "LSTM" and isinstance(hx, Seq) else [hx]
    sizes = [hout, hid] if kind == "LSTM" else [hout]
    batched = len(x.shape) == 3
    n = None
    if batched:
        n = x.shape[0] if bf is True else (x.shape[1] if bf is False else None)
    for name, st, h in zip(("h0", "c0"), states, sizes):
        if not isinstance(st, Tensor) or st.shape is None:
            continue
        want = (layers, n, h) if batched else (layers, h)
        if len(st.shape) != len(want) or any(dims.clash(a, b) for a, b in zip(st.shape, want)):
            call.conflict("rnn_hidden_shape", f"{kind}: initial state {name} should be "
                          f"{format_shape(want)}, got {format_shape(st.shape)}", expected=format_shape(want),
                          got=format_shape(st.shape))
            return


def cell_rule(kind: str):
    gates = {"RNNCell": 1, "GRUCell": 3, "LSTMCell": 4}[kind]

    def forward(layer: Ctor, call: OpCall):
        x = _x(call)
        if x is None:
            return UNK
        hid = layer.dim("hidden_size")
        if x.shape is None:
            return unknown_tensor("float")
        if x.shape and dims.clash(x.shape[-1], layer.dim("input_size")):
            call.conflict("rnn_input_size", f"{kind}(input_size={_r(layer.dim('input_size'))}) got "
                          f"{format_shape(x.shape)}", expected=f"(B, {_r(layer.dim('input_size'))})",
                          got=format_shape(x.shape))
        h = Tensor(x.shape[:-1] + (hid,), "float")
        if kind == "LSTMCell":
            return Seq([h, Tensor(h.shape, "float")], "tuple")
        return h

    def param_count(c):
        ins, hid = c.int("input_size"), c.int("hidden_size")
        if None in (ins, hid):
            return None
        return gates * hid * (ins + hid) + (2 * gates * hid if c.get("bias", True) is not False else 0)

    return LayerRule(params=("input_size", "hidden_size", "bias"), forward=forward, param_count=param_count)


# ---------------------------------------------------------------- attention / transformer

def mha_forward(layer: Ctor, call: OpCall):
    q = call.tensor(0, "query")
    k = call.tensor(1, "key")
    v = call.tensor(2, "value")
    if q is None:
        return UNK
    e = layer.dim("embed_dim")
    bf = layer.get("batch_first", False)
    need = call.arg(4, "need_weights", True)
    avg = call.arg(6, "average_attn_weights", True)
    heads = layer.dim("num_heads")
    if q.shape is None:
        return Seq([unknown_tensor("float"), unknown_tensor("float") if need is not False else None], "tuple")
    if dims.clash(q.shape[-1], e):
        call.conflict("mha_embed_dim", f"MultiheadAttention(embed_dim={_r(e)}) got query {format_shape(q.shape)}",
                      expected=f"(..., {_r(e)})", got=format_shape(q.shape),
                      fix=("embed_dim", q.shape[-1]) if isinstance(q.shape[-1], int) else None)
    out = Tensor(q.shape[:-1] + (e,), "float")
    if need is False:
        return Seq([out, None], "tuple")
    if need is not True:
        return Seq([out, unknown_tensor("float")], "tuple")
    if len(q.shape) == 3 and k is not None and k.shape is not None and len(k.shape) == 3 and bf in (True, False):
        n, l_ = (q.shape[0], q.shape[1]) if bf else (q.shape[1], q.shape[0])
        s = k.shape[1] if bf else k.shape[0]
        w = Tensor((n, l_, s), "float") if avg is True else (Tensor((n, heads, l_, s), "float") if avg is False
                                                             else unknown_tensor("float"))
        return Seq([out, w], "tuple")
    return Seq([out, unknown_tensor("float")], "tuple")


def _mha_hints(c: Ctor):
    bf = c.get("batch_first", False)
    if bf not in (True, False):
        return []
    e = c.dim("embed_dim")
    kd = e if c.get("kdim") is None else c.dim("kdim")
    vd = e if c.get("vdim") is None else c.dim("vdim")
    S = sym("S")
    q = (B, L, e) if bf else (L, B, e)
    k = (B, S, kd) if bf else (S, B, kd)
    v = (B, S, vd) if bf else (S, B, vd)
    return [(q, "float"), (k, "float"), (v, "float")]


def _mha_params(c: Ctor):
    e = c.int("embed_dim")
    if e is None or c.get("kdim") not in (None, e) or c.get("vdim") not in (None, e):
        return None
    bias = c.get("bias", True) is not False
    return 3 * e * e + (3 * e if bias else 0) + e * e + (e if bias else 0) + (
        2 * e if c.get("add_bias_kv") is True else 0)


MultiheadAttention = LayerRule(
    params=("embed_dim", "num_heads", "dropout", "bias", "add_bias_kv", "add_zero_attn", "kdim", "vdim",
            "batch_first"), defaults={"batch_first": False, "bias": True},
    forward=mha_forward, param_count=_mha_params, input_hints=lambda c: _mha_hints(c),
    signature=lambda c: (f"({'B, L' if c.get('batch_first') is True else 'L, B'}, {_r(c.dim('embed_dim'))})",
                         f"({'B, L' if c.get('batch_first') is True else 'L, B'}, {_r(c.dim('embed_dim'))})"))


def encoder_layer_forward(layer: Ctor, call: OpCall):
    x = _x(call)
    if x is None:
        return UNK
    d = layer.dim("d_model")
    if x.shape is not None and x.shape and dims.clash(x.shape[-1], d):
        call.conflict("mha_embed_dim", f"{call.name}(d_model={_r(d)}) got {format_shape(x.shape)}",
                      expected=f"(..., {_r(d)})", got=format_shape(x.shape),
                      fix=("d_model", x.shape[-1]) if isinstance(x.shape[-1], int) else None)
    return Tensor(x.shape, "float")


def _enc_layer_params(c: Ctor, decoder=False):
    d, ff = c.int("d_model"), c.int("dim_feedforward")
    if d is None or ff is None:
        return None
    attn = 4 * d * d + 4 * d
    n_attn, n_norm = (2, 3) if decoder else (1, 2)
    return n_attn * attn + (d * ff + ff) + (ff * d + d) + n_norm * 2 * d


_ENC_PARAMS = ("d_model", "nhead", "dim_feedforward", "dropout", "activation", "layer_norm_eps", "batch_first",
               "norm_first", "bias")


def _enc_layer_submodules(c: Ctor, decoder=False):
    d, ff = c.get("d_model"), c.get("dim_feedforward", 2048)
    attn = LayerSpec("torch.nn.MultiheadAttention", [d, c.get("nhead")],
                     {"dropout": c.get("dropout", 0.1), "batch_first": c.get("batch_first", False)})
    out = {"self_attn": attn, "linear1": LayerSpec("torch.nn.Linear", [d, ff]),
           "linear2": LayerSpec("torch.nn.Linear", [ff, d])}
    for i in (1, 2, 3) if decoder else (1, 2):
        out[f"norm{i}"] = LayerSpec("torch.nn.LayerNorm", [d], {"eps": c.get("layer_norm_eps", 1e-5)})
        out[f"dropout{i}"] = LayerSpec("torch.nn.Dropout", [c.get("dropout", 0.1)])
    out["dropout"] = LayerSpec("torch.nn.Dropout", [c.get("dropout", 0.1)])
    if decoder:
        out["multihead_attn"] = attn
    return out


def _transformer_submodules(c: Ctor):
    """nn.Transformer's encoder and decoder as its constructor builds them (read by subclasses:
    the word-language-model example calls self.encoder(src, mask=...))."""
    layer_args = [c.get("d_model"), c.get("nhead"), c.get("dim_feedforward", 2048), c.get("dropout", 0.1)]
    layer_kwargs = {"batch_first": c.get("batch_first", False), "layer_norm_eps": c.get("layer_norm_eps", 1e-5)}
    norm = LayerSpec("torch.nn.LayerNorm", [c.get("d_model")], {"eps": c.get("layer_norm_eps", 1e-5)})
    return {
        "encoder": LayerSpec("torch.nn.TransformerEncoder",
                             [LayerSpec("torch.nn.TransformerEncoderLayer", layer_args, layer_kwargs),
                              c.get("num_encoder_layers", 6), norm]),
        "decoder": LayerSpec("torch.nn.TransformerDecoder",
                             [LayerSpec("torch.nn.TransformerDecoderLayer", layer_args, layer_kwargs),
                              c.get("num_decoder_layers", 6), norm]),
    }
TransformerEncoderLayer = LayerRule(params=_ENC_PARAMS, defaults={"dim_feedforward": 2048, "batch_first": False},
                                    forward=encoder_layer_forward, param_count=_enc_layer_params, keeps_shape=True,
                                    signature=lambda c: (("*", c.dim("d_model")), ("*", c.dim("d_model"))),
                                    submodules=_enc_layer_submodules)
TransformerDecoderLayer = LayerRule(params=_ENC_PARAMS, defaults={"dim_feedforward": 2048, "batch_first": False},
                                    forward=encoder_layer_forward,
                                    param_count=lambda c: _enc_layer_params(c, decoder=True),
                                    submodules=lambda c: _enc_layer_submodules(c, decoder=True))


def encoder_forward(layer: Ctor, call: OpCall):
    x = _x(call)
    if x is None:
        return UNK
    inner = layer["encoder_layer"] if "encoder_layer" in layer.values else layer["decoder_layer"]
    d = None
    from ml_lsp.analysis.values import Layer
    if isinstance(inner, Layer) and inner.ctor is not None:
        d = inner.ctor.dim("d_model")
    if x.shape is not None and x.shape and d is not None and dims.clash(x.shape[-1], d):
        call.conflict("mha_embed_dim", f"{call.name}: its layers have d_model={_r(d)}, got {format_shape(x.shape)}",
                      expected=f"(..., {_r(d)})", got=format_shape(x.shape))
    return Tensor(x.shape, "float")


def _encoder_params(c: Ctor):
    from ml_lsp.analysis.values import Layer
    inner = c["encoder_layer"] if "encoder_layer" in c.values else c["decoder_layer"]
    n = c.int("num_layers")
    if not isinstance(inner, Layer) or n is None or inner.rule.param_count is None:
        return None
    per = inner.rule.param_count(inner.ctor)
    if per is None:
        return None
    norm = c.get("norm")
    extra = 0
    if isinstance(norm, Layer) and norm.rule.param_count is not None:
        extra = norm.rule.param_count(norm.ctor) or 0
    return per * n + extra


def _stack_submodules(c: Ctor, inner: str):
    """``layers``: num_layers copies of the layer given (a ModuleList of clones)."""
    n = c.int("num_layers")
    if n is None or not 0 <= n <= 256:
        return {}
    return {"layers": LayerSpec("torch.nn.ModuleList", [Seq([c.get(inner)] * n, "list")])}


TransformerEncoder = LayerRule(params=("encoder_layer", "num_layers", "norm", "enable_nested_tensor"),
                               forward=encoder_forward, param_count=_encoder_params, keeps_shape=True,
                               submodules=lambda c: _stack_submodules(c, "encoder_layer"))
TransformerDecoder = LayerRule(params=("decoder_layer", "num_layers", "norm"), forward=encoder_forward,
                               param_count=_encoder_params, submodules=lambda c: _stack_submodules(c, "decoder_layer"))


def _check_square_mask(call, mask_name, seq, length):
    m = call.kwargs.get(mask_name)
    if not isinstance(m, Tensor) or m.shape is None or length is None:
        return
    if len(m.shape) == 2 and any(dims.clash(d, length) for d in m.shape):
        call.conflict("attn_mask_shape", f"{call.name}: {mask_name} should be ({dims.render(length)}, "
                      f"{dims.render(length)}) for a sequence of length {dims.render(length)} in "
                      f"{format_shape(seq.shape)}, got {format_shape(m.shape)}",
                      expected=f"({dims.render(length)}, {dims.render(length)})", got=format_shape(m.shape))


def transformer_forward(layer: Ctor, call: OpCall):
    tgt = call.tensor(1, "tgt")
    if tgt is None:
        return UNK
    bf = layer.get("batch_first", False)
    if tgt.shape is not None and len(tgt.shape) == 3 and bf in (True, False):
        _check_square_mask(call, "tgt_mask", tgt, tgt.shape[1] if bf else tgt.shape[0])
    src = call.tensor(0, "src")
    if src is not None and src.shape is not None and len(src.shape) == 3 and bf in (True, False):
        _check_square_mask(call, "src_mask", src, src.shape[1] if bf else src.shape[0])
    return Tensor(tgt.shape[:-1] + (layer.dim("d_model"),) if tgt.shape else None, "float")


Transformer = LayerRule(params=("d_model", "nhead", "num_encoder_layers", "num_decoder_layers", "dim_feedforward",
                                "dropout", "activation", "custom_encoder", "custom_decoder", "layer_norm_eps",
                                "batch_first", "norm_first", "bias"),
                        defaults={"d_model": 512, "nhead": 8, "batch_first": False}, forward=transformer_forward,
                        submodules=_transformer_submodules)


# ---------------------------------------------------------------- reshaping modules

Flatten = LayerRule(params=("start_dim", "end_dim"), defaults={"start_dim": 1, "end_dim": -1},
                    forward=lambda layer, call: shaping.flatten(
                        OpCall(call.qual, [call.args[0] if call.args else UNK, layer["start_dim"], layer["end_dim"]])),
                    param_count=lambda c: 0)
Unflatten = LayerRule(params=("dim", "unflattened_size"),
                      forward=lambda layer, call: shaping.unflatten(
                          OpCall(call.qual, [call.args[0] if call.args else UNK, layer["dim"],
                                             layer["unflattened_size"]])),
                      param_count=lambda c: 0)


def upsample_forward(layer: Ctor, call: OpCall):
    from ml_lsp_torch_shapes.functional import resize
    x = _x(call)
    if x is None:
        return UNK
    return resize(x, layer.get("size"), layer.get("scale_factor"))


Upsample = LayerRule(params=("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"),
                     forward=upsample_forward, param_count=lambda c: 0)
UpsamplingNearest2d = LayerRule(params=("size", "scale_factor"), forward=upsample_forward, param_count=lambda c: 0)


def _functional_twin(rule: str, *params: str):
    """The forward of a layer that is its functional twin called on the input and the
    constructor's values (``nn.PixelShuffle(r)(x)`` is ``F.pixel_shuffle(x, r)``)."""
    def forward(layer: Ctor, call: OpCall):
        from ml_lsp_torch_shapes import functional
        return getattr(functional, rule)(OpCall(call.qual, [call.args[0] if call.args else UNK,
                                                            *(layer[p] for p in params)]))
    return forward


PixelShuffle = LayerRule(params=("upscale_factor",), forward=_functional_twin("pixel_shuffle", "upscale_factor"),
                         param_count=lambda c: 0)
PixelUnshuffle = LayerRule(params=("downscale_factor",),
                           forward=_functional_twin("pixel_unshuffle", "downscale_factor"), param_count=lambda c: 0)
Unfold = LayerRule(params=("kernel_size", "dilation", "padding", "stride"),
                   forward=_functional_twin("unfold_patches", "kernel_size", "dilation", "padding", "stride"),
                   param_count=lambda c: 0, defaults={"dilation": 1, "padding": 0, "stride": 1})
Fold = LayerRule(params=("output_size", "kernel_size", "dilation", "padding", "stride"),
                 forward=_functional_twin("fold_patches", "output_size", "kernel_size"),
                 param_count=lambda c: 0, defaults={"dilation": 1, "padding": 0, "stride": 1})


def pad_rule(n: int):
    def forward(layer: Ctor, call: OpCall):
        from ml_lsp_torch_shapes.functional import pad_shape
        x = _x(call)
        if x is None:
            return UNK
        p = layer["padding"]
        if isinstance(p, Seq):
            pads = [as_dim(v) for v in p.items]
        else:
            d = as_dim(p)
            pads = [d] * (2 * n)
        return pad_shape(x, pads)

    # an image model's first layer is often its padding (fast-neural-style's ConvLayer):
    # the input is the batch form a conv after it takes, the channel count unknown here
    spatial = {1: (L,), 2: (H, W), 3: (D, H, W)}[n]
    return LayerRule(params=("padding", "value"), forward=forward, param_count=lambda c: 0,
                     input_hint=lambda c: ((B, sym("C")) + spatial, "float"),
                     hint_alternatives=lambda c: [((sym("C"),) + spatial, "float")])


def glu_forward(layer: Ctor, call: OpCall):
    x = _x(call)
    if x is None or x.shape is None:
        return unknown_tensor("float")
    a = norm_axis(layer.get("dim", -1), len(x.shape))
    if a is None:
        return unknown_tensor("float")
    s = list(x.shape)
    s[a] = shaping.exact_div(s[a], 2)
    return Tensor(tuple(s), x.dtype)


def softmax_layer(layer: Ctor, call: OpCall):
    x = _x(call)
    if x is None:
        return UNK
    return Tensor(x.shape, "float")


def _container(name):
    return LayerRule(params=(), forward=lambda layer, call: UNK, varargs="modules")


RULES = {
    "torch.nn.Linear": Linear, "torch.nn.LazyLinear": LazyLinear, "torch.nn.Bilinear": Bilinear,
    "torch.nn.Conv1d": conv_rule(1), "torch.nn.Conv2d": conv_rule(2), "torch.nn.Conv3d": conv_rule(3),
    "torch.nn.ConvTranspose1d": conv_rule(1, True), "torch.nn.ConvTranspose2d": conv_rule(2, True),
    "torch.nn.ConvTranspose3d": conv_rule(3, True),
    "torch.nn.MaxPool1d": pool_rule(1, "max"), "torch.nn.MaxPool2d": pool_rule(2, "max"),
    "torch.nn.MaxPool3d": pool_rule(3, "max"),
    "torch.nn.AvgPool1d": pool_rule(1, "avg"), "torch.nn.AvgPool2d": pool_rule(2, "avg"),
    "torch.nn.AvgPool3d": pool_rule(3, "avg"),
    "torch.nn.AdaptiveAvgPool1d": adaptive_pool_rule(1, "Avg"), "torch.nn.AdaptiveAvgPool2d": adaptive_pool_rule(2, "Avg"),
    "torch.nn.AdaptiveAvgPool3d": adaptive_pool_rule(3, "Avg"),
    "torch.nn.AdaptiveMaxPool1d": adaptive_pool_rule(1, "Max"), "torch.nn.AdaptiveMaxPool2d": adaptive_pool_rule(2, "Max"),
    "torch.nn.BatchNorm1d": batchnorm_rule(1), "torch.nn.BatchNorm2d": batchnorm_rule(2),
    "torch.nn.BatchNorm3d": batchnorm_rule(3),
    "torch.nn.InstanceNorm1d": batchnorm_rule(1, "InstanceNorm", False),
    "torch.nn.InstanceNorm2d": batchnorm_rule(2, "InstanceNorm", False),
    "torch.nn.LayerNorm": LayerNorm, "torch.nn.RMSNorm": RMSNorm, "torch.nn.GroupNorm": GroupNorm,
    "torch.nn.Embedding": Embedding,
    "torch.nn.RNN": rnn_rule("RNN"), "torch.nn.LSTM": rnn_rule("LSTM"), "torch.nn.GRU": rnn_rule("GRU"),
    "torch.nn.RNNCell": cell_rule("RNNCell"), "torch.nn.LSTMCell": cell_rule("LSTMCell"),
    "torch.nn.GRUCell": cell_rule("GRUCell"),
    "torch.nn.MultiheadAttention": MultiheadAttention,
    "torch.nn.TransformerEncoderLayer": TransformerEncoderLayer, "torch.nn.TransformerEncoder": TransformerEncoder,
    "torch.nn.TransformerDecoderLayer": TransformerDecoderLayer, "torch.nn.TransformerDecoder": TransformerDecoder,
    "torch.nn.Transformer": Transformer,
    "torch.nn.Flatten": Flatten, "torch.nn.Unflatten": Unflatten, "torch.nn.Upsample": Upsample,
    "torch.nn.UpsamplingNearest2d": UpsamplingNearest2d, "torch.nn.UpsamplingBilinear2d": UpsamplingNearest2d,
    "torch.nn.PixelShuffle": PixelShuffle, "torch.nn.PixelUnshuffle": PixelUnshuffle,
    "torch.nn.Unfold": Unfold, "torch.nn.Fold": Fold,
    "torch.nn.ZeroPad2d": pad_rule(2), "torch.nn.ConstantPad1d": pad_rule(1), "torch.nn.ConstantPad2d": pad_rule(2),
    "torch.nn.ReflectionPad1d": pad_rule(1), "torch.nn.ReflectionPad2d": pad_rule(2),
    "torch.nn.ReplicationPad1d": pad_rule(1), "torch.nn.ReplicationPad2d": pad_rule(2),
    "torch.nn.GLU": LayerRule(params=("dim",), defaults={"dim": -1}, forward=glu_forward, param_count=lambda c: 0),
    "torch.nn.utils.rnn.pack_padded_sequence": pack_padded_sequence,
    "torch.nn.utils.rnn.pad_packed_sequence": pad_packed_sequence,
    "torch.nn.Sequential": _container("Sequential"), "torch.nn.ModuleList": _container("ModuleList"),
    "torch.nn.ModuleDict": _container("ModuleDict"),
}

# shape-keeping modules: activations, dropout, identity, local norms
_KEEP = {
    "ReLU": ("inplace",), "ReLU6": ("inplace",), "GELU": ("approximate",), "SiLU": ("inplace",),
    "Tanh": (), "Sigmoid": (), "LeakyReLU": ("negative_slope", "inplace"), "ELU": ("alpha", "inplace"),
    "SELU": ("inplace",), "CELU": ("alpha", "inplace"), "Softplus": ("beta", "threshold"), "Mish": ("inplace",),
    "Hardswish": ("inplace",), "Hardsigmoid": ("inplace",), "Hardtanh": ("min_val", "max_val"),
    "LogSigmoid": (), "Softsign": (), "Tanhshrink": (), "Threshold": ("threshold", "value"),
    "Hardshrink": ("lambd",), "Softshrink": ("lambd",),
    "Dropout": ("p", "inplace"), "Dropout1d": ("p", "inplace"), "Dropout2d": ("p", "inplace"),
    "Dropout3d": ("p", "inplace"), "AlphaDropout": ("p", "inplace"), "FeatureAlphaDropout": ("p", "inplace"),
    "Identity": (), "LocalResponseNorm": ("size",), "CrossMapLRN2d": ("size",),
}
for _name, _params in _KEEP.items():
    RULES[f"torch.nn.{_name}"] = LayerRule(params=_params, forward=lambda layer, call: same_as_input(call),
                                           keeps_shape=True, param_count=lambda c: 0,
                                           signature=lambda c: ("(*)", "(*)"), varargs="_rest")
for _name in ("Softmax", "LogSoftmax", "Softmin", "Softmax2d"):
    RULES[f"torch.nn.{_name}"] = LayerRule(params=("dim",), forward=softmax_layer, keeps_shape=True,
                                           param_count=lambda c: 0, signature=lambda c: ("(*)", "(*)"))
RULES["torch.nn.PReLU"] = LayerRule(params=("num_parameters", "init"), defaults={"num_parameters": 1},
                                    forward=lambda layer, call: same_as_input(call), keeps_shape=True,
                                    param_count=lambda c: c.int("num_parameters"))
