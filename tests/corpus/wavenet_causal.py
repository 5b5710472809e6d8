# corpus: entry=WaveNetLite
# corpus: init=in_channels=1, residual_channels=16, skip_channels=16, n_layers=4, n_classes=32
# corpus: input=audio=2,1,100
# Dilated causal 1-D convolutions (left padding with F.pad), gated activations,
# residual and skip connections summed over a ModuleList of layers.
import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalConv1d(nn.Conv1d):
    def __init__(self, in_channels, out_channels, kernel_size, dilation=1):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left_pad = (kernel_size - 1) * dilation

    def forward(self, x):
        x = F.pad(x, (self.left_pad, 0))
        return super().forward(x)


class ResidualLayer(nn.Module):
    def __init__(self, residual_channels, skip_channels, dilation):
        super().__init__()
        self.filter_conv = CausalConv1d(residual_channels, residual_channels, 2, dilation)
        self.gate_conv = CausalConv1d(residual_channels, residual_channels, 2, dilation)
        self.res_conv = nn.Conv1d(residual_channels, residual_channels, 1)
        self.skip_conv = nn.Conv1d(residual_channels, skip_channels, 1)

    def forward(self, x):
        gated = torch.tanh(self.filter_conv(x)) * torch.sigmoid(self.gate_conv(x))
        skip = self.skip_conv(gated)
        residual = self.res_conv(gated) + x
        return residual, skip


class WaveNetLite(nn.Module):
    def __init__(self, in_channels, residual_channels, skip_channels, n_layers, n_classes):
        super().__init__()
        self.input_conv = nn.Conv1d(in_channels, residual_channels, 1)
        self.layers = nn.ModuleList(
            [ResidualLayer(residual_channels, skip_channels, 2 ** i) for i in range(n_layers)])
        self.out1 = nn.Conv1d(skip_channels, skip_channels, 1)
        self.out2 = nn.Conv1d(skip_channels, n_classes, 1)

    def forward(self, audio):
        x = self.input_conv(audio)
        skips = 0
        for layer in self.layers:
            x, skip = layer(x)
            skips = skips + skip
        out = F.relu(self.out1(F.relu(skips)))
        out = self.out2(out)
        return out.transpose(1, 2)
