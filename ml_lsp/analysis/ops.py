"""The calling convention for op shape rules (what a plugin's ``ml_lsp_shape_rules``
returns), and the small shape algebra rules are written with.

A rule for a function or tensor method is ``rule(call: OpCall) -> value``: ``call.args``
are the abstract arguments (for a tensor method the tensor itself is ``args[0]``, so
``x.view(...)`` and ``torch.view(x, ...)`` share one rule), a ``Tensor`` for a tensor, an
int / ``Sym`` for a size, ``UNK`` for anything unknown. It returns a ``Tensor``, a ``Seq``
of them, a scalar, or ``UNK``. A rule must never guess: a dim it cannot prove is ``None``.

A library module (``torch.nn.Linear``) is a ``LayerRule``: its constructor parameters,
the forward rule ``forward(layer: Ctor, call: OpCall)``, and optional parameter count,
signature and input hint (used to infer a ``forward`` parameter's shape from its first
consumer).

When arguments contradict each other provably (two different ints), a rule calls
``call.conflict(kind, message, expected=..., got=..., fix=("in_features", 100))`` and
returns what it can (usually ``unknown_tensor()``); the engine adds the span, the line
that built the layer and, for ``fix``, the edit of that constructor argument.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from typing import Callable, Optional

from ml_lsp.analysis import dims
from ml_lsp.analysis.dims import Sym, format_shape, render
from ml_lsp.analysis.values import NUM, UNK, Seq, Tensor, as_dim, is_tensor

MISSING = object()


class Args:
    """Positional and keyword arguments of a call, with the source nodes they came from."""

    def __init__(self, args=None, kwargs=None, arg_nodes=None, kw_nodes=None):
        self.args = list(args or [])
        self.kwargs = dict(kwargs or {})
        self.arg_nodes = list(arg_nodes or [None] * len(self.args))
        self.kw_nodes = dict(kw_nodes or {})

    def arg(self, i: int, name: Optional[str] = None, default=None):
        if name is not None and name in self.kwargs:
            return self.kwargs[name]
        if i is not None and 0 <= i < len(self.args):
            return self.args[i]
        return default

    def has(self, i: Optional[int], name: Optional[str] = None) -> bool:
        return (name is not None and name in self.kwargs) or (i is not None and 0 <= i < len(self.args))

    def node(self, i, name=None):
        if name is not None and name in self.kw_nodes:
            return self.kw_nodes[name]
        if i is not None and 0 <= i < len(self.arg_nodes):
            return self.arg_nodes[i]
        return None


class OpCall(Args):
    def __init__(self, qual: str, args=None, kwargs=None, arg_nodes=None, kw_nodes=None, layer=None):
        super().__init__(args, kwargs, arg_nodes, kw_nodes)
        self.qual = qual
        self.layer = layer  # the Layer value for a module call
        self.conflicts: list = []

    @property
    def name(self) -> str:
        return self.qual.rsplit(".", 1)[-1]

    def tensor(self, i: int, name: Optional[str] = None) -> Optional[Tensor]:
        v = self.arg(i, name)
        return v if is_tensor(v) else None

    def conflict(self, kind: str, message: str, expected: str = "", got: str = "", fix=None) -> None:
        """Record a provable contradiction; ``fix`` = (constructor parameter, new value)
        for a layer whose constructor argument should change."""
        self.conflicts.append({"kind": kind, "message": message, "expected": expected,
                               "got": got, "fix": fix})


class Ctor:
    """A layer's constructor arguments bound to its parameter names."""

    def __init__(self, rule: "LayerRule", args: Args):
        self.rule = rule
        self.args = args
        self.values: dict = dict(rule.defaults)
        self.nodes: dict = {}
        self.given: set = set()
        for i, v in enumerate(args.args):
            if i < len(rule.params):
                name = rule.params[i]
                self.values[name] = v
                self.nodes[name] = args.arg_nodes[i] if i < len(args.arg_nodes) else None
                self.given.add(name)
            elif rule.varargs:
                self.values.setdefault(rule.varargs, []).append(v)
        for k, v in args.kwargs.items():
            self.values[k] = v
            self.nodes[k] = args.kw_nodes.get(k)
            self.given.add(k)

    def __getitem__(self, name):
        return self.values.get(name, UNK)

    def get(self, name, default=None):
        return self.values.get(name, default)

    def dim(self, name):
        return as_dim(self.values.get(name, UNK))

    def int(self, name) -> Optional[int]:
        v = self.values.get(name)
        return v if isinstance(v, int) and not isinstance(v, bool) else None


