"""SH014 permute-dims: permute/transpose with dims that are not a permutation of the tensor's dims."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH014',
    name='permute-dims',
    kinds=('permute_dims',),
    summary="permute/transpose with dims that are not a permutation of the tensor's dims",
    severity='error',
    docs="""\
`permute` needs exactly one entry per dim, each once; `transpose(a, b)` needs both in range.

Wrong:
    x = x.permute(0, 2, 1)             # x is (B, C, H, W)

Right:
    x = x.permute(0, 2, 3, 1)""",
)
