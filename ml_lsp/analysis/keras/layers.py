"""Keras layers by rule: one table, one entry per layer class.

A rule is ``rule(layer: KLayerSpec, inputs: list[shape]) -> (output shape, parameter count)``.
A shape is a tuple whose first dim is the batch (``B``); a dim is an int, a ``Sym`` or
``None`` (unknown); an unknown rank is ``None``. The parameter count is what
``model.summary()`` prints in its "Param #" column (trainable and not), ``None`` when a dim
it needs is unknown. A rule never guesses: what it cannot prove is ``None``. A provable
contradiction (Conv2D on a rank-2 input) raises ``KerasShapeError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from ml_lsp.analysis import dims
from ml_lsp.analysis.dims import Sym

BATCH = Sym.named("B")
UNKNOWN = object()  # an argument whose value the analysis could not work out


class KerasShapeError(Exception):
    """A layer fed a shape it cannot take. ``kind`` names the contradiction (the KR rules
    select on it); ``fix`` is (constructor parameter, new value) when changing one
    argument repairs it."""

    def __init__(self, kind: str, message: str, fix: Optional[tuple] = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.fix = fix


@dataclass
class KLayerSpec:
    """A layer as constructed: its class name and evaluated arguments."""
    cls: str
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)

    def arg(self, i: int, name: str, default: Any = None) -> Any:
        if name in self.kwargs:
            return self.kwargs[name]
        if i is not None and i < len(self.args):
            return self.args[i]
        return default


def known_int(v) -> Optional[int]:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _ntuple(v, n: int):
    if isinstance(v, int) and not isinstance(v, bool):
        return (v,) * n
    if isinstance(v, (tuple, list)) and len(v) == n and all(known_int(x) is not None for x in v):
        return tuple(v)
    return None


def _plus_bias(weights, bias, use_bias=True):
    if weights is None or bias is None:
        return None
    return weights + (bias if use_bias is not False else 0)


def _mul(*xs):
    out = 1
    for x in xs:
        if not isinstance(x, int):
            return None
        out *= x
    return out


def _require_rank(spec: KLayerSpec, shape, rank: int, what: str):
    if shape is not None and len(shape) != rank:
        raise KerasShapeError(
            "input-rank", f"{spec.cls} expects a rank-{rank} input {what}, got rank {len(shape)} "
                          f"{dims.format_shape(_show(shape))}")


def _require_min_rank(spec: KLayerSpec, shape, rank: int):
    if shape is not None and len(shape) < rank:
        raise KerasShapeError(
            "input-rank", f"{spec.cls} expects an input of rank {rank} or more, got "
                          f"{dims.format_shape(_show(shape))}")


def _show(shape):
    return shape


def _last(shape):
    return None if shape is None else shape[-1]


# --------------------------------------------------------------------- core layers


def dense(spec, inputs):
    x = inputs[0]
    units = known_int(spec.arg(0, "units"))
    _require_min_rank(spec, x, 2)
    out = None if x is None else tuple(x[:-1]) + (units,)
    n_in = known_int(_last(x))
    params = _plus_bias(_mul(n_in, units), units, spec.arg(2, "use_bias", True))
    return out, params


def keep(spec, inputs):
    return inputs[0], 0


def flatten(spec, inputs):
    x = inputs[0]
    if x is None:
        return None, 0
    rest = dims.product(x[1:]) if len(x) > 1 else 1
    return (x[0], rest), 0


def reshape(spec, inputs):
    x = inputs[0]
    target = spec.arg(0, "target_shape")
    if not isinstance(target, (tuple, list)) or not all(known_int(t) is not None for t in target):
        return (None if x is None else None), 0
    target = tuple(target)
    total = dims.product(x[1:]) if x is not None else None
    if -1 in target:
        known = _mul(*[t for t in target if t != -1])
        if isinstance(total, int) and known:
            if total % known:
                raise KerasShapeError("reshape-size", f"Reshape{target}: {total} values per sample do not "
                                                      f"divide into {known}")
            target = tuple(total // known if t == -1 else t for t in target)
        else:
            target = tuple(None if t == -1 else t for t in target)
    elif isinstance(total, int) and _mul(*target) != total:
        raise KerasShapeError("reshape-size", f"Reshape{target} needs {_mul(*target)} values per sample, its "
                                              f"input {dims.format_shape(x)} has {total}")
    batch = x[0] if x is not None else BATCH
    return (batch,) + target, 0


def _conv_out(n, k, s, d, padding):
    if not isinstance(n, int):
        return None
    if padding == "same":
        return -(-n // s)
    if padding == "causal":
        return -(-n // s)
    span = d * (k - 1) + 1
    return (n - span) // s + 1


def conv(rank: int, transpose: bool = False):
    def rule(spec, inputs):
        x = inputs[0]
        _require_rank(spec, x, rank + 2, f"(batch, {', '.join(['spatial'] * rank)}, channels)")
        filters = known_int(spec.arg(0, "filters"))
        k = _ntuple(spec.arg(1, "kernel_size"), rank)
        s = _ntuple(spec.arg(2, "strides", 1), rank)
        padding = spec.arg(3, "padding", "valid")
        d = _ntuple(spec.kwargs.get("dilation_rate", 1), rank)
        groups = known_int(spec.kwargs.get("groups", 1)) or 1
        channels_first = spec.kwargs.get("data_format") == "channels_first"
        if x is None:
            return None, None
        c_in = known_int(x[1] if channels_first else x[-1])
        spatial = x[2:] if channels_first else x[1:-1]
        if k is None or s is None or d is None or not isinstance(padding, str):
            out_sp = (None,) * rank
        elif transpose and (spec.kwargs.get("output_padding") is not None or set(d) != {1}):
            out_sp = (None,) * rank  # output_padding and dilation change the size: not followed
        elif transpose:
            out_sp = tuple(n * st if padding == "same" and isinstance(n, int) else
                           ((n - 1) * st + kk if isinstance(n, int) else None)
                           for n, kk, st in zip(spatial, k, s))
        else:
            out_sp = tuple(_conv_out(n, kk, st, dd, padding) for n, kk, st, dd in zip(spatial, k, s, d))
            for n, o in zip(spatial, out_sp):
                if isinstance(o, int) and o <= 0:
                    raise KerasShapeError("spatial-size", f"{spec.cls}: a spatial size of {n} is smaller than "
                                                          f"the kernel {spec.arg(1, 'kernel_size')}")
        out = (x[0], filters) + out_sp if channels_first else (x[0],) + out_sp + (filters,)
        use_bias = spec.kwargs.get("use_bias", True)
        per_group = c_in // groups if isinstance(c_in, int) else None
        weights = _mul(*(k or (None,)), per_group, filters)
        return out, _plus_bias(weights, filters, use_bias)
    return rule


def separable_conv(rank: int, depthwise_only: bool = False):
    """SeparableConv (a depthwise kernel per input channel, times ``depth_multiplier``, then
    a 1x1 conv to ``filters``) and DepthwiseConv (the depthwise part alone)."""
    def rule(spec, inputs):
        x = inputs[0]
        _require_rank(spec, x, rank + 2, f"(batch, {', '.join(['spatial'] * rank)}, channels)")
        if depthwise_only:
            k, s = _ntuple(spec.arg(0, "kernel_size"), rank), _ntuple(spec.arg(1, "strides", 1), rank)
            padding, filters = spec.arg(2, "padding", "valid"), None
            multiplier = known_int(spec.arg(3, "depth_multiplier", 1))
        else:
            filters = known_int(spec.arg(0, "filters"))
            k, s = _ntuple(spec.arg(1, "kernel_size"), rank), _ntuple(spec.arg(2, "strides", 1), rank)
            padding = spec.arg(3, "padding", "valid")
            multiplier = known_int(spec.kwargs.get("depth_multiplier", 1))
        d = _ntuple(spec.kwargs.get("dilation_rate", 1), rank)
        if spec.kwargs.get("data_format") == "channels_first" or x is None:
            return None, None
        c_in = known_int(x[-1])
        if k is None or s is None or d is None or not isinstance(padding, str):
            out_sp = (None,) * rank
        else:
            out_sp = tuple(_conv_out(n, kk, st, dd, padding) for n, kk, st, dd in zip(x[1:-1], k, s, d))
            for n, o in zip(x[1:-1], out_sp):
                if isinstance(o, int) and o <= 0:
                    raise KerasShapeError("spatial-size", f"{spec.cls}: a spatial size of {n} is smaller than "
                                                          f"the kernel {spec.arg(1, 'kernel_size')}")
        depth = _mul(c_in, multiplier)
        depthwise = _mul(*(k or (None,)), depth)
        use_bias = spec.kwargs.get("use_bias", True)
        if depthwise_only:
            return (x[0],) + out_sp + (depth,), _plus_bias(depthwise, depth, use_bias)
        pointwise = _mul(depth, filters)
        weights = None if depthwise is None or pointwise is None else depthwise + pointwise
        return (x[0],) + out_sp + (filters,), _plus_bias(weights, filters, use_bias)
    return rule


def pool(rank: int):
    def rule(spec, inputs):
        x = inputs[0]
        _require_rank(spec, x, rank + 2, f"(batch, {', '.join(['spatial'] * rank)}, channels)")
        p = _ntuple(spec.arg(0, "pool_size", 2), rank)
        s = spec.arg(1, "strides", None)
        s = p if s is None else _ntuple(s, rank)
        padding = spec.arg(2, "padding", "valid")
        if x is None:
            return None, 0
        if p is None or s is None:
            return (x[0],) + (None,) * rank + (x[-1],), 0
        out_sp = tuple(_conv_out(n, pp, ss, 1, padding) for n, pp, ss in zip(x[1:-1], p, s))
        for n, o in zip(x[1:-1], out_sp):
            if isinstance(o, int) and o <= 0:
                raise KerasShapeError("spatial-size", f"{spec.cls}: a spatial size of {n} is smaller than the "
                                                      f"pool {spec.arg(0, 'pool_size', 2)}")
        return (x[0],) + out_sp + (x[-1],), 0
    return rule


def global_pool(rank: int):
    def rule(spec, inputs):
        x = inputs[0]
        _require_rank(spec, x, rank + 2, f"(batch, {', '.join(['spatial'] * rank)}, channels)")
        if x is None:
            return None, 0
        if spec.kwargs.get("keepdims"):
            return (x[0],) + (1,) * rank + (x[-1],), 0
        return (x[0], x[-1]), 0
    return rule


def batch_norm(spec, inputs):
    x = inputs[0]
    axis = spec.arg(0, "axis", -1)
    c = known_int(x[axis]) if x is not None and isinstance(axis, int) and -len(x) <= axis < len(x) else None
    return x, (4 * c if c is not None else None)


def group_norm(spec, inputs):
    x = inputs[0]
    axis = spec.kwargs.get("axis", -1)
    c = known_int(x[axis]) if x is not None and isinstance(axis, int) and -len(x) <= axis < len(x) else None
    n = None
    if c is not None:
        n = c * ((spec.kwargs.get("center", True) is not False) + (spec.kwargs.get("scale", True) is not False))
    return x, n


def normalization(spec, inputs):
    """Normalization: a mean and a variance per feature (the last axis by default) and a
    count, all weights until ``adapt``; given ``mean``/``variance`` the count is unproven."""
    x = inputs[0]
    axis = spec.arg(0, "axis", -1)
    if "mean" in spec.kwargs or "variance" in spec.kwargs or len(spec.args) > 1:
        return x, None
    if axis is None:
        return x, 3
    c = known_int(x[axis]) if x is not None and isinstance(axis, int) and -len(x) <= axis < len(x) else None
    return x, (2 * c + 1 if c is not None else None)


def resize_to(spec, inputs):
    """Resizing / CenterCrop / RandomCrop (height, width): the image's rows and columns."""
    x = inputs[0]
    h, w = known_int(spec.arg(0, "height")), known_int(spec.arg(1, "width"))
    if x is None or len(x) != 4 or spec.kwargs.get("data_format") == "channels_first":
        return None, 0
    return (x[0], h, w, x[-1]), 0


