"""`ml-lsp check` bounds each file's shape analysis in time and memory: a file that reaches
its budget keeps what was found by then, gets a note naming the budget and how to raise
it, and the other files of the run still get their results."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

SMALL_WITH_ERROR = textwrap.dedent("""\
    import torch
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc2(self.fc1(x))


    model = Net()
    out = model(torch.randn(8, 784))
""")

# Each block's forward runs 64 x 64 x 64 layer calls: about 0.4 s of analysis per class.
SLOW_BLOCK = """
class Block{i}(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(64, 64) for _ in range(64)])

    def forward(self, x):
        for a in range(64):
            for b in range(64):
                for layer in self.layers:
                    x = layer(x) + x
        return x
"""


def check(*args, cwd):
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "check", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    return done, time.monotonic() - start


@pytest.fixture
def project(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "small.py").write_text(SMALL_WITH_ERROR)
    return tmp_path


def codes_of(done, name):
    return [d["code"] for d in json.loads(done.stdout)["diagnostics"] if d["path"] == name]


def test_a_file_over_its_time_budget_gets_a_note_and_the_others_their_results(project):
    (project / "slow.py").write_text("import torch.nn as nn\n" + "".join(SLOW_BLOCK.format(i=i) for i in range(30)))
    bounded, bounded_s = check("slow.py", "small.py", "--file-budget", "3", "--format", "json", "--no-cache",
                               cwd=project)
    assert bounded.returncode == 1, bounded.stderr
    assert codes_of(bounded, "small.py") == ["SH001"]
    assert ("slow.py: note: shape analysis stopped at its time budget of 3 s: shapes not reached by then are "
            "unknown (raise it with --file-budget SECONDS, or file-budget in [tool.ml-lsp]") in bounded.stderr
    assert "small.py: note" not in bounded.stderr
    unbounded, unbounded_s = check("slow.py", "small.py", "--file-budget", "0", "--format", "json", "--no-cache",
                                   cwd=project)
    print(f"\nwith a 3 s budget: {bounded_s:.1f} s; without: {unbounded_s:.1f} s")
    assert "budget" not in unbounded.stderr
    assert codes_of(unbounded, "small.py") == ["SH001"]
    assert bounded_s * 2 < unbounded_s


def test_a_file_over_its_memory_budget_from_pyproject_gets_a_note(project):
    (project / "pyproject.toml").write_text("[project]\nname = 'demo'\n\n[tool.ml-lsp]\nfile-memory = 32\n")
    # 20,000 lines of model code: its trees and values alone are well over 32 MB
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "gen_big_model.py"), "--lines", "20000",
                    "-o", str(project / "zoo.py")], check=True, timeout=120)
    done, _ = check("small.py", "zoo.py", "--format", "json", "--no-cache", cwd=project)
    assert done.returncode == 1, done.stderr
    assert codes_of(done, "small.py") == ["SH001"]
    assert ("zoo.py: note: shape analysis stopped at its memory budget of 32 MB: shapes not reached by then are "
            "unknown (raise it with --file-memory MB, or file-memory in [tool.ml-lsp]") in done.stderr
    assert "small.py: note" not in done.stderr


@pytest.mark.parametrize("setting, option, message", [
    ('file-budget = "soon"', [], "[tool.ml-lsp] file-budget 'soon': expected a number of SECONDS (0 for no limit)"),
    ("", ["--file-memory", "-5"], "--file-memory -5.0: expected a number of MB (0 for no limit)"),
])
def test_a_bad_budget_is_a_usage_error_naming_it(project, setting, option, message):
    (project / "pyproject.toml").write_text(f"[project]\nname = 'demo'\n\n[tool.ml-lsp]\n{setting}\n")
    done, _ = check("small.py", *option, cwd=project)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
