"""Traced shapes in the editor, end to end through a real LSP client over stdio: the
``Trace shapes`` code lens and command, traced shapes in hover and inlay hints, trace
failures as diagnostics on the user's line, and no tracer process left behind."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from pathlib import Path

import psutil
import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from ml_lsp.trace.command import static_facts

from tests.lsp_helpers import SERVER_COMMAND, server_env

FIXTURES = Path(__file__).resolve().parent / "fixtures"
COMMAND = "ml-lsp.traceShapes"


async def start(tmp_path: Path, root: Path, **settings) -> LanguageClient:
    """A server whose user trusts the workspace unless ``trust`` says otherwise (tracing
    runs the model's code)."""
    settings.setdefault("trust", "trusted")
    config = ClientServerConfig(server_command=SERVER_COMMAND, server_env=server_env(tmp_path))
    client = await config.start()
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual_studio_code"),
        root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")],
        initialization_options={"ml-lsp": settings}))
    return client


def open_doc(client: LanguageClient, path: Path) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                             text=path.read_text())))
    return uri


async def hover_text(client: LanguageClient, uri: str, line: int, character: int) -> str:
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, character)))
    if hover is None:
        return ""
    return hover.contents.value


def position_of(path: Path, needle: str, occurrence: int = 0) -> tuple[int, int]:
    """0-based (line, column) of ``needle`` in the file."""
    seen = 0
    for number, text in enumerate(path.read_text().splitlines()):
        start = text.find(needle)
        while start >= 0:
            if seen == occurrence:
                return number, start
            seen += 1
            start = text.find(needle, start + 1)
    raise AssertionError(f"{needle!r} not in {path}")


def descendants(pid: int) -> list[psutil.Process]:
    """The server's child processes, less jedi's helper: the engine resolves an import it
    cannot find on disk (``import not_installed_package_xyz``) through jedi, whose helper
    process lives as long as the server; a trace child or what it started is what must go."""
    def jedi_helper(p):
        try:
            return any("jedi" in part and "subprocess" in part for part in p.cmdline())
        except psutil.Error:
            return False
    try:
        return [p for p in psutil.Process(pid).children(recursive=True) if p.is_running()
                and p.status() != psutil.STATUS_ZOMBIE and not jedi_helper(p)]
    except psutil.NoSuchProcess:
        return []


async def wait_diagnostics(client: LanguageClient, uri: str, timeout: float = 10) -> list[types.Diagnostic]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [d for d in client.diagnostics.get(uri, []) if d.source == "ml-lsp trace"]
        if found:
            return found
        await asyncio.sleep(0.05)
    return []


@pytest.fixture
def tinylm_workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "tinylm", ws / "tinylm")
    return ws


