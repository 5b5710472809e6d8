"""The static Keras shapes against Keras itself: every test and example model is built by
Keras 3 (torch backend) in a child process, and each layer's output shape and parameter
count must equal what `ml-lsp shapes --json` says, for every layer of every model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keras_tests import models

HERE = Path(__file__).parent
REPO = HERE.parent.parent
APPLICATION_MODELS = ("vgg16", "vgg19", "resnet50", "mobilenetv2")


def model_files(tmp_path) -> list[Path]:
    files = sorted((HERE / "corpus").glob("*.py")) + sorted((REPO / "examples" / "keras").glob("*.py"))
    for name, text in models.ALL.items():
        if "tensorflow" in text:  # the tf.keras spellings need TensorFlow to run; their shapes equal the keras one
            continue
        path = tmp_path / f"{name}.py"
        path.write_text(text)
        files.append(path)
    return [f for f in files if "_mistake" not in f.name]


def keras_report(files) -> dict:
    env = dict(os.environ, KERAS_BACKEND="torch", ML_LSP_EXAMPLE_EPOCHS="0")
    proc = subprocess.run([sys.executable, str(HERE / "summary_child.py"), *map(str, files)], capture_output=True,
                          text=True, timeout=600, env=env, cwd=str(files[0].parent))
    if proc.returncode != 0 and "No module named 'keras'" in proc.stderr:
        pytest.fail("Keras is not installed: the README's set-up installs it (pip install -e '.[dev]')")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def static_report(files) -> dict:
    out = {}
    for f in files:  # one file at a time: each is its own script
        proc = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", str(f)], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        out[str(f)] = json.loads(proc.stdout)["files"][0]["shapes"]
    return out


@pytest.mark.timeout(900)
def test_static_shapes_equal_keras_summary_for_every_layer(tmp_path):
    files = model_files(tmp_path)
    real = keras_report(files)
    static = static_report(files)
    layers_checked, models_checked, mismatches = 0, 0, []
    for f in files:
        got = real[str(f)]
        entries = [e for e in static[str(f)] if "params" in e]
        by_name = {}
        for e in entries:
            by_name.setdefault(e["name"], []).append(e)
            shape = [None if d == "B" else d for d in e["shape"]] if e["shape"] is not None else None
            # Keras builds a subclassed model with a sample batch (83, 89): the batch dim is B either way
            keras_shapes = [[None] + s[1:] for s in got["shapes"].get(e["name"], [])]
            if shape is None or [None] + shape[1:] not in keras_shapes:
                mismatches.append(f"{f.name}:{e['line']} {e['name']}: static {shape}, "
                                  f"keras {got['shapes'].get(e['name'])}")
            if e["name"] in got["params"] and e["params"] != got["params"][e["name"]]:
                mismatches.append(f"{f.name}:{e['line']} {e['name']}: static {e['params']} params, "
                                  f"keras {got['params'][e['name']]}")
            layers_checked += 1
        for model, names in got["layers"].items():
            if model.startswith(APPLICATION_MODELS):
                continue
            models_checked += 1
            missing = [n for n in names if n not in by_name]
            if missing:
                mismatches.append(f"{f.name}: model {model}: no static entry for {missing}")
    print(f"\nkeras vs static: {models_checked} models, {layers_checked} layer entries, "
          f"{len(mismatches)} mismatches")
    assert not mismatches, "\n".join(mismatches)
    assert models_checked >= 30
