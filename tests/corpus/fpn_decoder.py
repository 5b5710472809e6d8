# corpus: entry=FPNSegHead
# corpus: init=in_channels=[8, 16, 32], out_channels=16, num_classes=4
# corpus: input=c3=2,8,32,32
# corpus: input=c4=2,16,16,16
# corpus: input=c5=2,32,8,8
# Feature-pyramid decoder: lateral 1x1 convs, nn.Upsample and F.interpolate top-down path.
import torch
import torch.nn as nn
import torch.nn.functional as F


class FPNSegHead(nn.Module):
    def __init__(self, in_channels, out_channels=256, num_classes=21):
        super().__init__()
        self.lateral = nn.ModuleList()
        for ch in in_channels:
            self.lateral.append(nn.Conv2d(ch, out_channels, kernel_size=1))
        self.smooth = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.up2 = nn.Upsample(scale_factor=2, mode="nearest")
        self.classifier = nn.Conv2d(out_channels, num_classes, kernel_size=1)

    def forward(self, c3, c4, c5):
        p5 = self.lateral[2](c5)
        p4 = self.lateral[1](c4) + self.up2(p5)
        p3 = self.lateral[0](c3) + F.interpolate(p4, size=c3.shape[-2:], mode="nearest")
        p3 = self.smooth(p3)
        logits = self.classifier(p3)
        logits = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)
        return logits
