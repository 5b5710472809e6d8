"""SH014: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch
x = torch.randn(2, 3, 4, 5)
y = x.permute(0, 2, 1)  # <-
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH014', 'permute(0, 2, 1)', 'rank 4', **KW)
    assert found[0].severity == 'error'


def test_right_code_is_clean():
    assert_clean(WRONG.replace('permute(0, 2, 1)', 'permute(0, 2, 3, 1)'), 'SH014', **KW)
