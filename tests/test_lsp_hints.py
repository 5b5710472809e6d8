"""Shape hints and hovers as a reader sees them, through a real client: the model's own
shapes where it is generic (the call in the file in the hover), one readable hint per line
of several targets, hints in generate(), tied weights counted once, hover Markdown that
renders as written, and plain text for a client that asks for it."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

from lsprotocol import types
from markdown_it import MarkdownIt
from pytest_lsp import ClientServerConfig, client_capabilities

from lsp_helpers import REPO, SERVER_COMMAND, LspSession, server_env

GPT = (REPO / "examples" / "models" / "gpt.py").read_text()
MLP = (REPO / "examples" / "models" / "mnist_mlp.py").read_text()
LSTM = (REPO / "examples" / "models" / "char_lstm.py").read_text()


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


def opened(client, tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=path.as_uri(), language_id="python", version=1, text=text)))
    return path.as_uri()


async def hints_of(client, uri: str) -> list[types.InlayHint]:
    return await client.text_document_inlay_hint_async(types.InlayHintParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(types.Position(0, 0), types.Position(10_000, 0)))) or []


async def hover_of(client, uri: str, line: int, col: int) -> types.MarkupContent | None:
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, col)))
    return hover.contents if hover else None


def labels_on(hints, line: int) -> list[str]:
    return [h.label for h in hints if h.position.line == line]


async def test_a_generic_model_shows_its_own_shapes_and_the_call_in_the_hover(tmp_path):
    async with LspSession(tmp_path, tmp_path) as client:
        uri = opened(client, tmp_path, "mnist_mlp.py", MLP)
        h_line = line_of(MLP, "h = F.relu(self.fc1(x))")
        hints = await hints_of(client, uri)
        assert labels_on(hints, h_line) == ["h: (B, 128)"], labels_on(hints, h_line)
        assert labels_on(hints, line_of(MLP, "logits = self.fc3(h)")) == ["logits: (B, 10)"]
        # script code is concrete, as it runs
        assert labels_on(hints, line_of(MLP, "images = torch.randn")) == ["images: (64, 1, 28, 28)"]
        hover = (await hover_of(client, uri, h_line, 8)).value
        call = line_of(MLP, "print(model(images)") + 1
        assert "`(B, 128)`" in hover and f"`(64, 128)` for the call on line {call}" in hover, hover


async def test_several_targets_on_a_line_are_readable(tmp_path):
    async with LspSession(tmp_path, tmp_path) as client:
        gpt = opened(client, tmp_path, "gpt.py", GPT)
        hints = await hints_of(client, gpt)
        # one shape for all three: one short hint
        assert labels_on(hints, line_of(GPT, "q, k, v = self.c_attn(x)")) == ["q, k, v: (B, T, 384)"]
        # shapes of their own: each at its own name
        lstm = opened(client, tmp_path, "char_lstm.py", LSTM)
        line = line_of(LSTM, "out, (h, c) = self.lstm")
        text = LSTM.splitlines()[line]
        shown = sorted((h.position.character, h.label) for h in await hints_of(client, lstm) if h.position.line == line)
        assert shown == [(text.index("out") + 3, ": (B, T, 128)"), (text.index("h,") + 1, ": (2, B, 128)"),
                         (text.index("c)") + 1, ": (2, B, 128)")], shown
        # every hint at the end of a line keeps its distance from the code
        assert all(h.padding_left for h in hints if h.label[0] != ":")


async def test_generate_and_other_methods_have_hints(tmp_path):
    async with LspSession(tmp_path, tmp_path) as client:
        uri = opened(client, tmp_path, "gpt.py", GPT)
        hints = await hints_of(client, uri)
        assert labels_on(hints, line_of(GPT, "probs = F.softmax(logits, dim=-1)")) == ["probs: (B, 65)"]
        assert labels_on(hints, line_of(GPT, "idx_next = torch.multinomial")) == ["idx_next: (B, 1)"]


async def test_tied_weights_count_once_as_torch_counts_them(tmp_path):
    counted = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(f"""
            import runpy
            g = runpy.run_path({str(REPO / "examples" / "models" / "gpt.py")!r})
            model = g["GPT"](g["GPTConfig"]())
            print(sum(p.numel() for p in model.parameters()))""")],
        capture_output=True, text=True, timeout=300, check=True).stdout.split()[-1]
    async with LspSession(tmp_path, tmp_path) as client:
        uri = opened(client, tmp_path, "gpt.py", GPT)
        hints = await hints_of(client, uri)
        assert labels_on(hints, line_of(GPT, "class GPT(nn.Module)")) == [f"{int(counted):,} params"]


# no layer reads x, so its dims stay the names its unpacking gives (a Linear(64) on `flat`
# would make C 64: the model built with its defaults takes no other)
SYMBOLIC = textwrap.dedent('''\
    import torch
    from torch import nn


    class Tokens(nn.Module):
        def forward(self, x):
            B, T, C = x.size()
            flat = x.reshape(B * T, C)
            tokens = x.reshape(B * T * C)
            return flat, tokens
    ''')


async def test_hover_markdown_renders_as_written(tmp_path):
    async with LspSession(tmp_path, tmp_path) as client:
        uri = opened(client, tmp_path, "tokens.py", SYMBOLIC)
        hover = await hover_of(client, uri, line_of(SYMBOLIC, "tokens = x.reshape"), 9)
        assert hover.kind == types.MarkupKind.Markdown
        html = MarkdownIt().render(hover.value)
        shown = re.sub(r"<[^>]+>", "", html)
        assert "<em>" not in html and "(B*C*T,)" in shown, html


async def test_hover_is_plain_text_for_a_client_that_asks_for_it(tmp_path):
    """Emacs's eglot without markdown-mode lists only plaintext in hover.contentFormat."""
    path = tmp_path / "tokens.py"
    path.write_text(SYMBOLIC)
    client = await ClientServerConfig(server_command=SERVER_COMMAND, server_env=server_env(tmp_path)).start()
    try:
        capabilities = client_capabilities("neovim")
        capabilities.text_document.hover = types.HoverClientCapabilities(content_format=[types.MarkupKind.PlainText])
        await client.initialize_session(types.InitializeParams(capabilities=capabilities, root_uri=tmp_path.as_uri()))
        uri = opened(client, tmp_path, "tokens.py", SYMBOLIC)
        hover = await hover_of(client, uri, line_of(SYMBOLIC, "flat = x.reshape"), 9)
        assert hover.kind == types.MarkupKind.PlainText
        assert hover.value.startswith("flat: (B*T, C)"), hover.value
        assert "`" not in hover.value and "**" not in hover.value and "\\" not in hover.value
    finally:
        await client.shutdown_session()
