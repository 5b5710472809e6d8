"""Fixtures shared by the Keras tests: the Keras digits CNN of examples/keras/finetune,
pretrained once per session as a user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "keras" / "finetune"


@pytest.fixture(scope="session")
def keras_pretrained(tmp_path_factory) -> Path:
    """examples/keras/finetune/pretrain.py run as a user would: a .keras file."""
    out = tmp_path_factory.mktemp("keras_pretrained") / "pretrained.keras"
    # One thread: a shared, loaded CPU runs a small model faster without thread contention.
    proc = subprocess.run([sys.executable, str(EXAMPLE / "pretrain.py"), "--out", str(out), "--epochs", "6"],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert float(re.search(r"val_accuracy ([0-9.]+)", proc.stdout).group(1)) >= 0.9
    return out