def layer_norm(spec, inputs):
    x = inputs[0]
    c = known_int(_last(x))
    n = 0
    if c is not None:
        n = c * ((spec.kwargs.get("center", True) is not False) + (spec.kwargs.get("scale", True) is not False))
    return x, (n if c is not None else None)


def embedding(spec, inputs):
    x = inputs[0]
    n_in = known_int(spec.arg(0, "input_dim"))
    n_out = known_int(spec.arg(1, "output_dim"))
    out = None if x is None else tuple(x) + (n_out,)
    return out, _mul(n_in, n_out)


def rnn(gates: int, extra_bias: int = 0):
    def rule(spec, inputs):
        x = inputs[0]
        _require_rank(spec, x, 3, "(batch, timesteps, features)")
        units = known_int(spec.arg(0, "units"))
        seq = spec.kwargs.get("return_sequences", False) is True
        n_in = known_int(_last(x))
        params = None
        if units is not None and n_in is not None:
            use_bias = spec.kwargs.get("use_bias", True) is not False
            bias = gates * units * (1 + extra_bias) if use_bias else 0
            params = gates * units * (n_in + units) + bias
        if x is None:
            return None, params
        out = (x[0], x[1], units) if seq else (x[0], units)
        return out, params
    return rule


def _gru(spec, inputs):
    extra = 1 if spec.kwargs.get("reset_after", True) is not False else 0
    return rnn(3, extra)(spec, inputs)


