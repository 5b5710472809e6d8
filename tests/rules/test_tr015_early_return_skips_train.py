"""TR015 through `ml-lsp check`: an early return between eval() and the restoring train()."""

from rules.test_real_script_false_alarms import check, project  # noqa: F401  (the fixture)

SRC = """\
def validate(model, loader, max_batches):
    model.eval()
    total = 0.0
    for i, (x, y) in enumerate(loader):
        if i == max_batches:
            return total / i
        total += criterion(model(x), y).item()
    model.train()
    return total / len(loader)

def validate_restored(model, loader, max_batches):
    model.eval()
    for i, (x, y) in enumerate(loader):
        if i == max_batches:
            model.train()
            return i
    model.train()
    return 0

def validate_finally(model, loader):
    model.eval()
    try:
        for x, y in loader:
            if x is None:
                return 1
    finally:
        model.train()
    return 0
"""


def test_early_return_before_train_is_flagged_and_fixed(project):
    assert check(project, SRC, "--select", "TR015") == [("TR015", 6)]
    assert check(project, SRC, "--select", "TR015", "--fix") == []
    assert "            model.train()\n            return total / i\n" in (project / "train.py").read_text()
