# corpus: entry=SpectrogramEncoder
# corpus: init=n_mels=16, d_model=24
# corpus: input=spec=16,40
# Forward that accepts a single example or a batch (unsqueeze when 2-D), star-unpacks the
# shape, flattens and unflattens the leading dims, and squeezes without naming a dim.
import torch
import torch.nn as nn
import torch.nn.functional as F


class SpectrogramEncoder(nn.Module):
    def __init__(self, n_mels=80, d_model=256, kernel_size=3):
        super().__init__()
        self.conv = nn.Conv1d(n_mels, d_model, kernel_size, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(d_model)
        self.score = nn.Linear(d_model, 1)

    def forward(self, spec):
        if spec.dim() == 2:          # (n_mels, frames): a single example
            spec = spec.unsqueeze(0)
        batch, *rest = spec.shape
        h = F.gelu(self.conv(spec))              # (B, d_model, frames)
        h = self.norm(h.transpose(1, 2))         # (B, frames, d_model)
        flat = h.flatten(0, 1)                   # (B*frames, d_model)
        weights = self.score(flat).unflatten(0, (batch, -1)).softmax(dim=1)   # (B, frames, 1)
        pooled = (weights * h).sum(dim=1)
        summary = pooled.squeeze()
        return summary
