# corpus: entry=CrossAttentionFusion
# corpus: init=embed_dim=32, num_heads=4, kdim=20, vdim=20
# corpus: input=query=2,5,32
# corpus: input=memory=2,9,20
# nn.MultiheadAttention used for cross attention between two sequences of different widths.
import torch
import torch.nn as nn


class CrossAttentionFusion(nn.Module):
    def __init__(self, embed_dim, num_heads, kdim=None, vdim=None, dropout=0.0):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout,
                                                kdim=kdim, vdim=vdim, batch_first=True)
        self.norm1 = nn.LayerNorm(embed_dim)
        self.norm2 = nn.LayerNorm(embed_dim)
        self.ffn = nn.Sequential(nn.Linear(embed_dim, embed_dim * 4), nn.ReLU(), nn.Linear(embed_dim * 4, embed_dim))

    def forward(self, query, memory):
        attn_out, _ = self.self_attn(query, query, query, need_weights=False)
        x = self.norm1(query + attn_out)
        fused, attn_weights = self.cross_attn(x, memory, memory)
        x = self.norm2(x + fused)
        x = x + self.ffn(x)
        return x, attn_weights
