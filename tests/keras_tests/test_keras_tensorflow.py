"""The seeds' own spelling, `import tensorflow as tf; tf.keras...`, run for real on
TensorFlow: through the runner with live fit metrics on the `fit` line, and its shapes
traced by Keras equal to the static ones. CI installs tensorflow-cpu (.ci/run) and sets
ML_LSP_CI, where a missing TensorFlow is a failure, not a skip."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ml_lsp.runner.frames import FrameReader

SEED_CNN = textwrap.dedent("""\
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).reshape(-1, 8, 8, 1).astype("float32")

    model = tf.keras.Sequential([
        tf.keras.layers.Conv2D(32, (3, 3), activation='relu', input_shape=(8, 8, 1)),
        tf.keras.layers.MaxPooling2D((2, 2)),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(128, activation='relu'),
        tf.keras.layers.Dropout(0.5),
        tf.keras.layers.Dense(10, activation='softmax')
    ])
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])
    model.fit(x, y, epochs=2, batch_size=64, validation_split=0.1)
    print("backend", tf.keras.backend.backend())
    """)


@pytest.fixture(scope="module", autouse=True)
def tensorflow_installed():
    if importlib.util.find_spec("tensorflow") is None:
        if os.environ.get("ML_LSP_CI"):
            pytest.fail("TensorFlow is not installed: CI installs tensorflow-cpu (.ci/run) to run the seeds' "
                        "tf.keras spelling for real")
        pytest.skip("TensorFlow is not installed (pip install tensorflow-cpu; CI installs it)")


def tf_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}  # Keras's default: TensorFlow
    return env


@pytest.fixture
def runs_dir(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    log = open(tmp_path / "runner.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "ml_lsp.runner", "--runs-dir", str(runs), "--idle-exit", "300"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=tf_env())
    deadline = time.monotonic() + 60
    while not (runs / "runner.json").exists():
        assert time.monotonic() < deadline, "the runner did not start"
        time.sleep(0.05)
    yield runs
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.mark.timeout(900)
def test_a_seed_tf_keras_script_runs_on_tensorflow_with_live_fit_metrics(tmp_path, runs_dir):
    script = tmp_path / "seed_cnn.py"
    script.write_text(SEED_CNN)
    proc = subprocess.run([sys.executable, "-m", "ml_lsp", "run", "--runs-dir", str(runs_dir), str(script), "--wait"],
                          capture_output=True, text=True, timeout=800, env=tf_env())
    assert proc.returncode == 0, proc.stderr
    run_dir = runs_dir / proc.stdout.strip().splitlines()[-1]
    assert "backend tensorflow" in (run_dir / "stdout.log").read_text()
    fit_line = SEED_CNN.splitlines().index(next(ln for ln in SEED_CNN.splitlines() if ln.startswith("model.fit"))) + 1
    metrics = [f for f in FrameReader(run_dir / "frames.bin") if f.get("kind") == "metric"]
    on_fit = [f for f in metrics if f["file"] == str(script) and f["line"] == fit_line]
    batches = -(-int(1797 * 0.9) // 64)
    assert len([f for f in on_fit if f["name"] == "loss"]) == 2 * batches  # every batch of both epochs
    assert {f["name"] for f in on_fit} >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len([f for f in on_fit if f["name"] == "val_loss"]) == 2


@pytest.mark.timeout(600)
def test_a_seed_tf_keras_script_traces_to_its_static_shapes(tmp_path):
    script = tmp_path / "seed_cnn.py"
    script.write_text(SEED_CNN.replace("epochs=2", "epochs=1"))
    proc = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--compare", "--json", str(script)],
                          capture_output=True, text=True, timeout=500, env=tf_env())
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    [compared] = data["compare"]
    assert compared["agree"] == 6 and compared["disagreements"] == []
    assert (compared["static_missing"], compared["trace_missing"]) == (0, 0)
    conv = next(e for e in data["files"][0]["shapes"] if e["name"] == "conv2d")
    assert conv["shape"] == ["B", 6, 6, 32] and conv["params"] == 320
