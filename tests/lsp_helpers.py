"""Helpers for the language-server tests: they drive ``ml-lsp serve`` as a real subprocess
over stdio with pytest-lsp. A plain module (not conftest.py), so that every test folder
imports the same one by name."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVER_COMMAND = [sys.executable, "-m", "ml_lsp", "serve"]

# The two client presets the foundation issue names; pytest-lsp ships their capabilities.
CLIENT_PRESETS = ["visual_studio_code", "neovim"]


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a server under test: its log file inside the test's tmp dir."""
    env = dict(os.environ)
    env["ML_LSP_LOG_FILE"] = str(tmp_path / "server.log")
    env.update(extra)
    return env


class LspSession:
    """``async with LspSession(...) as client``: a pytest-lsp client connected to a fresh
    ``ml-lsp serve`` over stdio, initialized with a named client's capabilities; shut down
    and stopped however the test ends (a failing test must not leave a server behind)."""

    def __init__(self, tmp_path: Path, root: Path | None = None, preset: str = "visual_studio_code",
                 init_options=None, env: dict[str, str] | None = None, command=None):
        self.tmp_path, self.root, self.preset = tmp_path, root, preset
        self.init_options, self.env = init_options, env or {}
        self.command = command or SERVER_COMMAND
        self.client = None
        self.result = None

    async def __aenter__(self):
        from lsprotocol import types
        from pytest_lsp import ClientServerConfig, client_capabilities

        config = ClientServerConfig(server_command=self.command,
                                    server_env=server_env(self.tmp_path, **self.env))
        self.client = await config.start()
        root_uri = self.root.as_uri() if self.root else None
        self.result = await self.client.initialize_session(types.InitializeParams(
            capabilities=client_capabilities(self.preset),
            root_uri=root_uri,
            workspace_folders=[types.WorkspaceFolder(uri=root_uri, name="ws")] if root_uri else None,
            initialization_options=self.init_options))
        self.client.init_result = self.result  # tests read the server's capabilities here
        return self.client

    async def __aexit__(self, *exc):
        import asyncio

        try:
            await asyncio.wait_for(self.client.shutdown_session(), 10)
        except Exception:
            pass
        try:
            await asyncio.wait_for(self.client.stop(), 10)
        except Exception:
            pass
        return False
