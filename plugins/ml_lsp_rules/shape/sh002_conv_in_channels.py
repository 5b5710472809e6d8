"""SH002 conv-in-channels: Conv in_channels (or groups) do not match the input's channel dim."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH002',
    name='conv-in-channels',
    kinds=('conv_in_channels', 'conv_groups'),
    summary="Conv in_channels (or groups) do not match the input's channel dim",
    severity='error',
    docs="""\
A `Conv*d(in_channels, ...)` reads its input as `(B, C, *spatial)` and needs `C == in_channels`;
`in_channels` and `out_channels` must also be divisible by `groups`. Typical causes: a layer
whose `in_channels` was not updated after the previous layer changed, or a channels-last tensor.

Wrong:
    self.conv1 = nn.Conv2d(3, 32, 3)
    self.conv2 = nn.Conv2d(16, 64, 3)   # conv1 gives 32 channels

Right:
    self.conv2 = nn.Conv2d(32, 64, 3)

Fix: set `in_channels` to the inferred channel count.""",
)
