"""SH008: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch
x = torch.randn(4, 16, 5, 5)
y = x.view(-1, -1, 25)  # <-
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH008', 'only one dimension can be -1', **KW)
    assert found[0].severity == 'error'


def test_right_code_is_clean():
    assert_clean(WRONG.replace('view(-1, -1, 25)', 'view(4, -1, 25)'), 'SH008', **KW)
