"""einops ``pack``/``unpack``: register tokens and class tokens joined to a sequence and
split off again (vit-pytorch, x-transformers), and an image flattened to tokens."""

from engine_helpers import analyze, last

REGISTERS = """
from einops import pack, unpack


class Registers(nn.Module):
    def __init__(self, dim=32, num_registers=4):
        super().__init__()
        self.cls = nn.Parameter(torch.randn(1, dim))
        self.registers = nn.Parameter(torch.randn(num_registers, dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b = x.shape[0]
        cls = self.cls.expand(b, -1, -1)
        r = self.registers.expand(b, -1, -1)
        tokens, ps = pack([cls, x, r], "b * d")
        tokens = self.proj(tokens)
        cls_out, body, reg_out = unpack(tokens, ps, "b * d")
        return body
"""


def test_pack_joins_along_the_star_and_unpack_gives_each_part_back():
    f = analyze(REGISTERS, entry="Registers", inputs={"x": [2, 16, 32]})
    assert last(f, "tokens") == [2, 21, 32]
    assert last(f, "cls_out") == [2, 1, 32]
    assert last(f, "body") == [2, 16, 32]
    assert last(f, "reg_out") == [2, 4, 32]
    assert not f.conflicts


def test_an_image_packed_to_tokens_and_back():
    f = analyze("""
    import einops

    class Tokens(nn.Module):
        def forward(self, img):
            seq, ps = einops.pack([img], "b c *")
            seq = seq.transpose(1, 2)
            back = einops.unpack(seq.transpose(1, 2), ps, "b c *")[0]
            return back
    """, entry="Tokens", inputs={"img": [2, 3, 8, 8]})
    assert last(f, "seq") == [2, 64, 3]
    assert last(f, "back") == [2, 3, 8, 8]


def test_packing_tensors_whose_other_axes_differ_is_a_conflict():
    f = analyze("""
    from einops import pack

    class Bad(nn.Module):
        def forward(self, a, b):
            joined, ps = pack([a, b], "b * d")
            return joined
    """, entry="Bad", inputs={"a": [2, 5, 32], "b": [2, 3, 16]})
    assert [c.kind for c in f.conflicts] == ["einsum_dims"]
    assert "pack" in f.conflicts[0].message
