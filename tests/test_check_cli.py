"""`ml-lsp check` and `ml-lsp rules` as a user or a CI job runs them: a real process, its
exit status, stdout and the files it changes."""

import json
import subprocess
import sys
import textwrap

import pytest

WARN_ONLY = textwrap.dedent("""\
    import torch

    state = torch.load("model.pt")
""")

WITH_ERROR = textwrap.dedent("""\
    import torch.optim as optim

    optimizer = optim.SGD(net.parameters(), lr=0.01)
    net = Net()
""")


def ml_lsp(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "ml_lsp", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=env)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    return tmp_path


def test_json_is_the_stable_contract_with_one_based_columns(project):
    (project / "train.py").write_text(WITH_ERROR)
    out = ml_lsp("check", "train.py", "--format", "json", cwd=project)
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    assert list(data) == ["diagnostics"]
    (d,) = data["diagnostics"]
    assert list(d) == ["path", "line", "column", "end_line", "end_column", "code", "category",
                       "severity", "message", "related"]
    # `net` starts at character 23 (0-based 22) of line 3.
    assert (d["path"], d["line"], d["column"], d["end_line"], d["end_column"]) == ("train.py", 3, 23, 3, 26)
    assert (d["code"], d["category"], d["severity"]) == ("TR010", "training", "error")
    assert d["related"] == [{"path": "train.py", "line": 4, "message": "net is defined here"}]


def test_text_output_and_exit_zero_on_warnings_only(project):
    (project / "load.py").write_text(WARN_ONLY)
    out = ml_lsp("check", "load.py", cwd=project)
    assert out.returncode == 0, out.stderr
    line = out.stdout.splitlines()[0]
    assert line.startswith("load.py:3:9: DA003 torch.load without weights_only=True")
    assert line.endswith("[unsafe-torch-load]")
    assert "1 fixable with --fix" in out.stdout


def test_bad_usage_exits_2_with_a_message(project):
    for args, fragment in [(["missing.py"], "missing.py: no such file"),
                           (["--select", "XY999", "."], "unknown rule code"),
                           (["--input", "x:B,3", "--entry", "Net", "."], "expected NAME=D1,D2"),
                           (["--init", "3", "."], "--entry")]:
        out = ml_lsp("check", *args, cwd=project)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert fragment in out.stderr and "Traceback" not in out.stderr


def test_folders_skip_what_gitignore_ignores(project):
    (project / ".gitignore").write_text("generated/\nscratch_*.py\n")
    (project / "generated").mkdir()
    (project / "generated" / "a.py").write_text(WITH_ERROR)
    (project / "scratch_1.py").write_text(WITH_ERROR)
    (project / "pkg").mkdir()
    (project / "pkg" / "kept.py").write_text(WITH_ERROR)
    (project / "pkg" / ".gitignore").write_text("local.py\n")
    (project / "pkg" / "local.py").write_text(WITH_ERROR)
    out = ml_lsp("check", ".", "--format", "json", cwd=project)
    paths = {d["path"] for d in json.loads(out.stdout)["diagnostics"]}
    assert paths == {"pkg/kept.py"}


def test_a_folder_named_on_the_command_line_is_checked_inside_an_ignored_one(project):
    # as a package inside a virtual environment that the repository's .gitignore ignores
    (project / ".git").mkdir()
    (project / ".gitignore").write_text("/venv-like/\n")
    pkg = project / "venv-like" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "model.py").write_text(WITH_ERROR)
    (pkg / ".gitignore").write_text("local.py\n")
    (pkg / "local.py").write_text(WITH_ERROR)
    out = ml_lsp("check", "venv-like/pkg", "--format", "json", cwd=project)
    assert {d["path"] for d in json.loads(out.stdout)["diagnostics"]} == {"venv-like/pkg/model.py"}
    out = ml_lsp("check", ".", "--format", "json", cwd=project)  # from above, it stays ignored
    assert json.loads(out.stdout)["diagnostics"] == []


