"""Shared fixtures; the language-server helpers are in ``lsp_helpers``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lsp_helpers import REPO


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
