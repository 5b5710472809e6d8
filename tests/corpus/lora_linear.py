# corpus: entry=LoRAClassifier
# corpus: init=in_dim=64, hidden=32, n_classes=5, rank=4
# corpus: input=features=6,64
# A LoRA-adapted linear layer (frozen base weight plus a low-rank update), as in loralib /
# minLoRA, used inside a small classifier.
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class LoRALinear(nn.Module):
    def __init__(self, in_features, out_features, r=8, lora_alpha=16, lora_dropout=0.0, bias=True):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        self.linear.weight.requires_grad = False
        self.r = r
        self.scaling = lora_alpha / r
        self.lora_A = nn.Parameter(torch.zeros(r, in_features))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r))
        self.lora_dropout = nn.Dropout(p=lora_dropout)
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x):
        result = self.linear(x)
        update = self.lora_dropout(x) @ self.lora_A.transpose(0, 1) @ self.lora_B.transpose(0, 1)
        result = result + update * self.scaling
        return result


class LoRAClassifier(nn.Module):
    def __init__(self, in_dim, hidden, n_classes, rank=8):
        super().__init__()
        self.proj = LoRALinear(in_dim, hidden, r=rank)
        self.norm = nn.LayerNorm(hidden)
        self.out = LoRALinear(hidden, n_classes, r=rank, bias=False)

    def forward(self, features):
        h = F.gelu(self.norm(self.proj(features)))
        logits = self.out(h)
        merged = self.out.linear.weight + (self.out.lora_B @ self.out.lora_A) * self.out.scaling
        same = F.linear(h, merged)
        return logits, same