def test_fix_rewrites_the_file_and_reports_it(project):
    (project / "load.py").write_text(WARN_ONLY)
    out = ml_lsp("check", "--fix", "load.py", cwd=project)
    assert out.returncode == 0
    assert "fixed load.py:3: DA003 Add weights_only=True" in out.stderr
    assert (project / "load.py").read_text() == WARN_ONLY.replace('"model.pt")', '"model.pt", weights_only=True)')
    assert ml_lsp("check", "load.py", "--format", "json", cwd=project).stdout.count('"code"') == 0


def test_select_ignore_pyproject_and_noqa(project):
    (project / "train.py").write_text(WITH_ERROR + WARN_ONLY)
    codes = lambda *a: sorted(d["code"] for d in json.loads(  # noqa: E731
        ml_lsp("check", "train.py", "--format", "json", *a, cwd=project).stdout)["diagnostics"])
    assert codes() == ["DA003", "TR010"]
    assert codes("--select", "DA") == ["DA003"]
    assert codes("--ignore", "name-used-before-defined") == ["DA003"]
    (project / "pyproject.toml").write_text("[tool.ml-lsp]\nignore = ['DA003']\n")
    assert codes() == ["TR010"]
    (project / "train.py").write_text(WITH_ERROR.replace("lr=0.01)", "lr=0.01)  # noqa: TR010"))
    out = ml_lsp("check", "train.py", cwd=project)
    assert out.returncode == 0 and "TR010" not in out.stdout


def test_github_and_sarif_formats(project):
    (project / "train.py").write_text(WITH_ERROR)
    gh = ml_lsp("check", "train.py", "--format", "github", cwd=project).stdout
    assert gh.startswith("::error file=train.py,line=3,col=23,endLine=3,endColumn=26,title=TR010 name-used-before-defined::")
    sarif = json.loads(ml_lsp("check", "train.py", "--format", "sarif", cwd=project).stdout)
    (result,) = sarif["runs"][0]["results"]
    assert result["ruleId"] == "TR010" and result["level"] == "error"
    assert result["locations"][0]["physicalLocation"]["region"]["startColumn"] == 23
    assert any(r["id"] == "TR010" for r in sarif["runs"][0]["tool"]["driver"]["rules"])


def test_parallel_workers_give_the_same_answer(project):
    for i in range(24):
        (project / f"m{i:02}.py").write_text(WITH_ERROR if i % 2 else WARN_ONLY)
    one = ml_lsp("check", ".", "--format", "json", "-j", "1", "--no-cache", cwd=project)
    two = ml_lsp("check", ".", "--format", "json", "-j", "2", "--no-cache", cwd=project)
    assert one.returncode == two.returncode == 1
    assert json.loads(one.stdout) == json.loads(two.stdout)
    assert len(json.loads(two.stdout)["diagnostics"]) == 24


def test_undecodable_input_is_an_e902_error_and_the_rest_is_checked(project):
    (project / "bad.py").write_bytes(b"x = '\xff\xfe'\n")
    (project / "broken.py").write_text("def f(:\n")
    (project / "warn.py").write_text(WARN_ONLY)
    out = ml_lsp("check", ".", cwd=project)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "bad.py:1:1: E902 cannot decode: byte 0xff on line 1 is not valid utf-8" in out.stdout
    assert "warn.py:3:" in out.stdout  # the other files were still checked
    assert "broken.py:1:7: E999 syntax error" in out.stdout


def test_a_syntax_error_is_an_e999_error_on_its_line_and_the_rest_of_the_file_is_checked(project):
    (project / "broken.py").write_text(textwrap.dedent("""\
        import torch

        state = torch.load("model.pt")


        def step(:
            pass
    """))
    out = ml_lsp("check", "broken.py", "--format", "json", cwd=project)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    found = [(d["code"], d["line"], d["column"], d["severity"]) for d in json.loads(out.stdout)["diagnostics"]]
    assert ("E999", 6, 10, "error") in found
    text = ml_lsp("check", "broken.py", cwd=project)
    assert text.returncode == 1
    assert "broken.py:6:10: E999 syntax error: invalid syntax [syntax-error]" in text.stdout
    assert "1 error" in text.stdout


