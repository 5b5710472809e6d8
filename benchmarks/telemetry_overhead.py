"""Cost of the in-process capture on a small CPU training loop.

A small MLP on scikit-learn's digits, trained with and without the capture hooks
(``Tensor.backward``, optimizer step, DataLoader), alternating blocks of steps in the same
process so that both see the same machine state, with a control arm hooked at the same
places by pass-through functions. Prints steps/s and the overhead; the goal is <= 1%.

The capture is installed once and switched in and out by swapping the installed functions,
so that its state carries over from block to block as in a run. Its sampling ticks (one
sample per call site per tick, ``SAMPLE_INTERVAL``) are counted in time spent with the
capture in, so that blocks with capture take as many samples as the same time of a real
run; ticking on the wall clock would put the samples of the blocks without capture into
the next block with it.

    python benchmarks/telemetry_overhead.py [--rounds 40] [--block 100] [--clock cpu|wall]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def pass_through_hooks():
    """Hook Tensor.backward, the optimizer step and DataLoader batches with functions that
    only call through; returns the undo."""
    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from torch.utils.data.dataloader import _BaseDataLoaderIter

    backward, next_batch = torch.Tensor.backward, _BaseDataLoaderIter.__next__

    def passing_backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        return backward(self, gradient, retain_graph, create_graph, inputs)

    def passing_next(self):
        return next_batch(self)

    torch.Tensor.backward, _BaseDataLoaderIter.__next__ = passing_backward, passing_next
    handle = register_optimizer_step_post_hook(lambda optimizer, args, kwargs: None)

    def undo() -> None:
        torch.Tensor.backward, _BaseDataLoaderIter.__next__ = backward, next_batch
        handle.remove()

    return undo


def median_interval(values: list[float], level: float = 0.9, resamples: int = 2000) -> tuple[float, float]:
    """A bootstrap interval for the median of ``values``: how far the noise of this machine
    lets the headline figure move."""
    import random

    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    cut = int((1 - level) / 2 * resamples)
    return medians[cut], medians[-cut - 1]


class CaptureSwitch:
    """The capture's hooks, installed once, then switched in and out."""

    def __init__(self, capture, installers) -> None:
        import torch
        from torch.optim import optimizer
        from torch.utils.data.dataloader import _BaseDataLoaderIter

        self.capture = capture
        self._places = [(torch.Tensor, "backward"), (_BaseDataLoaderIter, "__next__")]
        self._hooks = optimizer._global_optimizer_post_hooks
        before = [getattr(owner, name) for owner, name in self._places]
        hooks_before = dict(self._hooks)
        for install in installers:
            install(capture)
        self._installed = [getattr(owner, name) for owner, name in self._places]
        self._added = {k: v for k, v in self._hooks.items() if k not in hooks_before}
        self._original = before
        self.on_time = 0.0
        self.off()

    def on(self) -> None:
        for (owner, name), fn in zip(self._places, self._installed):
            setattr(owner, name, fn)
        self._hooks.update(self._added)

    def off(self) -> None:
        for (owner, name), fn in zip(self._places, self._original):
            setattr(owner, name, fn)
        for key in self._added:
            self._hooks.pop(key, None)

    def ran(self, seconds: float) -> None:
        """Advance the capture's tick for ``seconds`` more of training with it in."""
        from ml_lsp.telemetry.capture import SAMPLE_INTERVAL

        self.on_time += seconds
        while self.on_time >= SAMPLE_INTERVAL:
            self.on_time -= SAMPLE_INTERVAL
            self.capture.tick += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="blocks with and without capture, each")
    parser.add_argument("--block", type=int, default=100, help="training steps per block")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="time blocks by process CPU time (default) or wall time")
    args = parser.parse_args()

    import torch
    from sklearn.datasets import load_digits
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from ml_lsp.runner.frames import FrameWriter, read_frames
    from ml_lsp.telemetry import torch_hooks
    from ml_lsp.telemetry.capture import Capture

    torch.manual_seed(0)
    torch.set_num_threads(1)  # less scheduler noise on a shared machine
    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16
    y = torch.tensor(digits.target)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def batches():
        while True:
            yield from loader

    stream = batches()

    # CPU time of the whole process (the capture's threads included), not wall time: on a
    # shared machine other processes' load would otherwise swamp a 1% difference.
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    def block(steps: int) -> float:
        start = clock()
        for _ in range(steps):
            xb, yb = next(stream)
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        return clock() - start

    folder = Path(tempfile.mkdtemp(prefix="ml-lsp-overhead-"))
    writer = FrameWriter(folder / "frames.bin")
    # No sampler thread: the tick advances with the time spent with capture (above).
    capture = Capture(writer)
    installers = (torch_hooks.install_backward, torch_hooks.install_optimizer, torch_hooks.install_dataloader)
    switch = CaptureSwitch(capture, installers)

    block(args.block)  # warm up
    off, on, bare = [], [], []
    for _ in range(args.rounds):
        off.append(block(args.block))
        switch.on()
        on.append(block(args.block))
        switch.off()
        switch.ran(on[-1])
        undo = pass_through_hooks()
        bare.append(block(args.block))
        undo()
    off.append(block(args.block))
    capture.close()
    writer.close()

    frames = read_frames(folder / "frames.bin")
    metrics = sum(1 for f in frames if f["kind"] == "metric")
    steps = args.block
    off_rate = steps / statistics.median(off)
    on_rate = steps / statistics.median(on)
    best_off, best_on = steps / min(off), steps / min(on)
    print(f"small MLP on digits, CPU, 1 thread, {args.rounds} x {steps} steps each way, alternated, "
          f"{args.clock} time")
    print(f"without capture: {off_rate:9.1f} steps/s (median block)   {best_off:9.1f} (best block)")
    print(f"with capture:    {on_rate:9.1f} steps/s (median block)   {best_on:9.1f} (best block)")
    # Each block with capture against the mean of the blocks without it on either side:
    # slow drifts of a shared machine cancel out of the ratio.
    ratios = [on[i] / ((off[i] + off[i + 1]) / 2) for i in range(len(on))]
    paired = statistics.median(ratios)
    low, high = median_interval(ratios)
    print(f"overhead: {100 * (paired - 1):+.2f}% (median of paired blocks; 90% interval "
          f"{100 * (low - 1):+.2f}% .. {100 * (high - 1):+.2f}%)   "
          f"{100 * (off_rate / on_rate - 1):+.2f}% (median rates)   "
          f"{100 * (best_off / best_on - 1):+.2f}% (best blocks)   goal <= 1%")
    per_step = (statistics.median(on) - statistics.median(off)) / steps * 1e6
    # The control arm: the same three places hooked by functions that do nothing but call
    # through. What it costs is the price of hooking there at all on this machine.
    bare_paired = statistics.median(bare[i] / ((off[i] + off[i + 1]) / 2) for i in range(len(bare)))
    print(f"pass-through hooks at the same places (control): {100 * (bare_paired - 1):+.2f}%   "
          f"capture beyond the control: {100 * (paired / bare_paired - 1):+.2f}%")
    # The same statistic between blocks that all run without capture: the noise floor.
    floor = statistics.median(off[i] / ((off[i - 1] + off[i + 1]) / 2) for i in range(1, len(off) - 1))
    print(f"noise floor (blocks without capture against their neighbours): {100 * (floor - 1):+.2f}%")
    print(f"capture cost per step: {per_step:+.2f} us (of {1e6 / off_rate:.0f} us per step)")
    print(f"frames written while capturing: {len(frames)} ({metrics} metrics) for {args.rounds * steps} steps")

    # The hooks' own cost, measured where little else happens: a step on a 4-element
    # parameter, so that the difference is not lost in the noise of a shared machine.
    w = torch.zeros(4, requires_grad=True)
    tiny_opt = torch.optim.SGD([w], lr=0.01)
    tiny_loader = DataLoader(TensorDataset(torch.ones(4096, 4)), batch_size=8)

    def tiny_block(n: int) -> float:
        start = clock()
        done = 0
        while done < n:
            for (xb,) in tiny_loader:
                tiny_opt.zero_grad()
                loss = (w * xb).sum()
                loss.backward()
                tiny_opt.step()
                done += 1
                if done == n:
                    break
        return clock() - start

    writer = FrameWriter(folder / "tiny.bin")
    capture = Capture(writer)
    switch = CaptureSwitch(capture, installers)
    tiny_block(500)
    t_off, t_on = [], []
    for _ in range(args.rounds):
        t_off.append(tiny_block(2000))
        switch.on()
        t_on.append(tiny_block(2000))
        switch.off()
        switch.ran(t_on[-1])
    capture.close()
    writer.close()
    hook_us = (statistics.median(t_on) - statistics.median(t_off)) / 2000 * 1e6
    print(f"hooks' own cost on a trivial step ({statistics.median(t_off) / 2000 * 1e6:.0f} us): "
          f"{hook_us:+.2f} us per step = {100 * hook_us * off_rate / 1e6:+.2f}% of the MLP step above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
