"""Emacs 28 + eglot (Debian's elpa-eglot) driving ml-lsp through editor-clients/emacs:
diagnostics in flymake, hover with a shape, a quick fix applied with eglot-code-actions."""

from __future__ import annotations

import pytest

from headless_editors import (HERE, REPO, assert_check, imported_from_workspace, make_workspace, require_executable,
                              run_editor, server_env, stop_leftover_runs)

CHECKS = [
    "connected",
    "diagnostic on the shape error",
    "hover shows the shape",
    "quick fix applied, diagnostic cleared",
]


@pytest.fixture(scope="module")
def emacs_session(tmp_path_factory):
    emacs = require_executable("emacs", "apt-get install emacs-nox elpa-eglot")
    tmp = tmp_path_factory.mktemp("emacs")
    ws = make_workspace(tmp, traps=True)
    out = tmp / "results.txt"
    env = server_env(tmp / "server.log")
    env.update(ML_LSP_WS=str(ws), ML_LSP_OUT=str(out), ML_LSP_CLIENT_DIR=str(REPO / "editor-clients" / "emacs"))
    # not -Q: Debian's site-start puts elpa-eglot on the load-path
    try:
        checks, transcript = run_editor([emacs, "--batch", "-l", str(HERE / "emacs_e2e.el")], env, out, timeout=600)
        yield checks, transcript, imported_from_workspace(tmp)
    finally:
        stop_leftover_runs(ws)


@pytest.mark.parametrize("name", CHECKS)
@pytest.mark.timeout(600)  # the first test also waits for the editor session (module fixture)
def test_emacs(emacs_session, name):
    checks, transcript, _ = emacs_session
    assert_check(checks, name, transcript)


@pytest.mark.timeout(600)
def test_emacs_starts_the_server_without_importing_from_the_workspace(emacs_session):
    """Eglot starts the server in the project root; the contact's path-safe -c code keeps
    the workspace's tokenize.py, ..., ml_lsp/ from being imported."""
    checks, transcript, imported = emacs_session
    assert_check(checks, "connected", transcript)
    assert imported == {}, f"{imported}\n{transcript}"