def test_rules_table_and_docs(project):
    table = ml_lsp("rules", cwd=project)
    assert table.returncode == 0
    assert any(line.startswith("SH001  linear-in-features") for line in table.stdout.splitlines())
    docs = ml_lsp("rules", "TR001", cwd=project).stdout
    assert docs.startswith("TR001 missing-zero-grad (training, warning, fix available)")
    assert "Wrong:" in docs and "Right:" in docs
    assert ml_lsp("rules", "missing-zero-grad", cwd=project).stdout == docs
    missing = ml_lsp("rules", "ZZ001", cwd=project)
    assert missing.returncode == 2 and "no rule 'ZZ001'" in missing.stderr


CNN = textwrap.dedent("""\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 16, 3)
            self.fc = nn.Linear(128, 10)

        def forward(self, x):
            x = self.conv(x)
            x = x.flatten(1)
            return self.fc(x)
""")


def test_shape_error_with_entry_and_input_then_fixed(project):
    (project / "cnn.py").write_text(CNN)
    args = ["cnn.py", "--entry", "Net", "--input", "x=B,1,28,28"]
    out = ml_lsp("check", *args, "--format", "json", cwd=project)
    assert out.returncode == 1, out.stderr
    (d,) = json.loads(out.stdout)["diagnostics"]
    assert (d["code"], d["severity"], d["line"], d["column"]) == ("SH001", "error", 13, 16)
    assert "expects (*, 128), got (B, 10816)" in d["message"]
    assert d["related"] == [{"path": "cnn.py", "line": 8, "message": "Linear(128, 10) is defined here"}]
    # --entry/--input apply to the file that defines the class; a wrong one is bad usage.
    (project / "other.py").write_text(WARN_ONLY)
    both = ml_lsp("check", "cnn.py", "other.py", "--entry", "Net", "--input", "x=B,1,28,28", "--format", "json", cwd=project)
    assert sorted(d["code"] for d in json.loads(both.stdout)["diagnostics"]) == ["DA003", "SH001"]
    for bad, fragment in [(["--entry", "Nett"], "--entry Nett: no class or function of that name"),
                          (["--entry", "Net", "--input", "y=B,1,28,28"], "cnn.py: --input y: Net.forward has no parameter 'y'")]:
        out = ml_lsp("check", "cnn.py", *bad, cwd=project)
        assert out.returncode == 2 and fragment in out.stderr, out.stderr
    # Without the input's size the flatten width is unknown: nothing is claimed.
    assert ml_lsp("check", "cnn.py", cwd=project).returncode == 0
    fixed = ml_lsp("check", "--fix", *args, cwd=project)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "fixed cnn.py:13: SH001" in fixed.stderr
    assert "        self.fc = nn.Linear(10816, 10)\n" in (project / "cnn.py").read_text()


ZOO = textwrap.dedent("""\
    import torch.nn as nn

    WIDTH = 16


    class Enc(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, WIDTH)

        def forward(self, x):
            return self.fc(x)
""")

USES_ZOO = textwrap.dedent("""\
    import torch
    import torch.nn as nn
    from zoo import Enc
    from extra import HIDDEN

    enc = Enc()
    head = nn.Linear(16, 2)
    y = head(enc(torch.randn(4, 8)))
    z = nn.Linear(HIDDEN, 2)(torch.randn(4, 16))
""")


def test_the_result_cache_is_reused_and_follows_every_file_the_analysis_read(project, tmp_path_factory):
    import os
    cache = tmp_path_factory.mktemp("user-cache")  # outside the project folder, as ~/.cache is
    env = {**os.environ, "ML_LSP_CACHE_DIR": str(cache)}
    (project / "zoo.py").write_text(ZOO)
    (project / "main.py").write_text(USES_ZOO)

    def errors():
        out = ml_lsp("check", "main.py", "--format", "json", cwd=project, env=env)
        return sorted((d["code"], d["line"]) for d in json.loads(out.stdout)["diagnostics"])

    assert errors() == []
    entries = [p for p in (cache / "check").rglob("*") if p.is_file()]
    assert len(entries) == 1  # the answer is kept, under the cache folder
    stamp = entries[0].stat().st_mtime_ns
    assert errors() == [] and entries[0].stat().st_mtime_ns == stamp  # read back, not written again
    # an imported file changes: the cached answer is not used
    (project / "zoo.py").write_text(ZOO.replace("WIDTH = 16", "WIDTH = 32"))
    assert errors() == [("SH001", 8)]
    # a module that was missing appears beside the file
    (project / "extra.py").write_text("HIDDEN = 8\n")
    assert errors() == [("SH001", 8), ("SH001", 9)]
    # --no-cache neither reads nor writes it
    before = sorted(p.name for p in cache.rglob("*") if p.is_file())
    (project / "other.py").write_text(USES_ZOO.replace("16)", "17)"))
    ml_lsp("check", "other.py", "--no-cache", cwd=project, env=env)
    assert sorted(p.name for p in cache.rglob("*") if p.is_file()) == before


