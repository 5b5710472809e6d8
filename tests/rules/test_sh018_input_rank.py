"""SH018: flagged on the consuming line with the shape it got; quiet on the corrected code."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3)
    def forward(self, x):
        return self.conv(x.flatten(1))  # <-
'''
KW = dict(entry="Net", inputs={"x": ["B", 1, 28, 28]})


def test_flagged_with_the_shape_it_got():
    found = assert_flagged(WRONG, "SH018", "(B, 784)", **KW)
    assert found[0].severity == "error"


def test_right_code_is_clean():
    assert_clean(WRONG.replace("x.flatten(1)", "x"), "SH018", **KW)


def test_unknown_conflict_kinds_fall_back_to_sh099():
    from ml_lsp.analysis.facts import ModuleFacts, ShapeConflict
    from ml_lsp.analysis.lint import check_source

    facts = ModuleFacts(conflicts=[ShapeConflict("some_new_kind", 2, 0, 2, 5, "op expects (B, 3), got (B, 4)")])
    (finding,) = check_source("x = 1\ny = x\n", select=["SH"], shape_facts=facts).findings
    assert (finding.code, finding.line, finding.message) == ("SH099", 2, "op expects (B, 3), got (B, 4)")
