"""`ml-lsp finetune` on Keras models, through the CLI and the runner: a saved `.keras` file
or a `file.py:function` building one, layers frozen by name, the head replaced, the run's
metrics, early stopping and an exported `model.keras` that loads with the frozen layers
frozen (examples/keras/finetune: a CNN pretrained on digits 0-4, fine-tuned on 5-9)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from finetune.conftest import ml_lsp, workspace  # noqa: F401  (a fixture: a runner for the runs folder)
from ml_lsp.runner.frames import FrameReader
from .conftest import EXAMPLE

os.environ.setdefault("KERAS_BACKEND", "torch")


@pytest.mark.timeout(1200)  # a Keras pretraining and fine-tune, on a loaded CPU
def test_finetune_a_keras_file_freezes_by_name_replaces_the_head_and_exports_keras(keras_pretrained, workspace):
    import keras

    proc = ml_lsp("finetune", "--model", str(keras_pretrained), "--data", f"{EXAMPLE / 'data.py'}:digits_5_9",
                  "--freeze", "conv*", "--replace-head", "head=5", "--epochs", "3", "--lr", "0.003",
                  "--log-every", "5", "--wait", cwd=workspace, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "new head head: Dense(5) -> Dense(5)" in proc.stderr  # checked before submitting
    assert "val_accuracy" in proc.stdout  # the job's evaluations, echoed while waiting
    run_dir = workspace / ".ml-lsp" / "runs" / proc.stdout.strip().splitlines()[-1]

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["model_file"] == "model.keras"
    assert metrics["steps"] == metrics["total_steps"] > 0
    assert metrics["val_accuracy"] >= 0.9  # digits 5-9 from features learnt on 0-4
    assert metrics["frozen_params"] == 16 * 9 + 16 + 32 * 16 * 9 + 32  # conv1 and conv2

    before = keras.models.load_model(keras_pretrained)
    after = keras.models.load_model(run_dir / "model.keras")
    trainable = {layer.name: layer.trainable for layer in after.layers}
    assert trainable["conv1"] is False and trainable["conv2"] is False and trainable["head"] is True
    for name in ("conv1", "conv2"):
        for old, new in zip(before.get_layer(name).get_weights(), after.get_layer(name).get_weights()):
            assert np.array_equal(old, new), name
    assert not np.array_equal(before.get_layer("features").get_weights()[0],
                              after.get_layer("features").get_weights()[0])
    assert (run_dir / "best.keras").is_file() and (run_dir / "checkpoints" / "last.keras").is_file()
    report = (run_dir / "report.md").read_text()
    assert "head: Dense(5) -> Dense(5)" in report and "`model.keras`" in report
    assert (run_dir / "curves.png").read_bytes()[:4] == b"\x89PNG"

    # Live metrics reached the run's frames: the loss per logged step, val_* per epoch.
    frames = [f for f in FrameReader(run_dir / "frames.bin") if f.get("kind") == "metric"]
    assert len([f for f in frames if f["name"] == "train_loss"]) >= 3
    val = [f for f in frames if f["name"] == "val_accuracy"]
    assert len(val) == 3 and val[-1]["value"] == metrics["val_accuracy"]


@pytest.mark.timeout(1200)  # a Keras pretraining and fine-tune, on a loaded CPU
def test_finetune_a_keras_factory_from_a_table_with_early_stopping_on_its_def_line(keras_pretrained, workspace):
    (workspace / "pyproject.toml").write_text(f"""
[tool.ml-lsp.finetune.kerascnn]
model = "{EXAMPLE / 'model.py'}:build_cnn"
init = "classes=5"
checkpoint = "{keras_pretrained}"
data = "{EXAMPLE / 'data.py'}:digits_5_9"
train_only = ["head"]
epochs = 30
lr = 1e-12
patience = 1
""")
    proc = ml_lsp("finetune", "kerascnn", "--wait", cwd=workspace, timeout=600)
    assert proc.returncode == 0, proc.stderr
    run_dir = workspace / ".ml-lsp" / "runs" / proc.stdout.strip().splitlines()[-1]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # At this learning rate the weights do not move in float32: val_loss stops improving at once.
    assert metrics["stopped_early"] is True and metrics["steps"] == 2 * metrics["total_steps"] // 30
    assert metrics["trainable_params"] == 64 * 5 + 5

    frames = [f for f in FrameReader(run_dir / "frames.bin") if f.get("kind") == "metric"]
    def_line = next(i for i, line in enumerate((EXAMPLE / "model.py").read_text().splitlines(), 1)
                    if line.startswith("def build_cnn"))
    val = [f for f in frames if f["name"] == "val_loss"]
    assert val and {(f["file"], f["line"]) for f in val} == {(str(EXAMPLE / "model.py"), def_line)}


@pytest.mark.timeout(1200)  # a Keras pretraining and fine-tune, on a loaded CPU
def test_a_keras_freeze_pattern_that_matches_no_layer_is_one_line_and_no_run(keras_pretrained, workspace):
    runs = workspace / ".ml-lsp" / "runs"
    before = sorted(p.name for p in runs.iterdir())
    proc = ml_lsp("finetune", "--model", str(keras_pretrained), "--data", f"{EXAMPLE / 'data.py'}:digits_5_9",
                  "--freeze", "block*", "--wait", cwd=workspace)
    assert proc.returncode == 2
    assert "--freeze 'block*' matches no layer of the model; layer names look like: conv1, conv2" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in runs.iterdir()) == before
