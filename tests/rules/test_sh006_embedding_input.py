"""SH006: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 32)
    def forward(self, x):
        return self.emb(torch.randn(4, 10))  # <-
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH006', 'integer indices', 'float tensor (4, 10)', **KW)
    assert found[0].severity == 'error'
    assert found[0].related[0].line == 7  # the layer's definition


def test_right_code_is_clean():
    assert_clean(WRONG.replace('torch.randn(4, 10)', 'torch.randint(0, 100, (4, 10))'), 'SH006', **KW)
