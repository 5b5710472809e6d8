from rules.ruletest import apply_fix, assert_clean, assert_flagged

INLINE = """
import torch.nn as nn
import torch.nn.functional as F
criterion = nn.CrossEntropyLoss()
for x, y in loader:
    logits = model(x)
    loss = criterion(F.softmax(logits, dim=1), y)  # <-
"""

IN_FORWARD = """
import torch
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)
    def forward(self, x):
        return torch.softmax(self.fc(x), dim=1)
net = Net()
criterion = nn.CrossEntropyLoss()
for x, y in loader:
    outputs = net(x)
    loss = criterion(outputs, y)  # <-
"""


def test_inline_softmax_is_flagged():
    assert_flagged(INLINE, "TR008", "softmax output", "logits")


def test_logits_are_clean():
    assert_clean(INLINE.replace("F.softmax(logits, dim=1)", "logits"), "TR008")


def test_forward_returning_softmax_is_flagged_with_the_return_line():
    found = assert_flagged(IN_FORWARD, "TR008")
    assert found[0].related[0].line == 9


def test_functional_form_and_bound_name():
    assert_flagged("""
    import torch.nn.functional as F
    probs = logits.softmax(dim=-1)
    loss = F.cross_entropy(probs, y)  # <-
    """, "TR008")


def test_fix_removes_the_softmax():
    fixed = apply_fix(INLINE, "TR008", safe_only=True)
    assert "    loss = criterion(logits, y)\n" in fixed
    fixed = apply_fix(IN_FORWARD, "TR008")
    assert "        return self.fc(x)\n" in fixed