def test_the_readme_gpt_example_builds_a_valid_model_and_the_invalid_one_is_reported(tmp_path):
    import re
    import shlex
    from pathlib import Path
    repo = Path(__file__).resolve().parent.parent
    line = next(ln for ln in (repo / "README.md").read_text().splitlines() if ln.startswith("ml-lsp shapes gpt.py"))
    args = shlex.split(line.split("#")[0])[3:]  # --entry GPT --init ... --input ...
    (tmp_path / "gpt.py").write_text((repo / "examples" / "models" / "gpt.py").read_text())
    out = ml_lsp("check", "gpt.py", "--no-cache", "--select", "SH", *args, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    # n_embd=64 with the default 6 heads: the constructor's assert, and the view into heads
    # whose element counts (60*B*T, 64*B*T) differ whatever B and T are
    bad = [a if not a.startswith("config=") else "config=GPTConfig(n_layer=2, n_embd=64)" for a in args]
    out = ml_lsp("check", "gpt.py", "--no-cache", "--select", "SH", *bad, cwd=tmp_path)
    assert out.returncode == 1
    assert re.search(r"gpt\.py:32:9: SH020 assert config\.n_embd % config\.n_head == 0 fails when the model is built "
                     r"\(config\.n_embd = 64, config\.n_head = 6\)", out.stdout), out.stdout
    assert "SH007 view(B, T, 6, 10) (60*B*T elements) of a tensor of shape (B, T, 64) (64*B*T elements)" in out.stdout


DEEP_MODEL = textwrap.dedent("""\
    import torch.nn as nn


    class Block(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.fc = nn.Linear(d, d)

        def forward(self, x):
            return x + self.fc(x)


    class Deep(nn.Module):
        def __init__(self, d=64, depth=48):
            super().__init__()
            self.blocks = nn.ModuleList([Block(d) for _ in range(depth)])

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x
""")


def test_the_shape_engine_runs_only_when_a_selected_rule_needs_it(project):
    # A budget too small for any shape analysis shows whether the engine ran: its note.
    # With only the training and data rules selected it does not run (their speed is the
    # syntax rules', not the shape engine's half-second per model file).
    (project / "deep.py").write_text(DEEP_MODEL + "\n\n" + WITH_ERROR)
    budget = ["--no-cache", "--file-budget", "0.001", "--format", "json"]
    shapes = ml_lsp("check", *budget, "deep.py", cwd=project)
    assert "stopped at its time budget of 0.001 s" in shapes.stderr
    rules_only = ml_lsp("check", *budget, "--select", "TR,DA", "deep.py", cwd=project)
    assert rules_only.returncode in (0, 1), rules_only.stderr
    assert "time budget" not in rules_only.stderr
    # the selected rules still report what they find, as in the full run
    full = [d for d in json.loads(shapes.stdout)["diagnostics"] if d["code"][:2] in ("TR", "DA")]
    assert [d["code"] for d in full] == ["TR010"]
    assert json.loads(rules_only.stdout)["diagnostics"] == full
    # --entry/--init are about the engine: a wrong one is still a usage error with TR alone
    wrong = ml_lsp("check", "--select", "TR", "--entry", "Deeep", "deep.py", cwd=project)
    assert wrong.returncode == 2 and "Deeep" in wrong.stderr
    wrong = ml_lsp("check", "--select", "TR", "--entry", "Deep", "--init", "widht=3", "deep.py", cwd=project)
    assert wrong.returncode == 2 and "Deep takes no argument 'widht'" in wrong.stderr, wrong.stderr
    right = ml_lsp("check", "--select", "TR", "--entry", "Deep", "--init", "d=32", "deep.py", cwd=project)
    assert right.returncode == 1 and "TR010" in right.stdout, right.stderr
