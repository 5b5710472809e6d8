"""A run on Ray against the same run on this machine, measured in the same session, on a
real Ray head bound to 127.0.0.1 (tests/ray_launcher/cluster.py):

1. Submit to first metric: the editor's ``ml-lsp.run`` command (▶ Run vs ▶ Run on Ray) to
   the first metric hint of the run shown by the language server.
2. Metric to hint: a value the job logs (``ml_lsp.log``, one a second) to the inlay hint
   that shows it (p50 / p95 over the run).
3. Step time: the job's own median time per training step (a fixed torch workload, one
   thread, a metric logged every step) under the local launcher and under Ray, in pairs of
   runs whose order alternates (local-ray, ray-local, ...) so that a drift of the machine's
   load falls on both alike. Two clocks: the training thread's CPU time per step, which is
   what the job itself pays for the launcher (its telemetry, the relay beside it), and
   wall time, which on a shared machine also carries everyone else's load. Each is given
   as the ratio of the two launchers' medians with a bootstrap interval over the pairs.
   Goal: within 1 %.

    python benchmarks/ray_latency.py [--metrics 20] [--steps 200] [--width 1024] [--pairs 20] [--skip-latency]
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
        width = int(sys.argv[2])
        model = torch.nn.Sequential(torch.nn.Linear(width, 2 * width), torch.nn.ReLU(), torch.nn.Linear(2 * width, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        x, y = torch.randn(256, width), torch.randint(0, 10, (256,))
        wall, cpu = [], []
        for step in range(int(sys.argv[1])):
            t0, c0 = time.perf_counter(), time.thread_time()
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            ml_lsp.log(loss=loss.item(), step=step)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
        wall, cpu = sorted(wall[10:]), sorted(cpu[10:])
        print(f"STEP_MS {1000 * wall[len(wall) // 2]:.4f} {1000 * cpu[len(cpu) // 2]:.4f}", flush=True)
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


def step_ms(ws: Path, address: str, launcher: str, steps: int, width: int) -> tuple[float, float]:
    """(wall, CPU) median milliseconds per step of one run of ``steps.py``."""
    cmd = [sys.executable, "-m", "ml_lsp", "run", "steps.py", str(steps), str(width), "--launcher", launcher, "--devices", "cpu",
           "--wait", *(["--address", address] if launcher == "ray" else [])]
    proc = subprocess.run(cmd, cwd=ws, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"{launcher} run failed: {proc.stderr}")
    run_id = proc.stdout.strip().splitlines()[-1]
    out = (ws / ".ml-lsp" / "runs" / run_id / "stdout.log").read_text()
    found = re.search(r"STEP_MS ([0-9.]+) ([0-9.]+)", out)
    return float(found.group(1)), float(found.group(2))


def ratio_interval(pairs: list[tuple[float, float]], level: float = 0.9,
                   resamples: int = 2000) -> tuple[float, float, float]:
    """The median over (a, b) pairs of b / a, and a bootstrap interval resampling the pairs: the
    two runs of a pair saw the same state of the machine, so their ratio is the unit."""
    import random

    def ratio(sample):
        return statistics.median(b / a for a, b in sample)

    rng = random.Random(0)
    ratios = sorted(ratio(rng.choices(pairs, k=len(pairs))) for _ in range(resamples))
    cut = int((1 - level) / 2 * resamples)
    return ratio(pairs), ratios[cut], ratios[-cut - 1]


def latency_table(ws: Path, address: str, metrics: int) -> None:
    print(f"\n{'':10} {'submit->first hint':>19} {'metric->hint p50':>17} {'p95':>8}  ({metrics} values)")
    results = {}
    for launcher in ("local", "ray", "local", "ray"):  # the second pass is the one reported (warm)
        results[launcher] = asyncio.run(latencies(ws, address, launcher, metrics))
    for launcher, (first, delays) in results.items():
        print(f"{launcher:10} {first:>17.2f} s {1000 * statistics.median(delays):>14.0f} ms "
              f"{1000 * pct(delays, 0.95):>5.0f} ms")
    ray_first, local_first = results["ray"][0], results["local"][0]
    print(f"ray/local: submit->first hint x{ray_first / local_first:.1f}, metric->hint p50 "
          f"+{1000 * (statistics.median(results['ray'][1]) - statistics.median(results['local'][1])):.0f} ms")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=20, help="values logged per latency run (one a second)")
    parser.add_argument("--steps", type=int, default=200, help="training steps per step-time run")
    parser.add_argument("--width", type=int, default=1024,
                        help="the MLP's width: 1024 makes a ~25 ms step bound by its matrix products, whose time "
                             "varies less from one process to the next than a 2 ms step's (±1 %% against ±3 %%)")
    parser.add_argument("--pairs", type=int, default=20, help="step-time runs per launcher, alternated")
    parser.add_argument("--skip-latency", action="store_true", help="measure the step time only")
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
        if not args.skip_latency:
            latency_table(ws, cluster.address, args.metrics)

        print(f"\nstep time (median of {args.steps} steps of a {args.width}-wide MLP, 1 thread, a metric logged "
              f"each step), "
              f"{args.pairs} pairs of runs, order alternated:")
        pairs: list[tuple[tuple[float, float], tuple[float, float]]] = []
        for i in range(args.pairs):
            order = ("local", "ray") if i % 2 == 0 else ("ray", "local")
            got = {launcher: step_ms(ws, cluster.address, launcher, args.steps, args.width) for launcher in order}
            pairs.append((got["local"], got["ray"]))
            print(f"  pair {i + 1}: local {got['local'][0]:.3f} ms wall / {got['local'][1]:.3f} ms CPU, "
                  f"ray {got['ray'][0]:.3f} ms wall / {got['ray'][1]:.3f} ms CPU", flush=True)
        for clock, k in (("CPU", 1), ("wall", 0)):
            ratio, low, high = ratio_interval([(local[k], ray[k]) for local, ray in pairs])
            print(f"ray/local step time, {clock:4} clock: {ratio:.4f} ({100 * (ratio - 1):+.2f} %, "
                  f"90% interval {100 * (low - 1):+.2f} .. {100 * (high - 1):+.2f} %; goal within 1 %)")
    finally:
        try:
            os.killpg(runner.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
