# corpus: entry=SmallCNN
# corpus: init=
# corpus: input=x=32,1,28,28
"""A small convolutional network for 28x28 single-channel images.

    python examples/models/small_cnn.py
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    def __init__(self, in_channels=1, n_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, n_classes)
        self.dropout = nn.Dropout(0.25)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))   # (B, 32, 14, 14)
        x = self.pool(F.relu(self.bn2(self.conv2(x))))   # (B, 64, 7, 7)
        x = x.view(x.size(0), -1)                        # (B, 3136)
        x = self.dropout(F.relu(self.fc1(x)))            # (B, 128)
        logits = self.fc2(x)                             # (B, 10)
        return logits


if __name__ == "__main__":
    model = SmallCNN()
    print(model(torch.randn(32, 1, 28, 28)).shape)
