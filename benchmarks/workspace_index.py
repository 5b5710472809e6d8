"""The workspace call-site index (issue 14): build time and memory on a generated workspace,
the look-up an analysis makes, and the editor's hover latency with the index on and off.

    python benchmarks/workspace_index.py [--files 2000] [--hovers 300]

A generated workspace of ``--files`` Python files: packages of models (``model_k.py``), the
training scripts that build and call them (MNIST loaders, argparse batch sizes) and plain
helpers. Printed:
  - ``CallSiteIndex.build()``: wall time (in-process, as the server's background thread runs
    it) and memory (tracemalloc: what the index keeps, and the peak while building);
  - ``callers_of`` for a model file (what each analysis asks): p50/p95;
  - hover p50/p95 through ``ml-lsp serve`` over stdio on a model file of the workspace, with
    ``workspace_call_sites`` on and off (``[tool.ml-lsp]`` of the workspace's pyproject.toml),
    plus the time until the model's hints show the training script's shapes. Hovers start
    2 s after the hints appear (steady state, as a user hovering after opening a file).

Goals: build < 5 s (in the background) and < 100 MB for 2,000 files; hover p95 unchanged
(< 10 ms) with the index on.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODEL = '''import torch
import torch.nn as nn
import torch.nn.functional as F


class Net{k}(nn.Module):
    def __init__(self, hidden={hidden}):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.fc1 = nn.Linear(9216, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)
'''

TRAIN = '''import argparse
import torch
from torchvision import datasets, transforms
from {pkg}.model_{k} import Net{k}


def train(args, model, device, loader, optimizer):
    model.train()
    for batch_idx, (data, target) in enumerate(loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default={batch})
    args = parser.parse_args()
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    ds = datasets.MNIST("data", train=True, download=True, transform=transform)
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, drop_last=True)
    model = Net{k}()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    train(args, model, torch.device("cpu"), loader, optimizer)


if __name__ == "__main__":
    main()
'''

HELPER = '''import os
import json
from pathlib import Path


def load_config_{k}(path):
    with open(path) as fh:
        return json.load(fh)


def output_dir_{k}(name):
    return Path(os.environ.get("OUT", "out")) / name
'''


def generate(root: Path, n_files: int) -> Path:
    """``n_files`` files in packages of ten: 3 models, 3 training scripts, 4 helpers."""
    (root / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
    written, k = 0, 0
    while written < n_files:
        pkg = f"pkg{k // 3}"
        folder = root / pkg
        folder.mkdir(exist_ok=True)
        if not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_text("")
            written += 1
        for kind in ("model", "train", "helper"):
            if written >= n_files:
                break
            if kind == "model":
                (folder / f"model_{k}.py").write_text(MODEL.format(k=k, hidden=64 + k % 7))
            elif kind == "train":
                (folder / f"train_{k}.py").write_text(TRAIN.format(k=k, pkg=pkg, batch=32 + k % 5))
            else:
                (folder / f"helper_{k}.py").write_text(HELPER.format(k=k))
            written += 1
        k += 1
    return root


def measure_index(root: Path) -> dict:
    from ml_lsp.workspace_index import CallSiteIndex

    tracemalloc.start()
    t0 = time.perf_counter()
    index = CallSiteIndex(str(root))
    count = index.build()
    build_s = time.perf_counter() - t0
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    models = sorted(root.glob("pkg*/model_*.py"))
    rng = random.Random(0)
    times, found = [], 0
    for path in (rng.choice(models) for _ in range(300)):
        text = path.read_text()
        t = time.perf_counter()
        callers = index.callers_of(str(path), text)
        times.append((time.perf_counter() - t) * 1000)
        found += bool(callers)
    times.sort()
    return {"files": count, "build_s": build_s, "kept_mb": kept / 2**20, "peak_mb": peak / 2**20,
            "lookup_p50_ms": statistics.median(times), "lookup_p95_ms": times[int(0.95 * (len(times) - 1))],
            "lookups_with_callers": f"{found}/{len(times)}"}


def measure_hovers(root: Path, on: bool, hovers: int) -> dict:
    from lsp_latency import StdioClient, body_identifiers

    (root / "pyproject.toml").write_text("[project]\nname = 'bench'\n\n[tool.ml-lsp]\nworkspace_call_sites = "
                                         + ("true" if on else "false") + "\n")
    env = dict(os.environ, ML_LSP_LOG_FILE=str(root.parent / f"server-{'on' if on else 'off'}.log"))
    path = root / "pkg0" / "model_0.py"
    text = path.read_text()
    uri = path.as_uri()
    full = {"start": {"line": 0, "character": 0}, "end": {"line": len(text.splitlines()) + 1, "character": 0}}
    t0 = time.perf_counter()
    client = StdioClient([sys.executable, "-m", "ml_lsp", "serve"], env, root)
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                            "text": text}})
    # the hint on `x = F.relu(self.conv1(x))` once the training script's batches reach it
    line = next(i for i, s in enumerate(text.splitlines()) if "self.conv1(x)" in s and "relu" in s)
    want = "(32, 32, 26, 26)"
    hint_s = None
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        hints = client.request("textDocument/inlayHint", {"textDocument": {"uri": uri}, "range": full}) or []
        labels = [h["label"] for h in hints if h["position"]["line"] == line]
        if any(want in str(lab) for lab in labels):
            hint_s = time.perf_counter() - t0
            break
        if not on and labels:
            break
        time.sleep(0.05)
    # steady state: the analyses started by the index's arrival (hints, diagnostics) are done
    time.sleep(2.0)
    spots = body_identifiers(text)
    rng = random.Random(1)
    times = []
    for _ in range(hovers):
        ln, col = spots[rng.randrange(len(spots))]
        t = time.perf_counter()
        client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": ln, "character": col}})
        times.append((time.perf_counter() - t) * 1000)
    client.close()
    times.sort()
    return {"hover_p50_ms": statistics.median(times), "hover_p95_ms": times[int(0.95 * (len(times) - 1))],
            "workspace_hint_s": hint_s}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--hovers", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ml-lsp-wsindex-"))
    (work / "ws").mkdir()
    root = generate(work / "ws", args.files)
    index = measure_index(root)
    on = measure_hovers(root, True, args.hovers)
    off = measure_hovers(root, False, args.hovers)
    result = {"index": index, "hover_index_on": on, "hover_index_off": off}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"workspace: {index['files']} files under {root}")
    print(f"index build: {index['build_s']:.2f} s, kept {index['kept_mb']:.1f} MB, peak {index['peak_mb']:.1f} MB "
          f"(goal < 5 s, < 100 MB)")
    print(f"callers_of: p50 {index['lookup_p50_ms']:.2f} ms, p95 {index['lookup_p95_ms']:.2f} ms "
          f"({index['lookups_with_callers']} model files found their training script)")
    for name, r in (("on", on), ("off", off)):
        hint = f"{r['workspace_hint_s']:.2f} s" if r["workspace_hint_s"] is not None else "-"
        print(f"hover, index {name:>3}: p50 {r['hover_p50_ms']:.2f} ms, p95 {r['hover_p95_ms']:.2f} ms; "
              f"hint from the training script after {hint}")
    ratio = on["hover_p95_ms"] / off["hover_p95_ms"] if off["hover_p95_ms"] else float("nan")
    print(f"hover p95 on/off: {ratio:.2f} (goal: unchanged, p95 < 10 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
