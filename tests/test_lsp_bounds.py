"""The server's cost stays bounded against big and slow documents, end to end over stdio:
a 10 MB file is refused with a note and leaves the server small and answering, a slow
file never holds up another file's hover, and an analysis nobody wants any more (the text
changed, the one request waiting for it was cancelled) stops using the CPU.

Figures are asserted as ratios against a peer measured in the same session, never as
bare wall-clock bounds; each test prints its figures (``pytest -s``)."""

from __future__ import annotations

import asyncio
import functools
import runpy
import textwrap
import time

import psutil
import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from lsp_helpers import REPO, LspSession

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
    """)
H_LINE = 12  # 0-based line of ``h = F.relu(...)`` in MODEL
GIB = 1 << 30


@functools.lru_cache(maxsize=None)
def model_zoo(lines: int, seed: int) -> str:
    """Ordinary model classes (the benchmarks' generator): about 37 bytes a line, and a
    20,000-line file takes the engine a few seconds."""
    generate = runpy.run_path(str(REPO / "benchmarks" / "gen_big_model.py"))["generate"]
    return generate(lines, seed=seed)[0]


def slow_model(classes: int = 40) -> str:
    """A short file that is slow to analyse: each forward unrolls 3,600 layer calls (the
    parse is instant, the interpretation takes a few seconds, up to the time budget)."""
    out = ["import torch", "import torch.nn as nn", ""]
    for i in range(classes):
        out += [f"class Slow{i}(nn.Module):", "    def __init__(self):", "        super().__init__()",
                f"        self.fc = nn.Linear({16 + i}, {16 + i})", "", "    def forward(self, x):",
                "        for a in range(60):", "            for b in range(60):", "                x = self.fc(x)",
                "        return x", "", ""]
    return "\n".join(out)


def _open(client, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)))


def _change(client, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


def _hover_params(uri: str, line: int, character: int = 8) -> types.HoverParams:
    return types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri),
                             position=types.Position(line, character))


async def _hover(client, uri: str, line: int = H_LINE, character: int = 8) -> str | None:
    result = await client.text_document_hover_async(_hover_params(uri, line, character))
    return None if result is None else result.contents.value


async def _timed_hover(client, uri: str) -> tuple[float, str | None]:
    start = time.perf_counter()
    text = await _hover(client, uri)
    return time.perf_counter() - start, text


def _model_file(folder, name: str):
    path = folder / name
    path.write_text(MODEL)
    return path.as_uri()


async def _cpu_seconds(process: psutil.Process, window: float) -> float:
    """CPU time the server used during the next ``window`` seconds."""
    before = process.cpu_times()
    await asyncio.sleep(window)
    after = process.cpu_times()
    return (after.user - before.user) + (after.system - before.system)


async def test_a_10mb_document_is_refused_and_the_server_stays_small_and_answering(tmp_path):
    big_text = model_zoo(20000, 0) * 14  # ordinary model classes, about 10 MB
    assert len(big_text.encode()) > 10 * 10**6
    async with LspSession(tmp_path, tmp_path) as client:
        server = psutil.Process(client._server.pid)
        peak = [server.memory_info().rss]
        stop = asyncio.Event()

        async def sample_rss():
            while not stop.is_set():
                peak[0] = max(peak[0], server.memory_info().rss)
                await asyncio.sleep(0.05)

        sampler = asyncio.create_task(sample_rss())
        try:
            warm = _model_file(tmp_path, "warm.py")
            _open(client, warm, MODEL)
            await _hover(client, warm)  # the engine and its rules are loaded
            # Peer: the same 10 MB in a document the server does not analyse at all (a
            # scheme it ignores), then a hover on a small file. Then the same as a file.
            _open(client, "git:/repo/big.py", big_text)
            await asyncio.sleep(1.0)  # time for an analysis of it to be under way, were there one
            small = _model_file(tmp_path, "small_a.py")
            _open(client, small, MODEL)
            peer_s, peer_text = await _timed_hover(client, small)
            big = (tmp_path / "big.py").as_uri()
            _open(client, big, big_text)
            await asyncio.sleep(1.0)
            other = _model_file(tmp_path, "small_b.py")
            _open(client, other, MODEL)
            with_big_s, with_big_text = await _timed_hover(client, other)
            for _ in range(100):  # the note is published with the didOpen: wait for it to arrive
                if client.diagnostics.get(big):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # a refused file must stay refused, not be analysed late
        finally:
            stop.set()
            await sampler
        print(f"\n10 MB document: hover on another file {with_big_s * 1000:.0f} ms "
              f"(peer, same bytes not analysed: {peer_s * 1000:.0f} ms); server peak RSS {peak[0] / 2**20:.0f} MiB")
        assert "(*, 128)" in with_big_text and with_big_text == peer_text
        assert with_big_s < 3 * peer_s + 0.1
        assert peak[0] < GIB
        (note,) = client.diagnostics[big]
        assert note.severity == types.DiagnosticSeverity.Information and note.range.start.line == 0
        assert "too large for shape analysis (10." in note.message and "MB > 2 MB)" in note.message
        assert await _hover(client, big, 5) is None  # no analysis of it at all


async def test_a_slow_document_does_not_hold_up_a_hover_on_another(tmp_path):
    async with LspSession(tmp_path, tmp_path) as client:
        warm = _model_file(tmp_path, "warm.py")
        _open(client, warm, MODEL)
        await _hover(client, warm)  # the engine and its rules are loaded
        slow = (tmp_path / "slow.py").as_uri()
        _open(client, slow, slow_model())
        done: dict[str, float] = {}
        start = time.perf_counter()

        async def hover_and_stamp(name, uri, line):
            text = await _hover(client, uri, line)
            done[name] = time.perf_counter() - start
            return text

        waiting_for_slow = asyncio.create_task(hover_and_stamp("slow", slow, 40))
        await asyncio.sleep(0.3)  # its analysis is under way
        small = _model_file(tmp_path, "net.py")
        _open(client, small, MODEL)
        small_text = await hover_and_stamp("small", small, H_LINE)
        await waiting_for_slow
        print(f"\nhover on a small file answered after {done['small'] * 1000:.0f} ms, "
              f"the slow file's after {done['slow'] * 1000:.0f} ms")
        assert "(*, 128)" in small_text
        assert done["small"] < done["slow"]


async def test_an_edit_abandons_the_analysis_of_the_old_text(tmp_path):
    async with LspSession(tmp_path, tmp_path) as client:
        warm = _model_file(tmp_path, "warm.py")
        _open(client, warm, MODEL)
        await _hover(client, warm)
        uri = (tmp_path / "slow.py").as_uri()
        # Net first, so that the hovered position is Net's ``h`` in every version
        zoo = MODEL + "\n\n" + slow_model()
        _open(client, uri, zoo)
        full_s, _ = await _timed_hover(client, uri)  # peer: one whole analysis of the file
        _change(client, uri, zoo + "\n# edited\n", 2)  # a new text: a new analysis starts
        pending = asyncio.create_task(_hover(client, uri))
        await asyncio.sleep(0.3)
        _change(client, uri, MODEL.replace("hidden=128", "hidden=64"), 3)  # changed again before it ends
        start = time.perf_counter()
        text = await pending
        after_s = time.perf_counter() - start
        print(f"\nwhole analysis {full_s * 1000:.0f} ms; hover answered {after_s * 1000:.0f} ms after the "
              f"text it waited for was replaced")
        assert text is not None and "(*, 64)" in text  # the answer is the newest text's
        assert after_s < full_s / 3


async def test_a_cancelled_request_stops_the_analysis_nobody_else_wants(tmp_path):
    # Diagnostics would want the shapes too (the shape rules): leave only the training rules.
    async with LspSession(tmp_path, tmp_path, init_options={"select": ["TR"]}) as client:
        server = psutil.Process(client._server.pid)
        warm = _model_file(tmp_path, "warm.py")
        _open(client, warm, MODEL)
        await _hover(client, warm)
        uri = (tmp_path / "slow.py").as_uri()
        _open(client, uri, slow_model())
        request = asyncio.ensure_future(client.protocol.send_request_async(  # sent now, not when awaited
            types.TEXT_DOCUMENT_HOVER, _hover_params(uri, 40), msg_id="slow-hover"))
        await asyncio.sleep(0.2)
        busy = await _cpu_seconds(server, 1.0)  # the analysis is running
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="slow-hover"))
        with pytest.raises(JsonRpcRequestCancelled):
            await request
        await asyncio.sleep(0.2)
        idle = await _cpu_seconds(server, 1.0)
        print(f"\nserver CPU in 1 s: {busy:.2f} s while analysing, {idle:.2f} s after the cancel")
        assert busy > 0.1  # the peer: the analysis had the CPU (however busy the machine is)
        assert idle < busy / 3
        assert "(*, 128)" in await _hover(client, warm)  # and it still answers