def bidirectional(spec, inputs):
    inner = spec.arg(0, "layer")
    inner = getattr(inner, "spec", inner)  # the wrapped layer as built, or its spec
    if not isinstance(inner, KLayerSpec) or inner.cls not in LAYERS:
        return None, None
    out, params = LAYERS[inner.cls](inner, inputs)
    merge = spec.kwargs.get("merge_mode", "concat")
    if out is not None and merge == "concat":
        last = out[-1]
        out = tuple(out[:-1]) + ((2 * last) if isinstance(last, int) else None,)
    return out, (2 * params if isinstance(params, int) else None)


def multi_head_attention(spec, inputs):
    q = inputs[0]
    v = inputs[1] if len(inputs) > 1 else q
    k = inputs[2] if len(inputs) > 2 and inputs[2] is not None else v
    heads = known_int(spec.arg(0, "num_heads"))
    key_dim = known_int(spec.arg(1, "key_dim"))
    value_dim = known_int(spec.arg(2, "value_dim", None)) or key_dim
    out_dim = spec.kwargs.get("output_shape")
    qd, kd, vd = known_int(_last(q)), known_int(_last(k)), known_int(_last(v))
    use_bias = spec.kwargs.get("use_bias", True) is not False
    b = 1 if use_bias else 0
    final = known_int(out_dim) if out_dim is not None else qd
    params = None
    if None not in (heads, key_dim, value_dim, qd, kd, vd, final):
        params = (qd * heads * key_dim + b * heads * key_dim + kd * heads * key_dim + b * heads * key_dim
                  + vd * heads * value_dim + b * heads * value_dim + heads * value_dim * final + b * final)
    out = None if q is None else tuple(q[:-1]) + (final,)
    return out, params


