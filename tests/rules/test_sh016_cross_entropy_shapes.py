"""SH016: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch
import torch.nn.functional as F
logits = torch.randn(8, 10)
y = torch.randint(0, 10, (8, 1))
loss = F.cross_entropy(logits, y)  # <-
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH016', 'target (8,), got (8, 1)', **KW)
    assert found[0].severity == 'error'


def test_right_code_is_clean():
    assert_clean(WRONG.replace('(8, 1))', '(8,))'), 'SH016', **KW)
