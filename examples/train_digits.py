"""
Train a small MLP on scikit-learn's bundled 8x8 digits (1,797 images, no download).

    python examples/train_digits.py
    python examples/train_digits.py --epochs=20 --lr=3e-3
    ml-lsp run examples/train_digits.py --epochs=5 --follow

Plain on purpose: the shapes are written next to the lines that make them. Under
`ml-lsp run`, the loss of every `loss.backward()` and the epoch loop's progress show up
in the editor on these lines without any change to this file.
"""

import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits

# -----------------------------------------------------------------------------
# config, overridable on the command line as --key=value
epochs = 10
batch_size = 64
lr = 1e-2
hidden = 128
seed = 1337
out = ""  # where to save the trained weights ("" = do not save)
for arg in sys.argv[1:]:
    key, _, value = arg.removeprefix("--").partition("=")
    assert key in globals() and not key.startswith("_"), f"unknown option --{key}"
    globals()[key] = type(globals()[key])(value)
# -----------------------------------------------------------------------------

torch.manual_seed(seed)
digits = load_digits()
x = torch.tensor(digits.data, dtype=torch.float32) / 16.0  # (1797, 64)
y = torch.tensor(digits.target, dtype=torch.long)  # (1797,)
perm = torch.randperm(len(x))
n_val = len(x) // 5
x_val, y_val = x[perm[:n_val]], y[perm[:n_val]]  # (359, 64), (359,)
x_train, y_train = x[perm[n_val:]], y[perm[n_val:]]  # (1438, 64), (1438,)
train_loader = torch.utils.data.DataLoader(
    torch.utils.data.TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True)


class MLP(nn.Module):
    def __init__(self, n_in=64, n_hidden=128, n_out=10):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)

    def forward(self, x):  # (B, 64)
        h = F.relu(self.fc1(x))  # (B, hidden)
        return self.fc2(h)  # (B, 10)


model = MLP(64, hidden, 10)
optimizer = torch.optim.AdamW(model.parameters(), lr=lr)

for epoch in range(epochs):
    t0 = time.time()
    model.train()
    for xb, yb in train_loader:  # (B, 64), (B,)
        logits = model(xb)  # (B, 10)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        val_logits = model(x_val)  # (359, 10)
        val_loss = F.cross_entropy(val_logits, y_val).item()
        val_acc = (val_logits.argmax(-1) == y_val).float().mean().item()
    print(f"epoch {epoch + 1}/{epochs}: train loss {loss.item():.4f}, val loss {val_loss:.4f}, "
          f"val acc {val_acc:.3f} ({time.time() - t0:.2f}s)")

if out:
    torch.save(model.state_dict(), out)
    print(f"saved {out}")
