"""SH012: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch
logits = torch.randn(4, 10)
p = torch.softmax(logits, dim=2)  # <-
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH012', 'dim=2 is out of range', 'rank 2', **KW)
    assert found[0].severity == 'error'


def test_right_code_is_clean():
    assert_clean(WRONG.replace('dim=2', 'dim=-1'), 'SH012', **KW)
