"""SH017 loss-broadcast: MSELoss/L1Loss between (B, 1) and (B,) broadcasts to (B, B)."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH017',
    name='loss-broadcast',
    kinds=('loss_broadcast',),
    summary='MSELoss/L1Loss between (B, 1) and (B,) broadcasts to (B, B)',
    severity='warning',
    docs="""\
`mse_loss(pred, target)` with `pred` of shape `(B, 1)` and `target` of shape `(B,)` silently
broadcasts to `(B, B)`: the loss is computed between every pair of samples, the model trains
toward the mean and PyTorch only prints a UserWarning.

Wrong:
    loss = F.mse_loss(model(x), y)     # model(x) is (B, 1), y is (B,)

Right:
    loss = F.mse_loss(model(x).squeeze(-1), y)""",
)
