"""A cloned repository cannot make the server run its code (issue: security). Each test
opens a workspace as an attacker would ship it, through a real client over stdio, and
checks that the code it planted does not run: a marker file its model writes at import
must not appear, unless the user (not the workspace) trusted it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, client_capabilities

from hostile import marker_script
from lsp_helpers import SERVER_COMMAND, server_env

from ml_lsp.server.trust import CODE_RUNNING, TRUST_AND_RUN


@pytest.fixture
def user_dirs(tmp_path, monkeypatch):
    """The user's config and state folders (runner key, remembered trust) for the servers
    and for this process, kept in the test's tmp folder."""
    dirs = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")}
    for key, value in dirs.items():
        monkeypatch.setenv(key, value)
    return dirs


@pytest.fixture
def cloned(tmp_path):
    """A repository that trusts itself, traces on save, sends runs outside itself and
    raises the tracer's limits, with a model and a script that leave a mark when run."""
    ws = tmp_path / "cloned"
    ws.mkdir()
    outside = tmp_path / "outside-runs"
    outside.mkdir()
    marks = tmp_path / "marks"
    marks.mkdir()
    (ws / "pyproject.toml").write_text(textwrap.dedent(f"""
        [project]
        name = "innocent"

        [tool.ml-lsp]
        trust = "trusted"
        traceOnSave = true
        runs-dir = "{outside}"
        trace_timeout = 999
        trace_memory_mb = 999999
        trace_cpu_fallback = true
        python = "/bin/sh"

        [tool.ml-lsp.finetune.ft]
        model = "model.py:Net"
        checkpoint = "missing.pt"
        data = "data.npz"
    """))
    (ws / "model.py").write_text(marker_script(marks / "model-imported") + textwrap.dedent("""
        import torch
        from torch import nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)

            def forward(self, x):
                return self.fc(x)  # shape: x=(B, 4)
    """))
    (ws / "train.py").write_text(marker_script(marks / "train-ran") + "if __name__ == '__main__':\n    pass\n")
    return ws, outside, marks


async def start(tmp_path: Path, ws: Path, user_dirs: dict, init_options=None):
    config = ClientServerConfig(server_command=SERVER_COMMAND, server_env=server_env(tmp_path, **user_dirs))
    client = await config.start()
    client.asked: list[str] = []
    client.answers: list[str] = []

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_request(params: types.ShowMessageRequestParams):
        client.asked.append(params.message)
        title = client.answers.pop(0) if client.answers else "Cancel"
        return types.MessageActionItem(title=title)

    client.init_result = await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual_studio_code"), root_uri=ws.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=ws.as_uri(), name="ws")],
        initialization_options=init_options))
    return client


def open_doc(client, path: Path) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="python", version=1, text=path.read_text())))
    return uri


async def command(client, name: str, *arguments):
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command=name, arguments=list(arguments)))


def trace_tokens(client) -> list:
    return [t for t in client.progress_reports if str(t).startswith("ml-lsp-trace")]


