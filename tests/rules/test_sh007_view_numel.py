"""SH007: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch
x = torch.randn(4, 16, 5, 5)
y = x.view(-1, 16 * 4 * 4 + 1)  # <-
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH007', '(4, 16, 5, 5)', '1600 elements', **KW)
    assert found[0].severity == 'error'


def test_right_code_is_clean():
    assert_clean(WRONG.replace('16 * 4 * 4 + 1', '16 * 5 * 5'), 'SH007', **KW)


SYMBOLIC = '''
import torch.nn as nn


class Heads(nn.Module):
    def __init__(self, n_embd=64, n_head=6):
        super().__init__()
        self.n_embd, self.n_head = n_embd, n_head

    def forward(self, x):  # shape: x=(B, T, 64)
        B, T, C = x.shape
        # 6 heads of 64 // 6 = 10: 60*B*T elements, not 64*B*T
        return x.view(B, T, self.n_head, C // self.n_head)  # <-


model = Heads()
'''


def test_flagged_when_the_counts_differ_for_every_size_of_the_symbols():
    assert_flagged(SYMBOLIC, 'SH007', '60*B*T elements', '64*B*T elements', 'for every size', **KW)


def test_quiet_when_the_counts_may_match():
    assert_clean(SYMBOLIC.replace('n_head=6', 'n_head=4'), 'SH007', **KW)
    # nobody builds it: n_head is a symbol, C // n_head * n_head may equal C
    assert_clean(SYMBOLIC.replace('model = Heads()\n', '').replace('n_embd=64, n_head=6', 'n_embd, n_head'),
                 'SH007', **KW)
