"""A fine-tune's metrics land on the user's model, never on ml-lsp's own files: the job's
training loop is ours, and its loss would otherwise be captured a second time and shown
on a line of ml_lsp/finetune/job.py."""

from __future__ import annotations

from ml_lsp.runner.frames import read_frames

from .conftest import DIGITS, ml_lsp


def test_every_metric_of_a_fine_tune_is_on_the_users_model_file(pretrained, workspace):
    checkpoint, _ = pretrained
    proc = ml_lsp("finetune", "--model", f"{DIGITS / 'model.py'}:DigitsCNN", "--init", "num_classes=5",
                  "--checkpoint", str(checkpoint), "--data", f"{DIGITS / 'data.py'}:digits_5_9",
                  "--replace-head", "head=5", "--epochs", "1", "--wait", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    run = workspace / ".ml-lsp" / "runs" / proc.stdout.strip().splitlines()[-1]
    files = {f["file"] for f in read_frames(run / "frames.bin") if f["kind"] == "metric"}
    assert files == {str(DIGITS / "model.py")}
