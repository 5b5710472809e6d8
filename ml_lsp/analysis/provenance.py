"""Data provenance: the abstract values of a data pipeline, from where data is made
(a dataset, a tokenizer, a numpy array) to the batches a training loop feeds the model.

The values here are what the data-source rules return (``torchvision.datasets.MNIST``,
``torch.utils.data.DataLoader``, a tokenizer call, ``sklearn.datasets.load_digits``: each a
shape rule in the plugin that owns it, registered through ``ml_lsp_shape_rules`` like any
op rule). The interpreter asks them four things, through the small ``SourceValue``
protocol: an attribute, a method call, a call of the value itself, and what one step of
iterating it yields. Everything stays pure: no I/O, nothing imported or executed.

A batch dim is exact only when every batch has it (``drop_last=True``, or a dataset whose
known size the batch size divides); otherwise it is the symbol ``B``, and the batch size
goes into the tensor's origin (``MNIST batches of 64, train.py:31``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from ml_lsp.analysis import dims
from ml_lsp.analysis.ops import Args
from ml_lsp.analysis.values import NUM, UNK, Bound, DictVal, Seq, Tensor, as_dim

BATCH = dims.Sym.named("B")  # a batch dim that varies between batches


class SourceValue:
    """A value of a data pipeline. Subclasses answer what they know; the defaults are
    "unknown", so a method nobody modelled gives ``UNK``, never a guess."""

    origin: str = ""

    def attr(self, name: str):
        return Bound(self, name)

    def method(self, name: str, a: Args):
        if name in ("to", "cuda", "cpu", "pin_memory"):
            return self
        return UNK

    def method_in(self, name: str, a: Args, interp):
        """``method``, for the few values that run a user's function (``ds.map(fn)``)."""
        return self.method(name, a)

    def call(self, a: Args):
        return UNK

    def element(self):
        """What one step of ``for x in value`` gives (``None``: not iterable as data)."""
        return None

    def length(self):
        return None


@dataclass(eq=False)
class Image(SourceValue):
    """A PIL image as a dataset yields it before ``ToTensor``: height, width, channels."""
    height: object = None
    width: object = None
    channels: object = None
    origin: str = ""

    def method(self, name, a):
        if name == "convert":  # img.convert("RGB"): the channels the mode has
            mode = a.arg(0, "mode")
            channels = {"RGB": 3, "L": 1, "RGBA": 4, "1": 1, "I": 1, "F": 1, "CMYK": 4, "YCbCr": 3,
                        "LAB": 3, "HSV": 3}.get(mode) if isinstance(mode, str) else None
            return Image(self.height, self.width, channels, self.origin)
        if name == "resize":  # PIL sizes are (width, height)
            size = a.arg(0, "size")
            if isinstance(size, Seq) and len(size.items) == 2:
                w, h = (as_dim(x) for x in size.items)
                return Image(h, w, self.channels, self.origin)
            return Image(None, None, self.channels, self.origin)
        if name in ("copy", "filter"):
            return self
        return UNK


@dataclass(eq=False)
class Transform(SourceValue):
    """A transform (``ToTensor()``, ``Resize(256)``, a ``Compose``): a function on one sample."""
    apply: Callable = None
    name: str = ""

    def call(self, a: Args):
        return self.apply(a.args[0]) if a.args else UNK


@dataclass(eq=False)
class Dataset(SourceValue):
    """A map-style dataset: ``sample`` is what ``dataset[i]`` gives, ``size`` its length."""
    sample: object = UNK
    name: str = "dataset"
    size: object = None
    where: str = ""
    attrs: dict = field(default_factory=dict)

    @property
    def origin(self):
        return self.name

    def attr(self, name):
        if name in self.attrs:
            return self.attrs[name]
        return Bound(self, name)

    def method(self, name, a):
        if name in ("with_format", "set_format", "with_transform", "shuffle", "select", "filter"):
            return Dataset(self.sample, self.name, None if name in ("select", "filter") else self.size,
                           self.where, dict(self.attrs))
        if name == "__getitem__":
            return self.sample
        return UNK

    def element(self):
        return self.sample

    def length(self):
        return self.size


