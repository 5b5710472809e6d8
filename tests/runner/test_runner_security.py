"""The runner starts and signals only what this user submitted on this machine; run
folders and logs are the user's only; a run's secrets stay out of its folder; a full disk
ends a run as failed instead of leaving it running forever. Real runner processes, real
jobs, the CLI as a user types it."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from hostile import RUNNER_MODULES, marker_script, plant_import_traps, sprung
from ml_lsp.runner import jobs
from ml_lsp.runner.run_folder import FORMAT_VERSION, RunFolder, write_json_atomic

from .conftest import cli, runs_json, wait_for, write_script


def plant_run(runs_dir: Path, run_id: str, spec: dict, status: dict | None = None, queued: bool = True) -> RunFolder:
    """A run folder as a repository would ship it: its files written directly, no seal."""
    folder = runs_dir / run_id
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({"version": FORMAT_VERSION, "id": run_id, "created": 1.0, **spec}))
    (folder / "status.json").write_text(json.dumps({"version": FORMAT_VERSION, "state": "queued", "queued": 1.0,
                                                    **(status or {})}))
    if queued:
        (runs_dir / "queue").mkdir(exist_ok=True)
        (runs_dir / "queue" / f"{'0' * 20}-{run_id}.json").write_text(json.dumps({"id": run_id, "version": 1}))
    return RunFolder(folder)


def test_a_planted_spec_is_never_started_while_the_users_own_run_is(tmp_path, runs_dir, runner):
    marker = tmp_path / "planted-ran"
    (tmp_path / "repo").mkdir()
    evil = write_script(tmp_path / "repo", "payload.py", marker_script(marker))
    shell = tmp_path / "repo" / "python"  # its own "interpreter", as the attack has
    shell.write_text(f"#!/bin/sh\n{sys.executable} {evil}\n")
    shell.chmod(0o755)
    plant_run(runs_dir, "20200101-000000-payload-aaaaaa",
              {"script": str(evil), "python": str(shell), "cwd": str(tmp_path), "launcher": "local", "args": []})
    runner.start()
    mine = write_script(tmp_path, "mine.py", "print('my own run')\n")
    out = cli("run", str(mine), "--wait", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    assert RunFolder(runs_dir / out.stdout.split()[-1]).stdout_path.read_text().strip() == "my own run"
    assert not marker.exists(), "the runner ran a spec the repository planted"
    planted = [r for r in runs_json(runs_dir) if r["id"].endswith("payload-aaaaaa")][0]
    assert planted["state"] == "queued" and planted["foreign"] is True
    table = cli("runs", runs_dir=runs_dir).stdout
    assert "[foreign]" in table
    # said once in the runner's log, not at every rescan
    log = (runs_dir.parent / "runner-test.log").read_text()
    assert log.count("payload-aaaaaa") == 1, log


def test_a_forged_queue_entry_for_a_real_spec_does_not_replay_it(tmp_path, runs_dir, runner):
    runner.start()
    marker = tmp_path / "count"
    script = write_script(tmp_path, "once.py", f"open({str(marker)!r}, 'a').write('x')\n")
    out = cli("run", str(script), "--wait", runs_dir=runs_dir)
    assert out.returncode == 0 and marker.read_text() == "x"
    run_id = out.stdout.split()[-1]
    # a copy of an entry without a valid seal (and the run is no longer queued anyway)
    (runs_dir / "queue" / f"{'0' * 20}-{run_id}.json").write_text(json.dumps({"id": run_id, "version": 1}))
    again = cli("run", str(write_script(tmp_path, "other.py", "pass\n")), "--wait", runs_dir=runs_dir)
    assert again.returncode == 0
    assert marker.read_text() == "x", "a queue entry replayed a finished run"


def test_stop_never_signals_a_process_a_planted_status_names(tmp_path, runs_dir):
    victim = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        foreign = plant_run(runs_dir, "20200101-000000-fake-bbbbbb",
                            {"script": "/x.py", "python": sys.executable},
                            {"state": "running", "pid": victim.pid, "pgid": victim.pid, "heartbeat": time.time() + 3600},
                            queued=False)
        out = cli("stop", foreign.id, "--grace", "0.2", runs_dir=runs_dir)
        assert out.returncode == 1 and "not submitted by you on this machine" in out.stderr, out.stderr
        # The user's own run folder whose status.json was rewritten to name the same process:
        # the pid and start time carry no seal of the runner's, so it is not signalled either.
        own = jobs.submit(jobs.make_spec(write_script(tmp_path, "t.py", "pass\n")), runs_dir, start_runner=False)
        for entry in (runs_dir / "queue").iterdir():
            entry.unlink()
        own.write_status(state="running", pid=victim.pid, pgid=victim.pid, heartbeat=time.time() - 3600,
                         pid_start=None)
        cli("stop", own.id, "--grace", "0.2", "--no-wait", runs_dir=runs_dir)
        assert victim.poll() is None, "ml-lsp stop killed a process it did not start"
        rerun = cli("rerun", foreign.id, runs_dir=runs_dir)
        assert rerun.returncode == 1 and "not submitted by you" in rerun.stderr
    finally:
        victim.kill()
        victim.wait()


def test_stop_still_stops_a_run_whose_runner_died(tmp_path, runs_dir, runner):
    """The seal does not get in the user's way: an orphaned run of theirs is stopped."""
    proc = runner.start()
    script = write_script(tmp_path, "long.py", "import time\nprint('up', flush=True)\ntime.sleep(120)\n")
    run_id = cli("run", str(script), runs_dir=runs_dir).stdout.split()[-1]
    run = RunFolder(runs_dir / run_id)
    wait_for(lambda: "up" in run.stdout_path.read_text() if run.stdout_path.exists() else False, what="the job")
    pid = run.status()["pid"]
    proc.kill()
    proc.wait()
    out = cli("stop", run_id, "--grace", "0.5", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    wait_for(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z",
             what="the orphaned job to end")


def test_files_planted_in_the_runs_folder_are_not_imported_by_the_runner(tmp_path, runs_dir):
    marks = tmp_path / "marks"
    plant_import_traps(runs_dir, marks, names=RUNNER_MODULES + ("tokenize", "msgpack"), package=True)
    script = write_script(tmp_path, "mine.py", "print('ok')\n")
    out = cli("run", str(script), "--wait", runs_dir=runs_dir, timeout=120)  # starts a runner on demand
    try:
        assert out.returncode == 0, out.stderr
        assert sprung(marks) == {}
    finally:
        info = json.loads((runs_dir / "runner.json").read_text()) if (runs_dir / "runner.json").exists() else {}
        if info.get("pid"):
            os.kill(info["pid"], signal.SIGTERM)


def test_run_folders_are_private_and_the_environment_stays_out_of_them(tmp_path, runs_dir, runner):
    runner.start()
    secret = "AKIAFAKE-do-not-write-me-" + os.urandom(4).hex()
    script = write_script(tmp_path, "uses_secret.py", """
        import os
        import ml_lsp
        print("have the key:", os.environ.get("AWS_SECRET_ACCESS_KEY", "")[:4] == "AKIA")
        ml_lsp.log(loss=0.5, step=1)
    """)
    out = cli("run", str(script), "--env", f"AWS_SECRET_ACCESS_KEY={secret}", "--wait", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    run = RunFolder(runs_dir / out.stdout.split()[-1])
    assert run.stdout_path.read_text().strip() == "have the key: True"
    assert run.spec()["env_keys"] == ["AWS_SECRET_ACCESS_KEY"]
    # a rerun gets the same environment back, from the user's own folder
    rerun = cli("rerun", run.id, "--wait", runs_dir=runs_dir)
    assert rerun.returncode == 0, rerun.stderr
    again = RunFolder(runs_dir / rerun.stdout.split()[-1])
    assert again.stdout_path.read_text().strip() == "have the key: True"
    for path in [p for p in runs_dir.rglob("*") if p.is_file()]:
        assert secret.encode() not in path.read_bytes(), f"{path} holds the run's secret"
    for folder in (runs_dir, run.path, again.path, runs_dir / "queue"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for name in ("spec.json", "status.json", "stdout.log", "stderr.log", "frames.bin"):
        assert stat.S_IMODE((run.path / name).stat().st_mode) == 0o600, name


def test_a_summary_cache_is_not_believed_on_its_size_alone(tmp_path, runs_dir, runner):
    runner.start()
    script = write_script(tmp_path, "m.py", "import ml_lsp\nml_lsp.log(acc=0.25, step=1)\n")
    run_id = cli("run", str(script), "--wait", runs_dir=runs_dir).stdout.split()[-1]
    run = RunFolder(runs_dir / run_id)
    shown = json.loads(cli("runs", "show", run_id, "--json", runs_dir=runs_dir).stdout)
    assert [m["last"] for m in shown["metrics"] if m["name"] == "acc"] == [0.25]
    cache = json.loads((run.path / "summary.json").read_text())
    for metric in cache["metrics"]:
        metric["last"] = 99.0
    write_json_atomic(run.path / "summary.json", cache)  # same frames_size, forged values
    assert json.loads((run.path / "summary.json").read_text())["metrics"][0]["last"] == 99.0
    again = json.loads(cli("runs", "show", run_id, "--json", runs_dir=runs_dir).stdout)
    assert [m["last"] for m in again["metrics"] if m["name"] == "acc"] == [0.25]


def test_a_full_disk_ends_the_run_as_failed_with_the_reason(tmp_path, runs_dir, monkeypatch):
    """The runner in this process (real job processes): once the job runs, every status
    write fails with ENOSPC, as on a full disk. The runner stops the job, logs the failure
    a bounded number of times, and records ``failed`` with the reason once it can write."""
    import logging

    from ml_lsp.runner import daemon, run_folder

    script = write_script(tmp_path, "long.py", "import time\nprint('up', flush=True)\ntime.sleep(300)\n")
    run = jobs.submit(jobs.make_spec(script), runs_dir, start_runner=False)
    runner = daemon.Runner(runs_dir, cpu_slots=1, idle_exit=0, heartbeat_interval=0.05, rescan_interval=0.2)
    records: list[logging.LogRecord] = []  # what reaches the runner's log (after its own filter)
    handler = logging.Handler()
    handler.emit = records.append
    daemon.log.addHandler(handler)
    thread = threading.Thread(target=runner.serve, daemon=True)
    thread.start()
    try:
        wait_for(lambda: run.status().get("state") == "running", what="the job to start")
        pid = run.status()["pid"]
        real_write = run_folder.write_json_atomic
        disk_full = threading.Event()
        disk_full.set()
        failed_writes = []

        def full_disk(path, data):
            if disk_full.is_set():
                failed_writes.append(path)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            return real_write(path, data)

        monkeypatch.setattr(run_folder, "write_json_atomic", full_disk)
        monkeypatch.setattr(daemon, "write_json_atomic", full_disk)
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=30, what="the runner to stop the job")
        seen = len(failed_writes)
        wait_for(lambda: len(failed_writes) > seen + 40, what="more heartbeats on the full disk")
        assert run.status()["state"] == "running"  # nothing could be written yet
        disk_full.clear()  # space is freed
        wait_for(lambda: run.status()["state"] == "failed", what="the end to be recorded")
        status = run.status()
        assert "No space left on device" in status["error"] and "free some disk space" in status["error"]
        warnings = [r for r in records if r.levelno == logging.WARNING]
        assert 0 < len(warnings) <= 4, [r.getMessage() for r in warnings]
    finally:
        runner._stop = True
        runner.wake.set()
        thread.join(10)
        daemon.log.removeHandler(handler)
