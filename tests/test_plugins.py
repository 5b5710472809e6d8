"""Plugins come in through the ``ml_lsp`` entry-point group, a third-party package exactly
as the built-in ones; a plugin that fails to import or raises in a hook is reported and
the server goes on without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from lsprotocol import types

from lsp_helpers import LspSession
from ml_lsp.hookspecs import hookimpl
from ml_lsp.plugins import PluginHost


def _env(plugins_dir):
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(plugins_dir), os.environ.get("PYTHONPATH")]))}


def test_cli_lists_loaded_and_failed_plugins(fixture_plugins_dir):
    out = subprocess.run([sys.executable, "-m", "ml_lsp", "plugins", "--json"], capture_output=True,
                         text=True, env={**os.environ, **_env(fixture_plugins_dir)}, check=True)
    report = json.loads(out.stdout)
    loaded = {p["name"]: p for p in report["loaded"]}
    assert loaded["fixture_good"]["distribution"] == "mllsp-fixture-good"
    assert loaded["fixture_good"]["version"] == "1.2.3"
    assert "ml_lsp_commands" in loaded["fixture_good"]["hooks"]
    failed = {f["name"]: f["reason"] for f in report["failed"]}
    assert "a_dependency_that_is_not_installed" in failed["fixture_broken_import"]
    assert "commands table is corrupt" in failed["fixture_broken_hook"]

    text = subprocess.run([sys.executable, "-m", "ml_lsp", "plugins"], capture_output=True,
                          text=True, env={**os.environ, **_env(fixture_plugins_dir)}, check=True)
    assert "fixture_good" in text.stdout and "failed (2)" in text.stdout
    assert "Traceback" not in text.stdout + text.stderr


async def test_server_loads_third_party_plugin_and_survives_broken_ones(tmp_path, fixture_plugins_dir):
    async with LspSession(tmp_path, tmp_path, env=_env(fixture_plugins_dir)) as client:
        commands = client.init_result.capabilities.execute_command_provider.commands
        assert "fixture.echo" in commands

        echoed = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="fixture.echo", arguments=[{"a": 1}, "b"]))
        assert echoed == {"echo": [{"a": 1}, "b"]}

        # A command that raises comes back as a JSON-RPC error; the server stays up.
        try:
            await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="fixture.boom", arguments=[]))
            raised = None
        except Exception as exc:  # pygls raises JsonRpcException subclasses
            raised = exc
        assert raised is not None and "fixture command failed on purpose" in str(raised)

        settings = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="ml-lsp.settings", arguments=[]))
        assert "fixture_good" in settings["plugins"]
        assert any(f.startswith("fixture_broken_import:") for f in settings["plugin_failures"])

        messages = [m.message for m in client.log_messages]
        assert any("fixture_broken_import" in m and "a_dependency_that_is_not_installed" in m for m in messages)
        assert any("fixture_broken_hook" in m and "commands table is corrupt" in m for m in messages)
    log = (tmp_path / "server.log").read_text()
    assert "fixture command failed on purpose" in log  # the raising handler left a log line


def test_a_later_plugin_overrides_an_earlier_one_key_by_key():
    class Builtin:
        @hookimpl
        def ml_lsp_shape_rules(self):
            return {"torch.nn.Linear": "builtin", "torch.nn.Conv2d": "builtin"}

    class ThirdParty:
        @hookimpl
        def ml_lsp_shape_rules(self):
            return {"torch.nn.Linear": "third-party"}

    host = PluginHost()
    host.register(Builtin(), "builtin")
    host.register(ThirdParty(), "third")
    assert host.merged_mapping("ml_lsp_shape_rules") == {
        "torch.nn.Linear": "third-party", "torch.nn.Conv2d": "builtin"}


def test_plugin_with_a_hook_of_the_wrong_signature_is_rejected_with_a_reason():
    class Wrong:
        @hookimpl
        def ml_lsp_code_lenses(self, path, text, not_a_hook_argument):
            return []

    host = PluginHost()
    host.register(Wrong(), "wrong")
    assert not host.loaded
    assert "not_a_hook_argument" in host.failures[0].reason
