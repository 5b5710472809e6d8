"""SH013 broadcast-mismatch: elementwise op between shapes that cannot broadcast."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH013',
    name='broadcast-mismatch',
    kinds=('broadcast',),
    summary='elementwise op between shapes that cannot broadcast',
    severity='error',
    docs="""\
Elementwise ops align shapes from the right; each pair of dims must be equal or 1.

Wrong:
    y = x + bias                       # x is (B, 64), bias is (32,)

Right:
    y = x + bias                       # with bias of shape (64,)""",
)
