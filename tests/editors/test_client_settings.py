"""Every setting the server reads is contributed by the VS Code extension under the same
name (``mlLsp.<key>`` -> ``ml_lsp.settings`` key) with the server's default and JSON type,
so a user sees each one in the Settings UI and nothing the server ignores."""

from __future__ import annotations

import json
import re
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


def descriptions() -> dict[str, str]:
    props = PACKAGE["contributes"]["configuration"]["properties"]
    return {key: spec.get("markdownDescription") or spec.get("description") or "" for key, spec in props.items()}


def test_the_inputs_example_is_in_the_readmes_format_and_one_the_server_reads():
    """A user copies the Settings UI's example: the server keys ``inputs`` by class name
    (``analysis_cache._explicit_inputs``), as the README's table shows."""
    from ml_lsp.analysis.dims import parse_inputs

    def example(text: str) -> dict:
        return json.loads(re.findall(r"`(\{[^`]*\})`", text)[-1])

    shown = example(descriptions()["mlLsp.inputs"])
    readme = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| `inputs`"))
    assert shown == example(readme)
    for entry, params in shown.items():
        assert entry.isidentifier(), entry
        parse_inputs(params)


def test_settings_name_only_commands_the_palette_has():
    commands = {f"{c['category']}: {c['title']}" for c in PACKAGE["contributes"]["commands"]}
    named = [(key, m) for key, text in descriptions().items()
             for m in re.findall(r"ml-lsp: [A-Z][^\"*`\n]*", text)]
    assert named, "a setting's description names the log command"
    assert [(key, m) for key, m in named if m.strip() not in commands] == []


def test_each_command_is_contributed_once():
    titles = [f"{c['category']}: {c['title']}" for c in PACKAGE["contributes"]["commands"]]
    ids = [c["command"] for c in PACKAGE["contributes"]["commands"]]
    assert len(set(titles)) == len(titles) and len(set(ids)) == len(ids)


def test_npm_run_e2e_runs_a_file_that_exists():
    script = PACKAGE["scripts"]["e2e"]
    cwd = REPO / "editor-clients" / "vscode"
    moved = re.match(r"cd (\S+) && ", script)
    if moved:
        cwd = (cwd / moved.group(1)).resolve()
    files = [token for token in script.split() if re.search(r"\.(py|mjs|js|ts)$", token)]
    assert files and all((cwd / f).is_file() for f in files), (script, cwd)
