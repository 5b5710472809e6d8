"""SH011: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch
x = torch.randn(2, 64, 8)
y = torch.randn(2, 32, 4)
z = torch.cat([x, y], dim=1)  # <-
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH011', 'cat along dim 1', '(2, 64, 8) vs (2, 32, 4)', **KW)
    assert found[0].severity == 'error'


def test_right_code_is_clean():
    assert_clean(WRONG.replace('torch.randn(2, 32, 4)', 'torch.randn(2, 32, 8)'), 'SH011', **KW)
