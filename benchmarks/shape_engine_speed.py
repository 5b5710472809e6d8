"""How long the static shape engine takes on a 1,000-line model file, against peers run
in the same process on the same text: Python's own ``ast.parse`` (the floor: the engine
parses once, then interprets) and parso's parse (what jedi does on every edit).

    python benchmarks/shape_engine_speed.py [--lines 1000] [--repeat 15]

Prints medians and ratios; the goal is shapes for a 1,000-line file well under 150 ms and
``shape_at`` (every hover) a dict lookup.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    text = subprocess.run([sys.executable, str(HERE / "gen_big_model.py"), "--lines", str(args.lines)],
                          check=True, capture_output=True, text=True).stdout
    import parso

    from ml_lsp.analysis import analyze_source, default_rules

    default_rules()  # plugin loading is a one-time cost of the process, not of an edit
    facts = analyze_source(text, "big_model.py")
    engine = _median_ms(lambda: analyze_source(text, "big_model.py"), args.repeat)
    parse = _median_ms(lambda: ast.parse(text), args.repeat)
    parso_ms = _median_ms(lambda: parso.parse(text), args.repeat)
    lines = [h.line for h in facts.hovers] or [1]
    n = 20000
    t = time.perf_counter()
    for i in range(n):
        facts.shape_at(lines[i % len(lines)], 8)
    lookup_us = (time.perf_counter() - t) / n * 1e6
    print(f"file: {len(text.splitlines())} lines, {len(facts.bindings)} bindings, {len(facts.classes)} module classes")
    print(f"analyze_source   median {engine:8.1f} ms")
    print(f"ast.parse        median {parse:8.1f} ms   engine/ast.parse = {engine / parse:5.1f}x")
    print(f"parso.parse      median {parso_ms:8.1f} ms   engine/parso     = {engine / parso_ms:5.2f}x")
    print(f"shape_at         {lookup_us:8.2f} us per hover lookup")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
