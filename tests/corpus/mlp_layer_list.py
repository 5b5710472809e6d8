# corpus: entry=DeepMLP
# corpus: init=in_dim=20, hidden_dims=[64, 32, 16], out_dim=2
# corpus: input=x=7,20
# An MLP whose hidden layers come from a list of widths, built in a loop into a ModuleList
# (widths differ layer to layer), plus a residual tower built with a comprehension.
import torch
import torch.nn as nn
import torch.nn.functional as F


class DeepMLP(nn.Module):
    def __init__(self, in_dim, hidden_dims, out_dim, n_res=2):
        super().__init__()
        self.layers = nn.ModuleList()
        prev = in_dim
        for h in hidden_dims:
            self.layers.append(nn.Linear(prev, h))
            prev = h
        self.res = nn.ModuleList([nn.Linear(prev, prev) for _ in range(n_res)])
        self.norms = nn.ModuleList([nn.LayerNorm(prev) for _ in range(n_res)])
        self.head = nn.Linear(prev, out_dim)

    def forward(self, x):
        for layer in self.layers:
            x = F.relu(layer(x))
        for lin, norm in zip(self.res, self.norms):
            x = x + lin(norm(x))
        for i in range(len(self.res)):
            x = self.res[i](x)
        return self.head(x)
