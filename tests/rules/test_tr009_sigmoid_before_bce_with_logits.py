from rules.ruletest import apply_fix, assert_clean, assert_flagged

WRONG = """
import torch
import torch.nn as nn
criterion = nn.BCEWithLogitsLoss()
for x, y in loader:
    loss = criterion(torch.sigmoid(model(x)), y)  # <-
"""


def test_sigmoid_into_bce_with_logits_is_flagged():
    assert_flagged(WRONG, "TR009", "sigmoid output", "criterion, which applies the sigmoid")


def test_plain_bce_after_sigmoid_is_clean():
    assert_clean(WRONG.replace("BCEWithLogitsLoss", "BCELoss"), "TR009")


def test_fix_removes_the_sigmoid():
    assert "criterion(model(x), y)" in apply_fix(WRONG, "TR009", safe_only=True)