def attention_projections(spec, inputs):
    """(name, output shape, parameter count) of MultiHeadAttention's query, key, value and
    output projections: query/key/value are (batch, steps, heads, key or value dim)."""
    q = inputs[0] if inputs else None
    v = inputs[1] if len(inputs) > 1 and inputs[1] is not None else q
    k = inputs[2] if len(inputs) > 2 and inputs[2] is not None else v
    heads = known_int(spec.arg(0, "num_heads"))
    key_dim = known_int(spec.arg(1, "key_dim"))
    value_dim = known_int(spec.arg(2, "value_dim", None)) or key_dim
    out_dim = spec.kwargs.get("output_shape")
    final = known_int(out_dim) if out_dim is not None else known_int(_last(q))
    use_bias = spec.kwargs.get("use_bias", True) is not False

    def projection(x, per_head):
        if x is None or len(x) < 3:
            return None, None
        n_in = known_int(x[-1])
        weights = _mul(n_in, heads, per_head)
        return tuple(x[:-1]) + (heads, per_head), _plus_bias(weights, _mul(heads, per_head), use_bias)

    out = []
    for name, x, per_head in (("query", q, key_dim), ("key", k, key_dim), ("value", v, value_dim)):
        shape, params = projection(x, per_head)
        out.append((name, shape, params))
    if out_dim is not None and known_int(out_dim) is None:
        out.append(("attention_output", None, None))
    else:
        weights = _mul(heads, value_dim, final)
        shape = None if q is None or len(q) < 3 else tuple(q[:-1]) + (final,)
        out.append(("attention_output", shape, _plus_bias(weights, final, use_bias)))
    return out


