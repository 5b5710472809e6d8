"""examples/keras as a user meets them: each corrected seed sample runs for real on Keras 3
(torch backend) and prints its test accuracy; `ml-lsp check` finds nothing in it, and finds
the article's mistakes, each on its line, in its *_mistake.py sibling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent.parent / "examples" / "keras"

# the mistakes of each seed sample, as `ml-lsp check` reports them on the sibling file
MISTAKES = {
    "mlp_digits_mistake.py": [(29, "DA001")],
    "cnn_digits_mistake.py": [(35, "KR006")],
    "vgg16_finetune_digits_mistake.py": [
        (36, "KR010"), (36, "KR005"), (36, "KR010"),  # fit(train_data) unlabelled; validation_data=test_data
        (39, "KR010"),  # evaluate(test_data) unlabelled
        (43, "KR011"),  # weights='imagenet' downloads
        (47, "KR009"), (48, "KR009"),  # a Sequential of tensors
        (54, "KR004"),  # categorical_crossentropy with the class ids fitted before
        (58, "KR007"), (58, "KR010"), (58, "KR005"), (58, "KR010"),  # the unfrozen base, again unlabelled
    ],
}


def check_json(*paths):
    proc = subprocess.run([sys.executable, "-m", "ml_lsp", "check", "--format", "json", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)["diagnostics"]


def test_each_mistake_is_flagged_on_its_line_and_the_corrections_are_clean():
    found = check_json(*sorted(EXAMPLES.glob("*.py")))
    by_file: dict = {}
    for d in found:
        by_file.setdefault(Path(d["path"]).name, []).append((d["line"], d["code"]))
    assert by_file == MISTAKES


@pytest.mark.timeout(900)
@pytest.mark.parametrize("script, args", [
    ("mlp_digits.py", ["--epochs=1"]),
    ("cnn_digits.py", ["--epochs=1"]),
    ("vgg16_finetune_digits.py", ["--epochs=1", "--samples=64"]),
])
def test_corrected_examples_run_on_keras_with_the_torch_backend(tmp_path, script, args):
    env = dict(os.environ, KERAS_BACKEND="torch")
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                          timeout=800, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test accuracy:" in proc.stdout