async def test_third_party_style_model_gets_traced_shapes_in_hover(tmp_path, tinylm_workspace):
    modeling = tinylm_workspace / "tinylm" / "modeling.py"
    client = await start(tmp_path, tinylm_workspace,
                         inputs={"TinyLMForCausalLM": {"input_ids": "B,T"}})
    try:
        uri = open_doc(client, modeling)
        lenses = await client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri)))
        traced_lenses = [lens for lens in lenses or [] if lens.command and lens.command.command == COMMAND]
        entries = {lens.command.arguments[0]["entry"] for lens in traced_lenses}
        assert {"TinyLMAttention", "TinyLMLayer", "TinyLMForCausalLM"} <= entries
        assert all(lens.command.title == "Trace shapes" for lens in traced_lenses)

        # Before any trace: no traced shape is claimed.
        line, col = position_of(modeling, "scores = query @")
        assert "traced" not in await hover_text(client, uri, line, col)

        lens = next(lens for lens in traced_lenses if lens.command.arguments[0]["entry"] == "TinyLMForCausalLM")
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=COMMAND, arguments=lens.command.arguments))
        assert result["ok"], result
        assert result["problems"] == []
        # The (cold, seconds-long) trace showed progress: begun, then ended with a summary.
        (reports,) = [r for t, r in client.progress_reports.items() if str(t).startswith("ml-lsp-trace")]
        assert reports[0].kind == "begin" and reports[0].title == "Trace shapes"
        assert reports[-1].kind == "end" and "shapes in" in reports[-1].message

        expected = {
            "scores = query @": "(B, 4, T, T)",          # attention scores, heads from a property
            "inner = self.act": "(B, T, 144)",           # width from a config method + property
            "logits = self.lm_head": "(B, T, 97)",
            "mask = torch.ones": "(T, T)",
            "x1, x2 = x.chunk": "(B, T, 24)",            # a module-level helper function
        }
        for needle, shape in expected.items():
            line, col = position_of(modeling, needle)
            text = await hover_text(client, uri, line, col)
            assert shape in text and "traced" in text, (needle, text)
        # The static answer is shown beside the traced one exactly where they differ (the
        # ACT2FN-style lookup defeats static analysis of `inner`; most others agree).
        static = {(e["line"], e["name"]): e for e in static_facts(
            modeling.read_text(), str(modeling), "TinyLMForCausalLM", None,
            {"input_ids": ["B", "T"]}).to_json_entries()}
        for needle, name in (("inner = self.act", "inner"), ("scores = query @", "scores")):
            line, col = position_of(modeling, needle)
            text = await hover_text(client, uri, line, col)
            known = static.get((line + 1, name))
            differs = known is None or known["shape"] != ["B", "T", 144] if name == "inner" else \
                known is None or known["shape"] != ["B", 4, "T", "T"]
            assert ("static:" in text) == differs, (needle, known, text)
        # A later use of a name shows its latest traced binding above it.
        line, col = position_of(modeling, "return self.out(context)")
        text = await hover_text(client, uri, line, col + len("return self.out("))
        assert "(B, T, 48)" in text and "traced" in text

        hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(0, 0), end=types.Position(200, 0))))
        labels = [h.label for h in hints or [] if isinstance(h.label, str) and "traced" in h.label]
        assert any("logits: (B, T, 97)" in label for label in labels), labels

        # An edit drops the traced shapes of that document.
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(0, 0), end=types.Position(0, 0)), text="# edited\n")]))
        line, col = position_of(modeling, "logits = self.lm_head")
        assert "traced" not in await hover_text(client, uri, line + 1, col)
    finally:
        await client.shutdown_session()


BROKEN = '''\
import subprocess
import sys

import torch
import torch.nn as nn


class ShapeBug(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 100)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h)


class RaisesInInit(nn.Module):
    def __init__(self, path="weights/missing.pt"):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.fc.load_state_dict(torch.load(path))

    def forward(self, x):
        return self.fc(x)


class LoopsForever(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open(PID_FILE, "w").write(str(helper.pid))
        while True:
            x = x + 1
        return self.fc(x)


class Downloads(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        state = torch.hub.load_state_dict_from_url("https://example.com/weights.pt")

    def forward(self, x):
        return self.fc(x)
'''


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


