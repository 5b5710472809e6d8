"""SH010: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch
a = torch.randn(3, 4, 5)
b = torch.randn(3, 6, 7)
c = torch.einsum("bij,bjk->bik", a, b)  # <-
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH010', "'j' is 5 in one operand and 6", **KW)
    assert found[0].severity == 'error'


def test_right_code_is_clean():
    assert_clean(WRONG.replace('torch.randn(3, 6, 7)', 'torch.randn(3, 5, 7)'), 'SH010', **KW)
