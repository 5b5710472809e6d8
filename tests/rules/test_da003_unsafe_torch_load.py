from rules.ruletest import apply_fix, assert_clean, assert_flagged, lint

WRONG = """
import torch
state = torch.load("model.pt", map_location="cpu")  # <-
"""


def test_load_without_weights_only_is_flagged():
    assert_flagged(WRONG, "DA003", "weights_only=True")


def test_weights_only_true_is_clean_and_false_is_flagged():
    assert_clean('import torch\nstate = torch.load("m.pt", weights_only=True)\n', "DA003")
    assert lint('import torch\nstate = torch.load("m.pt", weights_only=False)\n', "DA003")[0].line == 2


def test_fix_adds_weights_only():
    fixed = apply_fix(WRONG, "DA003", safe_only=True)
    assert 'torch.load("model.pt", map_location="cpu", weights_only=True)' in fixed


def test_turning_false_into_true_is_offered_but_not_a_safe_fix():
    src = 'import torch\nstate = torch.load("m.pt", weights_only=False)\n'
    (finding,) = lint(src, "DA003")
    assert finding.fix is not None and not finding.fix.safe