def _merge_check(spec, inputs, axis=None):
    shapes = [s for s in inputs if s is not None]
    if len(shapes) < 2:
        return
    ranks = {len(s) for s in shapes}
    if len(ranks) > 1:
        raise KerasShapeError("merge-shapes", f"{spec.cls} of inputs with different ranks: "
                                              f"{', '.join(dims.format_shape(s) for s in shapes)}")
    rank = len(shapes[0])
    for i in range(1, rank):
        if axis is not None and i == axis % rank:
            continue
        vals = [s[i] for s in shapes]
        for a in vals[1:]:
            if dims.provably_different(vals[0], a):
                what = f"on axis {axis}" if axis is not None else "element-wise"
                raise KerasShapeError(
                    "merge-shapes", f"{spec.cls} {what} needs the other dims equal, got "
                                    f"{', '.join(dims.format_shape(s) for s in shapes)}")


def concatenate(spec, inputs):
    axis = spec.arg(0, "axis", -1)
    if not isinstance(axis, int):
        return None, 0
    _merge_check(spec, inputs, axis)
    if any(s is None for s in inputs) or not inputs:
        return None, 0
    rank = len(inputs[0])
    ax = axis % rank
    total = 0
    for s in inputs:
        total = dims.add(total, s[ax]) if total is not None else None
    out = tuple(total if i == ax else inputs[0][i] for i in range(rank))
    return out, 0


def elementwise(spec, inputs):
    """Add, Multiply...: Keras 3 broadcasts the inputs (dims aligned from the right, a 1
    stretches, a missing leading dim too); only dims that are both known, not 1 and
    different contradict."""
    shapes = [s for s in inputs if s is not None]
    for a in shapes:
        for b in shapes[1:]:
            for x, y in zip(reversed(a[1:]), reversed(b[1:])):
                if dims.provably_different(x, y) and not (isinstance(x, int) and x == 1) \
                        and not (isinstance(y, int) and y == 1):
                    raise KerasShapeError(
                        "merge-shapes", f"{spec.cls} element-wise needs the dims equal (or 1), got "
                                        f"{', '.join(dims.format_shape(s) for s in shapes)}")
    if any(s is None for s in inputs) or not inputs:
        return None, 0
    if len(inputs) == 1:
        return tuple(inputs[0]), 0
    if len({len(s) for s in inputs}) == 1 and all(
            not any(isinstance(s[i], int) and s[i] == 1 for s in inputs) for i in range(1, len(inputs[0]))):
        return tuple(dims.join_dim(*[s[i] for s in inputs]) for i in range(len(inputs[0]))), 0
    rank = max(len(s) for s in inputs)
    out = [inputs[0][0]]
    for i in range(rank - 1, 0, -1):  # the dims after the batch, from the right
        vals = [s[len(s) - rank + i] for s in inputs if len(s) - rank + i >= 1]
        big = [v for v in vals if not (isinstance(v, int) and v == 1)]
        if not big:
            out.insert(1, 1)
        elif all(isinstance(v, int) for v in big) and len(set(big)) == 1:
            out.insert(1, big[0])
        elif len(big) == 1:
            out.insert(1, big[0])
        else:
            out.insert(1, None)
    return tuple(out), 0


