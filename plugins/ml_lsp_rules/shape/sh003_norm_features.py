"""SH003 norm-features: BatchNorm/LayerNorm/GroupNorm feature count differs from the input."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH003',
    name='norm-features',
    kinds=('norm_features',),
    summary='BatchNorm/LayerNorm/GroupNorm feature count differs from the input',
    severity='error',
    docs="""\
`BatchNorm*d(C)` normalises dim 1 and needs it to be `C`; `LayerNorm(shape)` needs the input's
trailing dims to equal `shape`; `GroupNorm(G, C)` needs `C` channels divisible by `G`.

Wrong:
    self.conv = nn.Conv2d(3, 64, 3)
    self.bn = nn.BatchNorm2d(32)

Right:
    self.bn = nn.BatchNorm2d(64)

Fix: set the feature count to the inferred value.""",
)
