# corpus: entry=Classifier
# corpus: init=
# corpus: input=x=4,3,28,28
# Layers named through nn.Sequential(OrderedDict(...)) (the style of densenet/vgg ports).
from collections import OrderedDict

import torch
import torch.nn as nn


class Classifier(nn.Module):
    def __init__(self, in_ch=3, n_classes=10):
        super(Classifier, self).__init__()
        self.features = nn.Sequential(OrderedDict([
            ('conv0', nn.Conv2d(in_ch, 12, kernel_size=5)),
            ('norm0', nn.BatchNorm2d(12)),
            ('relu0', nn.ReLU(inplace=True)),
            ('pool0', nn.MaxPool2d(kernel_size=2, stride=2)),
            ('conv1', nn.Conv2d(12, 24, kernel_size=3, padding=1)),
            ('relu1', nn.ReLU(inplace=True)),
            ('pool1', nn.AvgPool2d(kernel_size=2, stride=2)),
        ]))
        self.classifier = nn.Sequential(OrderedDict([
            ('flatten', nn.Flatten()),
            ('fc1', nn.Linear(24 * 6 * 6, 64)),
            ('act', nn.ReLU()),
            ('drop', nn.Dropout(0.3)),
            ('fc2', nn.Linear(64, n_classes)),
        ]))

    def forward(self, x):
        feats = self.features(x)
        first = self.features.conv0(x)
        out = self.classifier(feats)
        return out, first
