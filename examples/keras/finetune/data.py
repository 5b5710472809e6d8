"""scikit-learn's 8x8 digits for a Keras model (channels last), split by class: 0-4 to
pretrain on, 5-9 to fine-tune on. Each function returns ((x, y), (x_val, y_val)) arrays."""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def _split(digits: range, seed: int = 0):
    x, y = load_digits(return_X_y=True)
    keep = np.isin(y, list(digits))
    x = x[keep].reshape(-1, 8, 8, 1).astype(np.float32) / 16.0
    y = (y[keep] - digits.start).astype(np.int64)  # labels 0..4 for either half
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    return (x_tr, y_tr), (x_va, y_va)


def digits_0_4():
    return _split(range(0, 5))


def digits_5_9():
    return _split(range(5, 10))
