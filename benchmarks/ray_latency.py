"""A run on Ray against the same run on this machine, measured in the same session, on a
real Ray head bound to 127.0.0.1 (tests/ray_launcher/cluster.py):

1. Submit to first metric: the editor's ``ml-lsp.run`` command (▶ Run vs ▶ Run on Ray) to
   the first metric hint of the run shown by the language server.
2. Metric to hint: a value the job logs (``ml_lsp.log``, one a second) to the inlay hint
   that shows it (p50 / p95 over the run).
3. Step time: the job's own median time per training step (a fixed torch workload, one
   thread) under the local launcher and under Ray, runs alternated. Goal: within 1 %.

    python benchmarks/ray_latency.py [--metrics 20] [--steps 300] [--repeats 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from ray_launcher.cluster import LocalCluster  # noqa: E402

TICKS = textwrap.dedent('''\
    import sys, time
    import ml_lsp

    if __name__ == "__main__":
        for i in range(int(sys.argv[1])):
            ml_lsp.log(i=float(i), step=i)
            time.sleep(1.0)
    ''')

STEPS = textwrap.dedent('''\
    import sys, time
    import torch
    import ml_lsp

    if __name__ == "__main__":
        torch.set_num_threads(1)
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x, y = torch.randn(256, 256), torch.randint(0, 10, (256,))
        times = []
        for step in range(int(sys.argv[1])):
            t0 = time.perf_counter()
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        times = sorted(times[10:])
        print(f"STEP_MS {1000 * times[len(times) // 2]:.4f}", flush=True)
    ''')


def start_runner(runs: Path) -> subprocess.Popen:
    runs.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "ml_lsp.runner", "--runs-dir", str(runs), "--idle-exit", "0",
                             "--cpu-slots", "4"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    while not (runs / "runner.json").exists():
        time.sleep(0.05)
    return proc


async def start_server(ws: Path, address: str):
    client = LanguageClient("ray-latency", "1")
    client.refreshed = asyncio.Event()

    @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def on_refresh(_params):
        client.refreshed.set()

    @client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def on_lens_refresh(_params):
        return None

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_request(_params):
        return None

    await client.start_io(sys.executable, "-m", "ml_lsp", "serve",
                          env={**os.environ, "ML_LSP_LOG_FILE": str(ws / "server.log")})
    caps = types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True),
            code_lens=types.CodeLensWorkspaceClientCapabilities(refresh_support=True)))
    await client.initialize_async(types.InitializeParams(
        capabilities=caps, root_uri=ws.as_uri(), workspace_folders=[types.WorkspaceFolder(uri=ws.as_uri(), name="ws")],
        initialization_options={"trust": "trusted", "launchers": {"ray": {"address": address}}}))
    client.initialized(types.InitializedParams())
    return client


async def latencies(ws: Path, address: str, launcher: str, metrics: int) -> tuple[float, list[float]]:
    """(command -> first hint, [logged -> shown] for each value) for one run."""
    from ml_lsp.runner.frames import read_frames

    script = ws / "ticks.py"
    client = await start_server(ws, address)
    uri = script.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="python", version=1, text=script.read_text())))
    seen: dict[int, float] = {}
    try:
        started = time.time()
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.run", arguments=[{"uri": uri, "args": [str(metrics)], "launcher": launcher}]))
        run = ws / ".ml-lsp" / "runs" / result["runId"]
        deadline = time.monotonic() + 120 + 2 * metrics
        while len(seen) < metrics and time.monotonic() < deadline:
            try:
                await asyncio.wait_for(client.refreshed.wait(), 0.05)
            except asyncio.TimeoutError:
                pass
            client.refreshed.clear()
            hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(types.Position(0, 0), types.Position(20, 0))))
            now = time.time()
            for hint in hints or []:
                found = re.match(r"i (\d+)", str(hint.label))
                if found:
                    seen.setdefault(int(found.group(1)), now)
        logged = {int(f["value"]): f["t"] for f in read_frames(run / "frames.bin")
                  if f["kind"] == "metric" and f["name"] == "i"}
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    first = min(seen.values()) - started
    delays = [seen[i] - logged[i] for i in sorted(seen) if i in logged]
    return first, delays


def step_ms(ws: Path, address: str, launcher: str, steps: int) -> float:
    cmd = [sys.executable, "-m", "ml_lsp", "run", "steps.py", str(steps), "--launcher", launcher, "--devices", "cpu",
           "--wait", *(["--address", address] if launcher == "ray" else [])]
    proc = subprocess.run(cmd, cwd=ws, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"{launcher} run failed: {proc.stderr}")
    run_id = proc.stdout.strip().splitlines()[-1]
    out = (ws / ".ml-lsp" / "runs" / run_id / "stdout.log").read_text()
    return float(re.search(r"STEP_MS ([0-9.]+)", out).group(1))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=20, help="values logged per latency run (one a second)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per step-time run")
    parser.add_argument("--repeats", type=int, default=2, help="step-time runs per launcher")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="ml-lsp-raybench-"))
    os.environ.update(XDG_STATE_HOME=str(state / "state"), XDG_CONFIG_HOME=str(state / "config"))
    os.environ.pop("RAY_ADDRESS", None)
    ws = state / "ws"
    ws.mkdir()
    (ws / "pyproject.toml").write_text('[project]\nname = "bench"\n')
    (ws / "ticks.py").write_text(TICKS)
    (ws / "steps.py").write_text(STEPS)
    cluster = LocalCluster(num_cpus=2)
    t0 = time.monotonic()
    cluster.start()
    print(f"Ray head on {cluster.address} (2 CPUs) up in {time.monotonic() - t0:.1f} s")
    runner = start_runner(ws / ".ml-lsp" / "runs")
    try:
        print(f"\n{'':10} {'submit->first hint':>19} {'metric->hint p50':>17} {'p95':>8}  ({args.metrics} values)")
        results = {}
        for launcher in ("local", "ray", "local", "ray"):  # the second pass is the one reported (warm)
            first, delays = asyncio.run(latencies(ws, cluster.address, launcher, args.metrics))
            results[launcher] = (first, delays)
        for launcher, (first, delays) in results.items():
            print(f"{launcher:10} {first:>17.2f} s {1000 * statistics.median(delays):>14.0f} ms "
                  f"{1000 * pct(delays, 0.95):>5.0f} ms")
        ray_first, local_first = results["ray"][0], results["local"][0]
        print(f"ray/local: submit->first hint x{ray_first / local_first:.1f}, metric->hint p50 "
              f"+{1000 * (statistics.median(results['ray'][1]) - statistics.median(results['local'][1])):.0f} ms")

        print(f"\nstep time (median of {args.steps} steps, 1 thread), runs alternated:")
        times: dict[str, list[float]] = {"local": [], "ray": []}
        for _ in range(args.repeats):
            for launcher in ("local", "ray"):
                times[launcher].append(step_ms(ws, cluster.address, launcher, args.steps))
        for launcher, values in times.items():
            print(f"{launcher:10} {statistics.median(values):.3f} ms/step  ({', '.join(f'{v:.3f}' for v in values)})")
        ratio = statistics.median(times["ray"]) / statistics.median(times["local"])
        print(f"ray/local step time: {ratio:.4f} ({100 * (ratio - 1):+.2f} %; goal within 1 %)")
    finally:
        try:
            os.killpg(runner.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
