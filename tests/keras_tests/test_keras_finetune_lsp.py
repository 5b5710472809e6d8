"""Fine-tuning a Keras model from the editor, through a real client over stdio: the
"Fine-tune from checkpoint…" code action on a function that builds a Keras model offers the
workspace's `.keras` files (not its torch checkpoints), writes the spec, and the
▶ Fine-tune lens on that function runs it to a result shown in the lens."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, client_capabilities

from finetune.test_lsp_finetune import action_command, lenses, run_state, until
from ml_lsp.finetune.spec import read_tables
from .conftest import EXAMPLE

SERVER = [sys.executable, "-m", "ml_lsp", "serve"]


@pytest.fixture
def project(tmp_path, keras_pretrained):
    ws = tmp_path / "ws"
    (ws / "checkpoints").mkdir(parents=True)
    for name in ("model.py", "data.py"):
        shutil.copy(EXAMPLE / name, ws / name)
    shutil.copy(keras_pretrained, ws / "checkpoints" / "pretrained.keras")
    (ws / "checkpoints" / "torch_model.pt").write_bytes(b"PK\x03\x04")  # a torch checkpoint: not offered
    (ws / "pyproject.toml").write_text('[project]\nname = "digits"\n')
    yield ws
    info = ws / ".ml-lsp" / "runs" / "runner.json"  # the runner this test's server started
    try:
        os.kill(json.loads(info.read_text())["pid"], signal.SIGTERM)
    except (OSError, ValueError, KeyError):
        pass


@pytest.mark.timeout(1200)  # a Keras pretraining and fine-tune, on a loaded CPU
async def test_code_action_and_lens_fine_tune_a_keras_model(project, tmp_path):
    config = ClientServerConfig(server_command=SERVER,
                                server_env={**os.environ, "ML_LSP_LOG_FILE": str(tmp_path / "server.log")})
    client = await config.start()
    questions = []

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def answer(params: types.ShowMessageRequestParams):
        questions.append((params.message, [a.title for a in params.actions or []]))
        wanted = "checkpoints/pretrained.keras" if "checkpoint" in params.message else "data.py:digits_5_9"
        return next(a for a in params.actions if a.title == wanted)

    @client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def lens_refresh(_params):
        return None

    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual_studio_code"), root_uri=project.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=project.as_uri(), name="ws")],
        initialization_options={"trust": "trusted"}))
    try:
        model_py = project / "model.py"
        text = model_py.read_text()
        uri = model_py.as_uri()
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=uri, language_id="python", version=1, text=text)))
        lines = text.splitlines()
        def_line = next(i for i, line in enumerate(lines) if line.startswith("def build_cnn"))
        layer_line = next(i for i, line in enumerate(lines) if "Conv2D(16" in line)

        async def actions_at(line):
            return await client.text_document_code_action_async(types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(types.Position(line, 0), types.Position(line, 0)),
                context=types.CodeActionContext(diagnostics=[]))) or []

        assert not [a for a in await actions_at(layer_line) if "Fine-tune" in a.title]
        action = next(a for a in await actions_at(def_line) if a.title == "Fine-tune from checkpoint…")
        command = action_command(action)
        created = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=command["command"], arguments=command["arguments"]))
        assert created["name"] == "build_cnn"
        assert questions[0] == ("Fine-tune build_cnn: the checkpoint to start from?", ["checkpoints/pretrained.keras"])
        table = read_tables(project / "pyproject.toml")["build_cnn"]
        assert table == {"model": "model.py:build_cnn", "checkpoint": "checkpoints/pretrained.keras",
                         "data": "data.py:digits_5_9", "epochs": 3}

        # A client with its own picker asks for the same list.
        listed = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.finetuneCandidates", arguments=[{"kind": "checkpoint", "framework": "keras"}]))
        assert listed["candidates"] == ["checkpoints/pretrained.keras"]

        with open(project / "pyproject.toml", "a") as f:
            f.write('freeze = ["conv*"]\n')
        lens = next(c for c in await lenses(client, uri) if c.title == "▶ Fine-tune build_cnn")
        where = [ln.range.start.line for ln in await client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))) if ln.command.title == lens.title]
        assert where == [def_line]
        started = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=lens.command, arguments=lens.arguments))
        assert "runId" in started, started
        assert await until(lambda: run_state(project, started["runId"]), timeout=600) == "succeeded"
        titles = [c.title for c in await lenses(client, uri)]
        assert any(t.startswith("build_cnn: succeeded · val_accuracy") for t in titles), titles
        run_dir = project / ".ml-lsp" / "runs" / started["runId"]
        assert (run_dir / "model.keras").is_file()
    finally:
        await client.shutdown_session()
        await client.stop()
