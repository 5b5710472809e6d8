"""Shapes in the editor, end to end over stdio: hover on tensors, layers and model
classes, inlay hints at the end of assignments, updates after edits, and a syntax error
in one function that leaves the others' shapes in place."""

from __future__ import annotations

import asyncio
import textwrap

import pytest
from lsprotocol import types

from lsp_helpers import LspSession

MODEL = textwrap.dedent("""\
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class Net(nn.Module):
        def __init__(self, hidden=128):
            super().__init__()
            self.fc1 = nn.Linear(784, hidden)
            self.fc2 = nn.Linear(hidden, 10)

        def forward(self, x):
            h = F.relu(self.fc1(x))
            logits = self.fc2(h)
            return logits


    def make_batch():
        images = torch.randn(64, 1, 28, 28)
        flat = images.flatten(1)
        return flat
    """)

BROKEN_OTHER = MODEL.replace("        flat = images.flatten(1)\n", "        flat = images.flatten(1\n        oops = = 3\n")


def _open(client, uri, text, version=1):
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)))


async def _hover(client, uri, line, character) -> str | None:
    result = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, character)))
    return None if result is None else result.contents.value


async def _hints(client, uri, last_line=40) -> dict[int, str]:
    hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(0, 0), end=types.Position(last_line, 0))))
    by_line: dict[int, str] = {}
    for h in hints or []:
        label = h.label if isinstance(h.label, str) else "".join(p.value for p in h.label)
        by_line[h.position.line] = (by_line.get(h.position.line, "") + " " + label).strip()
    return by_line


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(MODEL)
    return path


async def test_hover_and_inlay_hints_on_a_model(tmp_path, model_file):
    async with LspSession(tmp_path, tmp_path) as client:
        uri = model_file.as_uri()
        _open(client, uri, MODEL)
        hints = await _hints(client, uri)
        h_line = _line_of(MODEL, "h = F.relu")
        assert "h: (*, 128)" in hints[h_line]
        assert "logits: (*, 10)" in hints[_line_of(MODEL, "logits = self.fc2")]
        assert "images: (64, 1, 28, 28)" in hints[_line_of(MODEL, "images = torch.randn")]
        assert "flat: (64, 784)" in hints[_line_of(MODEL, "flat = images.flatten")]
        assert "101,770 params" in hints[_line_of(MODEL, "class Net")]
        # the hint sits at the end of the line's code
        raw = await client.text_document_inlay_hint_async(types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(h_line, 0), end=types.Position(h_line + 1, 0))))
        assert raw and raw[0].position.character == len(MODEL.splitlines()[h_line])

        # Hover a variable in the body: shape, dtype, where it came from.
        text = await _hover(client, uri, h_line, 8)
        assert "(*, 128)" in text and "float" in text and "relu" in text
        text = await _hover(client, uri, _line_of(MODEL, "logits = self.fc2"), 8)
        assert "(*, 10)" in text and "Linear(" in text and "line 10" in text
        # Hover the layer use self.fc1: its signature and parameter count.
        fc1_col = MODEL.splitlines()[h_line].index("fc1")
        text = await _hover(client, uri, h_line, fc1_col)
        assert "Linear(784, hidden)" in text or "Linear(784, 128)" in text
        assert "(*, 784) -> (*, 128)" in text and "100,480 parameters" in text
        # Hover the class name: parameter count and input -> output shapes; nothing in the
        # code tells x's rank (Linear takes any leading dims), so none is made up
        text = await _hover(client, uri, _line_of(MODEL, "class Net"), 7)
        assert "101,770 parameters" in text and "(*, 10)" in text and "(*, 784)" in text
        assert "(B, " not in text
        # Hover the input itself
        fwd = _line_of(MODEL, "def forward(self, x)")
        text = await _hover(client, uri, fwd, MODEL.splitlines()[fwd].index("x)"))
        assert text and "(*, 784)" in text, text
        # Hover on a blank line: nothing.
        assert await _hover(client, uri, 4, 0) is None


async def test_shapes_follow_edits(tmp_path, model_file):
    async with LspSession(tmp_path, tmp_path) as client:
        uri = model_file.as_uri()
        _open(client, uri, MODEL)
        line = _line_of(MODEL, "self.fc1 = nn.Linear(784, hidden)")
        start = MODEL.splitlines()[line].index("hidden)")
        assert "h: (*, 128)" in (await _hints(client, uri))[_line_of(MODEL, "h = F.relu")]
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(line, start), end=types.Position(line, start + 6)),
                text="256")]))
        hints = await _hints(client, uri)
        assert "h: (*, 256)" in hints[_line_of(MODEL, "h = F.relu")]
        text = await _hover(client, uri, _line_of(MODEL, "h = F.relu"), 8)
        assert "(*, 256)" in text


async def test_syntax_error_in_one_function_keeps_the_others(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text(BROKEN_OTHER)
    async with LspSession(tmp_path, tmp_path, preset="neovim") as client:
        uri = path.as_uri()
        _open(client, uri, BROKEN_OTHER)
        hints = await _hints(client, uri)
        assert "h: (*, 128)" in hints[_line_of(BROKEN_OTHER, "h = F.relu")]
        text = await _hover(client, uri, _line_of(BROKEN_OTHER, "logits = self.fc2"), 8)
        assert "(*, 10)" in text


async def test_setting_turns_shape_hints_off(tmp_path, model_file):
    async with LspSession(tmp_path, tmp_path, init_options={"inlayHints": {"shapes": False}}) as client:
        uri = model_file.as_uri()
        _open(client, uri, MODEL)
        assert await _hints(client, uri) == {} or all("(" not in v for v in (await _hints(client, uri)).values())
        # hover still works
        assert "(*, 10)" in await _hover(client, uri, _line_of(MODEL, "logits = self.fc2"), 8)


async def test_explicit_inputs_setting_replaces_inferred_batch(tmp_path, model_file):
    async with LspSession(tmp_path, tmp_path, init_options={"inputs": {"Net": {"x": "32,784"}}}) as client:
        uri = model_file.as_uri()
        _open(client, uri, MODEL)
        hints = await _hints(client, uri)
        assert "h: (32, 128)" in hints[_line_of(MODEL, "h = F.relu")]


async def test_non_ascii_line_positions(tmp_path):
    text = MODEL.replace("        h = F.relu(self.fc1(x))",
                         "        s = \"全连接\"; h = F.relu(self.fc1(x))")
    assert "全连接" in text
    path = tmp_path / "cjk.py"
    path.write_text(text)
    async with LspSession(tmp_path, tmp_path) as client:
        uri = path.as_uri()
        _open(client, uri, text)
        line = _line_of(text, "全连接")
        col = text.splitlines()[line].index("h = F")  # code points == UTF-16 units here
        hover = await _hover(client, uri, line, col)
        assert hover and "(*, 128)" in hover
