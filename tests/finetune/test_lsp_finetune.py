"""Fine-tuning from the editor, end to end through a real client over stdio: the
"Fine-tune from checkpoint…" code action on an nn.Module class asks for the checkpoint and
the data (window/showMessageRequest), writes the spec to pyproject.toml; the ▶ Fine-tune
lens runs it through the runner; a paused run gets a ⟳ Resume lens that finishes it."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import shutil
import signal
import sys
import time

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, client_capabilities

from ml_lsp.finetune.spec import read_tables
from .conftest import DIGITS

SERVER = [sys.executable, "-m", "ml_lsp", "serve"]


@pytest.fixture
def project(tmp_path, pretrained):
    ws = tmp_path / "ws"
    (ws / "checkpoints").mkdir(parents=True)
    for name in ("model.py", "data.py"):
        shutil.copy(DIGITS / name, ws / name)
    shutil.copy(pretrained[0], ws / "checkpoints" / "pretrained.pt")
    (ws / "pyproject.toml").write_text('[project]\nname = "digits"\n')
    yield ws
    info = ws / ".ml-lsp" / "runs" / "runner.json"  # the runner this test's server started
    try:
        os.kill(json.loads(info.read_text())["pid"], signal.SIGTERM)
    except (OSError, ValueError, KeyError):
        pass


def action_command(action) -> dict:
    """The command of a code action. lsprotocol's client-side hook reads any
    ``Command | CodeAction`` that has a "command" key as a Command, so a CodeAction
    carrying a command arrives as Command(command=repr(the inner command)); undo that."""
    if isinstance(action, types.CodeAction):
        return {"command": action.command.command, "arguments": action.command.arguments}
    inner = ast.literal_eval(action.command)
    return {"command": inner["command"], "arguments": inner["arguments"]}


async def until(check, timeout=120.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def lenses(client, uri):
    return [lens.command for lens in await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))) or []]


def run_state(ws, run_id):
    status = ws / ".ml-lsp" / "runs" / run_id / "status.json"
    state = json.loads(status.read_text()).get("state") if status.exists() else None
    return state if state in ("succeeded", "failed", "stopped", "lost") else None


async def test_code_action_writes_the_spec_and_lenses_run_and_resume_it(project, tmp_path):
    config = ClientServerConfig(server_command=SERVER,
                                server_env={**os.environ, "ML_LSP_LOG_FILE": str(tmp_path / "server.log")})
    client = await config.start()
    questions = []

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def answer(params: types.ShowMessageRequestParams):
        titles = [a.title for a in params.actions or []]
        questions.append((params.message, titles))
        wanted = "checkpoints/pretrained.pt" if "checkpoint" in params.message else "data.py:digits_5_9"
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
        class_line = next(i for i, line in enumerate(lines) if line.startswith("class DigitsCNN"))
        forward_line = next(i for i, line in enumerate(lines) if "def forward" in line)

        async def actions_at(line):
            return await client.text_document_code_action_async(types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(types.Position(line, 0), types.Position(line, 0)),
                context=types.CodeActionContext(diagnostics=[]))) or []

        assert not [a for a in await actions_at(forward_line) if "Fine-tune" in a.title]
        action = next(a for a in await actions_at(class_line) if a.title == "Fine-tune from checkpoint…")
        command = action_command(action)
        created = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=command["command"], arguments=command["arguments"]))
        assert created["name"] == "digitscnn"
        assert [q[0] for q in questions] == ["Fine-tune DigitsCNN: the checkpoint to start from?",
                                             "Fine-tune DigitsCNN: the data (train, validation)?"]
        assert questions[0][1] == ["checkpoints/pretrained.pt"]
        assert "data.py:digits_0_4" in questions[1][1] and "model.py:DigitsCNN" not in questions[1][1]
        table = read_tables(project / "pyproject.toml")["digitscnn"]
        assert table == {"model": "model.py:DigitsCNN", "checkpoint": "checkpoints/pretrained.pt",
                         "data": "data.py:digits_5_9", "epochs": 3}
        assert "[project]" in (project / "pyproject.toml").read_text()  # the rest of the file is kept

        # pyproject.toml itself gets the lens on the table's header.
        pyproject_uri = (project / "pyproject.toml").as_uri()
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=pyproject_uri, language_id="toml", version=1, text=(project / "pyproject.toml").read_text())))
        header = next(i for i, text_line in enumerate((project / "pyproject.toml").read_text().splitlines())
                      if text_line == "[tool.ml-lsp.finetune.digitscnn]")
        on_table = await client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=pyproject_uri)))
        assert [(lens.range.start.line, lens.command.title) for lens in on_table] == [(header, "▶ Fine-tune digitscnn")]

        # The user edits the spec: a new head, the features frozen, and a pause after 5 steps.
        with open(project / "pyproject.toml", "a") as f:
            f.write('replace_head = "head=5"\nfreeze = ["features"]\nstop_after = 5\n')

        lens = next(c for c in await lenses(client, uri) if c.title == "▶ Fine-tune digitscnn")
        started = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=lens.command, arguments=lens.arguments))
        first = started["runId"]
        await until(lambda: run_state(project, first))

        async def resume_lens():
            return next((c for c in await lenses(client, uri) if c.title == "⟳ Resume digitscnn"), None)
        resume = None
        deadline = time.monotonic() + 30
        while resume is None and time.monotonic() < deadline:
            resume = await resume_lens()
            await asyncio.sleep(0.1)
        assert resume is not None and list(resume.arguments) == [{"runId": first}]

        resumed = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=resume.command, arguments=resume.arguments))
        second = resumed["runId"]
        assert await until(lambda: run_state(project, second)) == "succeeded"
        titles = [c.title for c in await lenses(client, uri)]
        assert any(t.startswith("digitscnn: succeeded · val_accuracy") for t in titles), titles

        # A broken spec: the error reaches the user as a message; no run is made.
        (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text().replace(
            "checkpoints/pretrained.pt", "checkpoints/missing.pt"))
        before = sorted(p.name for p in (project / ".ml-lsp" / "runs").iterdir())
        failed = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.finetune", arguments=[{"name": "digitscnn", "run": True}]))
        assert "checkpoints/missing.pt: no such file" in failed["error"]
        assert any("missing.pt" in m.message and m.type == types.MessageType.Error for m in client.messages)
        assert sorted(p.name for p in (project / ".ml-lsp" / "runs").iterdir()) == before
    finally:
        await client.shutdown_session()
        await client.stop()


async def test_a_table_named_with_emoji_and_quotes_is_valid_toml_and_gets_its_lens(project, tmp_path):
    config = ClientServerConfig(server_command=SERVER,
                                server_env={**os.environ, "ML_LSP_LOG_FILE": str(tmp_path / "server.log")})
    client = await config.start()
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual_studio_code"), root_uri=project.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=project.as_uri(), name="ws")]))
    name = 'digits 😀 "v2"'
    try:
        created = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.finetune", arguments=[{
                "model": "model.py:DigitsCNN", "checkpoint": "checkpoints/pretrained.pt",
                "data": "data.py:digits_5_9", "name": name, "init": "num_classes=5"}]))
        assert created["name"] == name
        table = read_tables(project / "pyproject.toml")[name]  # parses: tomllib raises otherwise
        assert table == {"model": "model.py:DigitsCNN", "init": "num_classes=5",
                         "checkpoint": "checkpoints/pretrained.pt", "data": "data.py:digits_5_9", "epochs": 3}
        uri = (project / "model.py").as_uri()
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=uri, language_id="python", version=1, text=(project / "model.py").read_text())))
        assert f"▶ Fine-tune {name}" in [c.title for c in await lenses(client, uri)]
    finally:
        await client.shutdown_session()
        await client.stop()
