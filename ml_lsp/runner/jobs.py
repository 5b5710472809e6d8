"""Submitting, waiting for, stopping and listing runs: the Python API the command line,
the language server and the fine-tune jobs share. Nothing here imports torch or
watchdog; waiting polls the status file (a few reads a second)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ml_lsp.runner.devices import parse_devices
from ml_lsp.runner.run_folder import (
    ACTIVE_STATES, TERMINAL_STATES, RunFolder, default_runs_dir, enqueue, file_sha256, find_run,
    git_commit, iter_runs, queue_entries, read_json,
)


class SpecError(ValueError):
    """A run that cannot be submitted; the message names the file (and line) and what to do."""


class RunNotFound(LookupError):
    pass


class ForeignRun(PermissionError):
    """A run folder this user's ml-lsp did not write (a repository shipped it): it is
    listed, but never started, rerun or signalled."""

    def __init__(self, run: RunFolder, action: str) -> None:
        super().__init__(f"run {run.id} was not submitted by you on this machine (its spec has no valid "
                         f"seal, so a repository may have shipped it): not {action}")


def check_script(path: str | os.PathLike) -> Path:
    """The script's absolute path; SpecError when it is missing or does not compile (the
    message is ``FILE:LINE:COL: syntax error: ...``, as a compiler prints it)."""
    script = Path(path).expanduser()
    script = script if script.is_absolute() else Path.cwd() / script
    if not script.exists():
        raise SpecError(f"{script}: no such file; give the path of a Python script")
    if not script.is_file():
        raise SpecError(f"{script}: is a directory, not a script")
    try:
        source = script.read_bytes()
    except OSError as exc:
        raise SpecError(f"{script}: cannot read it: {exc.strerror}") from None
    try:
        compile(source, str(script), "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"{script}:{exc.lineno or 1}" + (f":{exc.offset}" if exc.offset else "")
        raise SpecError(f"{where}: syntax error: {exc.msg}; fix it and run again") from None
    except ValueError as exc:  # null bytes
        raise SpecError(f"{script}: not a Python source file ({exc})") from None
    return script.resolve()


def make_spec(script: str | os.PathLike | None = None, args: list[str] | None = None, *,
              module: str | None = None, cwd: str | os.PathLike | None = None,
              env: dict[str, str] | None = None, launcher: str = "local", devices: Any = "auto",
              nproc_per_node: int | None = None, name: str | None = None,
              python: str | None = None, **extra: Any) -> dict:
    """A checked spec for ``submit``: a script (checked to exist and compile) or a module
    (``python -m MODULE``), with arguments, working folder, environment overrides,
    launcher, devices and a display name. ``extra`` fields are stored as they are (the
    fine-tune job keeps its settings there)."""
    if (script is None) == (module is None):
        raise SpecError("give a script or a module to run (not both)")
    try:
        parsed = parse_devices(devices)
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    if nproc_per_node is not None and nproc_per_node < 1:
        raise SpecError(f"--nproc-per-node {nproc_per_node}: must be at least 1")
    spec: dict[str, Any] = {
        "args": [str(a) for a in (args or [])],
        "cwd": str(Path(cwd).resolve()) if cwd else os.getcwd(),
        "env": {str(k): str(v) for k, v in (env or {}).items()},
        "launcher": launcher,
        "devices": parsed,
        "nproc_per_node": nproc_per_node,
        "python": python or sys.executable,
        "name": name,
    }
    if script is not None:
        path = check_script(script)
        spec["script"] = str(path)
        spec["script_sha256"] = file_sha256(path)
        spec["git"] = git_commit(path.parent)
        spec["name"] = name or path.stem
    else:
        spec["module"] = module
        spec["name"] = name or module
        spec["git"] = git_commit(Path(spec["cwd"]))
    spec.update(extra)
    return spec


def submit(spec: dict, runs_dir: str | os.PathLike | None = None, *, start_runner: bool = True,
           cpu_slots: int | None = None) -> RunFolder:
    """Create the run folder (atomically), queue it, and make sure a runner serves the
    folder. Returns the run; ``run.id`` is its id."""
    runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
    run = RunFolder.create(runs_dir, spec)
    enqueue(run)
    if start_runner:
        ensure_runner(runs_dir, cpu_slots=cpu_slots)
    return run


def ensure_runner(runs_dir: str | os.PathLike, cpu_slots: int | None = None,
                  extra_args: list[str] | None = None) -> bool:
    """Start a detached runner for ``runs_dir`` unless one is alive. Returns whether one
    was started. (If two callers race, the loser's runner finds the lock taken and exits.)"""
    from ml_lsp.runner.daemon import runner_alive

    from ml_lsp.runner.run_folder import make_runs_dir
    from ml_lsp.userdirs import neutral_cwd

    runs_dir = Path(runs_dir).resolve()
    if runner_alive(runs_dir):
        return False
    make_runs_dir(runs_dir)
    argv = [sys.executable, "-m", "ml_lsp.runner", "--runs-dir", str(runs_dir)]
    if cpu_slots:
        argv += ["--cpu-slots", str(cpu_slots)]
    argv += extra_args or []
    # Not the runs folder as working folder: a repository can ship files there, and
    # Python imports from the working folder first.
    logf = os.fdopen(os.open(runs_dir / "runner.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    with logf:
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                         start_new_session=True, close_fds=True, cwd=str(neutral_cwd()))
    return True


def resolve(run: RunFolder | str, runs_dir: str | os.PathLike | None = None) -> RunFolder:
    if isinstance(run, RunFolder):
        return run
    runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
    found = find_run(runs_dir, run)
    if found is None:
        from ml_lsp.runner.run_folder import matching_runs
        matches = sorted(r.id for r in matching_runs(runs_dir, run)) if run else []
        if len(matches) > 1:
            shown = ", ".join(matches[:10]) + (f" and {len(matches) - 10} more" if len(matches) > 10 else "")
            raise RunNotFound(f"run id {run!r} is ambiguous: it matches {len(matches)} runs ({shown}); "
                              "give more of the id")
        raise RunNotFound(f"no run {run!r} in {runs_dir}; `ml-lsp runs` lists them")
    return found


def wait(run: RunFolder | str, runs_dir: str | os.PathLike | None = None,
         timeout: float | None = None, poll: float = 0.1) -> str:
    """Block until the run reaches a final state (succeeded, failed, stopped, lost) and
    return it; TimeoutError after ``timeout`` seconds."""
    run = resolve(run, runs_dir)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        state = run.state()
        if state in TERMINAL_STATES:
            return state
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"run {run.id} still {state} after {timeout} s")
        time.sleep(poll)


def stop(run: RunFolder | str, runs_dir: str | os.PathLike | None = None, *,
         grace: float | None = None, wait_for: float | None = None) -> str:
    """Ask a run to stop. A queued run leaves the queue at once. A running one gets SIGINT,
    then SIGTERM, then SIGKILL (``grace`` seconds apart, default 5), to its whole process
    group, from its runner; if the runner is gone, from here. Returns the state after
    ``wait_for`` seconds at most (None: do not wait)."""
    from ml_lsp.runner.daemon import runner_alive

    run = resolve(run, runs_dir)
    if not run.is_ours():
        raise ForeignRun(run, "signalled")
    run.request_stop()
    if grace is not None:
        from ml_lsp.runner.run_folder import read_json as _rj, write_json_atomic
        req = _rj(run.stop_request_path)
        req["grace"] = grace
        write_json_atomic(run.stop_request_path, req)
    for entry, run_id in queue_entries(run.runs_dir):
        if run_id == run.id:
            try:
                os.unlink(entry)
            except FileNotFoundError:
                break  # the runner took it first: it will see the request
            run.write_status(state="stopped", ended=time.time())
            return "stopped"
    status = run.status()
    orphan = run.state(status) == "lost" or (status.get("state") in ACTIVE_STATES
                                            and not runner_alive(run.runs_dir))
    if orphan and run.verified_process(status):
        _stop_orphan(run, status, grace if grace is not None else 5.0)
    if wait_for is None:
        return run.state()
    try:
        return wait(run, timeout=wait_for)
    except TimeoutError:
        return run.state()


def _stop_orphan(run: RunFolder, status: dict, grace: float) -> None:
    """Signal a run no runner watches any more (its runner died): SIGINT, SIGTERM, SIGKILL
    to its process group, ``grace`` seconds apart, until its process is gone. Only the
    process our runner recorded (sealed pid, pgid and start time: ``verified_process``)."""
    from ml_lsp.runner.daemon import _killpg

    for sig, delay in ((signal.SIGINT, grace), (signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        process = run.verified_process(status)
        if process is None or _zombie(process[0]):
            break
        _killpg(process[1], sig)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and run.verified_process(status) and not _zombie(process[0]):
            time.sleep(0.05)
    run.write_status(state="stopped", ended=time.time(),
                     error="stopped after its runner died; exit status unknown")


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def rerun(run: RunFolder | str, runs_dir: str | os.PathLike | None = None, **kw: Any) -> RunFolder:
    """Submit the same spec again (script checked afresh: it may have changed)."""
    old = resolve(run, runs_dir)
    spec = old.spec()
    if not old.is_ours(spec):  # rerunning would seal a stranger's spec as the user's own
        raise ForeignRun(old, "rerun")
    keep = {k: v for k, v in spec.items()
            if k not in ("id", "created", "version", "script_sha256", "git", "seal", "env_keys")}
    keep["env"] = old.job_env(spec)
    if spec.get("script"):
        path = check_script(spec["script"])
        keep["script_sha256"] = file_sha256(path)
        keep["git"] = git_commit(path.parent)
    keep["rerun_of"] = old.id
    return submit(keep, old.runs_dir, **kw)


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[RunFolder]:
    """Every run, newest first."""
    runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
    runs = []
    for run in iter_runs(runs_dir):
        spec = read_json(run.spec_path)
        runs.append((spec.get("created") or 0, run.id, run))
    runs.sort(key=lambda x: (x[0], x[1]), reverse=True)
    return [r for _, _, r in runs]


def run_record(run: RunFolder) -> dict:
    """The ``ml-lsp runs --json`` entry of one run."""
    spec = run.spec()
    status = run.status()
    state = run.state(status)
    return {
        "id": run.id,
        "foreign": not run.is_ours(spec),
        "name": spec.get("name"),
        "script": spec.get("script") or (f"-m {spec['module']}" if spec.get("module") else None),
        "args": spec.get("args") or [],
        "state": state,
        "exit_code": status.get("exit_code"),
        "signal": status.get("signal"),
        "error": status.get("error"),
        "queued": status.get("queued"),
        "started": status.get("started"),
        "ended": status.get("ended"),
        "pid": status.get("pid"),
        "devices": status.get("devices", spec.get("devices")),
        "launcher": spec.get("launcher"),
        "remote": remote_record(run, spec),
        "path": str(run.path),
    }


REMOTE_FILE = "remote.json"


def remote_record(run: RunFolder, spec: dict | None = None) -> dict | None:
    """Where a run handed to a cluster runs (``remote.json``, written by its launcher's
    follower: the cluster, the job id, its state there, a dashboard link); None for a local
    run or one that is not the user's own (its link would be anyone's)."""
    spec = run.spec() if spec is None else spec
    if spec.get("launcher") in (None, "local", "torchrun") or not run.is_ours(spec):
        return None
    remote = read_json(run.path / REMOTE_FILE)
    if not remote:
        return None
    keep = ("launcher", "label", "address", "submission_id", "job_id", "status", "message", "dashboard",
            "connection", "driver_exit_code")
    record = {k: remote.get(k) for k in keep if k in remote}
    # A link is shown only to the cluster the user's own (sealed) spec names.
    address = (spec.get(spec.get("launcher")) or {}).get("address") if isinstance(spec.get("launcher"), str) else None
    dashboard = record.get("dashboard")
    if not (isinstance(address, str) and isinstance(dashboard, str) and dashboard.startswith(address + "/")):
        record.pop("dashboard", None)
    return record


SUMMARY_CACHE = "summary.json"


def summary_json(run: RunFolder, rank: int | None = None) -> dict:
    """The metrics (latest per source line, rank 0 by default), progress, exception and
    frame counts of a run. A finished run's answer is kept in ``summary.json`` beside its
    frames, so listing or reopening a million-frame run costs a file read, not a pass over
    its frames. The cache holds while ``frames.bin`` keeps its size and modification time,
    and only with this user's seal (a run folder's files are anyone's input)."""
    from ml_lsp.runner import origin
    from ml_lsp.runner.run_folder import write_json_atomic
    from ml_lsp.runner.summary import summarize

    try:
        stat = os.stat(run.frames_path)
        size, mtime = stat.st_size, stat.st_mtime_ns
    except OSError:
        size, mtime = 0, 0
    cache_path = run.path / SUMMARY_CACHE
    if rank is None:
        cached = read_json(cache_path)
        if cached.get("frames_size") == size and cached.get("frames_mtime_ns") == mtime \
                and "metrics" in cached and origin.is_sealed("summary", {**cached, "run": run.id}):
            return cached
    terminal = run.state() in TERMINAL_STATES
    summary = summarize(run)
    progress = summary.progress
    data = {
        "frames_size": size,
        "frames_mtime_ns": mtime,
        "metrics": [m.to_json() for m in summary.shown_metrics(rank)],
        "progress": None if progress is None else {
            "current": progress.current, "total": progress.total, "unit": progress.unit,
            "path": progress.path, "line": progress.line, "rate": progress.rate(),
            # the run's time left: only while it runs, and only with enough history
            "eta": None if terminal else summary.eta()},
        "exception": None if summary.exception is None else {
            k: summary.exception.get(k) for k in ("type", "message", "frames")},
        "frames": summary.frames,
        "corrupt_frames": summary.corrupt,
        "truncated_bytes": summary.pending_bytes,
    }
    if terminal and rank is None:
        try:
            stored = origin.sealed("summary", {"version": 1, **data, "run": run.id})
            write_json_atomic(cache_path, {k: v for k, v in stored.items() if k != "run"})
        except OSError:  # a read-only folder: answer anyway
            pass
    return data


def cached_metrics(run: RunFolder) -> list[dict]:
    """The latest metrics of a run for a listing (see ``summary_json``)."""
    return summary_json(run).get("metrics") or []


def run_details(run: RunFolder, rank: int | None = None) -> dict:
    """The ``ml-lsp runs show ID --json`` object: the run record with its metrics (latest
    per source line, 1-based lines, absolute paths; rank 0 by default) and progress."""
    record = run_record(run)
    data = summary_json(run, rank)
    for key in ("metrics", "progress", "exception", "frames", "corrupt_frames", "truncated_bytes"):
        record[key] = data.get(key)
    record["checkpoints"] = run.checkpoints()
    return record
