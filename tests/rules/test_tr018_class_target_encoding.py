"""TR018 through `ml-lsp check`: one-hot or float class targets to CrossEntropyLoss/NLLLoss,
integer targets to the binary losses; silent on the valid encodings (indices, one-hot
converted to float probabilities for cross entropy, float targets for BCE)."""

from rules.test_real_script_false_alarms import check, project  # noqa: F401  (the fixture)

SRC = """\
import torch
import torch.nn as nn
import torch.nn.functional as F

model = nn.Linear(16, 3)
criterion = nn.CrossEntropyLoss()
bce = nn.BCEWithLogitsLoss()

def step(x, y):
    loss = criterion(model(x), F.one_hot(y, 3))
    target = F.one_hot(y, num_classes=3)
    loss = F.cross_entropy(model(x), target)
    loss = F.nll_loss(F.log_softmax(model(x), dim=1), y.float())
    loss = bce(model(x)[:, 0], y.long())
    loss = bce(model(x)[:, 0], y.to(torch.int64))
    return loss

def right(x, y):
    loss = criterion(model(x), y)
    soft = F.one_hot(y, 3).float()
    loss = criterion(model(x), soft)
    loss = F.nll_loss(F.log_softmax(model(x), dim=1), y)
    loss = bce(model(x)[:, 0], y.float())
    loss = F.binary_cross_entropy_with_logits(model(x), F.one_hot(y, 3).float())
    return loss
"""


def test_class_targets_in_the_wrong_encoding(project):
    assert check(project, SRC, "--select", "TR018") == [
        ("TR018", 10), ("TR018", 12), ("TR018", 13), ("TR018", 14), ("TR018", 15)]


def test_fixes_pass_indices_and_float_targets(project):
    check(project, SRC, "--select", "TR018", "--fix")
    fixed = (project / "train.py").read_text()
    assert "loss = criterion(model(x), y)\n    target" in fixed
    assert "loss = F.cross_entropy(model(x), y)" in fixed
    assert "loss = F.nll_loss(F.log_softmax(model(x), dim=1), y)\n    loss = bce" in fixed
    assert "loss = bce(model(x)[:, 0], y.float())\n    loss = bce(model(x)[:, 0], y.to(torch.int64))" in fixed
