"""SH016 cross-entropy-shapes: CrossEntropyLoss/nll_loss input and target shapes cannot match."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH016',
    name='cross-entropy-shapes',
    kinds=('cross_entropy_shapes',),
    summary='CrossEntropyLoss/nll_loss input and target shapes cannot match',
    severity='error',
    docs="""\
`cross_entropy(input, target)` takes logits `(B, C)` (or `(B, C, d1...)`) and class indices `(B)`
(or `(B, d1...)`), or class probabilities of the input's shape. A target of `(B, 1)` or a one-hot
target of the wrong width raises at run time.

Wrong:
    loss = F.cross_entropy(logits, y.view(-1, 1))   # logits (B, 10)

Right:
    loss = F.cross_entropy(logits, y)               # y (B,) of class indices""",
)
