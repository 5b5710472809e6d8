"""SH005 mha-embed-dim: MultiheadAttention embed_dim differs from the query/key/value width."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH005',
    name='mha-embed-dim',
    kinds=('mha_embed_dim',),
    summary='MultiheadAttention embed_dim differs from the query/key/value width',
    severity='error',
    docs="""\
`MultiheadAttention(embed_dim, num_heads)` expects query of width `embed_dim` (and key/value of
`kdim`/`vdim` when given); `embed_dim` must also be divisible by `num_heads`.

Wrong:
    self.attn = nn.MultiheadAttention(512, 8)
    out, _ = self.attn(x, x, x)        # x is (T, B, 256)

Right:
    self.attn = nn.MultiheadAttention(256, 8)""",
)
