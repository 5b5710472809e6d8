"""SH018 input-rank: a layer fed a tensor with the wrong number of dimensions."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code="SH018",
    name="input-rank",
    kinds=("input_rank",),
    summary="a layer (Conv, pooling, norm, RNN) fed a tensor of the wrong rank",
    severity="error",
    docs="""\
Convolutions and pooling take `(B, C, *spatial)` (or the unbatched `(C, *spatial)`), RNNs take
`(T, B, F)`/`(B, T, F)`. A flattened tensor fed to a `Conv2d`, or an image fed to an `LSTM`
without reshaping, raises `Expected 3D (unbatched) or 4D (batched) input`.

Wrong:
    x = self.conv(x.flatten(1))        # Conv2d gets (B, 784)

Right:
    x = self.conv(x.view(-1, 1, 28, 28))""",
)
