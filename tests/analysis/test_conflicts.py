"""Contradictions the engine proves (ShapeConflict), which diagnostics turn into SH rules:
the consuming span, both shapes in the message, the defining layer in `related`, a
mechanical fix where there is one, and silence whenever it cannot prove the clash."""

import pytest

from engine_helpers import analyze

LINEAR = """
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(100, 10)

    def forward(self, x):
        h = self.conv(x).flatten(1)
        out = self.fc(h)
        return out
"""


def only(facts, kind):
    found = [c for c in facts.conflicts if c.kind == kind]
    assert len(found) == 1, [(c.kind, c.message) for c in facts.conflicts]
    return found[0]


def test_linear_in_features_with_span_related_and_fix():
    f = analyze(LINEAR, inputs={"x": [2, 1, 8, 8]}, entry="M")
    c = only(f, "linear_in_features")
    assert "(*, 100)" in c.message and "(2, 144)" in c.message
    assert (c.line, c.end_line) == (13, 13)  # out = self.fc(h)
    assert c.related and c.related[0].line == 9  # where self.fc is built
    assert c.fix is not None and c.fix.edits[0].new_text == "144"
    edit = c.fix.edits[0]
    assert (edit.line, edit.col, edit.end_col) == (9, 28, 31)  # the literal 100


def test_no_conflict_when_the_input_is_only_inferred_or_unknown():
    assert not analyze(LINEAR).conflicts  # x inferred from the conv: (B, 1, H, W)
    f = analyze("""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(100, 10)

        def forward(self, x, n):
            y = self.fc(x.view(-1, n))
            return y
    """)
    assert not f.conflicts


CASES = [
    ("conv_in_channels", "self.layer = nn.Conv2d(3, 8, 3)", "self.layer(x)", [2, 1, 8, 8]),
    ("norm_features", "self.layer = nn.BatchNorm2d(16)", "self.layer(x)", [2, 8, 4, 4]),
    ("norm_features", "self.layer = nn.LayerNorm(32)", "self.layer(x)", [2, 5, 16]),
    ("rnn_input_size", "self.layer = nn.LSTM(10, 20)", "self.layer(x)", [5, 2, 12]),
    ("mha_embed_dim", "self.layer = nn.MultiheadAttention(16, 2)", "self.layer(x, x, x)", [5, 2, 8]),
    ("view_numel", "self.layer = None", "x.view(3, 5)", [2, 8]),
    ("view_numel", "self.layer = None", "x.view(-1, 5)", [2, 8]),
    ("view_multiple_minus_one", "self.layer = None", "x.view(-1, -1)", [2, 8]),
    ("matmul_inner", "self.layer = None", "x @ x", [2, 8]),
    ("matmul_inner", "self.layer = None", "torch.bmm(x, x.transpose(1, 2)[:, :3])", [2, 4, 5]),
    ("einsum_dims", "self.layer = None", "torch.einsum('bij,bjk->bik', x, x)", [2, 3, 4]),
    ("cat_dims", "self.layer = None", "torch.cat([x, x.sum(-1)], dim=0)", [2, 3]),
    ("cat_dims", "self.layer = None", "torch.cat([x, x[:, :2]], dim=0)", [2, 3]),
    ("dim_out_of_range", "self.layer = None", "x.softmax(dim=2)", [2, 3]),
    ("dim_out_of_range", "self.layer = None", "x.transpose(1, 3)", [2, 3, 4]),
    ("broadcast", "self.layer = None", "x + x[:, :2]", [2, 3]),
    ("permute_dims", "self.layer = None", "x.permute(0, 2, 1)", [2, 3]),
    ("spatial_nonpositive", "self.layer = nn.Conv2d(1, 2, 5)", "self.layer(x)", [1, 1, 3, 3]),
    ("spatial_nonpositive", "self.layer = nn.MaxPool2d(4)", "self.layer(x)", [1, 1, 3, 3]),
    ("cross_entropy_shapes", "self.layer = None", "F.cross_entropy(x, x.argmax(-1).unsqueeze(-1))", [4, 5]),
    ("loss_broadcast", "self.layer = None", "F.mse_loss(x, x.sum(-1))", [4, 5]),
    ("input_rank", "self.layer = nn.Conv2d(1, 4, 3)", "self.layer(x)", [4, 784]),
    ("conv_in_channels", "self.w = nn.Parameter(torch.randn(8, 4, 3, 3))", "F.conv_transpose2d(x, self.w, stride=2)",
     [2, 6, 8, 8]),
    ("embedding_input", "self.layer = nn.Embedding(10, 4)", "self.layer(x.float() * 2)", [4, 5]),
    ("broadcast", "self.layer = None", "F.scaled_dot_product_attention(x, x.transpose(1, 2), x.transpose(1, 2))",
     [2, 4, 6, 8]),
]


@pytest.mark.parametrize("kind,init,expr,shape", CASES, ids=[f"{c[0]}:{c[2]}" for c in CASES])
def test_each_conflict_kind(kind, init, expr, shape):
    f = analyze(f"""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            {init}

        def forward(self, x):
            y = {expr}
            return y
    """, inputs={"x": shape}, entry="M")
    c = only(f, kind)
    assert c.line == 11 and c.message and c.expected and c.got


def test_fix_for_conv_and_norm_channels():
    f = analyze("""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 8, 3)
            self.bn = nn.BatchNorm2d(16)
            self.conv2 = nn.Conv2d(4, 8, 3)

        def forward(self, x):
            y = self.bn(self.conv(x))
            z = self.conv2(y)
            return z
    """, inputs={"x": [2, 1, 10, 10]}, entry="M")
    bn = only(f, "norm_features")
    assert bn.fix.edits[0].new_text == "8" and bn.related[0].line == 9
    conv = only(f, "conv_in_channels")
    assert conv.fix.edits[0].new_text == "8" and conv.related[0].line == 10


def test_symbolic_dims_conflict_only_when_provably_different():
    f = analyze("""
    def f(x: Float[Tensor, "B T C"], y: Float[Tensor, "B T D"]):
        a = torch.cat([x, x[:, 1:]], dim=2)
        b = x + y
        return a
    """)
    kinds = [c.kind for c in f.conflicts]
    assert kinds == ["cat_dims"]  # T vs T-1 differ for every T; C vs D might be equal


def test_inferred_inputs_report_only_what_every_accepted_rank_contradicts():
    # whatever x's rank (batched or not), conv2 gets 32 channels where it wants 16
    f = analyze("""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 32, 3)
            self.conv2 = nn.Conv2d(16, 64, 3)

        def forward(self, x):
            y = self.conv2(self.conv1(x))
            return y
    """)
    assert [c.kind for c in f.conflicts] == ["conv_in_channels"]
    # enc is (B, H) or (B, T, H) for its Linear: bmm is wrong only for one of them, so quiet
    g = analyze("""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, 8)

        def forward(self, q, enc):
            keys = self.proj(enc)
            ctx = torch.bmm(q.unsqueeze(1), keys)
            return ctx
    """)
    assert not g.conflicts
