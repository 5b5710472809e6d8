"""SH001: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import apply_fix, assert_clean, assert_flagged

WRONG = '''
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 16, 3)
        self.fc = nn.Linear(100, 10)
    def forward(self, x):
        x = self.conv(x).flatten(1)
        return self.fc(x)  # <-
'''
KW = dict(entry="Net", inputs={"x": ["B", 1, 28, 28]})


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH001', 'Linear(100 -> 10) expects (*, 100), got (B, 10816)', **KW)
    assert found[0].severity == 'error'
    assert found[0].related[0].line == 7  # the layer's definition


def test_right_code_is_clean():
    assert_clean(WRONG.replace('nn.Linear(100, 10)', 'nn.Linear(16 * 26 * 26, 10)'), 'SH001', **KW)


def test_fix_sets_the_inferred_size():
    assert 'nn.Linear(10816, 10)' in apply_fix(WRONG, 'SH001', **KW)
