# corpus: entry=SmallConvNet
# corpus: init=num_classes=10
# corpus: input=images=4,3,32,32
import torch
import torch.nn as nn


def conv_bn(in_ch, out_ch, stride=1):
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class SmallConvNet(nn.Module):
    def __init__(self, num_classes=100, width=16):
        super().__init__()
        self.stem = conv_bn(3, width)
        self.layer1 = conv_bn(width, width * 2, stride=2)
        self.layer2 = conv_bn(width * 2, width * 4, stride=2)
        self.pool = nn.MaxPool2d(2)
        self.gap = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(width * 4, num_classes)

    def forward(self, images):
        out = self.stem(images)
        out = self.layer1(out)
        out = self.pool(self.layer2(out))
        out = self.gap(out)
        out = torch.flatten(out, 1)
        scores = self.classifier(out)
        return scores
