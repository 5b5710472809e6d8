"""SH015: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3)
        self.c2 = nn.Conv2d(8, 8, 3)
        self.c3 = nn.Conv2d(8, 8, 3)
        self.pool = nn.MaxPool2d(2)
    def forward(self, x):
        x = self.pool(self.c1(x))
        x = self.pool(self.c2(x))
        x = self.pool(self.c3(x))
        return self.c3(x)  # <-
'''
KW = dict(entry="Net", inputs={"x": ["B", 1, 28, 28]})


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH015', 'too small for kernel 3', **KW)
    assert found[0].severity == 'error'


def test_right_code_is_clean():
    assert_clean(WRONG.replace('        return self.c3(x)  # <-', '        return x'), 'SH015', **KW)