async def test_trace_failures_become_diagnostics_and_leave_no_process(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    pid_file = tmp_path / "helper.pid"
    source = f"PID_FILE = {str(pid_file)!r}\n" + BROKEN
    model = ws / "broken.py"
    model.write_text(source)
    (ws / "needs_missing.py").write_text("import torch\nimport not_installed_package_xyz\n\n\n"
                                         "class Net(torch.nn.Module):\n"
                                         "    def forward(self, x):\n"
                                         "        return not_installed_package_xyz.scale(x)\n")
    client = await start(tmp_path, ws, trace_timeout=4, inputs={
        "ShapeBug": {"x": "B,784"}, "RaisesInInit": {"x": "B,4"},
        "LoopsForever": {"x": "B,4"}, "Downloads": {"x": "B,4"}, "Net": {"x": "B,4"}})
    server_pid = client._server.pid
    try:
        uri = open_doc(client, model)

        async def trace(entry: str, target: str = uri) -> list[types.Diagnostic]:
            client.diagnostics.pop(target, None)
            result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command=COMMAND, arguments=[{"uri": target, "entry": entry}]))
            assert result["ok"] is True
            return await wait_diagnostics(client, target)

        # A forward that raises: on the failing line, the message with both operand shapes.
        (diag,) = await trace("ShapeBug")
        assert diag.range.start.line == line_of(source, "return self.fc2(h)")
        assert diag.severity == types.DiagnosticSeverity.Error
        assert "(2, 100)" in diag.message and "(10, 128)" in diag.message, diag.message
        assert "self.fc2" in diag.message

        # A constructor that reads an absent file: the user's line and the file name.
        (diag,) = await trace("RaisesInInit")
        assert diag.range.start.line == line_of(source, "torch.load(path)")
        assert "constructor" in diag.message and "missing.pt" in diag.message

        # A constructor that downloads: refused at once, with a clear message.
        started = time.monotonic()
        (diag,) = await trace("Downloads")
        assert time.monotonic() - started < 10
        assert diag.range.start.line == line_of(source, "load_state_dict_from_url")
        assert "network access is blocked" in diag.message

        # An infinite loop in forward (which also started a process of its own): stopped at
        # the time limit, reported on the line it was stuck in, and nothing left running.
        started = time.monotonic()
        (diag,) = await trace("LoopsForever")
        assert time.monotonic() - started < 15
        assert "timed out after 4 s" in diag.message
        assert diag.range.start.line in (line_of(source, "while True"), line_of(source, "x = x + 1"))
        helper_pid = int(pid_file.read_text())
        deadline = time.monotonic() + 5
        while psutil.pid_exists(helper_pid) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not psutil.pid_exists(helper_pid) or \
            psutil.Process(helper_pid).status() == psutil.STATUS_ZOMBIE
        assert descendants(server_pid) == []

        # A package the model needs and the interpreter lacks: on the import line, as a
        # warning (the user's code is not wrong), with the command that installs it.
        other = ws / "needs_missing.py"
        other_uri = open_doc(client, other)
        (diag,) = await trace("Net", other_uri)
        assert diag.range.start.line == 1
        assert diag.severity == types.DiagnosticSeverity.Warning
        assert "not-installed-package-xyz" in diag.message and "-m pip install" in diag.message, diag.message

        # The warm child answers the next request; after shutdown nothing is left.
        (diag,) = await trace("ShapeBug")
        assert "(2, 100)" in diag.message
        assert len(descendants(server_pid)) == 1
    finally:
        await client.shutdown_session()
    await asyncio.wait_for(client._server.wait(), 10)
    time.sleep(0.5)
    assert [p for p in psutil.process_iter(["cmdline"]) if "ml_lsp.trace.child" in " ".join(p.info["cmdline"] or [])
            and p.ppid() == server_pid] == []


async def test_untrusted_workspace_refuses_to_trace(tmp_path, tinylm_workspace):
    client = await start(tmp_path, tinylm_workspace, trust="untrusted")
    try:
        uri = open_doc(client, tinylm_workspace / "tinylm" / "modeling.py")
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=COMMAND, arguments=[{"uri": uri, "entry": "TinyLMForCausalLM"}]))
        assert result["ok"] is False and "untrusted" in result["error"]
        assert descendants(client._server.pid) == []
    finally:
        await client.shutdown_session()


async def save(client: LanguageClient, uri: str) -> None:
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))


