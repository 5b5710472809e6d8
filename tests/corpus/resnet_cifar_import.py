# corpus: entry=CifarResNet
# corpus: init=num_blocks=(2, 1, 1)
# corpus: input=x=2,3,32,32
# A CIFAR ResNet that imports its block from another file of the project.
import torch.nn as nn
import torch.nn.functional as F

from resnet_blocks import BasicBlock, conv1x1


class CifarResNet(nn.Module):
    def __init__(self, num_blocks=(3, 3, 3), num_classes=10):
        super().__init__()
        self.in_planes = 16
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.stage1 = self._make_stage(16, num_blocks[0], stride=1)
        self.stage2 = self._make_stage(32, num_blocks[1], stride=2)
        self.stage3 = self._make_stage(64, num_blocks[2], stride=2)
        self.linear = nn.Linear(64, num_classes)

    def _make_stage(self, planes, n, stride):
        blocks = []
        for i in range(n):
            s = stride if i == 0 else 1
            down = None
            if s != 1 or self.in_planes != planes:
                down = nn.Sequential(conv1x1(self.in_planes, planes, s), nn.BatchNorm2d(planes))
            blocks.append(BasicBlock(self.in_planes, planes, s, down))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.stage1(out)
        out = self.stage2(out)
        out = self.stage3(out)
        out = F.avg_pool2d(out, out.size()[3])
        out = out.view(out.size(0), -1)
        out = self.linear(out)
        return out
