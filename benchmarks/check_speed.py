"""How fast `ml-lsp check` is on a tree of model files and on one big file.

- A tree of >= 500 model files (copies of tests/corpus and examples/models) checked by the
  real command line with 2 worker processes, and with 1 as the peer: files per second and the
  speed-up. Goal (issue 5): >= 50 files/s on 2 cores.
- One 1,000-line model file (benchmarks/gen_big_model.py): check_source in-process (median
  of repeated runs) beside `ast.parse` of the same text as the peer. Goal: <= 150 ms.

    python benchmarks/check_speed.py [--files 500]
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = [REPO / "tests" / "corpus", REPO / "examples" / "models"]


def build_tree(root: Path, count: int) -> int:
    files = [p for folder in SOURCES if folder.is_dir() for p in sorted(folder.glob("*.py"))
             if p.name != "__init__.py"]
    if not files:
        raise SystemExit("no model files found in tests/corpus or examples/models")
    n, copy = 0, 0
    while n < count:
        # Whole folders are copied so a model's sibling imports still resolve.
        target = root / f"copy{copy:03}"
        target.mkdir()
        for f in files:
            shutil.copy(f, target / f.name)
            n += 1
        copy += 1
    return n


def run_check(tree: Path, jobs: int) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "check", str(tree), "--format", "json", "-j", str(jobs)],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"ml-lsp check failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, json.loads(done.stdout)


def big_file(tmp: Path) -> Path:
    gen = REPO / "benchmarks" / "gen_big_model.py"
    target = tmp / "big_model.py"
    if gen.is_file():
        done = subprocess.run([sys.executable, str(gen), "--lines", "1000", "--out", str(target)],
                              capture_output=True, text=True)
        if done.returncode == 0 and target.is_file():
            return target
        done = subprocess.run([sys.executable, str(gen)], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.count("\n") >= 900:
            target.write_text(done.stdout)
            return target
    # Without the generator: concatenate corpus models until the file has 1,000 lines.
    parts, lines = [], 0
    files = [p for folder in SOURCES if folder.is_dir() for p in sorted(folder.glob("*.py"))]
    i = 0
    while lines < 1000:
        text = files[i % len(files)].read_text()
        parts.append(text.replace("class ", f"class V{i}_"))
        lines += text.count("\n")
        i += 1
    target.write_text("\n".join(parts))
    return target


def time_big_file(path: Path, repeats: int = 7) -> tuple[float, float, int]:
    from ml_lsp.analysis.lint import check_source, load_rules
    from ml_lsp.commands.check import module_resolver

    text = path.read_text()
    rules = load_rules()
    check_source(text, str(path), rules=rules, resolve_module=module_resolver())  # warm imports
    times, parse_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        check_source(text, str(path), rules=rules, resolve_module=module_resolver())
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        ast.parse(text)
        parse_times.append(time.perf_counter() - start)
    return statistics.median(times), statistics.median(parse_times), text.count("\n") + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tree = tmp / "tree"
        tree.mkdir()
        n = build_tree(tree, args.files)
        t2, report = run_check(tree, 2)
        t1, _ = run_check(tree, 1)
        print(f"tree: {n} model files, {len(report['diagnostics'])} diagnostics")
        print(f"ml-lsp check -j 2: {t2:.2f} s = {n / t2:.0f} files/s (goal >= 50)")
        print(f"ml-lsp check -j 1: {t1:.2f} s = {n / t1:.0f} files/s; 2 workers are {t1 / t2:.2f}x faster")
        big = big_file(tmp)
        median, parse, lines = time_big_file(big)
        print(f"one {lines}-line file ({big.name}): check_source {median * 1000:.0f} ms median "
              f"(goal <= 150 ms); ast.parse alone {parse * 1000:.1f} ms ({median / parse:.0f}x)")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ml_lsp", "check", str(big)], capture_output=True)
        print(f"  `ml-lsp check {big.name}` end to end (with interpreter start-up): "
              f"{(time.perf_counter() - start) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
