"""SH001 linear-in-features: Linear/Bilinear in_features differ from the input's last dim."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH001',
    name='linear-in-features',
    kinds=('linear_in_features',),
    summary="Linear/Bilinear in_features differ from the input's last dim",
    severity='error',
    docs="""\
A `Linear(in, out)` multiplies the input's last dimension by an `(out, in)` weight, so the
last dim must equal `in_features` (for `Bilinear`, each input's last dim must equal its
`in*_features`). The usual cause is a flatten size computed by hand after conv/pool layers.

Wrong:
    self.fc = nn.Linear(128, 10)      # the conv stack gives 16 * 5 * 5 = 400 features
    ...
    x = self.fc(x.flatten(1))         # x is (B, 400)

Right:
    self.fc = nn.Linear(16 * 5 * 5, 10)

Fix: set `in_features` to the inferred size.""",
)
