# corpus: entry=BilinearFusion
# corpus: init=dim_a=12, dim_b=20, out_dim=16, n_classes=3
# corpus: input=a=5,12
# corpus: input=b=5,20
# Two modalities combined with nn.Bilinear (visual question answering style).
import torch
import torch.nn as nn


class BilinearFusion(nn.Module):
    def __init__(self, dim_a, dim_b, out_dim, n_classes):
        super().__init__()
        self.bilinear = nn.Bilinear(dim_a, dim_b, out_dim)
        self.gate = nn.Linear(dim_a + dim_b, out_dim)
        self.classifier = nn.Linear(out_dim, n_classes)

    def forward(self, a, b):
        joint = self.bilinear(a, b)
        g = torch.sigmoid(self.gate(torch.cat([a, b], dim=-1)))
        fused = torch.tanh(joint) * g
        return self.classifier(fused)