@dataclass(eq=False)
class Loader(SourceValue):
    """A ``DataLoader``: each step gives the dataset's sample collated into a batch."""
    dataset: object = UNK
    batch_size: object = 1
    drop_last: bool = False
    collate_known: bool = True
    where: str = ""

    def batch_dim(self):
        bs = as_dim(self.batch_size)
        if bs is None:
            return BATCH
        size = self.dataset.length() if isinstance(self.dataset, SourceValue) else None
        if self.drop_last or (isinstance(bs, int) and isinstance(size, int) and bs and size % bs == 0):
            return bs
        if isinstance(bs, int) and isinstance(size, int) and 0 < size <= bs:
            return size  # one batch, the whole dataset
        return BATCH

    def describe(self) -> str:
        name = getattr(self.dataset, "name", None) or getattr(getattr(self.dataset, "cls", None), "name", None) \
            or "dataset"
        bs = as_dim(self.batch_size)
        text = f"{name} batches" + (f" of {dims.render(bs)}" if bs is not None else "")
        return f"{text}, {self.where}" if self.where else text

    def attr(self, name):
        if name == "dataset":
            return self.dataset
        if name == "batch_size":
            return self.batch_size
        return Bound(self, name)

    def element(self, sample_of=None):
        """``sample_of(dataset)``: a sample of a dataset that is no ``SourceValue`` (a user's
        ``Dataset`` class, whose ``__getitem__`` the interpreter runs)."""
        if not self.collate_known:
            return UNK
        if isinstance(self.dataset, SourceValue):
            sample = self.dataset.element()
        else:
            sample = sample_of(self.dataset) if sample_of is not None else None
        if sample is None or sample is UNK:
            return UNK
        if self.batch_size is None:  # batch_size=None: samples as they are
            return sample
        return collate(sample, self.batch_dim(), self.describe())

    def length(self):
        size = self.dataset.length() if isinstance(self.dataset, SourceValue) else None
        bs = self.batch_size
        if isinstance(size, int) and isinstance(bs, int) and bs > 0:
            return size // bs if self.drop_last else -(-size // bs)
        return NUM


@dataclass(eq=False)
class Stream(SourceValue):
    """``iter(loader)``, ``enumerate(loader)``, ``zip(a, b)``: what each step gives."""
    item: object = UNK

    def element(self):
        return self.item


@dataclass(eq=False)
class Encoding(DictVal, SourceValue):
    """A tokenizer's ``BatchEncoding``: a dict of tensors that also answers ``.to(device)``
    and attribute access (``enc.input_ids``)."""

    def attr(self, name):
        if name in self.items:
            return self.items[name]
        return Bound(self, name)

    def method(self, name, a):
        if name in ("to", "cuda", "cpu", "pin_memory"):
            return self
        if name == "keys":
            return Seq(list(self.items), "list")
        if name == "values":
            return Seq(list(self.items.values()), "list")
        if name == "items":
            return Seq([Seq([k, v]) for k, v in self.items.items()], "list")
        if name == "get" and a.args and a.args[0] in self.items:
            return self.items[a.args[0]]
        return UNK


def collate(sample, batch, origin: str):
    """``default_collate`` of one sample, the batch dim put in front of every tensor."""
    if isinstance(sample, Tensor):
        if sample.shape is None:
            return Tensor(None, sample.dtype, origin, source=origin)
        return Tensor((batch, *sample.shape), sample.dtype, origin, source=origin)
    if isinstance(sample, bool):
        return Tensor((batch,), "bool", origin, source=origin)
    if isinstance(sample, int):
        return Tensor((batch,), "long", origin, source=origin)
    if sample is NUM:
        return Tensor((batch,), None, origin, source=origin)
    if isinstance(sample, float):
        return Tensor((batch,), "float", origin, source=origin)
    if isinstance(sample, Seq) and sample.kind in ("tuple", "list"):
        items = [collate(x, batch, origin) for x in sample.items]
        return Seq(items, "list")
    if isinstance(sample, DictVal):
        return DictVal({k: collate(v, batch, origin) for k, v in sample.items.items()}, sample.ordered)
    return UNK  # a PIL image, a string, an unknown: default_collate's answer is not a tensor we know


def element_of(value, interp=None):
    """What one step of iterating ``value`` gives, or ``None`` when it is no data source.
    ``interp``: the interpreter, which runs a user ``Dataset``'s ``__getitem__``."""
    if isinstance(value, Loader):
        return value.element((lambda ds: user_sample(interp, ds)) if interp is not None else None)
    if isinstance(value, SourceValue):
        return value.element()
    return None


