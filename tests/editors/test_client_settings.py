"""Every setting the server reads is contributed by the VS Code extension under the same
name (``mlLsp.<key>`` -> ``ml_lsp.settings`` key) with the server's default and JSON type,
so a user sees each one in the Settings UI and nothing the server ignores."""

from __future__ import annotations

import json
from pathlib import Path

from ml_lsp.settings import DEFAULTS, normalise_key

REPO = Path(__file__).resolve().parents[2]
PACKAGE = json.loads((REPO / "editor-clients" / "vscode" / "package.json").read_text())
CLIENT_ONLY = {"mlLsp.interpreter", "mlLsp.serverArgs"}  # how to start the server, not server settings
JSON_TYPES = {bool: "boolean", str: "string", list: "array", dict: "object"}


def contributed() -> dict[str, dict]:
    props = PACKAGE["contributes"]["configuration"]["properties"]
    return {normalise_key(key.removeprefix("mlLsp.")): spec for key, spec in props.items() if key not in CLIENT_ONLY}


def test_every_server_setting_is_contributed_with_its_default_and_type():
    props = contributed()
    assert set(props) == set(DEFAULTS)
    for key, default in DEFAULTS.items():
        assert props[key]["default"] == default, key
        assert props[key]["type"] == JSON_TYPES[type(default)], key


def test_enumerated_settings_offer_the_values_the_server_accepts():
    props = contributed()
    assert props["trust"]["enum"] == ["ask", "trusted", "untrusted"]
    assert set(props["log_level"]["enum"]) >= {"debug", "info", "warning", "error"}


def test_workspace_trust_is_limited_not_unsupported():
    trust = PACKAGE["capabilities"]["untrustedWorkspaces"]
    assert trust["supported"] == "limited"
    assert "mlLsp.interpreter" in trust["restrictedConfigurations"]  # a workspace must not pick the binary
