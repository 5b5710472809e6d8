"""TR013 through `ml-lsp check`: a seed set after the model is built; the fix moves it up."""

from rules.test_real_script_false_alarms import check, project  # noqa: F401  (the fixture)

SRC = """\
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

model = Net()
torch.manual_seed(0)
for step in range(3):
    torch.manual_seed(step)

def main():
    torch.manual_seed(1)
    net = Net()

def resume():
    net = Net()
    net.load_state_dict(torch.load("net.pt"))
    torch.manual_seed(2)
"""


def test_seed_after_the_model_is_flagged_and_moved_up(project):
    assert check(project, SRC, "--select", "TR013") == [("TR013", 10)]
    assert check(project, SRC, "--select", "TR013", "--fix") == []
    fixed = (project / "train.py").read_text()
    assert "torch.manual_seed(0)\nmodel = Net()\nfor step in range(3):" in fixed


def test_seed_whose_argument_is_computed_after_the_model_gets_no_fix(project):
    src = SRC.replace("torch.manual_seed(0)", "seed = 0\ntorch.manual_seed(seed)")
    assert check(project, src, "--select", "TR013", "--fix") == [("TR013", 11)]
