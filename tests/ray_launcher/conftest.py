"""Fixtures for the Ray launcher tests: one real Ray head on 127.0.0.1 (2 CPUs) for the
session, stopped at its end; per test, a workspace with its own runs folder and runner,
and the user's folders (runner key, consents) in the test's tmp folder. Every run a test
started is stopped (follower and Ray job) when it ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ray_launcher.cluster import LocalCluster

TRAIN = textwrap.dedent('''\
    import sys
    import time
    import ml_lsp

    if __name__ == "__main__":
        steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
        for step in range(steps):
            loss = 1.0 / (step + 1)
            ml_lsp.log(loss=loss, step=step)
            print("step", step, "loss", loss)
            time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0.05)
        print("done", steps)
    ''')

CRASH = textwrap.dedent('''\
    import ml_lsp

    def forward(x):
        return x["missing"]

    if __name__ == "__main__":
        ml_lsp.log(ready=1.0, step=0)
        forward({})
    ''')


DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits"


@pytest.fixture(scope="session")
def pretrained(tmp_path_factory) -> Path:
    """The digits example's pretrained weights (its own pretrain script, a few seconds)."""
    out = tmp_path_factory.mktemp("pretrained") / "pretrained.pt"
    proc = subprocess.run([sys.executable, str(DIGITS / "pretrain.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    return out


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    logs = tmp_path_factory.mktemp("ray-logs")
    cluster = LocalCluster(num_cpus=2, log_dir=logs)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def user_env(tmp_path, monkeypatch) -> dict[str, str]:
    """The user's folders for this test, in this process and the ones it starts."""
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "ML_LSP_RAY_GIVE_UP_AFTER": "30"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("ML_LSP_RUNS_DIR", raising=False)
    return env


@pytest.fixture
def workspace(tmp_path, user_env):
    """A project folder (pyproject.toml, git-ignored data) with a runner of its own."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pyproject.toml").write_text('[project]\nname = "ws"\n')
    (ws / "train.py").write_text(TRAIN)
    (ws / "crash.py").write_text(CRASH)
    runs = ws / ".ml-lsp" / "runs"
    runs.mkdir(parents=True)
    log = open(tmp_path / "runner.log", "ab")
    runner = subprocess.Popen([sys.executable, "-m", "ml_lsp.runner", "--runs-dir", str(runs),
                               "--idle-exit", "300", "--cpu-slots", "4"],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                              env={**os.environ, **user_env})
    deadline = time.monotonic() + 30
    while not (runs / "runner.json").exists():
        assert time.monotonic() < deadline, "the runner did not start"
        time.sleep(0.05)
    yield ws
    stop_all(runs)
    try:
        os.killpg(runner.pid, signal.SIGTERM)
        runner.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(runner.pid, signal.SIGKILL)
    log.close()


def stop_all(runs: Path) -> None:
    """Stop every run still active (its follower stops its Ray job), then kill any
    follower left (a test that failed half-way)."""
    from ml_lsp.runner import jobs
    from ml_lsp.runner.run_folder import TERMINAL_STATES

    for folder in jobs.list_runs(runs):
        if folder.state() not in TERMINAL_STATES:
            try:
                jobs.stop(folder, runs, grace=3, wait_for=15)
            except Exception:
                pass
        process = folder.verified_process()
        if process is not None:
            try:
                os.killpg(process[1], signal.SIGKILL)
            except ProcessLookupError:
                pass


def ml_lsp(*args: str, cwd: Path, timeout: float = 240, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ml_lsp", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def status(ws: Path, run_id: str) -> dict:
    try:
        return json.loads((ws / ".ml-lsp" / "runs" / run_id / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_for(check, timeout: float = 120.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def ray_job_status(address: str, submission_id: str) -> str:
    from ray.job_submission import JobSubmissionClient
    return str(JobSubmissionClient(address).get_job_status(submission_id).value)
