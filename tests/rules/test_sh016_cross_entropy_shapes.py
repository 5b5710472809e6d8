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


NLL_FLOAT = '''
import torch
import torch.nn.functional as F
log_probs = torch.randn(8, 10).log_softmax(dim=1)
y = torch.randint(0, 10, (8,))
loss = F.nll_loss(log_probs, y.float())  # <-
'''


def test_nll_loss_with_a_float_target_is_a_dtype_mistake_not_a_shape_one():
    # nll_loss takes class indices only: a float target is TR018's mistake, and SH016 must
    # not read it as a probability target of the wrong shape
    assert_clean(NLL_FLOAT, 'SH016', **KW)
    assert_flagged(NLL_FLOAT, 'TR018', 'nll_loss', **KW)
