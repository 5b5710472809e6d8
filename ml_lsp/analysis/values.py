"""Abstract values the interpreter computes with.

Python constants (int, float, str, bool, None) stand for themselves; a ``Sym`` is a
symbolic int; ``UNK`` is "anything". Everything else is one of the classes below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ml_lsp.analysis import dims


class _Unknown:
    __slots__ = ()

    def __repr__(self):
        return "UNK"

    def __bool__(self):
        return False


UNK = _Unknown()


class _UnknownNumber:
    """A Python number whose value is not known (``x.size(0)`` of an unknown dim,
    ``torch.finfo(dtype).min``, ``int(...)``): never a tensor, so a tensor combined with it
    keeps its shape. ``UNK`` may be anything, a tensor of any shape included."""
    __slots__ = ()

    def __repr__(self):
        return "NUM"

    def __bool__(self):
        return False


NUM = _UnknownNumber()


@dataclass(eq=False)
class Tensor:
    shape: Optional[tuple]  # tuple of dims, None = unknown rank
    dtype: Optional[str] = "float"
    origin: str = ""
    probe: Optional[str] = None  # set on a parameter whose shape is being inferred
    param: bool = False  # an nn.Parameter (counted in parameter totals)
    guess: bool = False  # derived from an input whose shape was inferred, not known:
    # shapes are still shown, but no contradiction is reported from it (its rank may be off)
    tail: Optional[tuple] = None  # with shape None: the last dims are known, the rank is not
    # (``(*, 256)``: broadcast with an operand that may be any tensor, Linear on such a value)
    star_of: Optional[str] = None  # with a tail: the forward input whose unknown leading dims
    # the star stands for (Linear and activations keep them): unpacking ``b, n, _ = h.shape``
    # then tells that input's rank
    layout: Optional[tuple] = None  # memory order, where known (ml_lsp_torch_shapes.layout):
    # for each dim, the dim of a contiguous tensor it came from; None = not known

    source: str = ""  # where the data came from (provenance: "MNIST batches of 64, train.py:31")
    fill: Optional[float] = None  # every element is this number (zeros, linspace(0, 0, n)):
    # timm's `dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]` with a rate
    # of 0 decides `DropPath(dpr[i]) if dpr[i] > 0. else nn.Identity()`
    vague: bool = False  # a known layer's output on a value the engine could not follow (a
    # Conv2d's (*, 1280, ?, ?); with no tail, an Identity's): a block called with it learns less
    # than from its own inferred input, and an op that mixes it with a tensor the engine
    # followed answers as if it were unknown (interp._as_if_vague_unknown)

    @property
    def rank(self):
        return None if self.shape is None else len(self.shape)

    @property
    def shown_shape(self) -> Optional[tuple]:
        """The shape as facts hold it: ``(STAR, *tail)`` for a known tail of unknown rank."""
        if self.shape is None and self.tail:
            return (dims.STAR, *self.tail)
        return self.shape


@dataclass(eq=False)
class Seq:
    """A Python tuple or list (``kind`` "tuple"/"list"), or a ``torch.Size`` ("size")."""
    items: list
    kind: str = "tuple"
    names: Optional[list] = None  # a named tuple's field names (torch.return_types)


@dataclass(eq=False)
class SeqPrefix:
    """A tuple or list whose first ``items`` are known and whose length is not
    (``tuple(inputs) + tuple(self.parameters())``): indexing and slicing within the known
    items give them; anything else about it is unknown."""
    items: list
    kind: str = "tuple"
    # items that come after the known ones for some count nobody knows (the trips of a loop
    # run): a Sequential built from them runs them, for the records of the modules they are,
    # and its answer is unknown
    maybe: list = field(default_factory=list)


@dataclass(eq=False)
class Repeated:
    """A list of unknown length whose items are alike: ``range(n)`` (numbers),
    ``[Block(cfg) for _ in range(n)]`` (one block, built once, stands for each)."""
    item: Any
    kind: str = "list"


@dataclass(eq=False)
class DictVal:
    items: dict  # python-constant key -> value
    ordered: bool = False
    # what was stored under a key the engine cannot tell (timm's bias cache keyed by
    # str(device)): a read with an unknown key from a dict holding only such items gets it
    unknown_key: Any = None


@dataclass(eq=False)
class Ref:
    """A name from outside the file: ``torch.nn.Linear``, ``math.sqrt``, ``numpy``."""
    qual: str


@dataclass(eq=False)
class Layer:
    """An instance of a library module (``nn.Linear(784, 128)``) with its constructor
    arguments; ``rule`` is the op rule that knows its shapes."""
    qual: str
    rule: Any
    ctor: Any  # Args
    call_text: str = ""
    line: int = 0
    col: int = 0
    end_line: int = 0
    end_col: int = 0
    children: Optional[list] = None  # Sequential / ModuleList items
    child_names: Optional[list] = None
    attrs: dict = field(default_factory=dict)  # set by user code (self.fc.weight = ...)
    repeat: Any = None  # children of unknown count, all alike: one of them (see Repeated)
    maybe_children: Optional[list] = None  # known first children, then maybe more (SeqPrefix.maybe)

    @property
    def name(self):
        return self.qual.rsplit(".", 1)[-1]


@dataclass(eq=False)
class ClassVal:
    name: str
    node: Any  # ast.ClassDef
    bases: list  # values (ClassVal or Ref)
    module: Any  # the interpreter's module context
    attrs: dict = field(default_factory=dict)  # class-level assignments and methods
    qualname: str = ""
    # computed once, on first use: every attribute lookup walks it
    _mro: Optional[tuple] = field(default=None, repr=False)
    _is_module: Optional[bool] = field(default=None, repr=False)
    mro_error: Optional[str] = field(default=None, repr=False)  # why there is no consistent order

    def mro(self) -> tuple:
        """The user classes in Python's method resolution order (C3), this class first;
        library bases (``nn.Module``) are ``Ref`` values and stay out of it. A hierarchy
        Python would refuse (inconsistent order, or a cycle that only a half-typed file
        can produce) is just this class: its inherited names are then unknown."""
        if self._mro is None:
            self._mro = (self,)  # a base reached again while linearising is a cycle: stop there
            order, error = c3_linearization(self)
            self._mro = order
            self.mro_error = error
        return self._mro

    def lookup(self, name):
        for c in self.mro():
            if name in c.attrs:
                return c.attrs[name]
        return None

    @property
    def is_module(self) -> bool:
        if self._is_module is None:
            self._is_module = any(isinstance(b, Ref) and (b.qual in MODULE_BASES or b.qual.startswith("torch.nn."))
                                  for c in self.mro() for b in c.bases) or self._looks_like_module()
        return self._is_module

    def _looks_like_module(self) -> bool:
        """A base we cannot see (``from models import BaseVAE`` outside the files we read)
        and a ``forward`` of its own, in a file that uses torch: a model, as its reader
        would take it."""
        if not any("forward" in c.attrs for c in self.mro()):
            return False
        if not any(not isinstance(b, ClassVal) for c in self.mro() for b in c.bases):
            return False
        text = getattr(self.module, "text", "") or ""
        return "import torch" in text or "from torch" in text

    @property
    def is_dataclass(self) -> bool:
        """Decorated ``@dataclass``, or below a base marked ``@dataclass_transform`` (PEP 681:
        the base makes every subclass a dataclass, as transformers' PreTrainedConfig does)."""
        if any(_decorator_name(d) in ("dataclass", "dataclasses.dataclass")
               for d in getattr(self.node, "decorator_list", [])):
            return True
        return any(_decorator_name(d).rsplit(".", 1)[-1] == "dataclass_transform"
                   for c in self.mro()[1:] for d in getattr(c.node, "decorator_list", []))


def c3_linearization(cls: ClassVal) -> tuple:
    """(order, error): ``cls`` followed by the C3 merge of its bases' orders and the base
    list, as ``type.__mro__`` computes it; (``(cls,)``, reason) when no order exists."""
    bases = [b for b in cls.bases if isinstance(b, ClassVal)]
    if any(b is cls for b in bases):
        return (cls,), "a class cannot inherit from itself"
    sequences = []
    for b in bases:
        order = b.mro()
        if cls in order:  # only an abstract value can do this (Python's classes exist first)
            return (cls,), "cyclic inheritance"
        sequences.append(list(order))
    sequences.append(list(bases))
    # The merge: take the first head that is in no sequence's tail. Counting tail
    # occurrences keeps each step at O(number of bases) instead of rescanning every tail.
    in_tail: dict = {}
    for seq in sequences:
        for c in seq[1:]:
            in_tail[c] = in_tail.get(c, 0) + 1
    at = [0] * len(sequences)
    out = [cls]
    while True:
        head = None
        for seq, i in zip(sequences, at):
            if i < len(seq) and not in_tail.get(seq[i]):
                head = seq[i]
                break
        if head is None:
            if all(i >= len(seq) for seq, i in zip(sequences, at)):
                return tuple(out), None
            names = ", ".join(b.name for b in bases)
            return (cls,), f"cannot create a consistent method resolution order for bases {names}"
        out.append(head)
        for k, seq in enumerate(sequences):
            i = at[k]
            if i < len(seq) and seq[i] is head:
                at[k] = i + 1
                if i + 1 < len(seq):
                    in_tail[seq[i + 1]] -= 1


MODULE_BASES = {"torch.nn.Module", "torch.nn.modules.module.Module", "lightning.LightningModule",
                "pytorch_lightning.LightningModule", "lightning.pytorch.LightningModule"}


def _decorator_name(node) -> str:
    import ast
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return ""


@dataclass(eq=False)
class Instance:
    cls: ClassVal
    attrs: dict = field(default_factory=dict)
    ctor_line: int = 0
    # False when a call inside its __init__ was cut (call-depth bound, recursion): some of
    # its layers may be missing, so its parameter count is unknown rather than too small
    complete: bool = True


@dataclass(eq=False)
class Choice:
    """One of several modules (or functions, classes), which one undecided: ``DropPath(p)
    if p > 0. else nn.Identity()`` with ``p`` unknown. Calling it calls each and joins the
    outputs, so a choice between shape-keeping layers keeps the shape; anything else about it
    is unknown."""
    options: list


@dataclass(eq=False)
class Func:
    node: Any  # ast.FunctionDef / ast.Lambda
    module: Any
    qualname: str
    closure: Optional[dict] = None
    owner: Optional[ClassVal] = None


@dataclass(eq=False)
class Bound:
    """A method bound to a receiver: a user function with self, or a builtin method on a
    tensor / list / dict (``func`` is then the method's name)."""
    receiver: Any
    func: Any


@dataclass(eq=False)
class Partial:
    func: Any
    args: list
    kwargs: dict


@dataclass(eq=False)
class Obj:
    """A plain namespace: argparse results, SimpleNamespace, a dict-like config."""
    attrs: dict
    name: str = "namespace"


def is_tensor(v) -> bool:
    return isinstance(v, Tensor)


def as_dim(v):
    """A scalar value as a dim (int/Sym), else None."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int) or isinstance(v, dims.Sym):
        return v
    if isinstance(v, float) and v.is_integer():
        return None  # a float where a size is expected: don't guess
    return None


def _is_number(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) or isinstance(v, dims.Sym)


def _common_tail(a: "Tensor", b: "Tensor") -> Optional[tuple]:
    """The last dims two tensors of different (or unknown) ranks share: a value that is
    (B, T, 64) on one path and (B, 64) on another is (*, 64)."""
    sa = a.shape if a.shape is not None else a.tail
    sb = b.shape if b.shape is not None else b.tail
    if not sa or not sb:
        return None
    return dims.common_tail([sa, sb]) or None


def join(a, b):
    """Least upper bound of two abstract values: equal parts kept, differing parts unknown."""
    if a is b:
        return a
    if a is UNK or b is UNK:
        return UNK
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        shape = dims.join_shape(a.shape, b.shape)
        dtype = a.dtype if a.dtype == b.dtype else None
        tail = None if shape is not None else _common_tail(a, b)
        return Tensor(shape, dtype, a.origin if a.origin == b.origin else "", guess=a.guess or b.guess,
                      tail=tail, star_of=a.star_of if tail and a.star_of == b.star_of else None,
                      source=a.source if a.source == b.source else "",
                      fill=a.fill if a.fill == b.fill else None,
                      # a path on which a value was vague: what the join keeps is as vague
                      vague=(a.vague or b.vague) and shape is None)
    if _zero_d_of(a, b) or _zero_d_of(b, a):
        # transformers' cache layers: one kind answers get_seq_length() with 0, another with
        # torch.tensor(0): the same number, whichever
        return a if isinstance(a, int) else b
    if (a is NUM or _is_number(a)) and (b is NUM or _is_number(b)):
        return a if dims.is_dim(a) and dims.is_dim(b) and dims.same(a, b) else NUM
    if isinstance(a, Seq) and isinstance(b, Seq):
        if len(a.items) == len(b.items) and a.kind == b.kind:
            return Seq([join(x, y) for x, y in zip(a.items, b.items)], a.kind)
        return UNK
    if dims.is_dim(a) and dims.is_dim(b):
        return a if dims.same(a, b) else UNK
    if isinstance(a, DictVal) and isinstance(b, DictVal) and a.items.keys() == b.items.keys():
        # the same keys on both paths (kwargs after an `if` that may rebuild them): each value
        # joined; a key present on one path only could be either, which a DictVal cannot say
        return DictVal({k: join(v, b.items[k]) for k, v in a.items.items()}, a.ordered and b.ordered,
                       join_unknown_key(a.unknown_key, b.unknown_key))
    try:
        if type(a) is type(b) and not isinstance(a, (Layer, Instance, Func, ClassVal, DictVal, Obj)) and a == b:
            return a
    except Exception:
        return UNK
    if is_callable_value(a) and is_callable_value(b):
        # two modules a path may end with (a try/except that retries without inplace=,
        # an if with a Linear in one arm and an Identity in the other), or two functions or
        # classes (PyTorch-GAN's `Tensor = torch.cuda.FloatTensor if cuda else
        # torch.FloatTensor`, torchtune's _attention_call defined one way or the other under a
        # flag): either one, and calling it calls each
        options = module_options(a)
        for o in module_options(b):
            if not any(o is x or (isinstance(o, Ref) and isinstance(x, Ref) and o.qual == x.qual) or same_build(o, x)
                       for x in options):
                options.append(o)
        if len(options) == 1:
            return options[0]
        if len(options) <= MAX_CHOICES:
            return Choice(options)
    other = b if a is None else a if b is None else UNK
    if isinstance(other, Instance) or is_module_value(other):
        # an object built on one path only (transformers' `if use_cache: cache = DynamicCache()`,
        # torchvision's `downsample = None` then a Sequential): it, or None; reading from it or
        # calling it is the path where it is the object
        options = [None] + [o for o in module_options(other) if o is not None]
        if len(options) <= MAX_CHOICES:
            return Choice(options)
    return UNK


MAX_CHOICES = 8


def join_unknown_key(a, b):
    """Two paths' items stored under unknown keys: a path that stored none kept the other's."""
    return b if a is None else a if b is None else join(a, b)


def _zero_d_of(n, t) -> bool:
    """Whether ``t`` is a 0-d tensor known to hold the int ``n``."""
    return isinstance(n, int) and not isinstance(n, bool) and isinstance(t, Tensor) and t.shape == () \
        and t.fill is not None and not isinstance(t.fill, bool) and t.fill == n


def same_build(a, b, depth: int = 6) -> bool:
    """Whether two modules were built alike: the same constructor line with equal arguments
    and sub-modules (the two trips of a loop of unknown count run to build one block each).
    Either stands for both; calling both would double the work and say nothing more."""
    if a is b:
        return True
    if depth == 0 or type(a) is not type(b):
        return False
    if a is None or isinstance(a, (bool, int, float, str)):
        return a == b
    if isinstance(a, dims.Sym):
        return a == b
    if isinstance(a, Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and a.tail == b.tail
    if isinstance(a, Seq):
        return len(a.items) == len(b.items) and all(same_build(x, y, depth - 1) for x, y in zip(a.items, b.items))
    if isinstance(a, Instance):
        return a.cls is b.cls and a.ctor_line == b.ctor_line and a.attrs.keys() == b.attrs.keys() and \
            all(same_build(a.attrs[k], b.attrs[k], depth - 1) for k in a.attrs)
    if isinstance(a, Layer):
        if (a.qual, a.line, a.col, a.repeat is None) != (b.qual, b.line, b.col, b.repeat is None):
            return False
        ca, cb = a.ctor, b.ctor
        if (ca is None) != (cb is None) or (a.children is None) != (b.children is None):
            return False
        if ca is not None and (getattr(ca, "values", {}).keys() != getattr(cb, "values", {}).keys() or not all(
                same_build(v, cb.values[k], depth - 1) for k, v in ca.values.items())):
            return False
        if a.children is not None and (len(a.children) != len(b.children) or not all(
                same_build(x, y, depth - 1) for x, y in zip(a.children, b.children))):
            return False
        return a.attrs.keys() == b.attrs.keys() and all(same_build(a.attrs[k], b.attrs[k], depth - 1) for k in a.attrs)
    return False


def is_module_value(v) -> bool:
    """A module: a library layer, an instance of a model class, or a choice of those."""
    if isinstance(v, Choice):  # (a module or None: see join)
        return all(o is None or is_module_value(o) for o in v.options) and any(o is not None for o in v.options)
    return isinstance(v, Layer) or (isinstance(v, Instance) and v.cls.is_module)


def is_callable_value(v) -> bool:
    """A module, a function, a class or a library name (``torch.FloatTensor``), or a choice
    of those."""
    if isinstance(v, Choice):
        return True
    return is_module_value(v) or isinstance(v, (Ref, Func, ClassVal, Bound, Partial))


def module_options(v) -> list:
    return list(v.options) if isinstance(v, Choice) else [v]
