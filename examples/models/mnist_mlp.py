# corpus: entry=MLP
# corpus: init=
# corpus: input=x=64,1,28,28
"""A multi-layer perceptron for 28x28 digit images.

    python examples/models/mnist_mlp.py     # one forward pass on random data
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self, n_in=28 * 28, n_hidden=128, n_out=10, dropout=0.1):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_hidden)
        self.fc3 = nn.Linear(n_hidden, n_out)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = x.flatten(1)               # (B, 784)
        h = F.relu(self.fc1(x))        # (B, 128)
        h = self.dropout(h)
        h = F.relu(self.fc2(h))        # (B, 128)
        logits = self.fc3(h)           # (B, 10)
        return logits


if __name__ == "__main__":
    model = MLP()
    images = torch.randn(64, 1, 28, 28)
    print(model(images).shape)
