"""Keras shapes in the editor, end to end over stdio (pytest-lsp): inlay hints on each
layer line of a Sequential list with its output shape and parameter count, the model's
total on its line, and hovers on a layer and on a functional-API tensor."""

from __future__ import annotations

from lsprotocol import types

from keras_tests import models
from lsp_helpers import LspSession


def _open(client, uri, text):
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))


async def _hints(client, uri) -> dict[int, str]:
    hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(0, 0), end=types.Position(60, 0))))
    by_line: dict[int, str] = {}
    for h in hints or []:
        label = h.label if isinstance(h.label, str) else "".join(p.value for p in h.label)
        by_line[h.position.line] = (by_line.get(h.position.line, "") + " " + label).strip()
    return by_line


async def _hover(client, uri, line, character):
    result = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, character)))
    return None if result is None else result.contents.value


def _line(text, needle):
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


async def test_hints_and_hovers_on_a_sequential_model(tmp_path):
    text = models.SEQUENTIAL_TF
    path = tmp_path / "cnn.py"
    path.write_text(text)
    async with LspSession(tmp_path, tmp_path) as client:
        uri = path.as_uri()
        _open(client, uri, text)
        hints = await _hints(client, uri)
        assert hints[_line(text, "Conv2D(")] == "conv2d: (B, 26, 26, 32) · 320 params"
        assert hints[_line(text, "MaxPooling2D(")] == "max_pooling2d: (B, 13, 13, 32) · 0 params"
        assert hints[_line(text, "Dense(128")] == "dense: (B, 128) · 692,352 params"
        assert hints[_line(text, "Dense(10")] == "dense_1: (B, 10) · 1,290 params"
        assert hints[_line(text, "model = tf.keras.Sequential")] == "693,962 params"
        # the hint sits at the end of the line's code
        conv = _line(text, "Conv2D(")
        raw = await client.text_document_inlay_hint_async(types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(conv, 0), end=types.Position(conv + 1, 0))))
        assert raw[0].position.character == len(text.splitlines()[conv])

        dense = _line(text, "Dense(128")
        hover = await _hover(client, uri, dense, text.splitlines()[dense].index("Dense") + 2)
        assert "(B, 128)" in hover and "692,352 parameters" in hover and "Dense(128, activation='relu')" in hover
        model_line = _line(text, "model = tf.keras.Sequential")
        hover = await _hover(client, uri, model_line, text.splitlines()[model_line].index("Sequential"))
        assert "(B, 28, 28, 1) -> (B, 10)" in hover and "693,962 parameters" in hover


async def test_functional_tensor_hover(tmp_path):
    text = models.FUNCTIONAL
    path = tmp_path / "func.py"
    path.write_text(text)
    async with LspSession(tmp_path, tmp_path) as client:
        uri = path.as_uri()
        _open(client, uri, text)
        hints = await _hints(client, uri)
        assert hints[_line(text, "Add()")] == "add: (B, 16, 16, 16) · 0 params"
        assert hints[_line(text, "model = keras.Model")] == "986 params"
        pooled = _line(text, "GlobalAveragePooling2D")
        hover = await _hover(client, uri, pooled, 0)  # the name x bound on that line
        assert "(B, 16)" in hover
