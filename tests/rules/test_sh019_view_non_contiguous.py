"""SH019 through `ml-lsp check`: views that merge dims moved apart by permute/transpose
raise (checked against torch's own behaviour in the comments); splits and contiguous
copies are fine."""

from rules.test_real_script_false_alarms import check, project  # noqa: F401  (the fixture)

SRC = """\
import torch

x = torch.randn(8, 10, 64)
a = x.transpose(1, 2).view(8, -1)
b = x.transpose(1, 2).contiguous().view(8, -1)
c = x.permute(0, 2, 1).view(8, 64, 2, 5)
d = x.transpose(0, 1).view(10, 8, 4, 16)
e = x.permute(1, 0, 2).view(10, -1)
f = x.permute(1, 0, 2).reshape(10, -1)
g = x.permute(0, 1, 2).view(8, -1)
h = (x * 2).transpose(1, 2).view(8, -1)
"""


def test_merging_view_after_permute_or_transpose(project):
    # torch: a, e raise "view size is not compatible"; b, c, d, f, g run. h raises too, but
    # an elementwise result's layout is not tracked, so the rule stays silent on it.
    assert check(project, SRC, "--select", "SH019") == [("SH019", 4), ("SH019", 8)]


def test_fix_turns_view_into_reshape(project):
    (project / "train.py").write_text(SRC)
    check(project, SRC, "--select", "SH019", "--fix")
    fixed = (project / "train.py").read_text()
    assert "a = x.transpose(1, 2).reshape(8, -1)" in fixed and "e = x.permute(1, 0, 2).reshape(10, -1)" in fixed
    assert "c = x.permute(0, 2, 1).view(8, 64, 2, 5)" in fixed
