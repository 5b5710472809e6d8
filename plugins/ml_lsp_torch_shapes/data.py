"""Data sources of PyTorch and torchvision: ``TensorDataset``, ``DataLoader``,
``random_split``, ``torch.from_numpy``, the torchvision datasets and transforms.

Each rule returns a data-pipeline value (``ml_lsp.analysis.provenance``) that the engine
follows into the training loop (``for data, target in loader``) and on to ``model(data)``.
torchvision is never imported: a dataset's sample shape is known from its name (MNIST is
28x28 grey, CIFAR 32x32 RGB) and what its transforms do to it. A transform, dataset or
argument the rules do not know gives an unknown sample, never a guess.
"""

from __future__ import annotations

from ml_lsp.analysis import dims
from ml_lsp.analysis.ops import OpCall
from ml_lsp.analysis.provenance import Dataset, Image, Loader, SourceValue, Transform
from ml_lsp.analysis.values import NUM, UNK, Instance, Seq, Tensor, as_dim


# ---------------------------------------------------------------- torch.utils.data

def tensor_dataset(call: OpCall):
    tensors = list(call.args)
    if not tensors or not all(isinstance(t, Tensor) and t.shape for t in tensors):
        return Dataset(UNK, "TensorDataset")
    size = tensors[0].shape[0]
    sample = Seq([Tensor(t.shape[1:], t.dtype) for t in tensors])
    return Dataset(sample, "TensorDataset", size if isinstance(size, int) else None)


def data_loader(call: OpCall):
    dataset = call.arg(0, "dataset", UNK)
    # DataLoader(ds, **kwargs) with kwargs not known: batch_size may be in them
    unknown_rest = getattr(call, "unknown_star", False)
    batch_size = call.arg(1, "batch_size", NUM if unknown_rest else 1)
    if call.kwargs.get("batch_sampler") not in (None, UNK) or "batch_sampler" in call.kwargs:
        batch_size = NUM  # the sampler decides the batch size
    drop_last = call.arg(None, "drop_last", False)
    collate = call.kwargs.get("collate_fn", UNK if unknown_rest else None)
    # a user's Dataset (an Instance) is kept: the engine runs its __getitem__ for a sample
    return Loader(dataset if isinstance(dataset, (SourceValue, Instance)) else UNK,
                  batch_size if batch_size is None or as_dim(batch_size) is not None else NUM,
                  drop_last is True, collate is None)


def random_split(call: OpCall):
    dataset = call.arg(0, "dataset")
    lengths = call.arg(1, "lengths")
    if not isinstance(dataset, Dataset) or not isinstance(lengths, Seq):
        return UNK
    parts = []
    for n in lengths.items:
        size = n if isinstance(n, int) and not isinstance(n, bool) else None
        parts.append(Dataset(dataset.sample, dataset.name, size))
    return Seq(parts, "list")


def subset(call: OpCall):
    dataset = call.arg(0, "dataset")
    if not isinstance(dataset, Dataset):
        return UNK
    return Dataset(dataset.sample, dataset.name, None)


def from_numpy(call: OpCall):
    t = call.tensor(0, "ndarray")
    return Tensor(t.shape, t.dtype) if t is not None else UNK


# ---------------------------------------------------------------- torchvision transforms

def _size_pair(size):
    """``224`` -> (224, 224), ``(224, 160)`` -> (224, 160); None when not known."""
    d = as_dim(size)
    if d is not None:
        return d, d
    if isinstance(size, Seq) and len(size.items) == 2:
        h, w = (as_dim(x) for x in size.items)
        if h is not None and w is not None:
            return h, w
    if isinstance(size, Seq) and len(size.items) == 1 and as_dim(size.items[0]) is not None:
        return as_dim(size.items[0]), as_dim(size.items[0])
    return None


def _resize_to(hw, size_arg):
    """Resize: a pair is exact; an int sets the smaller edge (exact for a square image)."""
    if isinstance(size_arg, Seq) and len(size_arg.items) == 2:
        return _size_pair(size_arg)
    n = as_dim(size_arg) if not isinstance(size_arg, Seq) else (
        as_dim(size_arg.items[0]) if len(size_arg.items) == 1 else None)
    if n is None:
        return None, None
    h, w = hw
    if h is not None and w is not None and dims.same(h, w):
        return n, n
    return None, None


def _map_hw(sample, fn):
    """Apply ``(h, w) -> (h, w)`` to an image or a (..., H, W) tensor."""
    if isinstance(sample, Image):
        h, w = fn((sample.height, sample.width))
        return Image(h, w, sample.channels, sample.origin)
    if isinstance(sample, Tensor) and sample.shape is not None and len(sample.shape) >= 2:
        h, w = fn(tuple(sample.shape[-2:]))
        return Tensor((*sample.shape[:-2], h, w), sample.dtype)
    return UNK


def _transform(name, apply):
    return Transform(apply, name)


def to_tensor(call: OpCall):
    def apply(x):
        if isinstance(x, Image):
            return Tensor((x.channels, x.height, x.width), "float")
        return UNK
    return _transform("ToTensor", apply)


