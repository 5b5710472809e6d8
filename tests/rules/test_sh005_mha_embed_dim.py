"""SH005: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(64, 256)
        self.attn = nn.MultiheadAttention(512, 8)
    def forward(self, x):
        x = self.proj(x)
        out, _ = self.attn(x, x, x)  # <-
        return out
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH005', 'MultiheadAttention(embed_dim=512)', '256', **KW)
    assert found[0].severity == 'error'
    assert found[0].related[0].line == 7  # the layer's definition


def test_right_code_is_clean():
    assert_clean(WRONG.replace('nn.MultiheadAttention(512, 8)', 'nn.MultiheadAttention(256, 8)'), 'SH005', **KW)