def user_sample(interp, dataset):
    """``dataset[i]`` of a user's ``Dataset`` class: its ``__getitem__`` run with an unknown
    index, quietly (no bindings recorded); ``None`` when there is none to run."""
    from ml_lsp.analysis.values import Func, Instance

    if not isinstance(dataset, Instance):
        return None
    getitem = dataset.cls.lookup("__getitem__")
    if not isinstance(getitem, Func):
        return None
    # a symbolic index: series[i:i + 20] is 20 long whatever i is
    return run_quietly(interp, getitem, Args([dataset, dims.Sym.named("index")]), failed=None)


def run_quietly(interp, fn, args: Args, failed=UNK):
    """What a user function returns, run with no bindings recorded (it is run for the data
    it makes, not shown); ``failed`` when it cannot be run or raises."""
    from ml_lsp.analysis.values import Func

    if interp is None or not isinstance(fn, Func):
        return failed
    was = interp.recording
    interp.recording = False
    try:
        return interp.call_func(fn, args, None)
    except Exception:  # the budget, an engine bug: nothing known
        return failed
    finally:
        interp.recording = was


BUILTINS = frozenset(("iter", "next", "enumerate", "zip", "len"))


def builtin(name: str, args: list, interp=None):
    """``iter``/``next``/``enumerate``/``zip``/``len`` of data sources (``None``: not ours)."""
    if not args or not any(isinstance(a, SourceValue) for a in args):
        return None
    first = args[0]
    if name == "iter" and isinstance(first, SourceValue):
        elem = element_of(first, interp)
        return Stream(elem if elem is not None else UNK)
    if name == "next" and isinstance(first, SourceValue):
        elem = element_of(first, interp)
        return elem if elem is not None else UNK
    if name == "enumerate" and isinstance(first, SourceValue):
        elem = element_of(first, interp)
        return Stream(Seq([NUM, elem if elem is not None else UNK]))
    if name == "zip":
        items = []
        for a in args:
            elem = element_of(a, interp)
            if elem is None:
                return Stream(UNK)
            items.append(elem)
        return Stream(Seq(items))
    if name == "len" and isinstance(first, SourceValue):
        n = first.length()
        return n if n is not None else NUM
    return None


def stamp(value, path: Optional[str], node) -> None:
    """Where a data source was made (``train.py:31``), for the origin its batches carry."""
    if isinstance(value, (Loader, Dataset)) and not value.where and node is not None:
        import os
        value.where = f"{os.path.basename(path) if path else '<text>'}:{node.lineno}"
    elif isinstance(value, Seq):
        for item in value.items:
            stamp(item, path, node)


def keep_source(out, first) -> None:
    """A shape-keeping op (``.to(device)``, ``.float()``) keeps where its input came from."""
    if isinstance(out, Tensor) and isinstance(first, Tensor) and first.source and not out.source \
            and out.shape is not None and first.shape is not None and dims.join_shape(out.shape, first.shape) == out.shape:
        out.source = first.source


SEQ_LEN = dims.Sym.named("T")  # a padded length that depends on the texts


@dataclass(eq=False)
class Tokenizer(SourceValue):
    """A Hugging Face tokenizer: ``tok(texts, padding="max_length", max_length=N,
    return_tensors="pt")`` gives ``input_ids``/``attention_mask`` of shape (len(texts), N)."""
    name: str = "tokenizer"

    def call(self, a: Args):
        texts = a.arg(0, "text")
        if isinstance(texts, str):
            n = 1
        elif isinstance(texts, Seq):
            n = len(texts.items)
        else:
            n = BATCH
        padding = a.kwargs.get("padding", False)
        max_length = as_dim(a.kwargs.get("max_length"))
        if padding == "max_length" and max_length is not None:
            length = max_length
        elif padding in (True, "longest") or (padding is False and a.kwargs.get("truncation") is None):
            length = SEQ_LEN
        else:
            length = SEQ_LEN
        origin = f"{self.name} tokens" + (f" (max_length={dims.render(length)})" if length is max_length else "")
        if a.kwargs.get("return_tensors") != "pt":  # lists of ids, as datasets' .map wants them
            return Encoding({"input_ids": TokenRows(length, origin), "attention_mask": TokenRows(length, origin)})
        ids = Tensor((n, length), "long", origin, source=origin)
        mask = Tensor((n, length), "long", origin, source=origin)
        return Encoding({"input_ids": ids, "attention_mask": mask})

    def method(self, name, a):
        if name in ("__call__", "batch_encode_plus", "encode_plus"):
            return self.call(a)
        return UNK


