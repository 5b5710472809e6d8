"""Diagnostics and their quick fixes through a real client over stdio (pytest-lsp): what a
user sees in the Problems panel and the light-bulb menu."""

from __future__ import annotations

import asyncio
import textwrap

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from lsp_helpers import SERVER_COMMAND, server_env

SCRIPT = textwrap.dedent("""\
    import torch
    import torch.optim as optim

    optimizer = optim.SGD(net.parameters(), lr=0.01)
    net = Net()
    state = torch.load("model.pt")
""")


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    return ws


async def start(tmp_path, workspace, init_options=None) -> LanguageClient:
    config = ClientServerConfig(server_command=SERVER_COMMAND, server_env=server_env(tmp_path))
    client = await config.start()
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual_studio_code"), root_uri=workspace.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")],
        initialization_options=init_options))
    return client


def open_doc(client, path, text, version=1):
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=path.as_uri(), language_id="python", version=version, text=text)))


def replace_doc(client, path, text, version):
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=path.as_uri(), version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


async def diagnostics(client, uri, predicate, timeout=15.0):
    """Wait until the published diagnostics for ``uri`` satisfy ``predicate``."""
    deadline = asyncio.get_event_loop().time() + timeout
    while True:
        current = list(client.diagnostics.get(uri, []))
        if uri in client.diagnostics and predicate(current):
            return current
        if asyncio.get_event_loop().time() > deadline:
            raise AssertionError(f"diagnostics for {uri}: {[(d.code, d.message) for d in current]}")
        await asyncio.sleep(0.05)


def codes(diags):
    return sorted(d.code for d in diags)


def apply_edits(text: str, edits: list[types.TextEdit]) -> str:
    """What the editor does with a WorkspaceEdit (ASCII text: UTF-16 units are characters)."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    pos = lambda p: min(offsets[min(p.line, len(lines))] + p.character, len(text))  # noqa: E731
    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[:pos(e.range.start)] + e.new_text + text[pos(e.range.end):]
    return text


async def test_diagnostics_on_open_with_related_information(tmp_path, workspace):
    client = await start(tmp_path, workspace)
    try:
        path = workspace / "train.py"
        open_doc(client, path, SCRIPT)
        diags = await diagnostics(client, path.as_uri(), lambda d: len(d) == 2)
        by_code = {d.code: d for d in diags}
        tr010 = by_code["TR010"]
        assert tr010.severity == types.DiagnosticSeverity.Error and tr010.source == "ml-lsp"
        assert tr010.range == types.Range(start=types.Position(3, 22), end=types.Position(3, 25))
        assert "net is used here but only defined at line 5" in tr010.message
        (related,) = tr010.related_information
        assert related.location.uri == path.as_uri() and related.location.range.start.line == 4
        assert by_code["DA003"].severity == types.DiagnosticSeverity.Warning
    finally:
        await client.shutdown_session()


async def test_quick_fix_removes_the_diagnostic(tmp_path, workspace):
    client = await start(tmp_path, workspace)
    try:
        path = workspace / "train.py"
        uri = path.as_uri()
        open_doc(client, path, SCRIPT)
        diags = await diagnostics(client, uri, lambda d: "DA003" in codes(d))
        da003 = next(d for d in diags if d.code == "DA003")
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=da003.range,
            context=types.CodeActionContext(diagnostics=[da003])))
        fix = next(a for a in actions if a.kind == types.CodeActionKind.QuickFix and a.is_preferred)
        assert fix.title.startswith("Add weights_only=True")
        new_text = apply_edits(SCRIPT, fix.edit.changes[uri])
        assert 'torch.load("model.pt", weights_only=True)' in new_text
        replace_doc(client, path, new_text, 2)
        await diagnostics(client, uri, lambda d: codes(d) == ["TR010"])
    finally:
        await client.shutdown_session()


async def test_fix_all_and_noqa_action(tmp_path, workspace):
    client = await start(tmp_path, workspace)
    try:
        path = workspace / "load.py"
        uri = path.as_uri()
        text = 'import torch\na = torch.load("a.pt")\nb = torch.load("b.pt")\n'
        open_doc(client, path, text)
        await diagnostics(client, uri, lambda d: len(d) == 2)
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(0, 0), end=types.Position(0, 0)),
            context=types.CodeActionContext(diagnostics=[], only=["source.fixAll.ml-lsp"])))
        (fix_all,) = actions
        fixed = apply_edits(text, fix_all.edit.changes[uri])
        assert fixed.count("weights_only=True") == 2
        # The `# noqa` action, applied, silences that line only.
        diags = client.diagnostics[uri]
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=diags[0].range,
            context=types.CodeActionContext(diagnostics=[diags[0]])))
        noqa = next(a for a in actions if "noqa" in a.title)
        replace_doc(client, path, apply_edits(text, noqa.edit.changes[uri]), 2)
        remaining = await diagnostics(client, uri, lambda d: len(d) == 1)
        assert remaining[0].range.start.line == 2
    finally:
        await client.shutdown_session()


async def test_settings_select_and_ignore(tmp_path, workspace):
    (workspace / "pyproject.toml").write_text('[project]\nname = "demo"\n\n[tool.ml-lsp]\nignore = ["TR010"]\n')
    client = await start(tmp_path, workspace)
    try:
        path = workspace / "train.py"
        uri = path.as_uri()
        open_doc(client, path, SCRIPT)
        await diagnostics(client, uri, lambda d: codes(d) == ["DA003"])
        # The editor's settings layer over pyproject's.
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
            settings={"ml-lsp": {"select": ["TR"], "ignore": []}}))
        await diagnostics(client, uri, lambda d: codes(d) == ["TR010"])
    finally:
        await client.shutdown_session()


async def test_closing_clears_and_edits_are_debounced(tmp_path, workspace):
    client = await start(tmp_path, workspace)
    try:
        path = workspace / "load.py"
        uri = path.as_uri()
        open_doc(client, path, "import torch\n")
        await diagnostics(client, uri, lambda d: d == [])
        # A burst of edits: the diagnostics end up describing the last version.
        for version in range(2, 12):
            replace_doc(client, path, "import torch\n" + 'x = torch.load("a.pt")\n' * (version - 1), version)
        await diagnostics(client, uri, lambda d: len(d) == 10)
        client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
        await diagnostics(client, uri, lambda d: d == [])
    finally:
        await client.shutdown_session()


MODEL = textwrap.dedent("""\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(self.fc1(x))
""")

TRAIN = textwrap.dedent("""\
    import torch
    from model import Net

    net = Net()
    x = torch.randn(4, 784)
    y = net(x)
    z = y @ torch.randn(12, 3)
""")


async def test_shape_error_from_an_imported_model_follows_its_unsaved_edits(tmp_path, workspace):
    (workspace / "model.py").write_text(MODEL)
    client = await start(tmp_path, workspace)
    try:
        model, train = workspace / "model.py", workspace / "train.py"
        open_doc(client, model, MODEL)
        open_doc(client, train, TRAIN)
        (sh,) = await diagnostics(client, train.as_uri(), lambda d: len(d) == 1)
        assert sh.code == "SH009" and sh.range.start.line == 6 and "(4, 10) @ (12, 3)" in sh.message
        # Edit the model in the editor (not saved): the dependent script is re-checked.
        replace_doc(client, model, MODEL.replace("nn.Linear(128, 10)", "nn.Linear(128, 12)"), 2)
        await diagnostics(client, train.as_uri(), lambda d: d == [])
    finally:
        await client.shutdown_session()
