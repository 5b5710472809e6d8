"""How fast a logged value reaches the editor, and what a huge run costs the server.

1. Latency: a child process under the telemetry bootstrap calls ``ml_lsp.log(...)``; a
   language server (``python -m ml_lsp serve`` over stdio) follows the run folder; we time
   from the call to the ``workspace/inlayHint/refresh`` request arriving at the client.
   Goal: p95 <= 250 ms.
2. Scale: a run folder with 1,000,000 frames; the time from the server's ``initialized`` to
   the first inlay hint of that run, and the server's RSS after it (against the same server
   with no runs, measured in the same way). Goal: open <= 2 s, RSS <= 150 MB.

    python benchmarks/metric_latency.py [--samples 40] [--frames 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

CHILD = textwrap.dedent('''\
    import sys, time
    import ml_lsp
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        t = time.time()
        ml_lsp.log(value=float(line))
        print(t, flush=True)
    ''')


def make_run(runs_dir: Path, script: Path, state: str) -> Path:
    from ml_lsp.runner.run_folder import RunFolder

    run = RunFolder.create(runs_dir, {"script": str(script), "args": [], "name": script.stem})
    now = time.time()
    run.write_status(state=state, started=now, heartbeat=now, heartbeat_timeout=3600,
                     **({"ended": now, "exit_code": 0} if state == "succeeded" else {}))
    return run.path


async def start_server(ws: Path):
    client = LanguageClient("metric-latency", "1")
    refreshes: list[float] = []

    @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def on_refresh(_params):
        refreshes.append(time.time())

    @client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def on_lens_refresh(_params):
        return None

    await client.start_io(sys.executable, "-m", "ml_lsp", "serve",
                          env={**os.environ, "ML_LSP_LOG_FILE": str(ws / "server.log")})
    caps = types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True),
            code_lens=types.CodeLensWorkspaceClientCapabilities(refresh_support=True)))
    await client.initialize_async(types.InitializeParams(
        capabilities=caps, root_uri=ws.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=ws.as_uri(), name="ws")],
        initialization_options={"trust": "untrusted"}))
    client.initialized(types.InitializedParams())
    return client, refreshes


async def stop_server(client: LanguageClient) -> None:
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


def server_rss(client: LanguageClient) -> int:
    import psutil
    return psutil.Process(client._server.pid).memory_info().rss


async def latency(samples: int) -> list[float]:
    ws = Path(tempfile.mkdtemp(prefix="ml-lsp-latency-"))
    script = ws / "child.py"
    script.write_text(CHILD)
    run = make_run(ws / ".ml-lsp" / "runs", script, "running")
    client, refreshes = await start_server(ws)
    child = subprocess.Popen([sys.executable, "-m", "ml_lsp.telemetry.bootstrap", str(script)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ws,
                             env={**os.environ, "ML_LSP_FRAMES": str(run / "frames.bin")})
    delays = []
    try:
        await asyncio.sleep(1.0)  # the server has found the run
        for i in range(samples):
            seen = len(refreshes)
            child.stdin.write(f"{i}\n")
            child.stdin.flush()
            logged = float(await asyncio.to_thread(child.stdout.readline))
            deadline = time.monotonic() + 5
            while len(refreshes) == seen and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            if len(refreshes) == seen:
                raise SystemExit(f"no inlayHint/refresh within 5 s of sample {i}")
            delays.append(refreshes[seen] - logged)
            await asyncio.sleep(0.3 + (i % 5) * 0.05)  # past the 250 ms refresh throttle
    finally:
        child.stdin.write("quit\n")
        child.stdin.close()
        child.wait(10)
        await stop_server(client)
    return delays


def write_frames(path: Path, script: Path, n: int) -> float:
    """``n`` frames like a long run's: a loss and an lr every step, progress now and then."""
    from ml_lsp.runner.frames import FrameWriter

    start = time.perf_counter()
    writer = FrameWriter(path)
    s = str(script)
    steps_per_epoch = 1000
    epochs = max(1, int(n / (1.5 + 1 / steps_per_epoch)) // steps_per_epoch)
    step = 0
    written = 0
    while written < n:
        step += 1
        writer.metric("loss", 2.0 / (1 + step * 1e-4), step, s, 12)
        written += 1
        if written < n and step % 2 == 0:
            writer.metric("lr", 0.1, step, s, 13)
            written += 1
        if written < n and step % steps_per_epoch == 0:
            writer.progress(step // steps_per_epoch, epochs, unit="epoch", file=s, line=9)
            written += 1
    writer.close()
    return time.perf_counter() - start


async def open_big_run(frames: int) -> dict:
    ws = Path(tempfile.mkdtemp(prefix="ml-lsp-bigrun-"))
    script = ws / "train.py"
    script.write_text("".join(f"# line {i}\n" for i in range(1, 20)))
    empty_rss = await _idle_rss(ws)
    run = make_run(ws / ".ml-lsp" / "runs", script, "succeeded")
    write_s = write_frames(run / "frames.bin", script, frames)
    size = (run / "frames.bin").stat().st_size
    client, _ = await start_server(ws)
    try:
        started = time.perf_counter()
        uri = script.as_uri()
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=uri, language_id="python", version=1, text=script.read_text())))
        while True:
            hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(types.Position(0, 0), types.Position(30, 0))))
            if hints and any("loss" in str(h.label) for h in hints):
                break
            if time.perf_counter() - started > 60:
                raise SystemExit("the big run's hints did not appear within 60 s")
            await asyncio.sleep(0.01)
        open_s = time.perf_counter() - started
        labels = sorted(str(h.label) for h in hints)
        # The first hints come from the file's tail; the hover's max (the first steps' loss,
        # near 2.0) shows when the whole file has been read.
        while True:
            hover = await client.text_document_hover_async(types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(11, 0)))
            if hover and "max 2" in hover.contents.value:
                break
            if time.perf_counter() - started > 120:
                raise SystemExit("the big run was not read whole within 120 s")
            await asyncio.sleep(0.02)
        whole_s = time.perf_counter() - started
        rss = server_rss(client)
    finally:
        await stop_server(client)
    return {"frames": frames, "bytes": size, "write_s": write_s, "open_s": open_s, "whole_s": whole_s, "rss": rss,
            "empty_rss": empty_rss, "labels": labels}


async def _idle_rss(ws: Path) -> int:
    client, _ = await start_server(ws)
    try:
        await asyncio.sleep(1.5)
        return server_rss(client)
    finally:
        await stop_server(client)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--frames", type=int, default=1_000_000)
    args = parser.parse_args()

    delays = asyncio.run(latency(args.samples))
    ms = sorted(d * 1000 for d in delays)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    print(f"ml_lsp.log -> workspace/inlayHint/refresh over stdio, {len(ms)} samples:")
    print(f"  p50 {statistics.median(ms):.0f} ms   p95 {p95:.0f} ms   max {ms[-1]:.0f} ms   (goal p95 <= 250 ms)")

    big = asyncio.run(open_big_run(args.frames))
    mib = 1024 * 1024
    print(f"run folder with {big['frames']:,} frames ({big['bytes'] / mib:.0f} MiB, written in {big['write_s']:.1f} s):")
    print(f"  server open -> first inlay hints: {big['open_s']:.2f} s   (goal <= 2 s)")
    print(f"  server open -> whole file read (hover has the run's min/max): {big['whole_s']:.2f} s")
    print(f"  server RSS after reading it whole: {big['rss'] / mib:.0f} MiB, the same server with no runs: "
          f"{big['empty_rss'] / mib:.0f} MiB   (goal <= 150 MB)")
    print(f"  hints: {json.dumps(big['labels'], ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
