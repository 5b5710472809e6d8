# corpus: entry=MLPMixer
# corpus: init=image_size=32, patch_size=8, dim=32, depth=2, num_classes=10
# corpus: input=img=2,3,32,32
# MLP-Mixer: token mixing across patches by transposing, channel mixing per patch.
import torch
import torch.nn as nn


class MixerBlock(nn.Module):
    def __init__(self, num_patches, dim, token_hidden, channel_hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mlp = nn.Sequential(
            nn.Linear(num_patches, token_hidden), nn.GELU(), nn.Linear(token_hidden, num_patches))
        self.norm2 = nn.LayerNorm(dim)
        self.channel_mlp = nn.Sequential(
            nn.Linear(dim, channel_hidden), nn.GELU(), nn.Linear(channel_hidden, dim))

    def forward(self, x):
        y = self.norm1(x).transpose(1, 2)      # (B, dim, patches)
        y = self.token_mlp(y).transpose(1, 2)  # (B, patches, dim)
        x = x + y
        x = x + self.channel_mlp(self.norm2(x))
        return x


class MLPMixer(nn.Module):
    def __init__(self, image_size, patch_size, dim, depth, num_classes, channels=3):
        super().__init__()
        assert image_size % patch_size == 0
        self.patch_size = patch_size
        num_patches = (image_size // patch_size) ** 2
        self.to_patch = nn.Linear(channels * patch_size * patch_size, dim)
        self.blocks = nn.Sequential(*[MixerBlock(num_patches, dim, dim // 2, dim * 4) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, img):
        b, c, h, w = img.shape
        p = self.patch_size
        patches = img.unfold(2, p, p).unfold(3, p, p)            # b, c, h/p, w/p, p, p
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(b, (h // p) * (w // p), c * p * p)
        x = self.to_patch(patches)
        x = self.blocks(x)
        x = self.norm(x).mean(dim=1)
        return self.head(x)
