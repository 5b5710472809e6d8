"""Every safe fix keeps the program's meaning: a small training script with each fixable
rule's mistake is fixed by `ml-lsp check --fix`, and the fixed script still runs under torch
and calls the model once per step (a fix that repeats the forward pass, as TR008's once
did with `criterion(model(x), y)`, fails the count)."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = '''\
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

FORWARDS = [0]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        FORWARDS[0] += 1
        return self.fc(x)


torch.manual_seed(0)
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
criterion = nn.CrossEntropyLoss()
data = TensorDataset(torch.randn(32, 4), torch.randint(0, 3, (32,)))
loader = DataLoader(data, batch_size=8, shuffle=True)
steps, total = 0, 0.0
for x, y in loader:
    optimizer.zero_grad()
    out = model(x)
    loss = criterion(out, y)
    loss.backward()
    optimizer.step()
    total += loss.item()
    steps += 1
print("forwards", FORWARDS[0], "steps", steps)
assert FORWARDS[0] == steps
'''

# (rule, what the mistake replaces in SCRIPT)
MISTAKES = {
    "TR008-name-of-a-call": ("TR008", [("    out = model(x)\n", "    out = F.softmax(model(x), dim=1)\n")]),
    "TR008-inline": ("TR008", [("    loss = criterion(out, y)\n", "    loss = criterion(F.softmax(out, dim=1), y)\n")]),
    "TR008-name-of-a-name": ("TR008", [("    loss = criterion(out, y)\n",
                                        "    probs = F.softmax(out, dim=1)\n    loss = criterion(probs, y)\n")]),
    "TR009": ("TR009", [("criterion = nn.CrossEntropyLoss()", "criterion = nn.BCEWithLogitsLoss()"),
                        ("    out = model(x)\n", "    out = torch.sigmoid(model(x))\n"),
                        ("    loss = criterion(out, y)\n", "    loss = criterion(out, F.one_hot(y, 3).float())\n")]),
    "TR001": ("TR001", [("    optimizer.zero_grad()\n", "")]),
    "TR004": ("TR004", [("    total += loss.item()\n", "    total += loss\n")]),
    "DA002": ("DA002", [("loader = DataLoader(data, batch_size=8, shuffle=True)",
                         "train_loader = DataLoader(data, batch_size=8)"),
                        ("for x, y in loader:", "for x, y in train_loader:")]),
    "DA003": ("DA003", [("print(\"forwards\"", "torch.save(model.state_dict(), \"w.pt\")\nmodel.load_state_dict(torch.load(\"w.pt\"))\nprint(\"forwards\"")]),
}


@pytest.mark.parametrize("case", sorted(MISTAKES))
def test_the_fixed_script_runs_with_one_forward_pass_per_step(case, tmp_path):
    code, edits = MISTAKES[case]
    text = SCRIPT
    for old, new in edits:
        assert old in text
        text = text.replace(old, new, 1)
    script = tmp_path / "train.py"
    script.write_text(text)
    found = subprocess.run([sys.executable, "-m", "ml_lsp", "check", "train.py", "--select", code, "--no-cache"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert f" {code} " in found.stdout, found.stdout + found.stderr  # the mistake is found
    fixed = subprocess.run([sys.executable, "-m", "ml_lsp", "check", "train.py", "--select", code, "--fix"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert f"fixed train.py:" in fixed.stderr, fixed.stdout + fixed.stderr
    after = script.read_text()
    assert after != text
    ran = subprocess.run([sys.executable, "train.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, after + ran.stderr
    assert "forwards 4 steps 4" in ran.stdout, after + ran.stdout