async def test_trace_on_save_only_in_a_trusted_workspace(tmp_path, tinylm_workspace):
    modeling = tinylm_workspace / "tinylm" / "modeling.py"
    line, col = position_of(modeling, "logits = self.lm_head")
    inputs = {"TinyLMForCausalLM": {"input_ids": "B,T"}}

    # trust = "ask" (the default): saving runs nothing.
    client = await start(tmp_path, tinylm_workspace, trace_on_save=True, trust="ask", inputs=inputs)
    try:
        uri = open_doc(client, modeling)
        await save(client, uri)
        await asyncio.sleep(2)
        assert "traced" not in await hover_text(client, uri, line, col)
        assert descendants(client._server.pid) == []
    finally:
        await client.shutdown_session()

    # A trusted workspace: saving traces the file's module classes.
    client = await start(tmp_path, tinylm_workspace, trace_on_save=True, trust="trusted", inputs=inputs)
    try:
        uri = open_doc(client, modeling)
        await save(client, uri)
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline:
            text = await hover_text(client, uri, line, col)
            if "traced" in text:
                break
            await asyncio.sleep(0.2)
        assert "(B, T, 97)" in text and "traced" in text, text
    finally:
        await client.shutdown_session()


async def test_digits_lens_traces_at_sizes_the_model_takes_in_the_named_interpreter(tmp_path):
    # The bundled digits CNN is correct: its Trace shapes lens must leave no red error (its
    # Linear(512) takes only 8x8 images, not the tracer's first guess), and the hover says
    # which interpreter ran it: the one the `interpreter` setting names.
    ws = tmp_path / "ws"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "digits", ws / "digits")
    model = ws / "digits" / "model.py"
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    python = venv_bin / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    client = await start(tmp_path, ws, interpreter=str(python))
    try:
        uri = open_doc(client, model)
        lenses = await client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri)))
        (lens,) = [lens for lens in lenses or [] if lens.command and lens.command.command == COMMAND
                   and lens.command.arguments[0]["entry"] == "DigitsCNN"]
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command=COMMAND, arguments=lens.command.arguments))
        assert result["ok"], result
        assert result["problems"] == []
        await asyncio.sleep(0.5)
        assert [d for d in client.diagnostics.get(uri, []) if d.source == "ml-lsp trace"] == []
        line, col = position_of(model, "x = torch.flatten")
        text = await hover_text(client, uri, line, col)
        assert "(B, 512)" in text and "traced" in text, text
        assert f"with {python}" in text, text
    finally:
        await client.shutdown_session()


async def test_a_package_missing_from_the_workspace_interpreter_is_said_once_with_its_install_command(tmp_path):
    # Two models import a package the workspace's interpreter lacks and use it in forward.
    # Traced three times, the editor says it once (a window message with the command that
    # installs it into that interpreter), and never as an error on the user's forward line,
    # which is not wrong.
    ws = tmp_path / "ws"
    ws.mkdir()
    uses = ("import torch\nfrom absent_pkg_xyz import rearrange\n\n\n"
            "class {name}(torch.nn.Module):\n"
            "    def forward(self, x):\n"
            "        y = rearrange(x, 'b c -> c b')\n"
            "        return y\n")
    for name in ("A", "B"):
        (ws / f"{name.lower()}.py").write_text(uses.format(name=name))
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    python = venv_bin / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    client = await start(tmp_path, ws, interpreter=str(python), inputs={"A": {"x": "B,4"}, "B": {"x": "B,4"}})
    try:
        for name in ("A", "B", "A"):
            uri = open_doc(client, ws / f"{name.lower()}.py")
            result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command=COMMAND, arguments=[{"uri": uri, "entry": name}]))
            assert result["ok"] is True
        await asyncio.sleep(0.5)
        said = [m for m in client.messages if "absent-pkg-xyz" in m.message]
        assert len(said) == 1, [m.message for m in client.messages]
        assert said[0].type == types.MessageType.Warning
        assert f"{python} -m pip install absent-pkg-xyz" in said[0].message, said[0].message
        forward_line = line_of(uses, "y = rearrange")
        for name in ("a", "b"):
            for diag in client.diagnostics.get((ws / f"{name}.py").as_uri(), []):
                if diag.source != "ml-lsp trace":
                    continue
                assert diag.severity != types.DiagnosticSeverity.Error, diag
                assert diag.range.start.line != forward_line, diag
    finally:
        await client.shutdown_session()
