"""SH002: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import apply_fix, assert_clean, assert_flagged

WRONG = '''
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.conv2 = nn.Conv2d(16, 64, 3)
    def forward(self, x):
        x = self.conv1(x)
        return self.conv2(x)  # <-
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH002', 'Conv2d(16 -> 64) expects 16 input channels', '(B, 32, H-2, W-2)', **KW)
    assert found[0].severity == 'error'
    assert found[0].related[0].line == 7  # the layer's definition


def test_right_code_is_clean():
    assert_clean(WRONG.replace('nn.Conv2d(16, 64, 3)', 'nn.Conv2d(32, 64, 3)'), 'SH002', **KW)


def test_fix_sets_the_inferred_size():
    assert 'nn.Conv2d(32, 64, 3)' in apply_fix(WRONG, 'SH002', **KW)
