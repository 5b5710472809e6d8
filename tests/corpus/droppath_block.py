# corpus: entry=ConvMixer
# corpus: init=dim=24, depth=3, kernel_size=5, patch_size=4, n_classes=6
# corpus: input=x=2,3,32,32
# ConvMixer with timm-style DropPath and LayerScale: the drop mask's shape is built with
# tuple arithmetic from x.ndim, residual wrapper module, Rearrange-free pooling.
import torch
import torch.nn as nn


def drop_path(x, drop_prob: float = 0., training: bool = False, scale_by_keep: bool = True):
    if drop_prob == 0. or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # work with diff dim tensors, not just 2D ConvNets
    random_tensor = x.new_empty(shape).bernoulli_(keep_prob)
    if keep_prob > 0.0 and scale_by_keep:
        random_tensor.div_(keep_prob)
    return x * random_tensor


class DropPath(nn.Module):
    def __init__(self, drop_prob=0., scale_by_keep=True):
        super(DropPath, self).__init__()
        self.drop_prob = drop_prob
        self.scale_by_keep = scale_by_keep

    def forward(self, x):
        return drop_path(x, self.drop_prob, self.training, self.scale_by_keep)


class Residual(nn.Module):
    def __init__(self, fn, dim, drop_prob=0.1, init_values=1e-2):
        super().__init__()
        self.fn = fn
        self.gamma = nn.Parameter(init_values * torch.ones(dim, 1, 1))
        self.drop_path = DropPath(drop_prob)

    def forward(self, x):
        out = self.gamma * self.fn(x)
        return x + self.drop_path(out)


def ConvMixer(dim, depth, kernel_size=9, patch_size=7, n_classes=1000):
    return nn.Sequential(
        nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size),
        nn.GELU(),
        nn.BatchNorm2d(dim),
        *[nn.Sequential(
            Residual(nn.Sequential(
                nn.Conv2d(dim, dim, kernel_size, groups=dim, padding="same"),
                nn.GELU(),
                nn.BatchNorm2d(dim)
            ), dim),
            nn.Conv2d(dim, dim, kernel_size=1),
            nn.GELU(),
            nn.BatchNorm2d(dim)
        ) for i in range(depth)],
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
        nn.Linear(dim, n_classes)
    )
