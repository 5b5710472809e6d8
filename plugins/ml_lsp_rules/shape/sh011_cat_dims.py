"""SH011 cat-dims: cat/stack of tensors whose other dims differ."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH011',
    name='cat-dims',
    kinds=('cat_dims',),
    summary='cat/stack of tensors whose other dims differ',
    severity='error',
    docs="""\
`torch.cat(ts, dim)` needs every tensor to match on all dims but `dim`; `torch.stack` needs
identical shapes. Concatenating on the wrong dim is the usual cause.

Wrong:
    torch.cat([x, y], dim=1)           # x is (B, 64, 8), y is (B, 32, 4)

Right:
    torch.cat([x, y], dim=2)           # with x (B, 64, 8) and y (B, 64, 4)""",
)