def pil_to_tensor(call: OpCall):
    def apply(x):
        if isinstance(x, Image):
            return Tensor((x.channels, x.height, x.width), "uint8")
        return UNK
    return _transform("PILToTensor", apply)


def resize(call: OpCall):
    size = call.arg(0, "size")
    return _transform("Resize", lambda x: _map_hw(x, lambda hw: _resize_to(hw, size)))


def crop(name):
    def rule(call: OpCall):
        pair = _size_pair(call.arg(0, "size"))
        return _transform(name, lambda x: _map_hw(x, lambda hw: pair if pair else (None, None)))
    return rule


def same_shape(name):
    """Normalize, flips, colour jitter, rotation without expand...: the shape is kept."""
    def rule(call: OpCall):
        if name in ("RandomRotation",) and call.arg(2, "expand", False) is not False:
            return _transform(name, lambda x: _map_hw(x, lambda hw: (None, None)))
        return _transform(name, lambda x: x if isinstance(x, (Image, Tensor)) else UNK)
    return rule


def grayscale(call: OpCall):
    n = call.arg(0, "num_output_channels", 1)

    def apply(x):
        if isinstance(x, Image):
            return Image(x.height, x.width, n if isinstance(n, int) else None, x.origin)
        if isinstance(x, Tensor) and x.shape is not None and len(x.shape) >= 3:
            return Tensor((*x.shape[:-3], n if isinstance(n, int) else None, *x.shape[-2:]), x.dtype)
        return UNK
    return _transform("Grayscale", apply)


def compose(call: OpCall):
    steps = call.arg(0, "transforms")
    items = steps.items if isinstance(steps, Seq) else None

    def apply(x):
        if items is None:
            return UNK
        for t in items:
            if not isinstance(t, Transform):
                return UNK  # a step we do not know (a Lambda, a user class): unknown
            x = t.apply(x)
            if x is UNK:
                return UNK
        return x
    return _transform("Compose", apply)


# ---------------------------------------------------------------- torchvision datasets

# name -> (height, width, channels, train size, test size)
VISION_DATASETS = {
    "MNIST": (28, 28, 1, 60000, 10000),
    "FashionMNIST": (28, 28, 1, 60000, 10000),
    "KMNIST": (28, 28, 1, 60000, 10000),
    "QMNIST": (28, 28, 1, 60000, 60000),
    "CIFAR10": (32, 32, 3, 50000, 10000),
    "CIFAR100": (32, 32, 3, 50000, 10000),
    "SVHN": (32, 32, 3, None, None),
    "STL10": (96, 96, 3, None, None),
    "ImageFolder": (None, None, 3, None, None),
}


def vision_dataset(name):
    h, w, c, n_train, n_test = VISION_DATASETS[name]

    def rule(call: OpCall):
        transform = call.kwargs.get("transform")
        if transform is None and name == "ImageFolder" and len(call.args) > 1:
            transform = call.args[1]
        train = call.kwargs.get("train", True)
        size = n_train if train is True else n_test if train is False else None
        image = Image(h, w, c, name)
        if transform is None:
            x = image
        elif isinstance(transform, Transform):
            x = transform.apply(image)
        else:
            x = UNK
        target_transform = call.kwargs.get("target_transform")
        label = 0 if target_transform is None else UNK
        return Dataset(Seq([x, label]) if x is not UNK else UNK, name, size)
    return rule


def pil_open(call: OpCall):
    """``Image.open(path)``: an image of unknown size and mode (``.convert("RGB")`` tells the
    channels); the transforms after it decide what is known."""
    return Image(None, None, None, "image file")


RULES: dict = {}
RULES["PIL.Image.open"] = pil_open
for _prefix in ("torch.utils.data", "torch.utils.data.dataset", "torch.utils.data.dataloader"):
    RULES[f"{_prefix}.TensorDataset"] = tensor_dataset
    RULES[f"{_prefix}.DataLoader"] = data_loader
    RULES[f"{_prefix}.random_split"] = random_split
    RULES[f"{_prefix}.Subset"] = subset
RULES["torch.from_numpy"] = from_numpy

for _tv in ("torchvision.transforms", "torchvision.transforms.v2"):
    RULES[f"{_tv}.ToTensor"] = to_tensor
    RULES[f"{_tv}.PILToTensor"] = pil_to_tensor
    RULES[f"{_tv}.Resize"] = resize
    for _name in ("CenterCrop", "RandomCrop", "RandomResizedCrop"):
        RULES[f"{_tv}.{_name}"] = crop(_name)
    for _name in ("Normalize", "RandomHorizontalFlip", "RandomVerticalFlip", "ColorJitter",
                  "RandomRotation", "RandomAffine", "GaussianBlur", "RandomErasing", "RandomGrayscale",
                  "AutoAugment", "RandAugment", "TrivialAugmentWide", "ConvertImageDtype", "ToDtype"):
        RULES[f"{_tv}.{_name}"] = same_shape(_name)
    RULES[f"{_tv}.Grayscale"] = grayscale
    RULES[f"{_tv}.Compose"] = compose
for _name in VISION_DATASETS:
    RULES[f"torchvision.datasets.{_name}"] = vision_dataset(_name)
