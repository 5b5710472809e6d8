"""The language server's life cycle through a real client over stdio: initialize with
VS Code's and Neovim's capabilities, open/change/close, configuration, shutdown."""

from __future__ import annotations

import asyncio
import sys

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, client_capabilities

from lsp_helpers import CLIENT_PRESETS, SERVER_COMMAND, LspSession, server_env


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.ml-lsp]\nignore = ["TR002"]\nruns-dir = "out/runs"\n')
    (ws / "model.py").write_text("import torch\n")
    return ws


async def _settings(client) -> dict:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="ml-lsp.settings", arguments=[]))


@pytest.mark.parametrize("preset", CLIENT_PRESETS)
async def test_initialize_open_change_close_then_clean_exit(tmp_path, workspace, preset):
    config = ClientServerConfig(server_command=SERVER_COMMAND, server_env=server_env(tmp_path))
    client = await config.start()
    try:
        result = await client.initialize_session(types.InitializeParams(
            capabilities=client_capabilities(preset), root_uri=workspace.as_uri()))
        sync = result.capabilities.text_document_sync
        assert isinstance(sync, types.TextDocumentSyncOptions)
        assert sync.change == types.TextDocumentSyncKind.Incremental and sync.open_close
        assert result.server_info.name == "ml-lsp"
        assert "ml-lsp.settings" in result.capabilities.execute_command_provider.commands

        uri = (workspace / "model.py").as_uri()
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                                 text="import torch\n")))
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(1, 0), end=types.Position(1, 0)),
                text="x = torch.zeros(2, 3)\n")]))
        # Every request gets a reply (no feature may leave the client waiting).
        await client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(1, 0)))
        client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        assert (await _settings(client))["root"] == str(workspace)
        await client.shutdown_session()
        # shutdown then exit: the process ends by itself, with status 0.
        assert await asyncio.wait_for(client._server.wait(), 10) == 0
    finally:
        await client.stop()


async def test_settings_layer_pyproject_then_init_options_then_did_change(tmp_path, workspace):
    init = {"inlayHints": {"shapes": False}, "select": ["SH"]}
    async with LspSession(tmp_path, workspace, init_options=init) as client:
        got = await _settings(client)
        assert got["settings"]["ignore"] == ["TR002"]  # from [tool.ml-lsp]
        assert got["settings"]["runs_dir"] == "out/runs"  # kebab-case key normalised
        assert got["settings"]["inlay_hints_shapes"] is False  # initializationOptions
        assert got["settings"]["select"] == ["SH"]

        # VS Code pushes the whole section on change.
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"ml-lsp": {"inlayHints": {"shapes": True}, "devices": "cpu"}}))
        got = await _settings(client)
        assert got["settings"]["inlay_hints_shapes"] is True
        assert got["settings"]["devices"] == "cpu"
        assert got["settings"]["ignore"] == ["TR002"]  # lower layers still there

        # Each push carries the client's whole section, so it replaces the previous push.
        # A value of the wrong type is refused with a message naming the key, and the
        # lower layer's value (initializationOptions: False) stays in force.
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"ml-lsp": {"inlayHints": {"shapes": "yes please"}}}))
        got = await _settings(client)
        assert got["settings"]["inlay_hints_shapes"] is False
        assert got["settings"]["devices"] == "auto"
        assert any("inlay_hints_shapes" in p for p in got["problems"])
        assert any("inlay_hints_shapes" in m.message for m in client.log_messages)


async def test_pull_configuration_when_client_sends_empty_settings(tmp_path, workspace):
    """Neovim and others send an empty didChangeConfiguration and expect the server to
    ask for its section with workspace/configuration."""
    async with LspSession(tmp_path, workspace, preset="neovim") as client:
        client.set_configuration({"devices": "0,1"}, section="ml-lsp")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        for _ in range(100):
            got = await _settings(client)
            if got["settings"]["devices"] == "0,1":
                break
            await asyncio.sleep(0.02)
        assert got["settings"]["devices"] == "0,1"


async def test_broken_pyproject_is_reported_not_fatal(tmp_path, workspace):
    (workspace / "pyproject.toml").write_text("[tool.ml-lsp\nselect = [")
    async with LspSession(tmp_path, workspace) as client:
        got = await _settings(client)
        assert any("pyproject.toml" in p for p in got["problems"])
        assert got["settings"]["select"] == []


async def test_log_file_written(tmp_path, workspace):
    async with LspSession(tmp_path, workspace) as client:
        await _settings(client)
    log = (tmp_path / "server.log").read_text()
    assert "ready" in log and "ml-lsp" in log


async def test_tcp_transport_binds_loopback_only(tmp_path, workspace):
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "ml_lsp", "serve", "--tcp", str(port)],
                            env=server_env(tmp_path))
    try:
        import psutil

        listening = []
        for _ in range(200):
            listening = [c.laddr for c in psutil.Process(proc.pid).net_connections(kind="tcp")
                         if c.status == psutil.CONN_LISTEN]
            if listening:
                break
            await asyncio.sleep(0.05)
        assert listening and all(addr.ip == "127.0.0.1" and addr.port == port for addr in listening)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}'
        writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        header = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert b"Content-Length" in header
        writer.close()
    finally:
        proc.kill()
        proc.wait()


async def test_exit_ends_the_process_even_with_a_stuck_thread(tmp_path, workspace):
    # A thread blocked in a library call must not keep the server alive after `exit`: the
    # editor waits for the process, and a restart would leave the old one running.
    stuck = ("import sys, threading; "
             "threading.Thread(target=threading.Event().wait, name='stuck-in-a-library').start(); "
             "from ml_lsp.cli import main; sys.exit(main(['serve']))")
    config = ClientServerConfig(server_command=[sys.executable, "-c", stuck], server_env=server_env(tmp_path))
    client = await config.start()
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual_studio_code"), root_uri=workspace.as_uri()))
    await client.shutdown_session()
    assert await asyncio.wait_for(client._server.wait(), 30) == 0
    log = (tmp_path / "server.log").read_text()
    assert "still running" in log and "stuck-in-a-library" in log