@dataclass(eq=False)
class TokenRows:
    """A tokenizer's ids as lists (no ``return_tensors``), every row ``length`` long: a
    column that ``with_format("torch")`` turns into tensors of shape (length,)."""
    length: object
    origin: str = ""


class HFDataset(SourceValue):
    """A Hugging Face ``datasets`` dataset (``load_dataset(...)["train"]``): its columns
    as far as the code shows them. ``map(fn, batched=True)`` runs ``fn`` on a batch of
    unknown columns and keeps the columns it returns; ``with_format("torch")`` (or
    ``set_format``) makes each row a dict of tensors, which a DataLoader collates."""

    def __init__(self, columns: dict | None = None, torch_format: bool = False, name: str = "dataset",
                 where: str = "", keep: list | None = None):
        self.columns = dict(columns or {})  # name -> TokenRows (known) or UNK
        self.torch_format, self.name, self.where, self.keep = torch_format, name, where, keep

    @property
    def origin(self):
        return self.name

    def _copy(self, **changes):
        out = HFDataset(self.columns, self.torch_format, self.name, self.where, self.keep)
        for key, value in changes.items():
            setattr(out, key, value)
        return out

    def _format(self, a: Args):
        kind = a.arg(0, "type")
        if kind not in ("torch", "pt"):
            return self._copy(torch_format=False)
        cols = a.arg(1, "columns")
        keep = [c for c in cols.items if isinstance(c, str)] if isinstance(cols, Seq) else None
        return self._copy(torch_format=True, keep=keep)

    def method_in(self, name, a, interp):
        if name == "map":
            fn = a.arg(0, "function")
            if fn is None or not a.kwargs.get("batched"):
                return self._copy(columns={})  # per-example maps: columns unknown
            out = run_quietly(interp, fn, Args([HFBatch()]))
            columns = dict(self.columns)
            if isinstance(out, DictVal):
                columns.update(out.items)
            return self._copy(columns=columns)
        return self.method(name, a)

    def method(self, name, a):
        if name == "with_format":
            return self._format(a)
        if name == "set_format":  # in place, returns None
            changed = self._format(a)
            self.torch_format, self.keep = changed.torch_format, changed.keep
            return None
        if name in ("shuffle", "select", "filter", "with_transform", "rename_column", "remove_columns"):
            return self._copy()
        if name == "train_test_split":
            return DatasetDict(self)
        if name == "__getitem__":
            key = a.args[0] if a.args else None
            return UNK if isinstance(key, str) else self.element()
        return UNK

    def element(self):
        if not self.torch_format:
            return UNK
        names = self.keep if self.keep is not None else list(self.columns)
        row = {}
        for col in names:
            value = self.columns.get(col, UNK)
            row[col] = (Tensor((value.length,), "long", value.origin, source=value.origin)
                        if isinstance(value, TokenRows) and value.length is not None else UNK)
        return DictVal(row)


class DatasetDict(SourceValue):
    """``load_dataset(...)`` without a split: each split (``ds["train"]``) alike."""

    def __init__(self, split: HFDataset | None = None, name: str = "dataset"):
        self.split = split or HFDataset(name=name)
        self.name = name

    def method_in(self, name, a, interp):
        if name == "map":
            return DatasetDict(self.split.method_in(name, a, interp), self.name)
        return self.method(name, a)

    def method(self, name, a):
        if name == "__getitem__":
            return self.split._copy()
        if name == "set_format":
            self.split.method(name, a)
            return None
        if name in ("with_format", "shuffle", "filter", "rename_column", "remove_columns"):
            out = self.split.method(name, a)
            return DatasetDict(out, self.name) if isinstance(out, HFDataset) else UNK
        return UNK


class HFBatch(SourceValue):
    """The batch ``map(fn, batched=True)`` hands ``fn``: columns of unknown length."""

    def method(self, name, a):
        return UNK

