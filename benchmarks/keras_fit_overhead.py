"""Cost of the Keras fit callback the run bootstrap adds (``ml_lsp.telemetry.keras_fit``).

A small MLP on scikit-learn's digits, trained by ``model.fit`` on Keras 3 (torch backend),
one epoch per block, interleaved in the same process: plain ``fit``; ``fit`` with the ml-lsp
callback writing real frames (loss and accuracy every batch, val_* every epoch, progress);
``fit`` with an empty callback that has a batch hook (the control: what any such callback costs in
Keras's loop); then plain again, and so on, ending on plain. Each block with our callback
is paired with the mean of the plain blocks on either side of it, so a slow drift of a
shared machine cancels out of the ratio; the overhead is the median of those ratios, with
a 90% bootstrap interval (as benchmarks/telemetry_overhead.py). The same statistic between
plain blocks is the noise floor. Goal: <= 1%.

    python benchmarks/keras_fit_overhead.py [--rounds 15] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")


def median_interval(values: list[float], level: float = 0.9, resamples: int = 2000) -> tuple[float, float]:
    """A bootstrap interval for the median of ``values`` (as benchmarks/telemetry_overhead.py)."""
    import random

    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    cut = int((1 - level) / 2 * resamples)
    return medians[cut], medians[-cut - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="epochs per arm (interleaved)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = parser.parse_args()

    import keras
    from sklearn.datasets import load_digits

    from ml_lsp.runner.frames import FrameWriter
    from ml_lsp.telemetry.capture import Capture
    from ml_lsp.telemetry.keras_fit import make_callback_class

    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    model = keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    batches = -(-int(len(x) * 0.9) // args.batch)

    folder = Path(tempfile.mkdtemp(prefix="ml-lsp-keras-bench-"))
    writer = FrameWriter(folder / "frames.bin")
    capture = Capture(writer)
    ours = make_callback_class(capture, keras)

    class EmptyBatchHook(keras.callbacks.Callback):
        """The control: a callback with a batch hook that does nothing. Keras dispatches
        the callbacks of a fit on a thread pool unless one of them has batch hooks and is
        not ``async_safe`` (ours, like most users' own); the control must take the same path,
        or the difference measured is Keras's dispatch, not our work."""

        def on_train_batch_end(self, batch, logs=None):
            pass

    arms = {"plain": lambda: [], "empty callback": lambda: [EmptyBatchHook()],
            "ml-lsp callback": lambda: [ours((str(folder / "train.py"), 1))]}

    def block(callbacks) -> float:
        start = clock()
        model.fit(x, y, epochs=1, batch_size=args.batch, validation_split=0.1, verbose=0, callbacks=callbacks)
        return (clock() - start) / batches

    model.fit(x, y, epochs=1, batch_size=args.batch, validation_split=0.1, verbose=0)  # warm-up
    plain, ours_times, empty = [block(arms["plain"]())], [], []
    for _ in range(args.rounds):
        ours_times.append(block(arms["ml-lsp callback"]()))
        empty.append(block(arms["empty callback"]()))
        plain.append(block(arms["plain"]()))
    capture.close()
    writer.close()

    def paired(arm: list[float]) -> list[float]:
        return [arm[i] / ((plain[i] + plain[i + 1]) / 2) for i in range(len(arm))]

    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, {batches} batches of {args.batch} "
          f"per epoch, {args.rounds} rounds of (ml-lsp, empty, plain) epochs after a plain one, {args.clock} time")
    for name, values in (("plain", plain), ("ml-lsp callback", ours_times), ("empty callback", empty)):
        print(f"  {name:16s} {statistics.median(values) * 1e3:8.3f} ms/batch (median epoch)")
    for name, values in (("ml-lsp callback", ours_times), ("empty callback", empty)):
        ratios = paired(values)
        low, high = median_interval(ratios)
        print(f"overhead of the {name}: {100 * (statistics.median(ratios) - 1):+.2f}% per batch against plain fit "
              f"(median of paired epochs; 90% interval {100 * (low - 1):+.2f}% .. {100 * (high - 1):+.2f}%)")
    ours_vs_empty = [o / e for o, e in zip(ours_times, empty)]
    low, high = median_interval(ours_vs_empty)
    print(f"ml-lsp callback against the empty one: {100 * (statistics.median(ours_vs_empty) - 1):+.2f}% "
          f"(90% interval {100 * (low - 1):+.2f}% .. {100 * (high - 1):+.2f}%)")
    floor = [plain[i] / ((plain[i - 1] + plain[i + 1]) / 2) for i in range(1, len(plain) - 1)]
    low, high = median_interval(floor)
    print(f"noise floor (plain against its neighbours): {100 * (statistics.median(floor) - 1):+.2f}% "
          f"(90% interval {100 * (low - 1):+.2f}% .. {100 * (high - 1):+.2f}%); goal <= 1%")
    print(f"frames written: {(folder / 'frames.bin').stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
