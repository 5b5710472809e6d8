"""The fine-tune job: the process (one per rank under torchrun) that trains.

    python -m ml_lsp.finetune.job [--run-dir DIR] [SPEC.json]

Under the runner, this file is the job's script: the run folder is the folder of
``$ML_LSP_FRAMES`` and the spec is the ``finetune`` field of its spec.json. Metrics and
progress go to the run's frames file, attributed to the line that defines the model, so
the editor shows them there. Exit status: 0 done, 2 bad input (one line on stderr),
130 stopped (after writing a checkpoint to resume from).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

# Run as a file (the runner's bootstrap runs scripts): this folder must not shadow the
# user's own modules named model/data/spec on sys.path, and ``ml_lsp`` must be importable.
if __package__ in (None, ""):
    _here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != Path(_here)]
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ml_lsp.finetune.spec import FinetuneError, FinetuneSpec  # noqa: E402


class FrameEmitter:
    """Sends metrics and progress to the run's frames: through the telemetry capture when
    the bootstrap installed one (one writer per process keeps sequence numbers honest),
    else through a FrameWriter of our own."""

    def __init__(self, frames_path: Path | None, rank: int) -> None:
        from ml_lsp import telemetry
        self.capture = telemetry._capture if telemetry.active() else None
        self.writer = None
        if self.capture is None and frames_path is not None:
            from ml_lsp.runner.frames import FrameWriter
            self.writer = FrameWriter(str(frames_path), rank=rank)
        self.file, self.line = "", 0

    def attribute_to(self, obj: Any) -> None:
        try:
            self.file = os.path.abspath(inspect.getsourcefile(obj) or "")
            self.line = inspect.getsourcelines(obj)[1]
        except (TypeError, OSError):
            pass

    def __call__(self, kind: str, **fields: Any) -> None:
        if kind == "metric":
            step = fields.pop("step", None)
            if "val_loss" in fields:  # evaluations are rare: show them in the job's log too
                shown = ", ".join(f"{k} {v:.4f}" for k, v in fields.items() if isinstance(v, float))
                print(f"step {step}: {shown}", flush=True)
            for name, value in fields.items():
                if isinstance(value, (int, float)):
                    if self.capture is not None:
                        self.capture.metric(name, float(value), step, self.file, self.line)
                    elif self.writer is not None:
                        self.writer.metric(name, float(value), step=step, file=self.file, line=self.line)
        elif kind == "progress":
            if self.capture is not None:
                self.capture.progress(self.file, self.line, fields["current"], fields["total"], "step", "finetune")
            elif self.writer is not None:
                self.writer.progress(fields["current"], fields["total"], unit="step", file=self.file, line=self.line)
        elif kind == "checkpoint" and os.environ.get("ML_LSP_FRAMES"):
            from ml_lsp.runner.run_folder import RunFolder
            RunFolder(Path(os.environ["ML_LSP_FRAMES"]).parent).add_checkpoint(fields["path"], fields["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def load_spec(spec_file: str | None, run_dir: Path) -> FinetuneSpec:
    if spec_file:
        data = json.loads(Path(spec_file).read_text())
    else:
        data = json.loads((run_dir / "spec.json").read_text())
    data = data.get("finetune", data)
    return FinetuneSpec.from_job(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ml_lsp.finetune.job")
    parser.add_argument("spec", nargs="?", help="spec JSON (default: the run folder's spec.json)")
    parser.add_argument("--run-dir", help="where outputs go (default: the folder of $ML_LSP_FRAMES)")
    args = parser.parse_args(argv)
    frames = os.environ.get("ML_LSP_FRAMES")
    run_dir = Path(args.run_dir or os.environ.get("ML_LSP_RUN_DIR") or (Path(frames).parent if frames else "."))
    rank = int(os.environ.get("RANK", "0"))
    try:
        spec = load_spec(args.spec, run_dir)
    except (OSError, ValueError) as exc:
        print(f"ml-lsp finetune: error: cannot read the job spec: {exc}", file=sys.stderr)
        return 2
    emit = FrameEmitter(Path(frames) if frames else (run_dir / "frames.bin" if rank == 0 else None), rank)
    try:
        from ml_lsp.finetune import keras_loop
        is_keras, built = keras_loop.detect(spec)
        if is_keras:
            if not keras_loop.is_keras_file(spec.model):
                from ml_lsp.finetune.model import import_target
                emit.attribute_to(import_target(spec.model, spec.root, "--model"))
            metrics = keras_loop.train(spec, run_dir, emit, built)
        else:
            from ml_lsp.finetune import loop
            from ml_lsp.finetune.model import import_target
            emit.attribute_to(import_target(spec.model, spec.root, "--model"))
            metrics = loop.train(spec, run_dir, emit)
    except FinetuneError as exc:
        print(f"ml-lsp finetune: error: {exc}", file=sys.stderr)
        return 2
    finally:
        emit.close()
    if rank == 0:
        _print_summary(metrics, run_dir)
    # Stopped by a signal: 130, as an interrupted program. Paused by --stop-after: done
    # what was asked, 0.
    return 130 if metrics.get("stopped") and not metrics.get("paused") else 0


def _print_summary(metrics: dict[str, Any], run_dir: Path) -> None:
    parts = [f"steps {metrics['steps']}/{metrics['total_steps']}"]
    for key in ("train_loss", "val_loss", "val_accuracy", "samples_per_s"):
        if isinstance(metrics.get(key), float):
            parts.append(f"{key} {metrics[key]:.4f}" if key != "samples_per_s" else f"{key} {metrics[key]:.0f}")
    if metrics.get("stopped"):
        last = next((p for p in (run_dir / "checkpoints").glob("last.*")), run_dir / "checkpoints" / "last.pt")
        print(f"stopped: {', '.join(parts)}; checkpoint {last}", flush=True)
    else:
        print(f"done: {', '.join(parts)}; outputs in {run_dir}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
