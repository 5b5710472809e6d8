"""Rules for tensor creation: randn/rand/zeros/ones/empty/full, randint/randperm,
arange/linspace/eye, tensor(data), the ``*_like`` and ``new_*`` families."""

from __future__ import annotations

from ml_lsp.analysis import dims
from ml_lsp.analysis.ops import NUM, UNK, OpCall, Seq, Tensor, as_dim, sizes_from_args, unknown_tensor
from ml_lsp_torch_shapes.shaping import dtype_of


def _dtype(call: OpCall, default):
    """The ``dtype=`` asked for; the default without one (or with ``dtype=None``), and
    unknown when it is a value the engine cannot read (``dtype=idx.dtype`` of a tensor of
    unknown dtype): guessing float there made token ids look like floats (a false SH006)."""
    given = call.kwargs.get("dtype")
    if given is None:
        return default
    d = dtype_of(given)
    return None if d is False else d


def sized(default_dtype="float"):
    def rule(call: OpCall):
        sizes = sizes_from_args(call, 0, "size")
        dt = _dtype(call, default_dtype)
        if sizes is None:
            return unknown_tensor(dt)
        if any(isinstance(d, int) and d < 0 for d in sizes):
            return unknown_tensor(dt)
        out = Tensor(tuple(sizes), dt)
        if call.name.endswith(("zeros", "ones")):
            out.fill = 0.0 if call.name.endswith("zeros") else 1.0
        return out
    return rule


def full(call: OpCall):
    sizes = sizes_from_args(call, 0, "size") if "size" in call.kwargs else (
        [as_dim(x) for x in call.args[0].items] if call.args and isinstance(call.args[0], Seq) else None)
    fill = call.arg(1, "fill_value")
    default = "bool" if isinstance(fill, bool) else "long" if isinstance(fill, int) else "float"
    dt = _dtype(call, default)
    return Tensor(tuple(sizes), dt) if sizes is not None else unknown_tensor(dt)


def randint(call: OpCall):
    # randint(high, size) or randint(low, high, size)
    size = call.kwargs.get("size")
    if size is None:
        size = next((a for a in call.args if isinstance(a, Seq)), None)
    dt = _dtype(call, "long")
    if not isinstance(size, Seq):
        return unknown_tensor(dt)
    return Tensor(tuple(as_dim(x) for x in size.items), dt)


def randperm(call: OpCall):
    n = as_dim(call.arg(0, "n"))
    return Tensor((n,), _dtype(call, "long"))


def arange(call: OpCall):
    args = list(call.args)
    for k in ("start", "end", "step"):
        if k in call.kwargs:
            args = None
            break
    if args is None:
        start, end, step = call.kwargs.get("start", 0), call.kwargs.get("end", UNK), call.kwargs.get("step", 1)
    elif len(args) == 1:
        start, end, step = 0, args[0], 1
    elif len(args) == 2:
        start, end, step = args[0], args[1], 1
    elif len(args) >= 3:
        start, end, step = args[0], args[1], args[2]
    else:
        return unknown_tensor("long")
    is_float = any(isinstance(v, float) for v in (start, end, step))
    dt = _dtype(call, "float" if is_float else "long")
    s, e, st = as_dim(start), as_dim(end), as_dim(step)
    if is_float or s is None or e is None or st is None or st == 0:
        return Tensor((None,), dt)
    if isinstance(s, int) and isinstance(e, int) and isinstance(st, int):
        return Tensor((max(0, len(range(s, e, st))),), dt)
    if st == 1:
        return Tensor((dims.sub(e, s),), dt)
    return Tensor((None,), dt)


def linspace(call: OpCall):
    n = as_dim(call.arg(2, "steps"))
    out = Tensor((n,), _dtype(call, "float"))
    if call.name.endswith("linspace"):  # linspace(0, 0.0, depth): every rate is 0
        out.fill = linspace_fill(call.arg(0, "start"), call.arg(1, "end"), n)
    return out


def linspace_fill(start, end, n):
    """The one value every element of ``linspace(start, end, n)`` takes, when there is one
    (start == end, or a single step); else None."""
    known = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (start, end))
    return float(start) if known and (start == end or n == 1) else None


def eye(call: OpCall):
    n = as_dim(call.arg(0, "n"))
    m = call.arg(1, "m")
    m = n if m is None else as_dim(m)
    return Tensor((n, m), _dtype(call, "float"))


def _nested_shape(v):
    if isinstance(v, Seq):
        if not v.items:
            return (0,), "float"
        subs = [_nested_shape(x) for x in v.items]
        if any(s is None for s in subs):
            return None
        first = subs[0][0]
        if any(s[0] != first for s in subs):
            return None
        dts = {s[1] for s in subs}
        dt = "float" if "float" in dts else ("long" if "long" in dts else dts.pop())
        return (len(v.items),) + first, dt
    if isinstance(v, bool):
        return (), "bool"
    if isinstance(v, int) or isinstance(v, dims.Sym):
        return (), "long"
    if isinstance(v, float):
        return (), "float"
    if v is NUM:  # a number the engine cannot name (hidden_size ** 0.5)
        return (), None
    if isinstance(v, Tensor) and v.shape is not None:
        return v.shape, v.dtype
    return None


