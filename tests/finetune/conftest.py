"""Fixtures for the fine-tune tests: the digits example pretrained once per session, a
workspace with a runs folder, and a runner process of our own for that folder (killed at
the end with every job it started)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "examples" / "digits"


@pytest.fixture(scope="session")
def pretrained(tmp_path_factory) -> tuple[Path, float]:
    """(checkpoint, validation accuracy) of examples/digits/pretrain.py, run as a user would."""
    out = tmp_path_factory.mktemp("pretrained") / "pretrained.pt"
    proc = subprocess.run([sys.executable, str(DIGITS / "pretrain.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    accuracy = float(re.search(r"saved .* \(val_accuracy ([0-9.]+)\)", proc.stdout).group(1))
    return out, accuracy


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A workspace folder whose runs folder is served by a runner started here."""
    root = tmp_path_factory.mktemp("ws")
    runs = root / ".ml-lsp" / "runs"
    runs.mkdir(parents=True)
    log = open(root / "runner.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "ml_lsp.runner", "--runs-dir", str(runs),
                             "--idle-exit", "300", "--cpu-slots", "2"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while not (runs / "runner.json").exists():
        assert time.monotonic() < deadline, "the runner did not start"
        time.sleep(0.05)
    yield root
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


def ml_lsp(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "ML_LSP_RUNS_DIR": str(cwd / ".ml-lsp" / "runs")}
    return subprocess.run([sys.executable, "-m", "ml_lsp", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


def digits_spec(checkpoint: Path, **overrides):
    """The fine-tune of the digits example: 5-9 on the features pretrained on 0-4."""
    from ml_lsp.finetune.spec import FinetuneSpec

    spec = FinetuneSpec(model=str(DIGITS / "model.py") + ":DigitsCNN", init="num_classes=5",
                        checkpoint=str(checkpoint), data=str(DIGITS / "data.py") + ":digits_5_9",
                        freeze=["features"], replace_head={"head": 5}, epochs=3, lr=0.01, root=str(REPO))
    for key, value in overrides.items():
        setattr(spec, key, value)
    return spec
