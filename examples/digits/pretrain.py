"""Pretrain DigitsCNN on digits 0-4 and save its weights for the fine-tune on 5-9.

    python examples/digits/pretrain.py [--out examples/digits/pretrained.pt] [--epochs 15]
"""

import argparse
import os

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from data import digits_0_4
from model import DigitsCNN

parser = argparse.ArgumentParser()
parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained.pt"))
parser.add_argument("--epochs", type=int, default=8)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

torch.manual_seed(args.seed)
train, val = digits_0_4()
model = DigitsCNN(num_classes=5)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
loader = DataLoader(train, batch_size=32, shuffle=True)

for epoch in range(args.epochs):
    model.train()
    for x, y in loader:  # x: (32, 1, 8, 8), y: (32,)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        x_val, y_val = val.tensors
        val_acc = (model(x_val).argmax(1) == y_val).float().mean().item()
    print(f"epoch {epoch + 1}/{args.epochs}: loss {loss.item():.4f}, val_accuracy {val_acc:.4f}", flush=True)

torch.save(model.state_dict(), args.out)
print(f"saved {args.out} (val_accuracy {val_acc:.4f})")
