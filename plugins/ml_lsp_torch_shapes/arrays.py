"""Arrays made outside torch that a training script turns into tensors: numpy arrays of
known shape (``np.zeros((n, 3))``, ``np.random.randn(100, 8)``) and the scikit-learn toy
loaders (``load_digits``, ``load_iris``...) with ``train_test_split``.

A numpy array is a ``Tensor`` whose dtype is left unknown (float64 or int64 depending on
the call): ``torch.from_numpy``/``torch.tensor(..., dtype=)`` decide. ``fetch_openml`` and
any loader not listed give unknown (their shape depends on the data downloaded).
"""

from __future__ import annotations

import math

from ml_lsp.analysis.ops import OpCall
from ml_lsp.analysis.values import UNK, Obj, Seq, Tensor, as_dim
from ml_lsp_torch_shapes.creation import linspace_fill


def _sizes(v):
    if isinstance(v, Seq):
        out = [as_dim(x) for x in v.items]
        return tuple(out) if all(d is not None for d in out) else None
    d = as_dim(v)
    return (d,) if d is not None else None


def np_sized(param="shape"):
    def rule(call: OpCall):
        shape = _sizes(call.arg(0, param))
        return Tensor(shape, None) if shape is not None else UNK
    return rule


def np_linspace(call: OpCall):
    """np.linspace(start, stop, num=50): dinov2's drop-path rates."""
    n = as_dim(call.arg(2, "num", 50))
    if n is None:
        return UNK
    return Tensor((n,), None, fill=linspace_fill(call.arg(0, "start"), call.arg(1, "stop"), n))


def np_varargs(call: OpCall):
    """np.random.randn(100, 8) / rand(100, 8)."""
    dims_ = [as_dim(x) for x in call.args]
    if not dims_ or any(d is None for d in dims_):
        return UNK
    return Tensor(tuple(dims_), None)


def np_size_kw(index):
    """np.random.normal(0, 1, size=(n, 3)), randint(0, 10, size=n), uniform(...)."""
    def rule(call: OpCall):
        shape = _sizes(call.arg(index, "size"))
        return Tensor(shape, None) if shape is not None else UNK
    return rule


# name -> (samples, features, images shape or None)
TOY_LOADERS = {
    "load_digits": (1797, 64, (8, 8)),
    "load_iris": (150, 4, None),
    "load_wine": (178, 13, None),
    "load_breast_cancer": (569, 30, None),
    "load_diabetes": (442, 10, None),
}


def toy_loader(name):
    n, f, images = TOY_LOADERS[name]

    def rule(call: OpCall):
        x = Tensor((n, f), None, f"{name}().data")
        y = Tensor((n,), None, f"{name}().target")
        if call.kwargs.get("return_X_y") is True:
            return Seq([x, y])
        attrs = {"data": x, "target": y}
        if images is not None:
            attrs["images"] = Tensor((n, *images), None)
        return Obj(attrs, "Bunch")
    return rule


def train_test_split(call: OpCall):
    arrays = list(call.args)
    if not arrays or not all(isinstance(a, Tensor) and a.shape for a in arrays):
        return UNK
    n = arrays[0].shape[0]
    test_size = call.kwargs.get("test_size")
    train_size = call.kwargs.get("train_size")
    n_test = None
    if isinstance(n, int):
        if test_size is None and train_size is None:
            test_size = 0.25
        if isinstance(test_size, float):
            n_test = math.ceil(test_size * n)
        elif isinstance(test_size, int) and not isinstance(test_size, bool):
            n_test = test_size
        elif test_size is None and isinstance(train_size, float):
            n_test = n - math.floor(train_size * n)
        elif test_size is None and isinstance(train_size, int):
            n_test = n - train_size
    n_train = n - n_test if n_test is not None else None
    out = []
    for a in arrays:
        out.append(Tensor((n_train, *a.shape[1:]), a.dtype, a.origin))
        out.append(Tensor((n_test, *a.shape[1:]), a.dtype, a.origin))
    return Seq(out, "list")


RULES: dict = {}
for _np in ("numpy", "np"):
    for _n in ("zeros", "ones", "empty"):
        RULES[f"{_np}.{_n}"] = np_sized()
    RULES[f"{_np}.full"] = np_sized()
    RULES[f"{_np}.random.randn"] = RULES[f"{_np}.random.rand"] = np_varargs
    RULES[f"{_np}.random.random"] = np_sized("size")
    RULES[f"{_np}.random.normal"] = RULES[f"{_np}.random.uniform"] = np_size_kw(2)
    RULES[f"{_np}.random.randint"] = np_size_kw(2)
    RULES[f"{_np}.linspace"] = np_linspace
for _n in TOY_LOADERS:
    RULES[f"sklearn.datasets.{_n}"] = toy_loader(_n)
RULES["sklearn.model_selection.train_test_split"] = train_test_split