@dataclass
class LayerRule:
    params: tuple
    forward: Callable
    defaults: dict = field(default_factory=dict)
    param_count: Optional[Callable] = None  # (ctor) -> int | None
    signature: Optional[Callable] = None  # (ctor) -> (in_shape, out_shape) | None
    input_hint: Optional[Callable] = None  # (ctor) -> (shape, dtype) | None
    keeps_shape: bool = False
    weights: Optional[Callable] = None  # (ctor) -> {attr: shape}
    varargs: Optional[str] = None  # e.g. Sequential's *modules
    input_hints: Optional[Callable] = None  # (ctor) -> [hint per positional input] (Bilinear, MHA)
    # (ctor) -> other input shapes the first consumer also accepts (Linear takes (B, in) and
    # (B, T, in)); the engine keeps the one the rest of forward does not contradict
    hint_alternatives: Optional[Callable] = None
    # the input takes any number of leading dims (Linear's (*, in), LayerNorm's): an input
    # it consumes first has an unknown rank, shown (*, in), not one of the alternatives.
    # Conv2d's unbatched (C, H, W) is an alternative to its documented (B, C, H, W), not that.
    any_leading_dims: bool = False
    # (ctor) -> {attribute: LayerSpec}: the layers the module builds in its constructor
    # (nn.Transformer's encoder), built when code reads them
    submodules: Optional[Callable] = None


@dataclass
class LayerSpec:
    """A layer a rule describes as built by another (``TransformerEncoder(TransformerEncoderLayer(
    d_model, nhead), 6)``): its qualified name and arguments, which may be LayerSpecs too."""
    qual: str
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)


def keep_shape_rule(**defaults) -> LayerRule:
    """A module whose output has its input's shape (activations, dropout, norms)."""
    return LayerRule(params=tuple(defaults), defaults=defaults, keeps_shape=True,
                     forward=lambda layer, call: same_as_input(call))


def same_as_input(call: OpCall, i: int = 0):
    t = call.tensor(i)
    if t is None:
        return UNK
    return Tensor(t.shape, t.dtype)


def unknown_tensor(dtype: Optional[str] = "float") -> Tensor:
    return Tensor(None, dtype)


# ---------------------------------------------------------------- shape algebra helpers

def dim_of(v):
    return as_dim(v)


def int_of(v) -> Optional[int]:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def dims_of(value) -> Optional[list]:
    """A size argument (a tuple/list/Size or a single int) as a list of dims; None when it
    is not known whether it is one number or a whole size (``UNK``)."""
    if isinstance(value, Seq):
        return [as_dim(x) for x in value.items]
    d = as_dim(value)
    if d is not None or value is NUM:
        return [d]
    return None


def sizes_from_args(call: OpCall, start: int, name: str = "size") -> Optional[list]:
    """``view(2, 3)`` and ``view((2, 3))`` both -> [2, 3]; None when not known."""
    if name in call.kwargs:
        return dims_of(call.kwargs[name])
    rest = call.args[start:]
    if len(rest) == 1 and isinstance(rest[0], Seq):
        return [as_dim(x) for x in rest[0].items]
    if not rest or (len(rest) == 1 and rest[0] is UNK):  # view(shape) of an unknown shape
        return None
    if any(isinstance(r, Seq) or is_tensor(r) for r in rest):
        return None
    return [as_dim(x) for x in rest]


def norm_axis(axis, rank: Optional[int]) -> Optional[int]:
    """A dim index made non-negative; None when unknown or out of range."""
    a = int_of(axis)
    if a is None or rank is None:
        return None
    if a < 0:
        a += rank
    return a if 0 <= a < rank else None


