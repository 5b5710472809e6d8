"""SH013: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch
x = torch.randn(4, 64)
bias = torch.randn(32)
y = x + bias  # <-
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH013', '(4, 64) and (32,) do not broadcast', **KW)
    assert found[0].severity == 'error'


def test_right_code_is_clean():
    assert_clean(WRONG.replace('torch.randn(32)', 'torch.randn(64)'), 'SH013', **KW)
