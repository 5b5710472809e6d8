"""Start-up cost of the language server: spawn -> `initialize` reply latency and the
server's RSS right after it, for `ml-lsp serve` and jedi-language-server measured in the
same run, alternating, median of N starts each.

    python benchmarks/startup.py [--runs 10]

Goals (issue 3): median start <= 250 ms and not slower than jedi-language-server in the
same run; RSS <= 60 MB. Prints the figures (no pass/fail exit status: a benchmark informs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import psutil
from bytecode import compile_ml_lsp

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"processId": os.getpid(), "rootUri": None, "capabilities": {}}}


def _frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _read_reply(stream) -> dict:
    length = None
    while True:
        line = stream.readline()
        if not line:
            raise RuntimeError("server closed its output before replying")
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        elif line in (b"\r\n", b"\n") and length is not None:
            return json.loads(stream.read(length))


def one_start(command: list[str], env: dict, cwd: str) -> tuple[float, float, bool]:
    """(seconds from spawn to the initialize reply, RSS in MB after it, torch loaded?)"""
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    proc.stdin.write(_frame(INIT))
    proc.stdin.flush()
    while True:
        reply = _read_reply(proc.stdout)
        if reply.get("id") == 1:
            break
    elapsed = time.perf_counter() - t0
    p = psutil.Process(proc.pid)
    rss = p.memory_info().rss / 2**20
    torch_loaded = any("torch" in m.path for m in p.memory_maps() if "/torch/" in m.path)
    proc.stdin.write(_frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
    proc.stdin.write(_frame({"jsonrpc": "2.0", "method": "exit"}))
    proc.stdin.flush()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    return elapsed, rss, torch_loaded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    log_dir = tempfile.mkdtemp(prefix="ml-lsp-bench-")
    env = dict(os.environ, ML_LSP_LOG_FILE=os.path.join(log_dir, "server.log"))
    servers = {"ml-lsp serve": [sys.executable, "-m", "ml_lsp", "serve"]}
    # The console script is what editors start; prefer it when installed.
    if shutil.which("ml-lsp"):
        servers["ml-lsp serve"] = [shutil.which("ml-lsp"), "serve"]
    jls = shutil.which("jedi-language-server")
    if jls:
        servers["jedi-language-server"] = [jls]
    else:
        print("jedi-language-server not installed (pip install jedi-language-server): no peer figure")

    compile_ml_lsp()  # as an install does (see bytecode.py)
    for command in servers.values():  # warm the OS file cache once, not measured
        one_start(command, env, log_dir)
    results: dict[str, list[tuple[float, float, bool]]] = {name: [] for name in servers}
    for _ in range(args.runs):
        for name, command in servers.items():  # alternate, so drift hits both alike
            results[name].append(one_start(command, env, log_dir))

    print(f"start-up, median of {args.runs} starts each (spawn -> initialize reply):")
    medians = {}
    for name, runs in results.items():
        times = sorted(r[0] * 1000 for r in runs)
        rss = statistics.median(r[1] for r in runs)
        medians[name] = statistics.median(times)
        torch = " (torch loaded!)" if any(r[2] for r in runs) else ""
        print(f"  {name:<22} median {medians[name]:7.1f} ms   p90 {times[int(0.9 * (len(times) - 1))]:7.1f} ms"
              f"   RSS {rss:6.1f} MB{torch}")
    ours = medians["ml-lsp serve"]
    ours_rss = statistics.median(r[1] for r in results["ml-lsp serve"])
    print(f"goal: median <= 250 ms: {'met' if ours <= 250 else 'NOT met'} ({ours:.1f} ms)")
    print(f"goal: RSS <= 60 MB: {'met' if ours_rss <= 60 else 'NOT met'} ({ours_rss:.1f} MB)")
    if "jedi-language-server" in medians:
        ratio = ours / medians["jedi-language-server"]
        print(f"goal: not slower than jedi-language-server: {'met' if ratio <= 1.0 else 'NOT met'}"
              f" (ml-lsp / jls = {ratio:.2f})")
    shutil.rmtree(log_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
