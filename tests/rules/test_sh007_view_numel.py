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