def tensor(call: OpCall):
    data = call.arg(0, "data")
    found = _nested_shape(data)
    if found is None:
        return unknown_tensor(_dtype(call, None))
    shape, dt = found
    out = Tensor(shape, _dtype(call, dt))
    if type(data) in (bool, int, float):
        out.fill = data  # torch.tensor(False): its value is known (a flag kept as a buffer)
    return out


def like(default=None):
    def rule(call: OpCall):
        t = call.tensor(0, "input")
        if t is None:
            return UNK
        return Tensor(t.shape, _dtype(call, t.dtype if default is None else default))
    return rule


def full_like(call: OpCall):
    t = call.tensor(0, "input")
    if t is None:
        return UNK
    fill = call.arg(1, "fill_value")
    default = t.dtype if not isinstance(fill, float) or t.dtype == "float" else t.dtype
    return Tensor(t.shape, _dtype(call, default))


def new_sized(call: OpCall):
    t = call.tensor(0)
    if t is None:
        return UNK
    sizes = sizes_from_args(call, 1, "size")
    dt = _dtype(call, t.dtype)
    return Tensor(tuple(sizes), dt) if sizes is not None else unknown_tensor(dt)


def new_full(call: OpCall):
    t = call.tensor(0)
    if t is None:
        return UNK
    size = call.arg(1, "size")
    dt = _dtype(call, t.dtype)
    if isinstance(size, Seq):
        return Tensor(tuple(as_dim(x) for x in size.items), dt)
    return unknown_tensor(dt)


def new_tensor(call: OpCall):
    t = call.tensor(0)
    found = _nested_shape(call.arg(1, "data"))
    if t is None or found is None:
        return unknown_tensor(t.dtype if t else None)
    return Tensor(found[0], _dtype(call, found[1]))


def meshgrid(call: OpCall):
    ts = list(call.args)
    if len(ts) == 1 and isinstance(ts[0], Seq):
        ts = list(ts[0].items)
    if not ts or not all(isinstance(t, Tensor) for t in ts):
        return UNK
    lens = []
    for t in ts:
        if t.shape is None or len(t.shape) > 1:
            return UNK
        lens.append(t.shape[0] if t.shape else 1)
    if call.kwargs.get("indexing", "ij") == "xy" and len(lens) >= 2:
        lens[0], lens[1] = lens[1], lens[0]
    elif call.kwargs.get("indexing", "ij") not in ("ij", "xy"):
        return UNK
    return Seq([Tensor(tuple(lens), t.dtype) for t in ts], "tuple")


RULES = {}
for _n in ("randn", "rand", "zeros", "ones", "empty"):
    RULES[f"torch.{_n}"] = sized()
RULES["torch.full"] = full
RULES["torch.randint"] = randint
RULES["torch.randperm"] = randperm
RULES["torch.arange"] = arange
RULES["torch.linspace"] = RULES["torch.logspace"] = linspace
RULES["torch.eye"] = eye
RULES["torch.meshgrid"] = RULES["torch.functional.meshgrid"] = meshgrid
RULES["torch.tensor"] = RULES["torch.as_tensor"] = tensor
def legacy_constructor(dtype):
    """torch.FloatTensor(3, 4) allocates (3, 4); torch.FloatTensor([1, 2]) copies data."""
    def rule(call: OpCall):
        if call.args and isinstance(call.args[0], Seq):
            found = _nested_shape(call.args[0])
            return Tensor(found[0], dtype) if found else unknown_tensor(dtype)
        if len(call.args) == 1 and isinstance(call.args[0], Tensor):  # a numpy array or a tensor: its data
            return Tensor(call.args[0].shape, dtype)
        # Only known numbers are sizes: any other argument may be data (a numpy array, a
        # list built elsewhere), whose shape is not the shape of a 1-D tensor.
        if len(call.args) >= 2 and not any(isinstance(a, (Seq, Tensor)) for a in call.args):
            # torch.Tensor(input_dim, output_dim): data comes alone, so two or more
            # arguments are sizes, each unknown one a dim of unknown size
            return Tensor(tuple(as_dim(a) if isinstance(a, (int, dims.Sym)) and not isinstance(a, bool) else None
                                for a in call.args), dtype)
        if not call.args or not all(isinstance(a, int) or a is NUM or isinstance(a, dims.Sym)
                                    for a in call.args):
            return unknown_tensor(dtype)
        return Tensor(tuple(as_dim(a) for a in call.args), dtype)
    return rule


RULES["torch.LongTensor"] = legacy_constructor("long")
RULES["torch.FloatTensor"] = RULES["torch.Tensor"] = RULES["torch.DoubleTensor"] = legacy_constructor("float")
RULES["torch.BoolTensor"] = legacy_constructor("bool")
for _n in ("LongTensor", "FloatTensor", "DoubleTensor", "BoolTensor"):  # the same shapes on the GPU
    RULES[f"torch.cuda.{_n}"] = RULES[f"torch.{_n}"]
for _n in ("zeros_like", "ones_like", "empty_like", "randn_like", "rand_like"):
    RULES[f"torch.{_n}"] = like()
RULES["torch.randint_like"] = like()
RULES["torch.full_like"] = full_like
for _n in ("new_zeros", "new_ones", "new_empty"):
    RULES[f"torch.Tensor.{_n}"] = new_sized
RULES["torch.Tensor.new_full"] = new_full
RULES["torch.Tensor.new_tensor"] = new_tensor

