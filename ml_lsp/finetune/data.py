"""The data to fine-tune on: ``module_or_path:function`` returning ``(train, val)``
Datasets, or a built-in loader for a ``.npz`` file, a ``.csv`` file, or a folder of ``.npy``
files. Items are ``(input, target)`` pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from ml_lsp.finetune.model import _where, import_target
from ml_lsp.finetune.spec import FinetuneError, FinetuneSpec

VAL_FRACTION = 0.2  # held out by the built-in loaders when the file has no validation split


def load_datasets(spec: FinetuneSpec) -> tuple[Dataset, Dataset]:
    """``(train, val)``; raises FinetuneError naming the source for an empty or unusable set."""
    source = spec.data
    path = spec.path(source)
    if path.suffix.lower() == ".npz" and path.is_file():
        train, val = _from_npz(path, spec.seed)
    elif path.suffix.lower() == ".csv" and path.is_file():
        train, val = _from_csv(path, spec.seed)
    elif path.is_dir():
        train, val = _from_npy_folder(path, spec.seed)
    elif ":" in source:
        func = import_target(source, spec.root, "--data")
        try:
            result = func()
        except Exception as exc:
            raise FinetuneError(f"--data {source}: calling it raised {_where(exc)}") from None
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            raise FinetuneError(f"--data {source}: must return (train, val) Datasets, got {type(result).__name__}")
        train, val = result
    else:
        raise FinetuneError(f"--data {source}: not a .npz/.csv file, a folder of .npy files, or module_or_path:function")
    for label, ds in (("train", train), ("validation", val)):
        try:
            n = len(ds)
        except TypeError:
            raise FinetuneError(f"--data {source}: the {label} dataset has no len(); "
                                "return map-style torch Datasets") from None
        if n == 0:
            raise FinetuneError(f"--data {source}: the {label} dataset has 0 items")
        try:
            item = ds[0]
        except Exception as exc:
            raise FinetuneError(f"--data {source}: reading {label}[0] raised {_where(exc)}") from None
        if not (isinstance(item, (tuple, list)) and len(item) >= 2):
            raise FinetuneError(f"--data {source}: {label}[0] is a {type(item).__name__}; "
                                "items must be (input, target) pairs")
    return train, val


def _tensor_pair(x: np.ndarray, y: np.ndarray) -> TensorDataset:
    xt = torch.as_tensor(np.ascontiguousarray(x))
    if xt.is_floating_point():
        xt = xt.float()
    yt = torch.as_tensor(np.ascontiguousarray(y))
    yt = yt.long() if not yt.is_floating_point() else yt.float()
    return TensorDataset(xt, yt)


def _split(x: np.ndarray, y: np.ndarray, seed: int, source: Path) -> tuple[TensorDataset, TensorDataset]:
    if len(x) != len(y):
        raise FinetuneError(f"{source}: {len(x)} inputs but {len(y)} targets")
    if len(x) < 2:
        raise FinetuneError(f"{source}: {len(x)} item(s); need at least 2 to hold out validation data")
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, int(round(len(x) * VAL_FRACTION)))
    val, train = order[:n_val], order[n_val:]
    return _tensor_pair(x[train], y[train]), _tensor_pair(x[val], y[val])


def _from_npz(path: Path, seed: int) -> tuple[Any, Any]:
    """Arrays ``x``/``y`` (or ``X``/``inputs``/``targets``/``labels``), optionally with
    ``x_val``/``y_val``; without a validation split 20% are held out (seeded)."""
    try:
        arrays = dict(np.load(path, allow_pickle=False))
    except Exception as exc:
        raise FinetuneError(f"{path}: cannot read as .npz ({exc})") from None

    def pick(names: tuple[str, ...]) -> np.ndarray | None:
        return next((arrays[n] for n in names if n in arrays), None)

    x, y = pick(("x", "X", "inputs", "x_train", "X_train")), pick(("y", "targets", "labels", "y_train"))
    if x is None or y is None:
        raise FinetuneError(f"{path}: expected arrays named x and y (found: {', '.join(arrays) or 'none'})")
    xv, yv = pick(("x_val", "X_val")), pick(("y_val",))
    if xv is not None and yv is not None:
        if len(x) == 0 or len(xv) == 0:
            raise FinetuneError(f"{path}: the {'train' if len(x) == 0 else 'validation'} arrays have 0 items")
        return _tensor_pair(x, y), _tensor_pair(xv, yv)
    return _split(x, y, seed, path)


def _from_csv(path: Path, seed: int) -> tuple[Any, Any]:
    """Numeric columns; the last column (or one named label/target/y) is the target."""
    try:
        with path.open(encoding="utf-8") as f:
            header = f.readline().strip().split(",")
        has_header = any(not _is_number(h) for h in header)
        table = np.loadtxt(path, delimiter=",", skiprows=1 if has_header else 0, ndmin=2, dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise FinetuneError(f"{path}: cannot read as a numeric CSV ({exc})") from None
    target_col = table.shape[1] - 1
    if has_header:
        named = [i for i, h in enumerate(header) if h.strip().lower() in ("label", "target", "y", "class")]
        target_col = named[0] if named else target_col
    y = table[:, target_col]
    x = np.delete(table, target_col, axis=1).astype(np.float32)
    y = y.astype(np.int64) if np.all(np.equal(np.mod(y, 1), 0)) else y.astype(np.float32)
    return _split(x, y, seed, path)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _from_npy_folder(path: Path, seed: int) -> tuple[Any, Any]:
    """``x.npy``/``y.npy`` (and optional ``x_val.npy``/``y_val.npy``), or one sub-folder per
    class holding one ``.npy`` array per example (like torchvision's ImageFolder)."""
    if (path / "x.npy").is_file() and (path / "y.npy").is_file():
        x, y = np.load(path / "x.npy"), np.load(path / "y.npy")
        if (path / "x_val.npy").is_file() and (path / "y_val.npy").is_file():
            return _tensor_pair(x, y), _tensor_pair(np.load(path / "x_val.npy"), np.load(path / "y_val.npy"))
        return _split(x, y, seed, path)
    classes = sorted(d.name for d in path.iterdir() if d.is_dir())
    xs, ys = [], []
    for label, name in enumerate(classes):
        for file in sorted((path / name).glob("*.npy")):
            xs.append(np.load(file))
            ys.append(label)
    if not xs:
        raise FinetuneError(f"--data {path}: the folder has 0 items (expected x.npy/y.npy or "
                            "one sub-folder of .npy files per class)")
    try:
        x = np.stack(xs)
    except ValueError:
        raise FinetuneError(f"--data {path}: the .npy arrays differ in shape; they must all match") from None
    return _split(x, np.array(ys), seed, path)
