"""SH017: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch
import torch.nn.functional as F
pred = torch.randn(8, 1)
y = torch.randn(8)
loss = F.mse_loss(pred, y)  # <-
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH017', '(8, 1)', '(8,)', '(8, 8)', **KW)
    assert found[0].severity == 'warning'


def test_right_code_is_clean():
    assert_clean(WRONG.replace('F.mse_loss(pred, y)', 'F.mse_loss(pred.squeeze(-1), y)'), 'SH017', **KW)
