"""Fixtures for runner tests: a runs folder, a runner process of our own (short heartbeat,
killed at the end with every job it started), and helpers that wait on conditions."""

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

from ml_lsp.runner.run_folder import RunFolder, iter_runs


def wait_for(cond, timeout=30.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def cli(*args, runs_dir=None, cwd=None, timeout=120, env=None):
    argv = [sys.executable, "-m", "ml_lsp", *args]
    if runs_dir is not None:  # right after the command: everything after a script is its own
        argv[4:4] = ["--runs-dir", str(runs_dir)]
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, **(env or {})})


def write_script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


class RunnerProcess:
    def __init__(self, runs_dir: Path):
        self.runs_dir = runs_dir
        self.proc: subprocess.Popen | None = None

    def start(self, *extra: str, heartbeat_interval=0.2, heartbeat_timeout=1.5) -> subprocess.Popen:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ml_lsp.runner", "--runs-dir", str(self.runs_dir),
             "--heartbeat-interval", str(heartbeat_interval), "--heartbeat-timeout", str(heartbeat_timeout),
             "--idle-exit", "120", *extra],
            stdout=open(self.runs_dir.parent / "runner-test.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_for(lambda: (self.runs_dir / "runner.json").exists(), what="the runner to start")
        return self.proc

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(autouse=True)
def user_dirs(tmp_path, monkeypatch):
    """The user's config and state folders (the runner key, run environments) in the
    test's tmp folder, for this process and every process it starts."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


@pytest.fixture
def runs_dir(tmp_path):
    d = tmp_path / "runs"
    d.mkdir()
    yield d
    # Kill whatever jobs the test left running (their process groups, by recorded pgid).
    for run in iter_runs(d):
        status = run.status()
        pgid = status.get("pgid")
        if isinstance(pgid, int) and status.get("state") in ("running", "starting", "lost"):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture
def runner(runs_dir):
    r = RunnerProcess(runs_dir)
    yield r
    r.stop()


def run_state(runs_dir: Path, run_id: str) -> str:
    return RunFolder(runs_dir / run_id).state()


def runs_json(runs_dir: Path) -> list[dict]:
    out = cli("runs", "--json", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["runs"]
