"""Runs in the editor, end to end through a real client over stdio: the ml-lsp.run
command starts a real digits training job through the runner; its loss appears as an inlay
hint on the loss line and updates; code lenses follow the run's state; a crash becomes a
diagnostic on the user's line; a language server killed with -9 mid-run is replaced by one
that shows the live metrics and the final state."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from lsp_helpers import SERVER_COMMAND, server_env
from ml_lsp.server.runs import SPARK

TRAIN = textwrap.dedent('''\
    import os, sys, time
    import torch
    from torch import nn
    from sklearn.datasets import load_digits

    def main(epochs, gated):
        digits = load_digits()
        x = torch.tensor(digits.data, dtype=torch.float32) / 16
        y = torch.tensor(digits.target)
        model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        for epoch in range(epochs):
            for i in range(0, len(x), 32):
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(x[i:i + 32]), y[i:i + 32])
                loss.backward()
                opt.step()
            # The tests hold the run between epochs until they let it go on.
            if gated:
                open(f"at-{epoch}", "w").close()
            while gated and not os.path.exists(f"go-{epoch}"):
                time.sleep(0.02)

    if __name__ == "__main__":
        main(int(sys.argv[1]), "--gated" in sys.argv)
    ''')

CRASH = textwrap.dedent('''\
    import torch

    def forward(x):
        w = torch.ones(3, 4)
        return x @ w

    if __name__ == "__main__":
        forward(torch.ones(2, 5))
    ''')

def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "train.py").write_text(TRAIN)
    (ws / "crash.py").write_text(CRASH)
    yield ws
    # Runs and the runner outlive servers by design; this test started them, so it ends
    # them (a failed assertion must not leave a gated job waiting forever).
    from ml_lsp.runner import jobs
    from ml_lsp.runner.run_folder import TERMINAL_STATES

    runs_dir = ws / ".ml-lsp" / "runs"
    for folder in jobs.list_runs(runs_dir) if runs_dir.is_dir() else []:
        if folder.state() not in TERMINAL_STATES:
            jobs.stop(folder, runs_dir, grace=0.5, wait_for=5)
    info = runs_dir / "runner.json"
    try:
        os.kill(json.loads(info.read_text())["pid"], signal.SIGTERM)
    except (OSError, ValueError, KeyError):
        pass


async def start(tmp_path: Path, ws: Path, init_options=None) -> LanguageClient:
    # The trusted-workspaces file lives in the user's state folder: keep it in tmp_path.
    config = ClientServerConfig(server_command=SERVER_COMMAND,
                                server_env=server_env(tmp_path, XDG_STATE_HOME=str(tmp_path / "state")))
    client = await config.start()
    client.refreshes = 0  # workspace/inlayHint/refresh requests received
    client.lens_refreshes = 0  # workspace/codeLens/refresh requests received

    @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def on_refresh(_params):
        client.refreshes += 1
        return None

    @client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def on_lens_refresh(_params):
        client.lens_refreshes += 1
        return None

    capabilities = client_capabilities("visual_studio_code")
    # VS Code supports inlay hint refresh; pytest-lsp's recorded preset predates it.
    capabilities.workspace.inlay_hint = types.InlayHintWorkspaceClientCapabilities(refresh_support=True)
    await client.initialize_session(types.InitializeParams(
        capabilities=capabilities,
        root_uri=ws.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=ws.as_uri(), name="ws")],
        initialization_options=init_options if init_options is not None else {"trust": "trusted"}))
    return client


def open_doc(client: LanguageClient, path: Path) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="python", version=1, text=path.read_text())))
    return uri


async def until(check, timeout: float = 60.0, interval: float = 0.1):
    """Poll ``check`` (sync or async) until it returns something truthy."""
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
        range=types.Range(types.Position(0, 0), types.Position(100, 0))))
    return {h.position.line: h.label for h in result or []}


async def lenses(client: LanguageClient, uri: str) -> list[types.CodeLens]:
    return await client.text_document_code_lens_async(types.CodeLensParams(
        text_document=types.TextDocumentIdentifier(uri=uri))) or []


async def run(client: LanguageClient, uri: str, *args: str) -> str:
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="ml-lsp.run", arguments=[{"uri": uri, "args": list(args)}]))
    return result["runId"]


def state_of(ws: Path, run_id: str) -> str:
    try:
        return json.loads((ws / ".ml-lsp" / "runs" / run_id / "status.json").read_text()).get("state", "")
    except (OSError, ValueError):
        return ""


async def test_run_shows_live_loss_on_its_line_and_lenses_follow_the_state(tmp_path, workspace):
    client = await start(tmp_path, workspace)
    try:
        uri = open_doc(client, workspace / "train.py")
        titles = [lens.command.title for lens in await lenses(client, uri)]
        assert titles == ["▶ Run"]
        assert (await lenses(client, uri))[0].range.start.line == line_of(TRAIN, "__main__")

        run_id = await run(client, uri, "3", "--gated")
        loss_line = line_of(TRAIN, "loss.backward()")
        first = await until(lambda: _label_on(client, uri, loss_line), timeout=90)
        assert re.fullmatch(r"loss \d\.\d+( [↓↑→])?", first), first
        assert client.refreshes > 0  # the server asked the client to re-query
        epoch_line = line_of(TRAIN, "for epoch in range")
        # The loop's progress frame may land a moment after the first loss value.
        await until(lambda: _label_startswith(client, uri, epoch_line, "epoch 1/3"))
        # While it runs: Stop and a status lens, and $/progress (cancellable).
        running = await until(lambda: _titles_if(client, uri, "■ Stop"))
        assert any(t.startswith("running") for t in running)
        reports = await until(lambda: client.progress_reports.get(f"ml-lsp-run-{run_id}"))
        assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].cancellable
        hover = await client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(loss_line, 8)))
        assert "**loss**" in hover.contents.value and "min" in hover.contents.value
        assert re.search(f"`[{SPARK}]+`", hover.contents.value)

        # The next epoch: the hint follows the training, the loop hint counts it.
        await release(workspace, 0)
        later = await until(lambda: _label_changed(client, uri, loss_line, first))
        assert later.startswith("loss ")
        await until(lambda: _label_startswith(client, uri, epoch_line, "epoch 2/3"))

        # Stop through the lens's command: the state becomes stopped and the lenses say so.
        stop = next(lens for lens in await lenses(client, uri) if lens.command.title == "■ Stop")
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=stop.command.command, arguments=stop.command.arguments))
        done = await until(lambda: _titles_if(client, uri, "⟳ Rerun"), timeout=60)
        assert "▶ Run" in done and any(t.startswith("stopped") and "loss" in t for t in done)
        assert state_of(workspace, run_id) == "stopped"
        assert isinstance((await until(lambda: _progress_end(client, run_id))), types.WorkDoneProgressEnd)

        # Show the run's log.
        shown = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.showRun", arguments=[{"runId": run_id}]))
        assert shown["uri"].endswith(".log") and client.shown_documents[-1].uri == shown["uri"]
    finally:
        await client.shutdown_session()


async def release(workspace, epoch: int) -> None:
    """Let the gated run go on past ``epoch`` once it waits there, and a sampling tick after
    that: the telemetry samples a line at most once per tick (SAMPLE_INTERVAL), so an epoch
    shorter than a tick, let go within the tick of the last sample, would show no new value."""
    from ml_lsp.telemetry.capture import SAMPLE_INTERVAL
    await until(lambda: (workspace / f"at-{epoch}").exists())
    await asyncio.sleep(SAMPLE_INTERVAL + 0.1)
    (workspace / f"go-{epoch}").touch()


def _progress_end(client, run_id):
    reports = client.progress_reports.get(f"ml-lsp-run-{run_id}") or []
    return reports[-1] if reports and isinstance(reports[-1], types.WorkDoneProgressEnd) else None


async def _label_startswith(client, uri, line, prefix):
    label = (await hints(client, uri)).get(line) or ""
    return label if label.startswith(prefix) else None


async def _label_on(client, uri, line):
    return (await hints(client, uri)).get(line)


async def _label_changed(client, uri, line, old):
    label = (await hints(client, uri)).get(line)
    return label if label and label != old else None


async def _titles_if(client, uri, title):
    titles = [lens.command.title for lens in await lenses(client, uri)]
    return titles if title in titles else None


async def test_crash_becomes_a_diagnostic_on_the_users_line(tmp_path, workspace):
    client = await start(tmp_path, workspace)
    try:
        uri = open_doc(client, workspace / "crash.py")
        (workspace / "oom.py").write_text(
            "import torch\n\nif __name__ == '__main__':\n    buffer = torch.empty(2 ** 48)\n")
        oom_uri = open_doc(client, workspace / "oom.py")
        run_id = await run(client, uri)
        await run(client, oom_uri)
        await until(lambda: run_diagnostics(client, uri), timeout=90)
        [diag] = run_diagnostics(client, uri)
        assert diag.severity == types.DiagnosticSeverity.Error
        assert diag.range.start.line == line_of(CRASH, "return x @ w")
        assert "RuntimeError" in diag.message and run_id in diag.message
        related = [(r.location.range.start.line, r.message) for r in diag.related_information]
        assert related == [(line_of(CRASH, "forward(torch.ones"), "in <module>"),
                           (line_of(CRASH, "return x @ w"), "in forward")]
        titles = await until(lambda: _titles_if(client, uri, "⟳ Rerun"))
        assert any(t.startswith("failed") for t in titles)
        # Out of memory says so, and what to try.
        [oom] = await until(lambda: run_diagnostics(client, oom_uri), timeout=90)
        assert oom.range.start.line == 3 and oom.code == "out-of-memory"
        assert "Out of memory" in oom.message and "smaller batch" in oom.message
        assert "mixed precision" in oom.message

        # Fix the script and rerun: the next run clears the diagnostic.
        (workspace / "crash.py").write_text(CRASH.replace("torch.ones(2, 5)", "torch.ones(2, 3)"))
        await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.rerun", arguments=[{"runId": run_id}]))
        await until(lambda: not run_diagnostics(client, uri), timeout=30)
        titles = await until(lambda: _succeeded(client, uri), timeout=90)
        assert not run_diagnostics(client, uri)
    finally:
        await client.shutdown_session()


def run_diagnostics(client, uri):
    """The diagnostics runs published (lint findings on the same file are not ours)."""
    return [d for d in client.diagnostics.get(uri, []) if d.source == "ml-lsp run"]


async def _succeeded(client, uri):
    titles = [lens.command.title for lens in await lenses(client, uri)]
    return titles if any(t.startswith("succeeded") for t in titles) else None


async def test_killed_server_is_replaced_by_one_that_shows_the_live_run(tmp_path, workspace):
    client = await start(tmp_path, workspace)
    uri = open_doc(client, workspace / "train.py")
    run_id = await run(client, uri, "3", "--gated")
    loss_line = line_of(TRAIN, "loss.backward()")
    await until(lambda: _label_on(client, uri, loss_line), timeout=90)
    # kill -9 the language server in the middle of the run.
    client._server.kill()
    await client._server.wait()
    assert state_of(workspace, run_id) == "running"

    second = await start(tmp_path, workspace)
    try:
        uri = open_doc(second, workspace / "train.py")
        first = await until(lambda: _label_on(second, uri, loss_line), timeout=30)
        assert first.startswith("loss ")
        await release(workspace, 0)
        assert await until(lambda: _label_changed(second, uri, loss_line, first), timeout=60)
        (workspace / "go-1").touch()
        (workspace / "go-2").touch()
        titles = await until(lambda: _succeeded(second, uri), timeout=60)
        assert any("epoch 3/3" in t and "loss" in t for t in titles), titles
        assert state_of(workspace, run_id) == "succeeded"
        epoch_hint = (await hints(second, uri)).get(line_of(TRAIN, "for epoch in range"), "")
        assert epoch_hint.startswith("epoch 3/3") and "ETA" not in epoch_hint
    finally:
        await second.shutdown_session()


async def test_trust_is_asked_once_and_untrusted_refuses(tmp_path, workspace):
    client = await start(tmp_path, workspace, init_options={"trust": "ask"})
    answers = ["Cancel", "Trust and run", "Cancel"]
    asked = []

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_request(params: types.ShowMessageRequestParams):
        asked.append(params.message)
        return types.MessageActionItem(title=answers[len(asked) - 1])

    try:
        uri = open_doc(client, workspace / "crash.py")
        with pytest.raises(Exception, match="not trusted"):
            await run(client, uri)
        assert not (workspace / ".ml-lsp" / "runs").exists() or not any(
            p.name[0].isdigit() for p in (workspace / ".ml-lsp" / "runs").iterdir())
        assert await run(client, uri)  # answered "Trust and run"
        assert await run(client, uri)  # not asked again in this workspace
        assert len(asked) == 2 and str(workspace) in asked[0]
    finally:
        await client.shutdown_session()

    # The answer is remembered per workspace: a new server does not ask again.
    again = await start(tmp_path, workspace, init_options={"trust": "ask"})
    again.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)(on_request)
    try:
        uri = open_doc(again, workspace / "crash.py")
        assert await run(again, uri)
        assert len(asked) == 2
        # Trust taken back: the next run asks again (and "Cancel" runs nothing).
        forgot = await again.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.untrust", arguments=[]))
        assert forgot == {"root": str(workspace), "wasTrusted": True}
        with pytest.raises(Exception, match="not trusted"):
            await run(again, uri)
        assert len(asked) == 3
    finally:
        await again.shutdown_session()

    refusing = await start(tmp_path, workspace, init_options={"trust": "untrusted"})
    try:
        with pytest.raises(Exception, match="not trusted"):
            await run(refusing, open_doc(refusing, workspace / "crash.py"))
    finally:
        await refusing.shutdown_session()


def _edit(client: LanguageClient, uri: str, version: int, line: int, old: str, new: str) -> None:
    """Replace ``old`` (a whole line's text, or "" to insert before it) at 0-based ``line``."""
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(line, 0), types.Position(line, len(old))), text=new)]))


