"""`ml-lsp check -j N` reads the workspace's import lines (to find the scripts that call
each file's models) once per command: worker processes, and the ones that replace
recycled workers, share that index instead of each building its own. In a big workspace
the index is most of a run's time, and it was paid once per worker."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap

import pytest

MODEL = textwrap.dedent("""\
    import torch
    import torch.nn as nn


    class Net{i}(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 4)

        def forward(self, x):
            return self.fc(x)
""")

# one of the workspace's many other files: a script with a few dozen import lines
OTHER = "".join(f"from pkg.module_{k} import name_{k}\nimport tools.helper_{k} as helper_{k}\n" for k in range(40))

OTHER_FILES = 10000


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (tmp_path / "models").mkdir()
    for i in range(16):
        (tmp_path / "models" / f"net_{i}.py").write_text(MODEL.format(i=i))
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    for k in range(OTHER_FILES):
        (scripts / f"script_{k}.py").write_text(OTHER)
    return tmp_path


def cpu_of_check(cwd, *args) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "check", "models", "--no-cache", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr
    assert "16 files checked, 0 errors" in done.stdout, done.stdout
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def test_two_workers_read_the_workspace_once_not_once_each(workspace):
    # what the workspace costs: the same run with and without it, in one process and in two
    one = cpu_of_check(workspace, "-j", "1") - cpu_of_check(workspace, "-j", "1", "--no-workspace")
    two = cpu_of_check(workspace, "-j", "2") - cpu_of_check(workspace, "-j", "2", "--no-workspace")
    print(f"\nCPU time the workspace adds: {one:.2f} s with one process, {two:.2f} s with two workers")
    assert one > 0.5  # the index is real work here (else the comparison says nothing)
    assert two < 1.5 * one


def test_an_installed_package_has_no_workspace(tmp_path):
    # Under pyenv the folder above every environment is a git checkout: a file of an
    # installed package had all of it as its workspace (15,000 files read, 7 s of a check
    # of transformers' models), and scripts anywhere in it counted as the model's callers.
    from ml_lsp.workspace_index import find_workspace_root, workspace_callers

    (tmp_path / ".git").mkdir()
    package = tmp_path / "versions" / "3.11" / "lib" / "python3.11" / "site-packages" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "net.py").write_text(MODEL.format(i=0))
    call = "import torch\nfrom pkg.net import Net0\n\nNet0()(torch.zeros({}, 16))\n"
    (package / "use.py").write_text(call.format(3))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "script.py").write_text(call.format(5))
    net = package / "net.py"
    assert find_workspace_root(str(net)) is None
    assert workspace_callers(find_workspace_root(str(net)), str(net), net.read_text()) == []
    # the folder with the marker is still the workspace of a file outside the environment
    assert find_workspace_root(str(tmp_path / "elsewhere" / "script.py")) == str(tmp_path.resolve())
