"""SH010 einsum-dims: einsum subscripts that disagree with the operands."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH010',
    name='einsum-dims',
    kinds=('einsum_dims',),
    summary='einsum subscripts that disagree with the operands',
    severity='error',
    docs="""\
Every letter in an `einsum` equation names one size: the same letter must have the same size
in every operand, and each operand needs as many letters as it has dims.

Wrong:
    torch.einsum("bij,bjk->bik", a, b) # a is (B, 4, 5), b is (B, 6, 7)

Right:
    torch.einsum("bij,bjk->bik", a, b) # with b of shape (B, 5, 7)""",
)
