"""SH012 dim-out-of-range: a dim argument beyond the tensor's rank."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH012',
    name='dim-out-of-range',
    kinds=('dim_out_of_range',),
    summary="a dim argument beyond the tensor's rank",
    severity='error',
    docs="""\
A `dim` must lie in `[-ndim, ndim)`; e.g. `softmax(dim=2)`, `cat(dim=2)` or `sum(3)` on a 2-D tensor
raise `IndexError: Dimension out of range`.

Wrong:
    x = torch.softmax(logits, dim=2)   # logits is (B, C)

Right:
    x = torch.softmax(logits, dim=-1)""",
)