async def test_a_repository_cannot_trust_itself_or_turn_on_trace_on_save(tmp_path, cloned, user_dirs):
    ws, outside, marks = cloned
    client = await start(tmp_path, ws, user_dirs)
    try:
        got = await command(client, "ml-lsp.settings")
        settings, problems = got["settings"], "\n".join(got["problems"])
        assert settings["trust"] == "ask" and settings["trace_on_save"] is False
        assert settings["runs_dir"] == ".ml-lsp/runs"  # not the folder outside the workspace
        assert "trace_timeout" not in settings and "trace_cpu_fallback" not in settings
        assert "trace_memory_mb" not in settings and "python" not in settings
        for key in ("trust", "trace_on_save", "runs_dir", "trace_timeout", "trace_memory_mb",
                    "trace_cpu_fallback", "python"):
            assert f"'{key}'" in problems, f"no problem line names {key}: {problems}"

        uri = open_doc(client, ws / "model.py")
        client.text_document_did_save(types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        await command(client, "ml-lsp.settings")  # the save was handled before this reply
        assert trace_tokens(client) == [], "saving started a trace in an untrusted workspace"
        assert client.asked == [], "a save must never ask"
    finally:
        await client.shutdown_session()
    assert not (marks / "model-imported").exists()


async def test_trace_shapes_asks_before_running_a_never_trusted_workspace(tmp_path, cloned, user_dirs):
    ws, _, marks = cloned
    client = await start(tmp_path, ws, user_dirs)
    try:
        uri = open_doc(client, ws / "model.py")
        refused = await command(client, "ml-lsp.traceShapes", {"uri": uri, "entry": "Net"})
        assert refused["ok"] is False and "not trusted" in refused["error"]
        assert len(client.asked) == 1 and str(ws) in client.asked[0] and "trace shapes" in client.asked[0]
        assert not (marks / "model-imported").exists()

        client.answers.append(TRUST_AND_RUN)
        traced = await command(client, "ml-lsp.traceShapes", {"uri": uri, "entry": "Net"})
        assert traced["ok"] is True, traced
        assert (marks / "model-imported").exists()  # the user said yes: the model ran
        assert len(client.asked) == 2
    finally:
        await client.shutdown_session()


async def _refused(client, ws: Path, run_id: str, path: str):
    """Take ``path`` in a workspace whose user said "untrusted"; return what it answered."""
    if path == "trace on save":
        uri = open_doc(client, ws / "model.py")
        client.text_document_did_save(types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        await command(client, "ml-lsp.settings")
        assert trace_tokens(client) == []
        return "not started"
    arguments = {
        "ml-lsp.run": {"uri": (ws / "train.py").as_uri(), "args": []},
        "ml-lsp.rerun": {"runId": run_id},
        "ml-lsp.finetune": {"name": "ft", "run": True},
        "ml-lsp.resume": {"runId": run_id},
        "ml-lsp.traceShapes": {"uri": open_doc(client, ws / "model.py"), "entry": "Net"},
    }[path]
    try:
        answer = await command(client, path, arguments)
    except Exception as exc:  # a JSON-RPC error naming the reason
        return str(exc)
    assert isinstance(answer, dict) and answer.get("ok") is False, answer
    return answer["error"]


@pytest.mark.parametrize("path", sorted(CODE_RUNNING))
async def test_every_path_that_runs_workspace_code_is_refused_when_untrusted(tmp_path, cloned, user_dirs, path):
    ws, _, marks = cloned
    from ml_lsp import runner  # a run of the user's own, for rerun and resume to name
    own = runner.submit(runner.make_spec(ws / "train.py", cwd=ws), ws / ".ml-lsp" / "runs", start_runner=False)
    for entry in (ws / ".ml-lsp" / "runs" / "queue").iterdir():
        entry.unlink()
    before = sorted(p.name for p in (ws / ".ml-lsp" / "runs").iterdir())
    client = await start(tmp_path, ws, user_dirs, {"trust": "untrusted", "traceOnSave": True})
    try:
        reason = await _refused(client, ws, own.id, path)
        assert "not trusted" in reason or reason == "not started", reason
        assert client.asked == []  # "untrusted" refuses without asking
    finally:
        await client.shutdown_session()
    assert sorted(p.name for p in (ws / ".ml-lsp" / "runs").iterdir()) == before
    assert not (marks / "model-imported").exists() and not (marks / "train-ran").exists()


# Commands that run nothing of the workspace, each with why.
SAFE_COMMANDS = {
    "ml-lsp.settings": "reports the settings in force",
    "ml-lsp.stop": "signals only a run of the user's own (sealed pid)",
    "ml-lsp.untrust": "takes trust back",
    "ml-lsp.showRun": "opens a log file",
    "ml-lsp.showLibraryFrames": "republishes a crash diagnostic with or without library frames",
    "ml-lsp.finetuneCandidates": "lists file names (data functions found by parsing, never importing)",
    "ml-lsp.callSites": "lists the workspace call sites the static analysis used (import lines read, nothing run)",
}


async def test_every_server_command_is_classified(tmp_path, cloned, user_dirs):
    """A new command must be listed as running workspace code (and so ask the trust) or
    as safe, with a reason: none slips through unclassified."""
    ws, _, _ = cloned
    client = await start(tmp_path, ws, user_dirs)
    try:
        advertised = set(client.init_result.capabilities.execute_command_provider.commands)
    finally:
        await client.shutdown_session()
    plugin_commands = {c for c in advertised if not c.startswith("ml-lsp.")}
    assert advertised - plugin_commands == (set(CODE_RUNNING) - {"trace on save"}) | set(SAFE_COMMANDS)


async def test_the_prompt_answer_is_remembered_outside_the_workspace(tmp_path, cloned, user_dirs):
    ws, _, _ = cloned
    client = await start(tmp_path, ws, user_dirs)
    client.answers.append(TRUST_AND_RUN)
    try:
        uri = open_doc(client, ws / "model.py")
        assert (await command(client, "ml-lsp.traceShapes", {"uri": uri, "entry": "Net"}))["ok"] is True
    finally:
        await client.shutdown_session()
    remembered = Path(user_dirs["XDG_STATE_HOME"]) / "ml-lsp" / "trusted-workspaces.json"
    assert json.loads(remembered.read_text())["trusted"] == [str(ws)]
    assert remembered.stat().st_mode & 0o077 == 0
    assert not list(ws.rglob("trusted-workspaces.json"))


async def test_the_users_own_settings_file_can_trust_where_the_repository_cannot(tmp_path, cloned, user_dirs):
    ws, _, marks = cloned
    user_file = Path(user_dirs["XDG_CONFIG_HOME"]) / "ml-lsp" / "settings.toml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text('trust = "trusted"\n')
    client = await start(tmp_path, ws, user_dirs)
    try:
        assert (await command(client, "ml-lsp.settings"))["settings"]["trust"] == "trusted"
        uri = open_doc(client, ws / "model.py")
        assert (await command(client, "ml-lsp.traceShapes", {"uri": uri, "entry": "Net"}))["ok"] is True
        assert client.asked == [] and (marks / "model-imported").exists()
    finally:
        await client.shutdown_session()
