"""The PyCharm (LSP4IJ) template: its files match the structure LSP4IJ documents, its
settings are the ones the server reads, and the command it names starts ml-lsp and
answers ``initialize``."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import jsonschema
import pytest
from lsprotocol import types
from pygls.lsp.client import LanguageClient

from ml_lsp.settings import DEFAULTS, Settings, flatten

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "editor-clients" / "pycharm" / "ml-lsp"
SCHEMA = json.loads((Path(__file__).parent / "lsp4ij_template.schema.json").read_text())


def load(name: str):
    return json.loads((TEMPLATE / name).read_text(encoding="utf-8"))


def validate(instance, definition: str) -> None:
    jsonschema.validate(instance, {**SCHEMA, "$ref": f"#/definitions/{definition}"})


def test_template_json_has_the_documented_fields():
    template = load("template.json")
    validate(template, "template")
    assert template["id"] == "ml-lsp"
    python_files = [m for m in template["fileTypeMappings"] if m["fileType"].get("name") == "Python"]
    assert python_files and python_files[0]["languageId"] == "python"


def test_schema_rejects_what_lsp4ij_would_not_read():
    template = load("template.json")
    for broken in ({**template, "programArgs": "python -m ml_lsp serve"},  # must be by OS
                   {k: v for k, v in template.items() if k != "name"},
                   {**template, "fileTypeMappings": [{"fileType": {}, "languageId": "python"}]}):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken, "template")


def test_client_settings_use_only_documented_keys():
    validate(load("clientSettings.json"), "clientSettings")


@pytest.mark.parametrize("name, section", [("initializationOptions.json", None), ("settings.json", "ml-lsp")])
def test_settings_files_hold_every_server_setting_with_its_default(name, section):
    data = load(name)
    validate(data, "jsonObject")
    options = data[section] if section else data
    flat = flatten(options)
    assert set(flat) == set(DEFAULTS), f"{name}: keys differ from ml_lsp.settings.DEFAULTS"
    assert flat == DEFAULTS
    merged = Settings().merged(data, name)  # the server unwraps the "ml-lsp" section itself
    assert merged.problems == [] and merged.values == DEFAULTS


def resolved_command(os_key: str = "default") -> list[str]:
    """programArgs with PyCharm's $PyInterpreterDirectory$ macro resolved to this Python's folder."""
    line = load("template.json")["programArgs"][os_key]
    line = line.replace("$PyInterpreterDirectory$", str(Path(sys.executable).parent))
    return shlex.split(line)


async def test_the_template_command_starts_the_server_and_answers_initialize(tmp_path):
    cmd = resolved_command()
    assert Path(cmd[0]).exists(), f"{cmd[0]}: the interpreter folder has no 'ml-lsp' console script for the template to run"
    client = LanguageClient("lsp4ij-template-test", "0")
    await client.start_io(*cmd, env={**os.environ, "ML_LSP_LOG_FILE": str(tmp_path / "server.log")})
    try:
        result = await client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            root_uri=tmp_path.as_uri(),
            initialization_options=load("initializationOptions.json")))
        assert result.server_info is not None and result.server_info.name == "ml-lsp"
        assert result.capabilities.hover_provider
        assert result.capabilities.inlay_hint_provider
        assert result.capabilities.code_lens_provider is not None
        client.initialized(types.InitializedParams())
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        await client.stop()
