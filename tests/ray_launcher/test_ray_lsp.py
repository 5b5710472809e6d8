"""Ray runs from the editor, through a real client over stdio and a real Ray head on
127.0.0.1: the "▶ Run on Ray" lens, live metric hints on the user's line while the job
runs on the cluster, the cluster and its dashboard in the status lens, a crash as a
diagnostic on the user's line, a fine-tune on Ray from its lens, and the consent a
repository's own cluster address needs (on top of the workspace's trust)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from lsp_helpers import SERVER_COMMAND, server_env
from ray_launcher.conftest import CRASH, DIGITS, TRAIN, line_of, status


async def start(tmp_path: Path, ws: Path, init_options: dict, answers: list[str] | None = None) -> LanguageClient:
    client = await ClientServerConfig(server_command=SERVER_COMMAND, server_env=server_env(tmp_path)).start()
    client.asked = []
    client.ended = []  # the end-of-run notifications (Show log / Rerun), not questions
    client.answers = list(answers or [])

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_request(params: types.ShowMessageRequestParams):
        if {a.title for a in params.actions or []} & {"Show log", "Rerun"}:
            client.ended.append(params.message)
            return None
        client.asked.append(params.message)
        title = client.answers.pop(0) if client.answers else "Cancel"
        return types.MessageActionItem(title=title)

    @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def on_refresh(_params):
        return None

    @client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def on_lens_refresh(_params):
        return None

    capabilities = client_capabilities("visual_studio_code")
    capabilities.workspace.inlay_hint = types.InlayHintWorkspaceClientCapabilities(refresh_support=True)
    await client.initialize_session(types.InitializeParams(
        capabilities=capabilities, root_uri=ws.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=ws.as_uri(), name="ws")],
        initialization_options=init_options))
    return client


def open_doc(client: LanguageClient, path: Path) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="python", version=1, text=path.read_text())))
    return uri


async def until(check, timeout: float = 120.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def hints(client: LanguageClient, uri: str) -> dict[int, str]:
    result = await client.text_document_inlay_hint_async(types.InlayHintParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(types.Position(0, 0), types.Position(200, 0))))
    return {h.position.line: h.label for h in result or []}


async def lenses(client: LanguageClient, uri: str) -> list[types.CodeLens]:
    return await client.text_document_code_lens_async(types.CodeLensParams(
        text_document=types.TextDocumentIdentifier(uri=uri))) or []


async def command(client: LanguageClient, name: str, *arguments):
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command=name, arguments=list(arguments)))


async def titles(client, uri) -> list[str]:
    return [lens.command.title for lens in await lenses(client, uri)]


def run_folders(ws: Path) -> list[str]:
    return sorted(p.name for p in (ws / ".ml-lsp" / "runs").iterdir() if p.name[:1].isdigit())


async def test_run_on_ray_shows_live_hints_on_the_users_line_and_the_cluster(tmp_path, ray_cluster, workspace):
    client = await start(tmp_path, workspace, {"trust": "trusted", "launchers": {"ray": {"address": ray_cluster.address}}})
    try:
        uri = open_doc(client, workspace / "train.py")
        [on_ray] = [lens for lens in await lenses(client, uri) if lens.command.title == "▶ Run on Ray"]
        assert on_ray.command.arguments[0]["launcher"] == "ray"
        run_id = (await command(client, "ml-lsp.run", {**on_ray.command.arguments[0], "args": ["60", "0.2"]}))["runId"]
        loss_line = line_of(TRAIN, "ml_lsp.log(loss=loss") - 1

        async def live_hint():
            label = (await hints(client, uri)).get(loss_line)
            return label if label and label.startswith("loss") and status(workspace, run_id)["state"] == "running" else None

        assert (await until(live_hint, timeout=120)).startswith("loss")
        host = ray_cluster.address.removeprefix("http://")
        status_title = await until(lambda: _title_with(client, uri, f"on Ray {host}"))
        assert status_title.startswith("running")
        assert "Ray dashboard ↗" in await titles(client, uri)
        shown = await command(client, "ml-lsp.showRun", {"runId": run_id, "dashboard": True})
        assert shown["uri"] == f"{ray_cluster.address}/#/jobs/ml-lsp-{run_id}"
        [opened] = client.shown_documents
        assert opened.external is True and opened.uri == shown["uri"]
        await command(client, "ml-lsp.stop", {"runId": run_id})
        await until(lambda: status(workspace, run_id).get("state") == "stopped", timeout=30)
        assert await until(lambda: _title_starting(client, uri, "stopped"))
        # The server itself never loaded ray (the follower does, in its own process).
        maps = Path(f"/proc/{client._server.pid}/maps").read_text()
        assert "_raylet" not in maps and "torch/lib" not in maps
    finally:
        await client.shutdown_session()


async def _title_starting(client, uri, text):
    return next((t for t in await titles(client, uri) if t.startswith(text)), None)


async def _title_with(client, uri, text):
    return next((t for t in await titles(client, uri) if text in t), None)


async def test_a_crash_on_ray_is_a_diagnostic_on_the_users_line(tmp_path, ray_cluster, workspace):
    client = await start(tmp_path, workspace, {"trust": "trusted", "launchers": {"ray": {"address": ray_cluster.address}}})
    try:
        uri = open_doc(client, workspace / "crash.py")
        run_id = (await command(client, "ml-lsp.run", {"uri": uri, "args": [], "launcher": "ray"}))["runId"]
        diagnostics = await until(lambda: [d for d in client.diagnostics.get(uri, []) if d.source == "ml-lsp run"],
                                  timeout=120)
        [diagnostic] = diagnostics
        assert diagnostic.range.start.line == line_of(CRASH, 'x["missing"]') - 1
        assert "KeyError" in diagnostic.message and run_id in diagnostic.message
        assert status(workspace, run_id)["state"] == "failed"
        assert any(t.startswith("failed") for t in await titles(client, uri))
    finally:
        await client.shutdown_session()


async def test_a_cluster_the_repository_names_is_used_only_after_the_user_agrees(tmp_path, ray_cluster, workspace):
    pyproject = workspace / "pyproject.toml"
    pyproject.write_text(f'[project]\nname = "ws"\n\n[tool.ml-lsp.launchers.ray]\naddress = "{ray_cluster.address}"\n')
    client = await start(tmp_path, workspace, {"trust": "trusted"}, answers=["Cancel", "Send to this cluster"])
    try:
        uri = open_doc(client, workspace / "train.py")
        assert "▶ Run on Ray" in await titles(client, uri)  # the repository's table offers it
        arguments = {"uri": uri, "args": ["3"], "launcher": "ray"}
        with pytest.raises(Exception, match="not sent"):
            await command(client, "ml-lsp.run", arguments)
        [question] = client.asked
        assert ray_cluster.address in question and str(pyproject) in question
        assert run_folders(workspace) == []

        run_id = (await command(client, "ml-lsp.run", arguments))["runId"]
        assert len(client.asked) == 2
        await until(lambda: status(workspace, run_id).get("state") == "succeeded", timeout=120)
        await command(client, "ml-lsp.run", arguments)  # remembered: no third question
        assert len(client.asked) == 2
    finally:
        await client.shutdown_session()
    consents = json.loads((tmp_path / "state" / "ml-lsp" / "launcher-consents.json").read_text())
    assert list(consents) == [str(workspace)]
    assert not list(workspace.rglob("launcher-consents.json"))


async def test_an_untrusted_workspace_runs_nothing_on_ray_and_asks_nothing(tmp_path, ray_cluster, workspace):
    (workspace / "pyproject.toml").write_text(
        f'[project]\nname = "ws"\n\n[tool.ml-lsp.launchers.ray]\naddress = "{ray_cluster.address}"\n')
    client = await start(tmp_path, workspace, {"trust": "untrusted"}, answers=["Send to this cluster"])
    try:
        uri = open_doc(client, workspace / "train.py")
        [lens] = [lens for lens in await lenses(client, uri) if lens.command.title == "▶ Run on Ray"]
        with pytest.raises(Exception, match="not trusted"):
            await command(client, "ml-lsp.run", lens.command.arguments[0])
        with pytest.raises(Exception, match="not trusted"):
            await command(client, "ml-lsp.finetune", {"name": "ft", "run": True, "launcher": "ray"})
        assert client.asked == [] and run_folders(workspace) == []
    finally:
        await client.shutdown_session()


async def test_a_fine_tune_on_ray_from_its_lens(tmp_path, ray_cluster, workspace, pretrained):
    for name in ("model.py", "data.py"):
        shutil.copy(DIGITS / name, workspace / name)
    (workspace / "checkpoints").mkdir()
    shutil.copy(pretrained, workspace / "checkpoints" / "pretrained.pt")
    (workspace / ".gitignore").write_text("checkpoints/\n")  # named by the table: sent all the same
    (workspace / "pyproject.toml").write_text(
        '[project]\nname = "ws"\n\n[tool.ml-lsp.finetune.digits]\nmodel = "model.py:DigitsCNN"\n'
        'init = "num_classes=5"\ncheckpoint = "checkpoints/pretrained.pt"\ndata = "data.py:digits_5_9"\n'
        'freeze = ["features.*"]\nreplace_head = {head = 5}\nepochs = 2\nlr = 0.01\n')
    client = await start(tmp_path, workspace, {"trust": "trusted", "launchers": {"ray": {"address": ray_cluster.address}}})
    try:
        uri = open_doc(client, workspace / "model.py")
        [lens] = [lens for lens in await lenses(client, uri) if lens.command.title == "▶ Fine-tune digits on Ray"]
        result = await command(client, lens.command.command, *lens.command.arguments)
        assert "runId" in result, result
        run_id = result["runId"]
        class_line = line_of((workspace / "model.py").read_text(), "class DigitsCNN") - 1
        label = await until(lambda: _hint_on(client, uri, class_line, "val_accuracy"), timeout=180)
        assert "val_accuracy" in label
        await until(lambda: status(workspace, run_id).get("state") in ("succeeded", "failed"), timeout=180)
        assert status(workspace, run_id)["state"] == "succeeded"
        folder = workspace / ".ml-lsp" / "runs" / run_id
        metrics = json.loads((folder / "metrics.json").read_text())  # brought home from the cluster
        assert metrics["val_accuracy"] > 0.8
        assert (folder / "model.safetensors").stat().st_size > 1000
        assert json.loads((folder / "spec.json").read_text())["launcher"] == "ray"
    finally:
        await client.shutdown_session()


async def _hint_on(client, uri, line, text):
    label = (await hints(client, uri)).get(line)
    return label if label and text in label else None
