"""SH008 view-multiple-minus-one: view/reshape with more than one -1."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH008',
    name='view-multiple-minus-one',
    kinds=('view_multiple_minus_one',),
    summary='view/reshape with more than one -1',
    severity='error',
    docs="""\
Only one dimension of a `view`/`reshape` can be inferred (`-1`); two of them are always an error.

Wrong:
    x = x.view(-1, -1, 64)

Right:
    x = x.view(B, -1, 64)""",
)
