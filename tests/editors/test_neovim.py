"""Neovim (Debian's 0.7.2 in CI) driving ml-lsp through editor-clients/neovim: diagnostics,
hover with a shape, applying a quick fix, and the ▶ Run code lens starting a run."""

from __future__ import annotations

import pytest

from headless_editors import (HERE, REPO, assert_check, make_workspace, require_executable, run_editor,
                              server_env, stop_leftover_runs)

CHECKS = [
    "attached",
    "diagnostic on the shape error",
    "hover shows the shape",
    "hover float window",
    "quick fix offered",
    "quick fix applied, diagnostic cleared",
    "▶ Run code lens",
    "run started (run folder)",
    "loss inlay hint (raw request; 0.7 has no inlay-hint UI)",
    "ml-lsp.stop stops the run",
]


@pytest.fixture(scope="module")
def nvim_session(tmp_path_factory):
    nvim = require_executable("nvim", "apt-get install neovim")
    tmp = tmp_path_factory.mktemp("nvim")
    ws = make_workspace(tmp)
    out = tmp / "results.txt"
    env = server_env(tmp / "server.log")
    env.update(ML_LSP_WS=str(ws), ML_LSP_OUT=str(out), ML_LSP_CLIENT_DIR=str(REPO / "editor-clients" / "neovim"))
    try:
        yield run_editor([nvim, "--headless", "-u", "NONE", "-c", f"luafile {HERE / 'nvim_e2e.lua'}"],
                      env, out, timeout=600)
    finally:
        stop_leftover_runs(ws)


@pytest.mark.parametrize("name", CHECKS)
@pytest.mark.timeout(600)  # the first test also waits for the editor session (module fixture)
def test_neovim(nvim_session, name):
    checks, transcript = nvim_session
    assert_check(checks, name, transcript)
