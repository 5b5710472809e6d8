"""SH004: flagged on the consuming line with both shapes; quiet on the corrected code."""

from rules.ruletest import apply_fix, assert_clean, assert_flagged

WRONG = '''
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(1000, 256)
        self.lstm = nn.LSTM(128, 512, batch_first=True)
    def forward(self, tokens):
        out, _ = self.lstm(self.emb(tokens))  # <-
        return out
'''
KW = {}


def test_flagged_with_both_shapes():
    found = assert_flagged(WRONG, 'SH004', 'LSTM(input_size=128)', '(B, T, 256)', **KW)
    assert found[0].severity == 'error'
    assert found[0].related[0].line == 7  # the layer's definition


def test_right_code_is_clean():
    assert_clean(WRONG.replace('nn.LSTM(128, 512', 'nn.LSTM(256, 512'), 'SH004', **KW)


def test_fix_sets_the_inferred_size():
    assert 'nn.LSTM(256, 512, batch_first=True)' in apply_fix(WRONG, 'SH004', **KW)
