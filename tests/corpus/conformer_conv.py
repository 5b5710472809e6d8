# corpus: entry=ConformerConvModule
# corpus: init=dim=24, kernel_size=7, expansion_factor=2
# corpus: input=x=3,20,24
# Conformer convolution module: pointwise conv doubling channels, GLU over channels,
# depthwise conv, BatchNorm1d, Swish, pointwise conv, transposes in and out.
import torch
import torch.nn as nn


class ConformerConvModule(nn.Module):
    def __init__(self, dim, kernel_size=31, expansion_factor=2, dropout_p=0.1):
        super().__init__()
        inner = dim * expansion_factor
        self.layer_norm = nn.LayerNorm(dim)
        self.pointwise_conv1 = nn.Conv1d(dim, inner * 2, kernel_size=1)
        self.glu = nn.GLU(dim=1)
        self.depthwise_conv = nn.Conv1d(inner, inner, kernel_size, padding=(kernel_size - 1) // 2, groups=inner)
        self.batch_norm = nn.BatchNorm1d(inner)
        self.swish = nn.SiLU()
        self.pointwise_conv2 = nn.Conv1d(inner, dim, kernel_size=1)
        self.dropout = nn.Dropout(p=dropout_p)

    def forward(self, x):
        residual = x
        x = self.layer_norm(x).transpose(1, 2)   # (B, dim, T)
        x = self.pointwise_conv1(x)              # (B, 2*inner, T)
        x = self.glu(x)                          # (B, inner, T)
        x = self.depthwise_conv(x)
        x = self.swish(self.batch_norm(x))
        x = self.pointwise_conv2(x)
        x = self.dropout(x).transpose(1, 2)      # (B, T, dim)
        return residual + x
