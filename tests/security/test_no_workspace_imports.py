"""No process of ours imports from the workspace (issue: hardening, item 1). A cloned
repository holding ``tokenize.py``, ``secrets.py``, ``pluggy.py``, ``platformdirs.py``,
``msgpack.py`` or an ``ml_lsp/`` package must not have them imported when the server
starts, when an editor client probes its interpreter, or when the server starts a
tracer or a fine-tune. Each trap writes a mark; no mark may appear."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, client_capabilities

from hostile import plant_import_traps, sprung
from lsp_helpers import REPO, SERVER_COMMAND, server_env


@pytest.fixture
def hostile(tmp_path):
    ws = tmp_path / "cloned"
    marks = tmp_path / "marks"
    plant_import_traps(ws, marks)
    (ws / "model.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)

            def forward(self, x):  # shape: x=(B, 4)
                h = self.fc(x)
                return h
    """))
    (ws / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.ml-lsp.finetune.ft]
        model = "model.py:Net"
        checkpoint = "missing.pt"
        data = "missing.npz"
    """))
    return ws, marks


async def test_python_m_ml_lsp_serve_started_in_the_workspace_imports_nothing_from_it(tmp_path, hostile):
    """What a hand-written editor config does (``python -m ml_lsp serve`` in the project):
    the package drops the working folder from sys.path before importing anything else. The
    server then traces a model and starts a fine-tune (both with the user's trust): the
    tracer and the fine-tune command start path-safe too."""
    ws, marks = hostile
    (ws / "ml_lsp").rename(ws / "not_ml_lsp")  # `-m` itself finds ml_lsp/ first: clients avoid that (below)
    config = ClientServerConfig(server_command=SERVER_COMMAND, server_env=server_env(tmp_path))
    config_cwd = os.getcwd()
    os.chdir(ws)  # pytest-lsp starts the server in the current folder
    try:
        client = await config.start()
    finally:
        os.chdir(config_cwd)
    try:
        await client.initialize_session(types.InitializeParams(
            capabilities=client_capabilities("visual_studio_code"), root_uri=ws.as_uri(),
            initialization_options={"trust": "trusted"}))
        uri = (ws / "model.py").as_uri()
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=uri, language_id="python", version=1, text=(ws / "model.py").read_text())))
        hover = await client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(11, 9)))
        assert hover is not None and "(B, 2)" in hover.contents.value
        traced = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.traceShapes", arguments=[{"uri": uri, "entry": "Net"}]))
        assert traced["ok"] is True, traced
        (ws / "not_ml_lsp").rename(ws / "ml_lsp")  # the fine-tune command starts in the workspace
        finetune = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.finetune", arguments=[{"name": "ft", "run": True}]))
        assert "missing.pt" in finetune.get("error", ""), finetune  # it ran, and said what is wrong
    finally:
        await client.shutdown_session()
    assert sprung(marks) == {}


def _emacs_launcher() -> str:
    text = (REPO / "editor-clients" / "emacs" / "ml-lsp-eglot.el").read_text()
    code = re.search(r'\(defconst ml-lsp-path-safe-main\s+"((?:[^"\\]|\\.)*)"', text).group(1)
    return code.replace('\\"', '"')


def _vscode_probe() -> list[str]:
    text = (REPO / "editor-clients" / "vscode" / "src" / "interpreter.ts").read_text()
    return ["-c", re.search(r"IMPORT_PROBE_ARGS = \['-c', '([^']*)'\]", text).group(1)]


def _neovim_probe() -> list[str]:
    text = (REPO / "editor-clients" / "neovim" / "lua" / "ml_lsp" / "init.lua").read_text()
    prefix = re.search(r'local PATH_SAFE = "([^"]*)"', text).group(1)
    return ["-c", prefix + "import ml_lsp"]


@pytest.mark.parametrize("client, args", [
    ("Emacs (eglot contact)", lambda: ["-c", _emacs_launcher(), "--version"]),
    ("VS Code (interpreter probe)", _vscode_probe),
    ("Neovim (install check)", _neovim_probe),
    ("console script (PyCharm, Helix, Zed)", None),
])
def test_client_commands_started_in_the_workspace_import_nothing_from_it(hostile, client, args):
    """The commands the editor clients run with the project as working folder (where the
    editor gives no other choice), the ``ml_lsp/`` trap included."""
    ws, marks = hostile
    if args is None:
        argv = [str(Path(sys.executable).parent / "ml-lsp"), "--version"]
    else:
        argv = [sys.executable, *args()]
    out = subprocess.run(argv, cwd=ws, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert sprung(marks) == {}
    # and the trap is live: plain `python -m ml_lsp` in that folder would have run it
    subprocess.run([sys.executable, "-m", "ml_lsp", "--version"], cwd=ws, capture_output=True, timeout=60)
    assert "ml_lsp.__init__" in sprung(marks)