def axis_in_range(call: OpCall, axis, rank: Optional[int], what: str = "dim") -> bool:
    a = int_of(axis)
    if a is None or rank is None:
        return True
    if -rank <= a < rank or (rank == 0 and a in (0, -1)):
        return True
    call.conflict("dim_out_of_range",
                  f"{call.name}: {what}={a} is out of range for a tensor of rank {rank}",
                  expected=f"{what} in [{-rank}, {rank - 1}]", got=f"{what}={a}")
    return False


#: true while the engine tries input ranks (engine._ranks_that_run): a size symbol stands for
#: a size of 2 or more there, so D against 6·D is a clash (it is not for D = 1). A context
#: variable: the language server may analyse two files at once in two threads.
SIZES_NOT_ONE: contextvars.ContextVar = contextvars.ContextVar("sizes_not_one", default=False)


def _multiples(da, db) -> bool:
    """``db`` is ``k·da`` (or ``da`` is ``k·db``) for a whole k of 2 or more."""
    for k in range(2, 17):
        if dims.same(dims.mul(da, k), db) or dims.same(dims.mul(db, k), da):
            return True
    return False


def broadcast_shapes(a, b):
    """Broadcast two shapes; returns (shape, mismatch) where mismatch is (i, da, db) for a
    provable clash."""
    if a is None or b is None:
        return None, None
    out = []
    n = max(len(a), len(b))
    for i in range(1, n + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da == 1:
            out.append(db)
        elif db == 1:
            out.append(da)
        elif dims.same(da, db):
            out.append(da)
        elif isinstance(da, int) and isinstance(db, int):
            return None, (n - i, da, db)
        elif SIZES_NOT_ONE.get() and da is not None and db is not None and _multiples(da, db):
            return None, (n - i, da, db)
        elif isinstance(da, int) and da > 1:
            out.append(da)  # the other side is 1 or da, else the op raises
            dims.note_contract(db, da)
        elif isinstance(db, int) and db > 1:
            out.append(db)
            dims.note_contract(da, db)
        else:
            # one side may be 1 at run time: unknown unless both are known not 1 (on
            # inputs the engine inferred, sizes of 1 are not its guess: they must agree)
            dims.note_contract(da, db)
            out.append(None)
    return tuple(reversed(out)), None


def conv_out(length, kernel, stride=1, padding=0, dilation=1):
    """floor((L + 2p - d*(k-1) - 1) / s) + 1 over symbolic dims."""
    if any(x is None for x in (length, kernel, stride, padding, dilation)):
        return None
    eff = dims.add(dims.mul(dilation, dims.sub(kernel, 1)), 1)
    num = dims.sub(dims.add(length, dims.mul(2, padding)), eff)
    return dims.add(dims.floordiv(num, stride), 1)


def conv_transpose_out(length, kernel, stride=1, padding=0, output_padding=0, dilation=1):
    """(L-1)*s - 2p + d*(k-1) + output_padding + 1."""
    if any(x is None for x in (length, kernel, stride, padding, output_padding, dilation)):
        return None
    out = dims.sub(dims.mul(dims.sub(length, 1), stride), dims.mul(2, padding))
    out = dims.add(out, dims.mul(dilation, dims.sub(kernel, 1)))
    return dims.add(dims.add(out, output_padding), 1)


def tuple_n(value, n: int) -> Optional[list]:
    """``3`` -> [3]*n, ``(3, 5)`` -> [3, 5]; None when unknown."""
    if isinstance(value, Seq):
        items = [as_dim(x) for x in value.items]
        if len(items) == 1:
            return items * n
        return items if len(items) == n else None
    d = as_dim(value)
    return [d] * n


def sym(name: str) -> Sym:
    return Sym.named(name)


def numel(shape):
    if shape is None:
        return None
    return dims.product(shape)


__all__ = ["Args", "OpCall", "Ctor", "LayerRule", "keep_shape_rule", "same_as_input",
           "unknown_tensor", "dim_of", "int_of", "dims_of", "sizes_from_args", "norm_axis",
           "axis_in_range", "broadcast_shapes", "conv_out", "conv_transpose_out", "tuple_n",
           "sym", "numel", "Tensor", "Seq", "UNK", "NUM", "is_tensor", "as_dim", "format_shape",
           "render", "dims", "MISSING"]
