"""SH007 view-numel: view/reshape to a shape whose element count cannot match."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH007',
    name='view-numel',
    kinds=('view_numel',),
    summary='view/reshape to a shape whose element count cannot match',
    severity='error',
    docs="""\
`view`/`reshape` keep the number of elements: the product of the new shape must equal the
input's. This usually means a wrong flatten size or a batch dim folded into the features.

Wrong:
    x = x.view(-1, 16 * 4 * 4)         # x is (B, 16, 5, 5)

Right:
    x = x.view(x.size(0), -1)          # or x.flatten(1)""",
)
