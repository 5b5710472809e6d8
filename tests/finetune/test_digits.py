"""The digits example end to end: pretrain on 0-4, then `ml-lsp finetune NAME --wait` on
5-9 with the convolutions frozen and a new head, through the runner."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from ml_lsp.runner.frames import FrameReader
from .conftest import DIGITS, ml_lsp


def test_pretraining_reaches_97_percent_on_0_to_4(pretrained):
    _, accuracy = pretrained
    assert accuracy >= 0.97


def test_finetune_from_pyproject_table_keeps_frozen_features_bit_identical(pretrained, workspace):
    checkpoint, _ = pretrained
    (workspace / "pyproject.toml").write_text(f"""
[project]
name = "user-project"

[tool.ml-lsp.finetune.digits59]
model = "{DIGITS / 'model.py'}:DigitsCNN"
init = "num_classes=5"
checkpoint = "{checkpoint}"
data = "{DIGITS / 'data.py'}:digits_5_9"
freeze = ["features.*"]
replace_head = "head=5"
epochs = 3
lr = 0.01
""")
    proc = ml_lsp("finetune", "digits59", "--wait", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    run_id = lines[-1]
    assert "val_accuracy" in proc.stdout  # the job's evaluations are echoed while waiting
    run_dir = workspace / ".ml-lsp" / "runs" / run_id
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["val_accuracy"] >= 0.95
    assert metrics["steps"] == metrics["total_steps"] > 0 and metrics["samples_per_s"] > 0
    assert "loaded 4 tensors" in proc.stderr  # what validation found, before submitting

    before = torch.load(checkpoint, weights_only=True)
    after = load_file(run_dir / "model.safetensors")
    for key in ("features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias"):
        assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["head.weight"], after["head.weight"])

    report = (run_dir / "report.md").read_text()
    assert "val_accuracy" in report and "head: Linear(512, 5)" in report
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (run_dir / "checkpoints" / "last.pt").is_file()

    # Metrics reached the run's frames, attributed to the model's class line.
    frames = [f for f in FrameReader(run_dir / "frames.bin") if f.get("kind") == "metric"]
    val = [f for f in frames if f.get("name") == "val_accuracy"]
    assert val and val[-1]["value"] == metrics["val_accuracy"]
    assert val[-1]["file"] == str(DIGITS / "model.py")
    class_line = next(i for i, line in enumerate((DIGITS / "model.py").read_text().splitlines(), 1)
                      if line.startswith("class DigitsCNN"))
    assert val[-1]["line"] == class_line
