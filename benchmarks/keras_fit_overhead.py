"""Cost of the Keras fit callback the run bootstrap adds (``ml_lsp.telemetry.keras_fit``).

A small MLP on scikit-learn's digits, trained by ``model.fit`` on Keras 3 (torch backend),
one epoch per block, alternating in the same process: plain ``fit``; ``fit`` with an empty
``keras.callbacks.Callback`` (the control: what any callback costs in Keras's loop); and
``fit`` with the ml-lsp callback writing real frames (loss and accuracy every batch,
val_* every epoch, progress). Prints the median time per batch of each arm and the
overhead of ours against both; the goal is <= 1%.

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="epochs per arm")
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

    arms = {"plain": lambda: [], "empty callback": lambda: [keras.callbacks.Callback()],
            "ml-lsp callback": lambda: [ours((str(folder / "train.py"), 1))]}
    times: dict = {name: [] for name in arms}
    model.fit(x, y, epochs=1, batch_size=args.batch, validation_split=0.1, verbose=0)  # warm-up
    for _ in range(args.rounds):
        for name, callbacks in arms.items():
            start = clock()
            model.fit(x, y, epochs=1, batch_size=args.batch, validation_split=0.1, verbose=0, callbacks=callbacks())
            times[name].append((clock() - start) / batches)
    capture.close()
    writer.close()

    med = {name: statistics.median(v) for name, v in times.items()}
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, {batches} batches of {args.batch} "
          f"per epoch, {args.rounds} epochs per arm, {args.clock} time")
    for name, value in med.items():
        print(f"  {name:16s} {value * 1e3:8.3f} ms/batch")
    vs_plain = (med["ml-lsp callback"] / med["plain"] - 1) * 100
    vs_empty = (med["ml-lsp callback"] / med["empty callback"] - 1) * 100
    print(f"overhead of the ml-lsp callback: {vs_plain:+.2f}% against plain fit, {vs_empty:+.2f}% against an "
          f"empty callback (goal <= 1%)")
    print(f"frames written: {(folder / 'frames.bin').stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
