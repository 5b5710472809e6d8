"""TR012 through `ml-lsp check`: backward() on a loss computed under no_grad raises
(torch: "element 0 of tensors does not require grad"); a loss computed outside, or under
enable_grad, is fine."""

from rules.test_real_script_false_alarms import check, project  # noqa: F401  (the fixture)

SRC = """\
import torch

with torch.no_grad():
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        criterion(model(x), y).backward()

loss2 = criterion(model(x), y)
with torch.no_grad():
    loss2.backward()
    with torch.enable_grad():
        l3 = criterion(model(x), y)
        l3.backward()

with torch.set_grad_enabled(phase == "train"):
    l4 = criterion(model(x), y)
    l4.backward()

@torch.no_grad()
def step():
    out = model(x).sum()
    out.backward()
"""


def test_backward_on_a_loss_computed_without_grad_is_an_error(project):
    assert check(project, SRC, "--select", "TR012") == [("TR012", 6), ("TR012", 7), ("TR012", 23)]
