"""Throughput of the fine-tune loop (ml_lsp.finetune.loop.train) against a minimal
hand-written PyTorch loop doing the same work on the same device, alternated in one run.

Same work: the same model and data, batch size, AdamW, warm-up + cosine schedule, gradient
clipping, cross-entropy, shuffled DataLoader; both timed over their training steps only
(the fine-tune loop's evaluation and checkpoint at the end are excluded, as they are from
its own samples_per_s). Goal: >= 97% of the hand-written loop on CPU; on a CUDA GPU with
``--device cuda --precision bf16 --compile``, >= 95% of the hand-written bf16 compiled loop.

    python benchmarks/finetune_throughput.py [--rounds 5] [--epochs 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ml_lsp.finetune import loop  # noqa: E402
from ml_lsp.finetune.spec import FinetuneSpec  # noqa: E402

N_TRAIN, N_VAL, FEATURES, CLASSES = 8192, 512, 256, 10


def build_model() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, CLASSES))


def synthetic_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N_TRAIN + N_VAL, FEATURES, generator=g)
    y = (x[:, :CLASSES] + 0.5 * torch.randn(N_TRAIN + N_VAL, CLASSES, generator=g)).argmax(1)
    return TensorDataset(x[:N_TRAIN], y[:N_TRAIN]), TensorDataset(x[N_TRAIN:], y[N_TRAIN:])


def finetune_loop(args) -> float:
    spec = FinetuneSpec(model=f"{Path(__file__).resolve()}:build_model",
                        data=f"{Path(__file__).resolve()}:synthetic_data", epochs=args.epochs,
                        batch_size=args.batch_size, lr=1e-3, warmup_steps=20, precision=args.precision,
                        compile=args.compile, device=args.device, log_every=10)
    with tempfile.TemporaryDirectory() as out:
        metrics = loop.train(spec, Path(out))
    return metrics["samples_per_s"]


def hand_loop(args) -> float:
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model().to(device)
    train, _ = synthetic_data()
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    total = args.epochs * math.ceil(N_TRAIN / args.batch_size)
    warmup = 20
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: (s + 1) / warmup if s < warmup else
                                                 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup))))
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    if args.precision == "auto" and device.type == "cuda":
        dtype = torch.bfloat16
    forward = torch.compile(model) if args.compile else model
    samples = 0
    start = time.perf_counter()
    for _ in range(args.epochs):
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext():
                loss = F.cross_entropy(forward(x).float(), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            schedule.step()
            samples += y.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return samples / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16", "fp16"])
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device {args.device}, precision {args.precision}, compile {args.compile}, batch {args.batch_size}, "
          f"{args.epochs} epochs of {N_TRAIN} samples, torch {torch.__version__}, {torch.get_num_threads()} threads")
    finetune_loop(args), hand_loop(args)  # warm-up: imports, allocator, compile caches
    ours, theirs = [], []
    for r in range(args.rounds):  # alternate, so load changes on the machine hit both alike
        ours.append(finetune_loop(args))
        theirs.append(hand_loop(args))
        print(f"round {r + 1}: fine-tune loop {ours[-1]:,.0f} samples/s, hand-written {theirs[-1]:,.0f} samples/s "
              f"({ours[-1] / theirs[-1]:.1%})")
    ratio_median = statistics.median(ours) / statistics.median(theirs)
    ratio_best = max(ours) / max(theirs)
    print(f"median: fine-tune loop {statistics.median(ours):,.0f} samples/s vs hand-written "
          f"{statistics.median(theirs):,.0f} samples/s = {ratio_median:.1%}")
    print(f"best:   fine-tune loop {max(ours):,.0f} samples/s vs hand-written {max(theirs):,.0f} samples/s = {ratio_best:.1%}")
    goal = 0.95 if args.device.startswith("cuda") else 0.97
    print(f"goal >= {goal:.0%}: {'met' if ratio_median >= goal else 'NOT met'} (median ratio)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
