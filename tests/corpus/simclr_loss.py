# corpus: entry=SimCLR
# corpus: init=feature_dim=32, projection_dim=16, temperature=0.5
# corpus: input=view1=6,32
# corpus: input=view2=6,32
# SimCLR projection head and NT-Xent loss: normalised projections of two views, a 2N x 2N
# similarity matrix with the diagonal masked out, positives found by arange arithmetic.
import torch
import torch.nn as nn
import torch.nn.functional as F


class SimCLR(nn.Module):
    def __init__(self, feature_dim=2048, projection_dim=128, temperature=0.1):
        super().__init__()
        self.projector = nn.Sequential(
            nn.Linear(feature_dim, feature_dim, bias=False),
            nn.BatchNorm1d(feature_dim),
            nn.ReLU(),
            nn.Linear(feature_dim, projection_dim),
        )
        self.temperature = temperature

    def forward(self, view1, view2):
        z1 = F.normalize(self.projector(view1), dim=1)
        z2 = F.normalize(self.projector(view2), dim=1)
        n = z1.shape[0]
        z = torch.cat([z1, z2], dim=0)                          # (2N, d)
        sim = z @ z.T / self.temperature                        # (2N, 2N)
        self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
        sim = sim.masked_fill(self_mask, float("-inf"))
        targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
        loss = F.cross_entropy(sim, targets)
        return loss, sim
