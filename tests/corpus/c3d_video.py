# corpus: entry=TinyC3D
# corpus: init=num_classes=6
# corpus: input=clip=2,3,8,32,32
# 3-D convolutions over short video clips (C3D-style).
import torch
import torch.nn as nn


class TinyC3D(nn.Module):
    def __init__(self, num_classes=101):
        super(TinyC3D, self).__init__()
        self.conv1 = nn.Conv3d(3, 8, kernel_size=(3, 3, 3), padding=(1, 1, 1))
        self.pool1 = nn.MaxPool3d(kernel_size=(1, 2, 2), stride=(1, 2, 2))
        self.conv2 = nn.Conv3d(8, 16, kernel_size=3, padding=1)
        self.pool2 = nn.MaxPool3d(kernel_size=2, stride=2)
        self.bn = nn.BatchNorm3d(16)
        self.gap = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(16, num_classes)
        self.relu = nn.ReLU()

    def forward(self, clip):
        h = self.relu(self.conv1(clip))
        h = self.pool1(h)
        h = self.relu(self.bn(self.conv2(h)))
        h = self.pool2(h)
        h = self.gap(h).view(-1, 16)
        logits = self.fc(h)
        return logits
