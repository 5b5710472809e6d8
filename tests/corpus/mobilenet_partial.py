# corpus: entry=MobileNetLite
# corpus: init=num_classes=7, width_mult=0.25
# corpus: input=x=2,3,32,32
# MobileNetV2/EfficientNet-style blocks built with functools.partial layer factories,
# inverted residuals and squeeze-and-excitation.
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F


def _make_divisible(v, divisor=8, min_value=None):
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class SqueezeExcitation(nn.Module):
    def __init__(self, input_channels, squeeze_channels):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)

    def forward(self, x):
        scale = self.avgpool(x)
        scale = F.relu(self.fc1(scale))
        scale = torch.sigmoid(self.fc2(scale))
        return scale * x


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio, norm_layer=None, use_se=False):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        conv3x3 = partial(nn.Conv2d, kernel_size=3, padding=1, bias=False)
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup

        self.expand = nn.Sequential(nn.Conv2d(inp, hidden_dim, 1, bias=False), norm_layer(hidden_dim), nn.ReLU6(inplace=True))
        self.depthwise = nn.Sequential(
            conv3x3(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim),
            norm_layer(hidden_dim),
            nn.ReLU6(inplace=True),
        )
        self.se = SqueezeExcitation(hidden_dim, _make_divisible(hidden_dim // 4)) if use_se else nn.Identity()
        self.project = nn.Sequential(nn.Conv2d(hidden_dim, oup, 1, bias=False), norm_layer(oup))

    def forward(self, x):
        out = self.expand(x)
        out = self.depthwise(out)
        out = self.se(out)
        out = self.project(out)
        if self.use_res_connect:
            return x + out
        return out


class MobileNetLite(nn.Module):
    def __init__(self, num_classes=1000, width_mult=1.0):
        super().__init__()
        norm_layer = partial(nn.BatchNorm2d, eps=0.001, momentum=0.01)
        input_channel = _make_divisible(32 * width_mult)
        last_channel = _make_divisible(128 * width_mult)
        # t, c, n, s
        setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 1, 2]]
        features = [nn.Sequential(nn.Conv2d(3, input_channel, 3, 2, 1, bias=False),
                                  norm_layer(input_channel), nn.ReLU6(inplace=True))]
        for t, c, n, s in setting:
            output_channel = _make_divisible(c * width_mult)
            for i in range(n):
                stride = s if i == 0 else 1
                features.append(InvertedResidual(input_channel, output_channel, stride, expand_ratio=t,
                                                 norm_layer=norm_layer, use_se=t > 1))
                input_channel = output_channel
        features.append(nn.Conv2d(input_channel, last_channel, 1, bias=False))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last_channel, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x