def zero_padding2d(spec, inputs):
    x = inputs[0]
    _require_rank(spec, x, 4, "(batch, rows, cols, channels)")
    p = spec.arg(0, "padding", 1)
    if isinstance(p, int):
        pads = ((p, p), (p, p))
    elif isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(v, int) for v in p):
        pads = ((p[0], p[0]), (p[1], p[1]))
    elif isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(v, (tuple, list)) for v in p):
        pads = tuple(tuple(v) for v in p)
    else:
        return (None if x is None else (x[0], None, None, x[-1])), 0
    if x is None:
        return None, 0
    return (x[0],) + tuple(n + a + b if isinstance(n, int) else None for n, (a, b) in zip(x[1:3], pads)) + (x[-1],), 0


def upsampling1d(spec, inputs):
    x = inputs[0]
    _require_rank(spec, x, 3, "(batch, steps, features)")
    size = known_int(spec.arg(0, "size", 2))
    if x is None:
        return None, 0
    steps = x[1] * size if isinstance(x[1], int) and size is not None else None
    return (x[0], steps, x[2]), 0


def zero_padding1d(spec, inputs):
    x = inputs[0]
    _require_rank(spec, x, 3, "(batch, steps, features)")
    p = spec.arg(0, "padding", 1)
    pads = (p, p) if known_int(p) is not None else tuple(p) if isinstance(p, (tuple, list)) and len(p) == 2 \
        and all(known_int(v) is not None for v in p) else None
    if x is None:
        return None, 0
    steps = x[1] + sum(pads) if isinstance(x[1], int) and pads is not None else None
    return (x[0], steps, x[2]), 0


def upsampling2d(spec, inputs):
    x = inputs[0]
    _require_rank(spec, x, 4, "(batch, rows, cols, channels)")
    size = _ntuple(spec.arg(0, "size", 2), 2)
    if x is None:
        return None, 0
    if size is None:
        return (x[0], None, None, x[-1]), 0
    return (x[0],) + tuple(n * f if isinstance(n, int) else None for n, f in zip(x[1:3], size)) + (x[-1],), 0


def repeat_vector(spec, inputs):
    x = inputs[0]
    _require_rank(spec, x, 2, "(batch, features)")
    n = known_int(spec.arg(0, "n"))
    return (None if x is None else (x[0], n, x[1])), 0


def permute(spec, inputs):
    x = inputs[0]
    order = spec.arg(0, "dims")
    if x is None or not isinstance(order, (tuple, list)) or len(order) != len(x) - 1:
        return None, 0
    return (x[0],) + tuple(x[i] for i in order), 0


# ------------------------------------------------------------------- applications

@dataclass(frozen=True)
class Application:
    """A ``keras.applications`` model used as one layer: its output channels, the final
    spatial size as a function of the input's, and parameter counts without the top and
    of the top per class (a Dense from ``top_in`` features)."""
    name: Callable[[KLayerSpec, tuple], str]
    channels: int
    spatial: Callable[[int], int]
    base_params: int
    top_in: int
    top_hidden_params: int = 0  # VGG's fc1 + fc2