async def test_hints_follow_their_lines_when_the_script_is_edited(tmp_path, workspace):
    client = await start(tmp_path, workspace)
    try:
        uri = open_doc(client, workspace / "train.py")
        await run(client, uri, "2")
        await until(lambda: _succeeded(client, uri), timeout=90)
        loss_line, epoch_line = line_of(TRAIN, "loss.backward()"), line_of(TRAIN, "for epoch in range")
        before = await hints(client, uri)
        assert before[loss_line].startswith("loss ") and before[epoch_line].startswith("epoch 2/2")

        # Two lines added above: every hint moves down with its line.
        _edit(client, uri, 2, 0, "", "# a comment\n# another one\n")
        moved = await until(lambda: _hints_if(client, uri, loss_line + 2))
        assert moved[loss_line + 2] == before[loss_line] and moved[epoch_line + 2] == before[epoch_line]
        assert loss_line not in moved and epoch_line not in moved

        # The loss line itself edited: what the run measured there is no longer that code.
        old_text = TRAIN.splitlines()[loss_line]
        _edit(client, uri, 3, loss_line + 2, old_text, old_text.replace("loss.backward()", "(2 * loss).backward()"))
        edited = await until(lambda: _hints_if(client, uri, epoch_line + 2, absent=loss_line + 2))
        assert edited[epoch_line + 2] == before[epoch_line]
    finally:
        await client.shutdown_session()


async def _hints_if(client, uri, line, absent=None):
    shown = await hints(client, uri)
    return shown if line in shown and (absent is None or absent not in shown) else None
