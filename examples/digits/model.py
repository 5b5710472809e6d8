"""A small CNN for scikit-learn's 8x8 digits: convolutional features, then a linear head."""

import torch
from torch import nn


class DigitsCNN(nn.Module):
    def __init__(self, num_classes: int = 5, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width // 2, kernel_size=3, padding=1),  # (B, 1, 8, 8) -> (B, 16, 8, 8)
            nn.ReLU(),
            nn.Conv2d(width // 2, width, kernel_size=3, padding=1),  # -> (B, 32, 8, 8)
            nn.ReLU(),
            nn.MaxPool2d(2),  # -> (B, 32, 4, 4)
        )
        self.head = nn.Linear(width * 4 * 4, num_classes)  # (B, 512) -> (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.head(x)
