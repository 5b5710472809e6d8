from rules.ruletest import apply_fix, assert_clean, assert_flagged

WRONG = """
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.fc(self.drop(x))

net = Net()
correct = 0
for images, labels in test_loader:  # <-
    outputs = net(images)
    correct += (outputs.argmax(1) == labels).sum().item()
"""


def test_eval_loop_without_no_grad_is_flagged_on_the_for_line():
    assert_flagged(WRONG, "TR005", "net(...)", "torch.no_grad()")


def test_eval_loop_inside_no_grad_or_in_a_decorated_function_is_clean():
    right = WRONG.replace("for images, labels in test_loader:  # <-\n    outputs = net(images)\n    correct",
                          "with torch.no_grad():\n    for images, labels in test_loader:\n        outputs = net(images)\n        correct")
    assert_clean(right, "TR005")
    assert_clean("""
    import torch
    @torch.inference_mode()
    def evaluate(model, loader):
        for x, y in loader:
            out = model(x)
    """, "TR005")


def test_training_loop_over_train_data_is_not_an_eval_loop():
    assert_clean("""
    for x, y in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    """, "TR005")


def test_fix_wraps_the_loop_and_calls_eval():
    fixed = apply_fix(WRONG, "TR005")
    assert ("net.eval()\nwith torch.no_grad():\n    for images, labels in test_loader:\n"
            "        outputs = net(images)\n        correct += ") in fixed
    assert_clean(fixed, "TR006")