def _vgg_spatial(n: int) -> int:
    for _ in range(5):
        n //= 2
    return n


def _resnet_spatial(n: int) -> int:
    n = (n + 6 - 7) // 2 + 1  # conv1: ZeroPadding2D(3) then 7x7 stride 2
    n = (n + 2 - 3) // 2 + 1  # pool1: ZeroPadding2D(1) then 3x3 stride 2
    for _ in range(3):
        n = (n - 1) // 2 + 1  # stages 3-5 start with a 1x1 stride-2 conv
    return n


def _mobilenet_spatial(n: int) -> int:
    for _ in range(5):
        n = -(-n // 2)
    return n


def _mobilenet_name(spec, shape):
    alpha = spec.kwargs.get("alpha", 1.0)
    rows = shape[0] if shape else 224
    rows = rows if rows in (96, 128, 160, 192, 224) else 224
    return f"mobilenetv2_{alpha:0.2f}_{rows}" if isinstance(alpha, (int, float)) else "mobilenetv2"


APPLICATIONS = {
    "VGG16": Application(lambda s, sh: "vgg16", 512, _vgg_spatial, 14_714_688, 4096,
                         25088 * 4096 + 4096 + 4096 * 4096 + 4096),
    "VGG19": Application(lambda s, sh: "vgg19", 512, _vgg_spatial, 20_024_384, 4096,
                         25088 * 4096 + 4096 + 4096 * 4096 + 4096),
    "ResNet50": Application(lambda s, sh: "resnet50", 2048, _resnet_spatial, 23_587_712, 2048),
    "MobileNetV2": Application(_mobilenet_name, 1280, _mobilenet_spatial, 2_257_984, 1280),
}


def application_input_shape(spec: KLayerSpec):
    """The (rows, cols, channels) the application is built for, or None."""
    given = spec.kwargs.get("input_shape")
    if given is None and spec.kwargs.get("input_tensor") is None:
        # Keras's default: the 224x224 the top was trained on, any size without the top
        top = spec.kwargs.get("include_top", True)
        return (224, 224, 3) if top is True else (None, None, 3) if top is False else None
    if isinstance(given, (tuple, list)) and len(given) == 3:
        return tuple(v if isinstance(v, int) else None for v in given)
    return None


def application(spec: KLayerSpec, inputs) -> tuple:
    app = APPLICATIONS[spec.cls]
    include_top = spec.kwargs.get("include_top", True)
    classes = known_int(spec.kwargs.get("classes", 1000))
    pooling = spec.kwargs.get("pooling")
    shape = application_input_shape(spec)
    if inputs and inputs[0] is not None and len(inputs[0]) == 4:
        shape = tuple(inputs[0][1:])
    if include_top is True:
        if spec.cls.startswith("VGG") and shape is not None and shape[:2] != (224, 224):
            raise KerasShapeError("application-input", f"{spec.cls} with include_top=True takes 224x224 images, "
                                                       f"got {shape[0]}x{shape[1]}: pass include_top=False",
                                  fix=("include_top", False))
        params = None if classes is None else app.base_params + app.top_hidden_params + app.top_in * classes + classes
        return (BATCH, classes), params
    params = app.base_params
    if shape is None or not all(isinstance(v, int) for v in shape[:2]):
        rows = cols = None
    else:
        rows, cols = app.spatial(shape[0]), app.spatial(shape[1])
        if rows <= 0 or cols <= 0:
            raise KerasShapeError("application-input", f"{spec.cls}: a {shape[0]}x{shape[1]} input is too small")
    if pooling in ("avg", "max"):
        return (BATCH, app.channels), params
    return (BATCH, rows, cols, app.channels), params


def application_name(spec: KLayerSpec) -> str:
    return APPLICATIONS[spec.cls].name(spec, application_input_shape(spec))


LAYERS: dict[str, Callable] = {
    "Dense": dense,
    "Conv1D": conv(1), "Conv2D": conv(2), "Conv3D": conv(3),
    "Convolution1D": conv(1), "Convolution2D": conv(2), "Convolution3D": conv(3),
    "Conv2DTranspose": conv(2, transpose=True), "Conv1DTranspose": conv(1, transpose=True),
    "Conv3DTranspose": conv(3, transpose=True),
    "SeparableConv1D": separable_conv(1), "SeparableConv2D": separable_conv(2),
    "DepthwiseConv1D": separable_conv(1, True), "DepthwiseConv2D": separable_conv(2, True),
    "MaxPooling1D": pool(1), "MaxPooling2D": pool(2), "MaxPooling3D": pool(3),
    "MaxPool1D": pool(1), "MaxPool2D": pool(2), "MaxPool3D": pool(3),
    "AveragePooling1D": pool(1), "AveragePooling2D": pool(2), "AveragePooling3D": pool(3),
    "AvgPool1D": pool(1), "AvgPool2D": pool(2), "AvgPool3D": pool(3),
    "GlobalAveragePooling1D": global_pool(1), "GlobalAveragePooling2D": global_pool(2),
    "GlobalAveragePooling3D": global_pool(3), "GlobalMaxPooling1D": global_pool(1),
    "GlobalMaxPooling2D": global_pool(2), "GlobalMaxPooling3D": global_pool(3),
    "GlobalAvgPool1D": global_pool(1), "GlobalAvgPool2D": global_pool(2), "GlobalMaxPool2D": global_pool(2),
    "Flatten": flatten, "Reshape": reshape, "Permute": permute, "RepeatVector": repeat_vector,
    "Dropout": keep, "SpatialDropout1D": keep, "SpatialDropout2D": keep, "GaussianNoise": keep,
    "GaussianDropout": keep, "AlphaDropout": keep, "Activation": keep, "ReLU": keep, "LeakyReLU": keep,
    "Softmax": keep, "ELU": keep, "Rescaling": keep, "RandomFlip": keep, "RandomRotation": keep,
    "RandomZoom": keep, "RandomTranslation": keep, "RandomContrast": keep, "ActivityRegularization": keep,
    "BatchNormalization": batch_norm, "LayerNormalization": layer_norm, "GroupNormalization": group_norm,
    "Normalization": normalization, "UnitNormalization": keep, "Identity": keep,
    "Resizing": resize_to, "CenterCrop": resize_to, "RandomCrop": resize_to, "RandomBrightness": keep,
    "Embedding": embedding,
    "LSTM": rnn(4), "GRU": _gru, "SimpleRNN": rnn(1), "Bidirectional": bidirectional,
    "MultiHeadAttention": multi_head_attention,
    "Concatenate": concatenate, "Add": elementwise, "Subtract": elementwise, "Multiply": elementwise,
    "Average": elementwise, "Maximum": elementwise, "Minimum": elementwise,
    "ZeroPadding2D": zero_padding2d, "UpSampling2D": upsampling2d, "UpSampling1D": upsampling1d,
    "ZeroPadding1D": zero_padding1d,
}
for _name in APPLICATIONS:
    LAYERS[_name] = application

# keras.layers.concatenate([a, b]) and friends: the functional spellings build the layer
FUNCTIONAL_MERGES = {"concatenate": "Concatenate", "add": "Add", "subtract": "Subtract",
                     "multiply": "Multiply", "average": "Average", "maximum": "Maximum", "minimum": "Minimum"}

# the classes whose constructor argument ``activation`` makes the output probabilities
ACTIVATION_LAYERS = {"Dense", "Conv1D", "Conv2D", "Conv3D", "Activation"}


def snake_name(cls: str) -> str:
    """The name Keras gives an unnamed layer of class ``cls`` (``MaxPooling2D`` ->
    ``max_pooling2d``), before its per-name counter."""
    import re

    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", cls)
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def is_known(cls: str) -> bool:
    return cls in LAYERS

