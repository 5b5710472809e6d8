"""SH003: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import apply_fix, assert_clean, assert_flagged

WRONG = '''
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 3)
        self.bn = nn.BatchNorm2d(32)
    def forward(self, x):
        return self.bn(self.conv(x))  # <-
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH003', 'BatchNorm2d(32) expects 32 channels', '(B, 64, H-2, W-2)', **KW)
    assert found[0].severity == 'error'
    assert found[0].related[0].line == 7  # the layer's definition


def test_right_code_is_clean():
    assert_clean(WRONG.replace('nn.BatchNorm2d(32)', 'nn.BatchNorm2d(64)'), 'SH003', **KW)


def test_fix_sets_the_inferred_size():
    assert 'nn.BatchNorm2d(64)' in apply_fix(WRONG, 'SH003', **KW)
