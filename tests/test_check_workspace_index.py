"""`ml-lsp check -j N` reads the workspace's import lines (to find the scripts that call
each file's models) once per command: worker processes, and the ones that replace
recycled workers, share that index instead of each building its own. In a big workspace
the index is most of a run's time, and it was paid once per worker."""

from __future__ import annotations

import os
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

OTHER_FILES = 300

# ``ml-lsp check`` with a spy on the index's build: each build appends its process id to a
# log. Workers are recycled every 3 files (instead of 250), so that 16 files also go
# through workers that replaced recycled ones.
SPIED_CHECK = textwrap.dedent("""\
    import os, sys
    import ml_lsp.commands.check as check
    import ml_lsp.workspace_index as workspace_index

    build = workspace_index.CallSiteIndex.build

    def spied_build(self):
        with open(os.environ["BUILD_LOG"], "a") as log:
            log.write(f"{os.getpid()}\\n")
        return build(self)

    workspace_index.CallSiteIndex.build = spied_build
    check.FILES_PER_WORKER = 3
    from ml_lsp.cli import main
    sys.argv[0] = "ml-lsp"
    raise SystemExit(main())
""")


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


def builds_of_the_index(cwd, *args) -> list[str]:
    """The ids of the processes that built the workspace's index during one check."""
    log = cwd / "builds.log"
    log.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-c", SPIED_CHECK, "check", "models", "--no-cache", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "BUILD_LOG": str(log)})
    assert done.returncode == 0, done.stderr
    assert "16 files checked, 0 errors" in done.stdout, done.stdout
    return log.read_text().split() if log.exists() else []


def test_two_workers_read_the_workspace_once_not_once_each(workspace):
    # -j 1: the one process reads the workspace once
    assert len(builds_of_the_index(workspace, "-j", "1")) == 1
    # -j 2, workers recycled every 3 files (6 workers in all): still once, not once per worker
    assert len(builds_of_the_index(workspace, "-j", "2")) == 1
    # and --no-workspace does not read it at all
    assert builds_of_the_index(workspace, "-j", "2", "--no-workspace") == []


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
