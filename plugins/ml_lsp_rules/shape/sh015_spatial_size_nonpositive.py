"""SH015 spatial-size-nonpositive: conv/pool stack shrinks a spatial size to zero or below."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH015',
    name='spatial-size-nonpositive',
    kinds=('spatial_nonpositive',),
    summary='conv/pool stack shrinks a spatial size to zero or below',
    severity='error',
    docs="""\
Each unpadded conv or pool shrinks height and width; stacked deep enough on a small input the
size reaches 0 or less and PyTorch raises `Output size is too small` / `Kernel size can't be greater
than actual input size`.

Wrong:
    # input (B, 1, 28, 28): 4 x (Conv2d(k=3) + MaxPool2d(2)) -> 28, 13, 5, 1, then -1

Right:
    nn.Conv2d(c, c, 3, padding=1)      # keep the size, or use fewer pooling steps""",
)
