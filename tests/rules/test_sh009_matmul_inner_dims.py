"""SH009: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch
q = torch.randn(2, 4, 8, 16)
k = torch.randn(2, 4, 8, 16)
att = q @ k  # <-
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH009', '(2, 4, 8, 16) @ (2, 4, 8, 16)', '16 vs 8', **KW)
    assert found[0].severity == 'error'


def test_right_code_is_clean():
    assert_clean(WRONG.replace('q @ k', 'q @ k.transpose(-2, -1)'), 'SH009', **KW)
