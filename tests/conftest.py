"""Shared fixtures; the language-server helpers are in ``lsp_helpers``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lsp_helpers import REPO

# The test interpreter has torch 2.13, where torch.load loads weights only by default, so
# DA003 (which reads the workspace interpreter's torch version) would say nothing. Many tests
# use DA003 as their example finding: they describe a workspace whose activated environment
# has torch 2.5 (package metadata only). A test can put its own `.venv` in its project
# folder, which comes first. Subprocesses (the CLI, the server) inherit it.
os.environ["VIRTUAL_ENV"] = str(REPO / "tests" / "fixtures" / "old_torch_env")
os.environ.pop("CONDA_PREFIX", None)


@pytest.fixture(scope="session")
def fixture_plugins_dir(tmp_path_factory) -> Path:
    """The fixture plugin packages, pip-installed (entry points and all) into a folder
    that tests put on PYTHONPATH, as a user installs a third-party plugin."""
    target = tmp_path_factory.mktemp("plugins")
    src = REPO / "tests" / "fixtures" / "plugins"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target),
         str(src / "good"), str(src / "broken_import"), str(src / "broken_hook")],
        check=True, capture_output=True)
    return target


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(items):
    """pytest-xdist (``--dist loadgroup``, pyproject's addopts) sends each file's tests to one
    worker: a module's expensive fixture (a Lightning fit, the shape corpus run) is then
    paid once, not once per worker. The Ray tests, in four files, share one worker and so
    one session cluster (two clusters on a 2-core machine starve each other)."""
    for item in items:
        path = item.path.relative_to(REPO).as_posix()
        group = "ray-cluster" if path.startswith("tests/ray_launcher/") else path
        item.add_marker(pytest.mark.xdist_group(group))
