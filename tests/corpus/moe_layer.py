# corpus: entry=MoEFeedForward
# corpus: init=dim=16, hidden=32, num_experts=4, top_k=2
# corpus: input=x=2,6,16
# Sparse mixture-of-experts feed-forward: top-k gating, experts applied densely and combined
# with the gate weights (torch.stack + einsum).
import torch
import torch.nn as nn
import torch.nn.functional as F


class Expert(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden)
        self.w2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.w2(F.gelu(self.w1(x)))


class MoEFeedForward(nn.Module):
    def __init__(self, dim, hidden, num_experts=8, top_k=2):
        super().__init__()
        self.top_k = top_k
        self.num_experts = num_experts
        self.gate = nn.Linear(dim, num_experts, bias=False)
        self.experts = nn.ModuleList([Expert(dim, hidden) for _ in range(num_experts)])

    def forward(self, x):
        B, T, D = x.shape
        tokens = x.reshape(-1, D)                                   # (B*T, D)
        logits = self.gate(tokens)                                  # (B*T, E)
        weights, selected = torch.topk(logits, self.top_k, dim=-1)  # (B*T, k)
        weights = F.softmax(weights, dim=-1)
        mask = torch.zeros_like(logits).scatter(1, selected, weights)   # (B*T, E)
        expert_out = torch.stack([expert(tokens) for expert in self.experts], dim=1)  # (B*T, E, D)
        combined = torch.einsum("ne,ned->nd", mask, expert_out)
        aux_loss = logits.softmax(-1).mean(0).pow(2).sum() * self.num_experts
        return combined.view(B, T, D), aux_loss
