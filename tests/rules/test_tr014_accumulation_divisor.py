"""TR014 through `ml-lsp check`: accumulation dividing by a count other than the step
interval; the fix divides by the interval."""

from rules.test_real_script_false_alarms import check, project  # noqa: F401  (the fixture)

SRC = """\
accum_steps = 8
micro = 4
for i, (x, y) in enumerate(loader):
    loss = criterion(model(x), y)
    loss = loss / micro
    loss.backward()
    if (i + 1) % accum_steps == 0:
        optimizer.step()
        optimizer.zero_grad()

for i, (x, y) in enumerate(loader):
    loss = criterion(model(x), y) / accum_steps
    loss.backward()
    if (i + 1) % accum_steps == 0:
        optimizer.step()
        optimizer.zero_grad()

for i, (x, y) in enumerate(loader):
    (criterion(model(x), y) / 2).backward()
    if i % args.accum == 0:
        optimizer.step()
        optimizer.zero_grad()
"""


def test_wrong_accumulation_divisor_is_flagged_and_fixed(project):
    assert check(project, SRC, "--select", "TR014") == [("TR014", 5)]
    assert check(project, SRC, "--select", "TR014", "--fix") == []
    assert "    loss = loss / accum_steps\n" in (project / "train.py").read_text()
