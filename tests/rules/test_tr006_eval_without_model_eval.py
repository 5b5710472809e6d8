from rules.ruletest import apply_fix, assert_clean, assert_flagged

MODEL = """
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        return self.fc(self.bn(x))

net = Net()
"""

WRONG = MODEL + """
with torch.no_grad():
    for images, labels in val_loader:  # <-
        outputs = net(images)
"""


def test_eval_loop_without_model_eval_is_flagged():
    assert_flagged(WRONG, "TR006", "net.eval()", "batch norm")


def test_model_eval_before_the_loop_is_clean():
    assert_clean(WRONG.replace("with torch.no_grad():", "net.eval()\nwith torch.no_grad():"), "TR006")


def test_model_without_dropout_or_norm_is_clean():
    assert_clean(WRONG.replace("nn.BatchNorm1d(4)", "nn.ReLU()"), "TR006")


def test_fix_inserts_eval_before_the_with_block():
    fixed = apply_fix(WRONG, "TR006", safe_only=True)
    assert "net = Net()\n\nnet.eval()\nwith torch.no_grad():\n    for images" in fixed
