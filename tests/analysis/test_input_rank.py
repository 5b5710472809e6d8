"""Inputs nobody gave (issue 13 item 5): an input whose rank the code does not tell shows
``(*, 256)``, never a made-up rank; a rank the code does tell (an unpacking of a tensor that
kept the input's leading dims) is used."""

from ml_lsp.analysis.dims import format_shape

from engine_helpers import analyze, last


def test_an_input_first_consumed_by_linear_has_unknown_rank():
    # Linear(256, ...) takes (256,), (B, 256), (B, T, 256): the input is (*, 256). A
    # made-up (B, 256) made the later reshape(b, -1, heads, 64) "solve" -1 = 1
    f = analyze("""
    class Proj(nn.Module):
        def __init__(self, dim=256, heads=4):
            super().__init__()
            self.heads = heads
            self.qkv = nn.Linear(dim, dim)

        def forward(self, x):
            q = self.qkv(x)
            b = q.shape[0]
            heads = q.reshape(b, -1, self.heads, 64)
            return heads
    """)
    assert format_shape(f.class_named("Proj").input_shapes["x"]) == "(*, 256)"
    assert last(f, "q") == ["*", 256]
    assert last(f, "heads") != ["B", 1, 4, 64]
    assert not f.conflicts


def test_an_unpacking_downstream_tells_the_inputs_rank():
    # the LayerNorm says nothing of x's rank; Attention's `b, n, _ = x.shape` does, on a
    # tensor that kept x's leading dims
    f = analyze("""
    class Attention(nn.Module):
        def __init__(self, dim=32, heads=4):
            super().__init__()
            self.heads = heads
            self.to_qkv = nn.Linear(dim, dim * 3)

        def forward(self, x):
            b, n, _ = x.shape
            q, k, v = self.to_qkv(x).chunk(3, dim=-1)
            q = q.reshape(b, n, self.heads, -1).transpose(1, 2)
            return q


    class Layer(nn.Module):
        def __init__(self, dim=32):
            super().__init__()
            self.norm = nn.LayerNorm(dim)
            self.attn = Attention(dim)

        def forward(self, x):
            h = self.attn(self.norm(x))
            return h
    """)
    assert format_shape(f.class_named("Layer").input_shapes["x"]) == "(b, n, 32)"
    assert last(f, "h") == ["b", 4, "n", 8]


def test_a_conv_input_keeps_its_documented_batched_rank():
    # Conv2d takes (B, C, H, W), or (C, H, W) unbatched: that is not "any leading dims"
    f = analyze("""
    class Stem(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            return y
    """)
    assert last(f, "y") == ["B", 16, "H", "W"]
