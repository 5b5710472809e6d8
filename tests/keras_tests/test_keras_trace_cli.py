"""`ml-lsp shapes --trace` on Keras files: the models are built by Keras itself in a child
process, and the traced per-layer shapes (same JSON contract as the static ones) equal the
static shapes for every layer of every example and test model (`--compare`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parent.parent


def shapes(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", *args], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "KERAS_BACKEND": "torch"}, cwd=REPO)


def keras_files() -> list[str]:
    files = sorted((REPO / "examples" / "keras").glob("*.py")) + sorted((HERE / "corpus").glob("*.py"))
    return [str(f.relative_to(REPO)) for f in files if "_mistake" not in f.name]


@pytest.mark.timeout(1200)
def test_traced_keras_shapes_equal_the_static_ones_for_every_layer():
    files = keras_files()
    proc = shapes("--compare", "--json", *files)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout)
    assert data["problems"] == []
    compared = {c["path"]: c for c in data["compare"]}
    assert sorted(compared) == sorted(files)
    layers = 0
    for path, c in compared.items():
        assert c["disagreements"] == [], path
        # Every layer the static engine reports ran under Keras, and Keras ran no other.
        assert (c["static_missing"], c["trace_missing"]) == (0, 0), (path, c["summary"])
        assert c["agree"] > 0, path
        layers += c["agree"]
    assert layers > 200
    traced = {f["path"]: f["shapes"] for f in data["files"]}
    # The contract: the batch dim is "B", the line is where the layer is created or called.
    cnn = traced["examples/keras/cnn_digits.py"]
    lines = (REPO / "examples" / "keras" / "cnn_digits.py").read_text().splitlines()
    conv = next(e for e in cnn if e["name"] == "conv2d")
    assert "Conv2D(32" in lines[conv["line"] - 1] and conv["shape"] == ["B", 6, 6, 32] and conv["params"] == 320
    assert all(e["source"] == "trace" for e in cnn)


def test_a_keras_script_that_fails_while_building_reports_its_line(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("import keras\n\nmodel = keras.Sequential([\n    keras.Input(shape=(8,)),\n"
                      "    keras.layers.Dense(4),\n])\nmodel.summary()\nraise RuntimeError('data not found')\n")
    proc = shapes("--trace", "--json", str(script))
    data = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert [e["name"] for e in data["files"][0]["shapes"]] == ["dense"]  # what ran before the error
    problem = data["problems"][0]
    assert problem["line"] == 8 and "RuntimeError: data not found" in problem["message"]
