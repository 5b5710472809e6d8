"""scikit-learn's bundled 8x8 digits, split by class: 0-4 to pretrain on, 5-9 to fine-tune on.
Each function returns (train, val) TensorDatasets of (image (1, 8, 8) in [0, 1], label)."""

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset


def _split(digits: range, seed: int = 0):
    x, y = load_digits(return_X_y=True)
    keep = np.isin(y, list(digits))
    x = x[keep].reshape(-1, 1, 8, 8).astype(np.float32) / 16.0
    y = (y[keep] - digits.start).astype(np.int64)  # labels 0..4 for either half
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    return (TensorDataset(torch.from_numpy(x_tr), torch.from_numpy(y_tr)),
            TensorDataset(torch.from_numpy(x_va), torch.from_numpy(y_va)))


def digits_0_4():
    return _split(range(0, 5))


def digits_5_9():
    return _split(range(5, 10))
