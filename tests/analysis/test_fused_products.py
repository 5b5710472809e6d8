"""``input + product`` ops (addmm, baddbmm, addbmm, addmv, addr, addcmul): GPT-2's Conv1D
and scaled attention scores are written with them in public model code."""

from engine_helpers import analyze, last


def test_gpt2_style_conv1d_through_addmm():
    f = analyze("""
    class Conv1D(nn.Module):
        def __init__(self, nf, nx):
            super().__init__()
            self.nf = nf
            self.weight = nn.Parameter(torch.empty(nx, nf))
            self.bias = nn.Parameter(torch.zeros(nf))

        def forward(self, x):
            size_out = x.size()[:-1] + (self.nf,)
            flat = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
            out = flat.view(size_out)
            return out

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc = Conv1D(3072, 768)
            self.c_proj = Conv1D(768, 3072)

        def forward(self, h):
            up = self.c_fc(h)
            down = self.c_proj(F.gelu(up))
            return down
    """, entry="MLP", inputs={"h": [2, 5, 768]})
    assert last(f, "up") == [2, 5, 3072]
    assert last(f, "down") == [2, 5, 768]
    assert not f.conflicts


def test_attention_scores_through_baddbmm_and_the_other_fused_products():
    f = analyze("""
    class Scores(nn.Module):
        def forward(self, q, k, bias, v):
            scores = torch.baddbmm(bias, q, k.transpose(1, 2), beta=0.0, alpha=0.125)
            summed = torch.addbmm(bias[0], q, k.transpose(1, 2))
            mv = torch.addmv(bias[0, :, 0], q[0], v[0, 0])
            pair = torch.addr(bias[0], q[0, :, 0], k[0, :, 0])
            mixed = q.addcmul(q, v[:, :1, :], value=0.5)
            return scores
    """, entry="Scores", inputs={"q": [4, 7, 16], "k": [4, 9, 16], "bias": [1, 7, 9], "v": [4, 16, 16]})
    assert last(f, "scores") == [4, 7, 9]
    assert last(f, "summed") == [7, 9]
    assert last(f, "mv") == [7]
    assert last(f, "pair") == [7, 9]
    assert last(f, "mixed") == [4, 7, 16]
    assert not f.conflicts


def test_addmm_with_inner_dims_that_differ_is_a_conflict_named_after_addmm():
    f = analyze("""
    class Bad(nn.Module):
        def forward(self, x, w, b):
            y = torch.addmm(b, x, w)
            return y
    """, entry="Bad", inputs={"x": [8, 64], "w": [32, 10], "b": [10]})
    assert [c.kind for c in f.conflicts] == ["matmul_inner"]
    assert f.conflicts[0].message.startswith("addmm: inner dims differ")
