# corpus: entry=TinyDiffusionUNet
# corpus: init=in_channels=3, base=16, time_dim=32
# corpus: input=x=2,3,16,16
# corpus: input=t=2 long<1000
# Denoising U-Net of diffusion tutorials: sinusoidal timestep embedding, a time MLP added to
# feature maps as [:, :, None, None], GroupNorm residual blocks, skip connections.
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(timesteps, dim, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(start=0, end=half, dtype=torch.float32) / half)
    args = timesteps[:, None].float() * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return embedding


class ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, time_dim, groups=4):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x, t_emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_proj(F.silu(t_emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class TinyDiffusionUNet(nn.Module):
    def __init__(self, in_channels=3, base=64, time_dim=256):
        super().__init__()
        self.time_dim = time_dim
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, time_dim * 4), nn.SiLU(), nn.Linear(time_dim * 4, time_dim))
        self.inc = nn.Conv2d(in_channels, base, 3, padding=1)
        self.down1 = ResBlock(base, base * 2, time_dim)
        self.down2 = ResBlock(base * 2, base * 2, time_dim)
        self.mid = ResBlock(base * 2, base * 2, time_dim)
        self.up1 = ResBlock(base * 4, base, time_dim)
        self.up2 = ResBlock(base * 2, base, time_dim)
        self.out = nn.Conv2d(base, in_channels, 1)

    def forward(self, x, t):
        t_emb = self.time_mlp(timestep_embedding(t, self.time_dim))
        x0 = self.inc(x)                                     # (B, base, H, W)
        x1 = self.down1(F.avg_pool2d(x0, 2), t_emb)          # (B, 2base, H/2, W/2)
        x2 = self.down2(F.avg_pool2d(x1, 2), t_emb)          # (B, 2base, H/4, W/4)
        h = self.mid(x2, t_emb)
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.up1(torch.cat([h, x1], dim=1), t_emb)       # (B, base, H/2, W/2)
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.up2(torch.cat([h, x0], dim=1), t_emb)
        return self.out(h)
