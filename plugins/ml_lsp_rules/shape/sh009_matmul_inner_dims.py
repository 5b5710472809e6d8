"""SH009 matmul-inner-dims: matmul/@/bmm/mm inner dimensions differ."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH009',
    name='matmul-inner-dims',
    kinds=('matmul_inner',),
    summary='matmul/@/bmm/mm inner dimensions differ',
    severity='error',
    docs="""\
`a @ b` needs `a.shape[-1] == b.shape[-2]` (batch dims broadcast; `bmm` needs equal batches).
A missing transpose is the usual cause, e.g. `q @ k` instead of `q @ k.transpose(-2, -1)`.

Wrong:
    att = q @ k                        # q, k are (B, H, T, D)

Right:
    att = q @ k.transpose(-2, -1)""",
)
