"""How the cost of static analysis grows with the input: `ml-lsp shapes` on a chain of
classes each deriving from the one before and calling ``super().forward`` (15 ... 240
classes), and on a batch of files importing each other (25 ... 300 files).

Each figure is the CPU time of the real command (the best of ``--runs``; CPU time, not
the wall clock, so that a busy machine does not blur it), less the peer: the same
command on a one-class file, i.e. the cost of starting it. Growth is given per doubling
of the input: 2.0 is linear, 4.0 quadratic. Goal (issue 23): linear, and a 120-class
chain in under 4 s.

    python benchmarks/analysis_scaling.py [--runs 2] [--classes 15,30,60,120,240] [--files 25,50,100,200,300]
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def chain(n: int) -> str:
    """Block0 ... Block{n-1}: each derives from the one before, adds a layer in __init__
    and calls super().forward in forward; a script line builds the last one and calls it."""
    out = ["import torch", "import torch.nn as nn", "", "",
           "class Block0(nn.Module):", "    def __init__(self):", "        super().__init__()",
           "        self.fc0 = nn.Linear(8, 9)", "", "    def forward(self, x):", "        out0 = self.fc0(x)",
           "        return out0", "", ""]
    for k in range(1, n):
        out += [f"class Block{k}(Block{k - 1}):", "    def __init__(self):", "        super().__init__()",
                f"        self.fc{k} = nn.Linear({8 + k}, {9 + k})", "", "    def forward(self, x):",
                f"        h{k} = super().forward(x)", f"        out{k} = self.fc{k}(h{k})", f"        return out{k}",
                "", ""]
    out += [f"model = Block{n - 1}()", "y = model(torch.randn(4, 8))", ""]
    return "\n".join(out)


def module_files(folder: Path, n: int) -> list[str]:
    """m0.py ... m{n-1}.py: each model imports the blocks of two earlier files (i-1 and
    i//2), builds them in __init__ and calls them in forward; each file's main() builds
    its model and calls it on a tensor (a call site for the other files)."""
    names = []
    for i in range(n):
        deps = sorted({j for j in (i - 1, i // 2) if 0 <= j < i})
        lines = ["import torch", "import torch.nn as nn", *[f"from m{j} import Block{j}" for j in deps], "", "",
                 f"class Block{i}(nn.Module):", "    def __init__(self, dim=32):", "        super().__init__()",
                 *[f"        self.sub{j} = Block{j}(dim)" for j in deps], "        self.fc = nn.Linear(dim, dim)",
                 "", "    def forward(self, x):", "        h = x", *[f"        h = self.sub{j}(h)" for j in deps],
                 "        out = self.fc(h)", "        return out", "", "",
                 "def main():", f"    model = Block{i}()", "    y = model(torch.randn(4, 32))", "    return y", ""]
        (folder / f"m{i}.py").write_text("\n".join(lines))
        names.append(f"m{i}.py")
    return names


def cpu_seconds(args: list[str], cwd: Path, runs: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of ``ml-lsp shapes --json ARGS``, the best of ``runs``."""
    best_cpu, best_wall = math.inf, math.inf
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", *args], cwd=cwd,
                              capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"ml-lsp shapes failed: {done.stderr.strip()}")
        best_cpu = min(best_cpu, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
        best_wall = min(best_wall, wall)
    return best_cpu, best_wall


def table(title: str, unit: str, rows: list[tuple[int, float, float]], start: float) -> None:
    print(f"\n{title}")
    print(f"  {unit:>8}  {'CPU s':>7}  {'wall s':>7}  {'net CPU s':>9}  growth per doubling")
    previous = None
    for n, cpu, wall in rows:
        net = max(cpu - start, 1e-3)
        growth = ""
        if previous is not None:
            n0, net0 = previous
            growth = f"x{(net / net0) ** (math.log(2) / math.log(n / n0)):.2f}"
        print(f"  {n:>8}  {cpu:>7.2f}  {wall:>7.2f}  {net:>9.2f}  {growth}")
        previous = (n, net)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--classes", default="15,30,60,120,240")
    ap.add_argument("--files", default="25,50,100,200,300")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "one.py").write_text(chain(1))
        start, start_wall = cpu_seconds(["one.py"], root, args.runs)
        print(f"peer: ml-lsp shapes on a one-class file, {start:.2f} s CPU ({start_wall:.2f} s wall)")

        rows = []
        for n in (int(x) for x in args.classes.split(",")):
            (root / f"chain{n}.py").write_text(chain(n))
            rows.append((n, *cpu_seconds([f"chain{n}.py"], root, args.runs)))
        table("a chain of classes, each calling super().forward", "classes", rows, start)

        rows = []
        for n in (int(x) for x in args.files.split(",")):
            folder = root / f"files{n}"
            folder.mkdir()
            names = module_files(folder, n)
            rows.append((n, *cpu_seconds(names, folder, args.runs)))
        table("files importing each other, analysed in one command", "files", rows, start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
