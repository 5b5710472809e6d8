"""Frames file throughput and the cost of opening a big run.

    python benchmarks/frame_writer.py [--frames N] [--big 1000000]

Prints, in one run:
- FrameWriter frames/s (metric frames, as the telemetry writes them) against a peer: the
  same records written as JSON lines (what a hand-rolled logger would do); goal >= 100,000/s;
- FrameReader frames/s against reading those JSON lines back;
- a run folder of --big frames (default 1,000,000): time to open it (a full summary:
  latest value per metric line, downsampled series, progress) and the peak RSS of a fresh
  process that does it (goal <= 2 s), then to open it again once summary.json is cached.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from ml_lsp.runner.frames import FrameReader, FrameWriter

FILE = "/home/user/project/train.py"


def bench_writer(path: str, n: int) -> float:
    w = FrameWriter(path)
    t = time.perf_counter()
    for i in range(n):
        w.metric("loss", 1.0 / (i + 1), step=i, file=FILE, line=42)
    w.close()  # includes the final flush
    return n / (time.perf_counter() - t)


def bench_jsonl_writer(path: str, n: int) -> float:
    t = time.perf_counter()
    with open(path, "w", buffering=1 << 20) as f:
        for i in range(n):
            f.write(json.dumps({"kind": "metric", "seq": i, "t": time.time(), "rank": 0, "name": "loss",
                                "value": 1.0 / (i + 1), "step": i, "file": FILE, "line": 42}) + "\n")
    return n / (time.perf_counter() - t)


def bench_reader(path: str) -> float:
    t = time.perf_counter()
    n = sum(1 for _ in FrameReader(path))
    return n / (time.perf_counter() - t)


def bench_jsonl_reader(path: str) -> float:
    t = time.perf_counter()
    with open(path) as f:
        n = sum(1 for line in f if json.loads(line))
    return n / (time.perf_counter() - t)


OPEN_CHILD = """
import json, resource, sys, time
from ml_lsp.runner.run_folder import RunFolder
from ml_lsp.runner.jobs import run_details
t, c = time.perf_counter(), time.process_time()
d = run_details(RunFolder(sys.argv[1]))
dt, dc = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"seconds": dt, "cpu": dc, "frames": d["frames"], "metrics": len(d["metrics"]),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

BASELINE_CHILD = """
import json, resource
import ml_lsp.runner.jobs, ml_lsp.runner.summary
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_big_run(runs_dir: str, n: int) -> str:
    from ml_lsp.runner.run_folder import RunFolder

    run = RunFolder.create(runs_dir, {"script": FILE, "args": [], "name": "big"})
    run.write_status(state="succeeded", started=time.time() - 60, ended=time.time(), exit_code=0)
    w = FrameWriter(run.frames_path)
    epochs, steps = 10, n // 10
    for i in range(n):
        if i % 1000 == 0:
            w.progress(i // steps + 1, epochs, unit="epoch", file=FILE, line=30)
        elif i % 3:
            w.metric("loss", 1.0 / (i + 1), step=i, file=FILE, line=42)
        else:
            w.metric("lr", 3e-4, step=i, file=FILE, line=44)
    w.close()
    return str(run.path)


def child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=300_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        frames, jsonl = os.path.join(d, "frames.bin"), os.path.join(d, "frames.jsonl")
        w = bench_writer(frames, args.frames)
        j = bench_jsonl_writer(jsonl, args.frames)
        print(f"writer: {w:,.0f} frames/s ({os.path.getsize(frames) / args.frames:.0f} B/frame); "
              f"JSON lines peer: {j:,.0f}/s; ratio {w / j:.2f}x  (goal >= 100,000/s)")
        r = bench_reader(frames)
        jr = bench_jsonl_reader(jsonl)
        print(f"reader: {r:,.0f} frames/s; JSON lines peer: {jr:,.0f}/s; ratio {r / jr:.2f}x")
        t = time.perf_counter()
        run_path = make_big_run(d, args.big)
        made = time.perf_counter() - t
        size = os.path.getsize(os.path.join(run_path, "frames.bin"))
        print(f"big run: {args.big:,} frames, {size / 1e6:.1f} MB, written in {made:.2f}s")
        base = child(BASELINE_CHILD)
        cache = os.path.join(run_path, "summary.json")
        opens = []
        for _ in range(3):  # best of three: a busy machine only ever makes it slower
            if os.path.exists(cache):
                os.unlink(cache)
            opens.append(child(OPEN_CHILD, run_path))
        first = min(opens, key=lambda o: o["seconds"])
        again = child(OPEN_CHILD, run_path)
        print(f"open (full read + summary, best of 3): {first['seconds']:.2f}s wall, {first['cpu']:.2f}s CPU, "
              f"peak RSS {first['rss_mb']:.0f} MB "
              f"(the same process before opening: {base['rss_mb']:.0f} MB), {first['frames']:,} frames, "
              f"{first['metrics']} metric lines  (goal <= 2 s)")
        print(f"open again (summary.json cached): {again['seconds'] * 1000:.1f} ms, peak RSS {again['rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
