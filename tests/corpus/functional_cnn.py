# corpus: entry=FunctionalConvNet
# corpus: init=
# corpus: input=x=3,1,28,28
# Parameters held as raw tensors and applied with torch.nn.functional (the style of
# meta-learning code such as MAML, where weights are passed around explicitly).
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_block(x, weight, bias, bn_weight, bn_bias):
    x = F.conv2d(x, weight, bias, padding=1)
    x = F.batch_norm(x, None, None, bn_weight, bn_bias, training=True)
    x = F.relu(x)
    x = F.max_pool2d(x, kernel_size=2, stride=2)
    return x


class FunctionalConvNet(nn.Module):
    def __init__(self, in_channels=1, hidden=16, n_way=5):
        super().__init__()
        self.params = nn.ParameterDict()
        channels = in_channels
        for i in range(3):
            self.params[f"conv{i}_w"] = nn.Parameter(torch.randn(hidden, channels, 3, 3) * 0.1)
            self.params[f"conv{i}_b"] = nn.Parameter(torch.zeros(hidden))
            self.params[f"bn{i}_w"] = nn.Parameter(torch.ones(hidden))
            self.params[f"bn{i}_b"] = nn.Parameter(torch.zeros(hidden))
            channels = hidden
        self.fc_w = nn.Parameter(torch.randn(n_way, hidden * 3 * 3) * 0.1)
        self.fc_b = nn.Parameter(torch.zeros(n_way))

    def forward(self, x):
        p = self.params
        h = conv_block(x, p["conv0_w"], p["conv0_b"], p["bn0_w"], p["bn0_b"])
        h = conv_block(h, p["conv1_w"], p["conv1_b"], p["bn1_w"], p["bn1_b"])
        h = conv_block(h, p["conv2_w"], p["conv2_b"], p["bn2_w"], p["bn2_b"])
        h = h.reshape(h.size(0), -1)
        logits = F.linear(h, self.fc_w, self.fc_b)
        return logits
