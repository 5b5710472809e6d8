"""The runner process: one per runs folder (``python -m ml_lsp.runner --runs-dir DIR``).

It watches ``DIR/queue`` with watchdog, and re-scans it every few seconds as well because
inotify drops events on overflow and network filesystems send none. It starts queued runs
in submit order (the head of the queue waits for a slot rather than being overtaken),
gives each its devices, launches it through the launcher its spec names (plugins' hook
``ml_lsp_launchers``) in a new session, and records everything in the run folder: pid,
pgid, a heartbeat every ``heartbeat_interval`` seconds, the exit code or the signal.
It stops runs whose folder holds a stop request: SIGINT to the whole process group, then
SIGTERM, then SIGKILL after grace periods.

Started detached (new session, output to ``DIR/runner.log``), it outlives the editor or
terminal that started it; it exits after ``idle_exit`` seconds with nothing to do. A
``flock`` on ``DIR/runner.lock`` keeps it the only runner of that folder.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ml_lsp.runner.devices import Gpu, choose_gpus, parse_devices, probe_gpus
from ml_lsp.runner.run_folder import (
    ACTIVE_STATES, FORMAT_VERSION, QUEUE_DIR, RunFolder, iter_runs, queue_entry_is_ours,
    queue_entries, read_json, write_json_atomic,
)

log = logging.getLogger("ml_lsp.runner")

LOCK_FILE = "runner.lock"
RUNNER_FILE = "runner.json"
DEFAULT_GRACE = (5.0, 5.0)  # seconds after SIGINT, then after SIGTERM
MAX_REATTACH = 5  # a follower killed this many times in a row ends its run as failed


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass
class Job:
    run: RunFolder
    process: subprocess.Popen
    devices: list[int]
    uses_cpu_slot: bool
    stop_phase: int = 0  # 0 none, 1 SIGINT sent, 2 SIGTERM sent, 3 SIGKILL sent
    stop_since: float = 0.0
    grace: tuple[float, float] = DEFAULT_GRACE
    files: list[Any] = field(default_factory=list)
    failure: str | None = None  # the runner ends the run as failed for this reason
    write_errors_since: float | None = None  # status writes failing since (monotonic)
    # The launcher's process only follows work that runs elsewhere (a cluster's job): when
    # a signal kills it unasked, it is started again and picks the job up where it was.
    reattach: bool = False
    reattached: int = 0  # times in a row, without the run getting further


# A run whose status cannot be written for this long (a full or read-only disk) is ended as
# failed: nothing it computes from then on can be kept, and readers would see it frozen.
WRITE_FAILURE_LIMIT = 5.0
# Errors that no retry will cure while the run goes on writing.
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}


class RepeatFilter(logging.Filter):
    """The same message at most once per ``window`` seconds, then a count of the ones held
    back: a full disk fails every heartbeat, and the runner's own log must not fill what
    is left of it."""

    def __init__(self, window: float = 60.0) -> None:
        super().__init__()
        self.window = window
        self.last: dict[tuple, float] = {}
        self.held: dict[tuple, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.levelno, record.getMessage())
        now = time.monotonic()
        if now - self.last.get(key, -self.window) < self.window:
            self.held[key] = self.held.get(key, 0) + 1
            return False
        if len(self.last) > 1000:  # forget messages older than the window
            self.last = {k: t for k, t in self.last.items() if now - t < self.window}
        self.last[key] = now
        held = self.held.pop(key, 0)
        if held:
            record.msg = f"{record.getMessage()} ({held} more like this in the last {self.window:.0f} s)"
            record.args = None
        return True


log.addFilter(RepeatFilter())


def try_lock(runs_dir: Path) -> int | None:
    """An fd holding the runner lock of ``runs_dir``, or None when another runner has it."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(runs_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def runner_alive(runs_dir: str | os.PathLike) -> bool:
    """Whether a runner process holds the lock of ``runs_dir`` now."""
    path = Path(runs_dir) / LOCK_FILE
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a lock we may have taken
    return False


class Runner:
    def __init__(self, runs_dir: str | os.PathLike, cpu_slots: int | None = None, gpu_jobs: int = 1,
                 idle_exit: float = 600.0, heartbeat_interval: float | None = None,
                 heartbeat_timeout: float | None = None, rescan_interval: float = 2.0,
                 launchers: dict[str, Callable] | None = None,
                 gpus: Callable[[], list[Gpu]] = probe_gpus) -> None:
        self.runs_dir = Path(runs_dir).resolve()
        self.queue_dir = self.runs_dir / QUEUE_DIR
        self.cpu_slots = cpu_slots if cpu_slots and cpu_slots > 0 else None  # None: no limit
        self.gpu_jobs = max(1, gpu_jobs)
        self.idle_exit = idle_exit
        self.heartbeat_interval = heartbeat_interval or _env_float("ML_LSP_HEARTBEAT_INTERVAL", 1.0)
        self.heartbeat_timeout = heartbeat_timeout or _env_float(
            "ML_LSP_HEARTBEAT_TIMEOUT", max(10.0, 5 * self.heartbeat_interval))
        self.rescan_interval = rescan_interval
        self._launchers = launchers
        self._probe_gpus = gpus
        self._gpus: list[Gpu] | None = None
        self.jobs: dict[str, Job] = {}
        self.foreign: set[str] = set()  # queue entries not ours, reported once each
        self.unrecorded: dict[str, tuple[RunFolder, dict]] = {}  # ends not yet written (disk full)
        self.wake = threading.Event()
        self._stop = False
        self._lock_fd: int | None = None

    # -- set-up ----------------------------------------------------------------------------
    @property
    def launchers(self) -> dict[str, Callable]:
        if self._launchers is None:
            from ml_lsp.plugins import default_host
            self._launchers = default_host().merged_mapping("ml_lsp_launchers")
        return self._launchers

    def gpus(self) -> list[Gpu]:
        if self._gpus is None:
            self._gpus = self._probe_gpus()
        return self._gpus

    def acquire(self) -> bool:
        self._lock_fd = try_lock(self.runs_dir)
        return self._lock_fd is not None

    def _adopt_orphans(self) -> None:
        """Runs left starting/running by a runner that died: nobody can learn how they end,
        so they are ``lost`` (the lock proves that runner is gone)."""
        queued = {run_id for _, run_id in queue_entries(self.runs_dir)}
        for run in iter_runs(self.runs_dir):
            if not run.is_ours():  # a folder a repository shipped: not ours to touch
                continue
            status = run.status()
            if status.get("state") in ACTIVE_STATES and run.id not in self.jobs:
                run.write_status(state="lost", ended=time.time(),
                                 error="the runner died while the run was active; its end is unknown")
            elif status.get("state") == "queued" and run.id not in queued \
                    and time.time() - (status.get("queued") or 0) > 30:
                # Created but never queued: the submitting process died in between.
                run.write_status(state="failed", ended=time.time(),
                                 error="its submission was interrupted before it reached the queue; "
                                       "submit it again (ml-lsp rerun)")

    def _watch(self):
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # the re-scan timer still finds everything
            return None
        wake = self.wake

        class QueueEvents(FileSystemEventHandler):
            def on_any_event(self, event):  # created, moved in, deleted (cancelled)
                wake.set()

        observer = Observer()
        observer.schedule(QueueEvents(), str(self.queue_dir), recursive=False)
        # Stop requests appear inside run folders: watch those too (not recursive into
        # frames churn would be nicer, but run folders hold few files besides frames).
        observer.daemon = True
        observer.start()
        return observer

    # -- the loop --------------------------------------------------------------------------
    def serve(self) -> int:
        if self._lock_fd is None and not self.acquire():
            log.info("another runner serves %s", self.runs_dir)
            return 0
        from ml_lsp.userdirs import private_folder
        private_folder(self.queue_dir)
        self._adopt_orphans()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            try:
                signal.signal(sig, self._on_signal)
            except ValueError:  # served from a thread: its program owns the signals
                break
        observer = self._watch()
        last_scan = 0.0
        last_beat = 0.0
        idle_since = time.monotonic()
        self._write_runner_file()
        try:
            while not self._stop:
                woke = self.wake.wait(0.05 if self.jobs else 0.5)
                self.wake.clear()
                now = time.monotonic()
                # One bad run folder (deleted, unwritable, a disk full) must not take the
                # runner, and every other run with it, down: log and go on.
                self._guarded(self._reap)
                self._guarded(self._handle_stops)
                if now - last_beat >= self.heartbeat_interval:
                    self._guarded(self._heartbeat)
                    last_beat = now
                if woke or now - last_scan >= self.rescan_interval:
                    self._guarded(self._start_queued)
                    last_scan = now
                if self.jobs or queue_entries(self.runs_dir):
                    idle_since = now
                elif self.idle_exit and now - idle_since > self.idle_exit:
                    if self._release_unless_queued():
                        log.info("idle for %.0f s: exiting", self.idle_exit)
                        break
                    idle_since = now
        finally:
            if observer is not None:
                observer.stop()
            self._shutdown()
        return 0

    def _release_unless_queued(self) -> bool:
        """Give up the lock to exit, unless a run was queued meanwhile. A submitter writes its
        queue entry before it looks for a live runner, so after the lock is released either
        we see its entry here or it sees no runner and starts one: no run is left behind."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if not queue_entries(self.runs_dir):
            return True
        return not self.acquire()  # another runner took over: it serves the entry

    def _guarded(self, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception:
            log.exception("runner step %s failed", step.__name__)

    def _on_signal(self, signum, _frame) -> None:
        self._stop = True
        self.wake.set()

    def _shutdown(self) -> None:
        # Asked to stop (SIGTERM): the jobs run on in their own sessions; the next runner
        # marks them lost. Waiting here could block a shutdown for hours.
        if read_json(self.runs_dir / RUNNER_FILE).get("pid") == os.getpid():  # not a successor's
            try:
                (self.runs_dir / RUNNER_FILE).unlink()
            except OSError:
                pass

    def _write_runner_file(self) -> None:
        write_json_atomic(self.runs_dir / RUNNER_FILE, {
            "version": FORMAT_VERSION, "pid": os.getpid(), "heartbeat": time.time(),
            "cpu_slots": self.cpu_slots, "gpu_jobs": self.gpu_jobs, "running": sorted(self.jobs),
            "heartbeat_timeout": self.heartbeat_timeout})

    def _heartbeat(self) -> None:
        now = time.time()
        for job in self.jobs.values():
            try:
                job.run.write_status(heartbeat=now, heartbeat_timeout=self.heartbeat_timeout)
                job.write_errors_since = None
            except OSError as exc:  # keep running the others
                self._write_failed(job, exc)
        for run_id, (run, fields) in list(self.unrecorded.items()):
            try:
                run.write_status(**fields)
            except OSError as exc:
                log.warning("still cannot record the end of %s: %s", run_id, exc)
                continue
            del self.unrecorded[run_id]
            log.info("recorded the end of %s: %s", run_id, fields.get("state"))
        try:
            self._write_runner_file()
        except OSError as exc:
            log.warning("cannot write %s: %s", RUNNER_FILE, exc)

    def _write_failed(self, job: Job, exc: OSError) -> None:
        """A status write failed. On a full or read-only disk, or after failing for
        WRITE_FAILURE_LIMIT seconds, the run is ended as failed with the reason (it is
        stopped as ``ml-lsp stop`` would, and its end recorded once the disk allows)."""
        now = time.monotonic()
        if job.write_errors_since is None:
            job.write_errors_since = now
        log.warning("cannot write the status of %s: %s", job.run.id, exc)
        hopeless = exc.errno in DISK_ERRORS or now - job.write_errors_since > WRITE_FAILURE_LIMIT
        if hopeless and job.failure is None:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            job.failure = (f"ml-lsp ended the run: cannot write its run folder ({reason}); "
                           "free some disk space and rerun it")
            log.error("%s: %s", job.run.id, job.failure)
            if job.stop_phase == 0:
                job.stop_phase, job.stop_since = 1, now
                _killpg(job.process.pid, signal.SIGINT)

    # -- starting ----------------------------------------------------------------------------
    def _start_queued(self) -> None:
        for entry, run_id in queue_entries(self.runs_dir):
            run = RunFolder(self.runs_dir / run_id)
            if entry.name in self.foreign:
                continue
            if not run.exists():
                _unlink(entry)
                continue
            spec = run.spec()
            if not queue_entry_is_ours(entry, run, spec):
                # Shipped by a repository (or written by another user): left as it is,
                # said once. It does not hold up the user's own runs behind it.
                self.foreign.add(entry.name)
                log.warning("not starting %s: its spec or queue entry was not written by this user's "
                            "ml-lsp on this machine (no valid seal); left alone", entry)
                continue
            if run.status().get("state") != "queued":  # ran already: an entry cannot replay it
                _unlink(entry)
                continue
            if run.stop_requested():
                if _unlink(entry):
                    run.write_status(state="stopped", ended=time.time())
                continue
            try:
                placement = self._place(spec)
            except ValueError as exc:
                if _unlink(entry):
                    run.write_status(state="failed", ended=time.time(), error=str(exc))
                continue
            if placement is None:
                return  # the head waits for a slot; later runs never overtake it
            if not _unlink(entry):  # cancelled between the scan and now
                continue
            self._launch(run, spec, *placement)

    def _place(self, spec: dict) -> tuple[list[int], bool] | None:
        """(GPU indices, uses a CPU slot) for ``spec`` now, None to wait, ValueError when
        it can never run here."""
        devices = parse_devices(spec.get("devices"))
        busy: dict[int, int] = {}
        cpu_busy = 0
        for job in self.jobs.values():
            for d in job.devices:
                busy[d] = busy.get(d, 0) + 1
            cpu_busy += job.uses_cpu_slot
        gpus = [] if devices == "cpu" else self.gpus()
        if devices == "cpu" or (devices == "auto" and not gpus):
            if self.cpu_slots is not None and cpu_busy >= self.cpu_slots:
                return None
            return [], True
        if devices == "auto":
            want = int(spec.get("nproc_per_node") or 1) if spec.get("launcher") == "torchrun" else 1
            if want > len(gpus):
                raise ValueError(f"the run asks for {want} GPUs; this machine has {len(gpus)}")
            chosen = choose_gpus(gpus, want, busy, self.gpu_jobs)
            if chosen is None:
                self._gpus = None  # probe again next time: memory frees up
            return None if chosen is None else (chosen, False)
        known = {g.index for g in gpus}
        missing = [d for d in devices if d not in known]
        if missing:
            raise ValueError(f"GPU {', '.join(map(str, missing))} not found on this machine "
                             f"(found: {', '.join(map(str, sorted(known))) or 'none'}); use --devices auto or cpu")
        if any(busy.get(d, 0) >= self.gpu_jobs for d in devices):
            return None
        return list(devices), False

    def _launch(self, run: RunFolder, spec: dict, devices: list[int], uses_cpu_slot: bool,
                reattached: int = 0) -> None:
        now = time.time()
        if not reattached:
            run.write_status(state="starting", devices=devices, runner_pid=os.getpid(), heartbeat=now,
                             heartbeat_timeout=self.heartbeat_timeout, starting=now)
        name = spec.get("launcher") or "local"
        launcher = self.launchers.get(name)
        if launcher is None:
            run.write_status(state="failed", ended=time.time(),
                             error=f"unknown launcher {name!r} (installed: {', '.join(sorted(self.launchers)) or 'none'})")
            return
        problem = _interpreter_problem(spec.get("python"))
        if problem:
            run.write_status(state="failed", ended=time.time(), error=problem)
            return
        try:
            command = launcher(spec, devices)
            argv = [str(a) for a in command["argv"]]
        except Exception as exc:
            run.write_status(state="failed", ended=time.time(), error=f"launcher {name!r} failed: {exc}")
            return
        env = dict(os.environ)
        env.update(run.job_env(spec))
        env.update({str(k): str(v) for k, v in (command.get("env") or {}).items()})
        env.update({
            "ML_LSP_RUN_ID": run.id,
            "ML_LSP_RUN_DIR": str(run.path),
            "ML_LSP_FRAMES": str(run.frames_path),
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
            "CUDA_VISIBLE_DEVICES": ",".join(map(str, devices)),
            "PYTHONUNBUFFERED": "1",  # so stdout.log (and `ml-lsp logs -f`) is live
        })
        env.setdefault("ML_LSP_RANK", "0")
        cwd = spec.get("cwd") or None
        out = _open_log(run.stdout_path)
        err = _open_log(run.stderr_path)
        try:
            process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=err, start_new_session=True, close_fds=True)
        except OSError as exc:
            out.close()
            err.close()
            run.write_status(state="failed", ended=time.time(), error=f"cannot start {argv[0]}: {exc}")
            return
        self.jobs[run.id] = Job(run, process, devices, uses_cpu_slot, files=[out, err],
                                reattach=bool(command.get("reattach")), reattached=reattached)
        times = {"heartbeat": time.time()} if reattached else {"started": time.time(), "heartbeat": time.time()}
        run.record_process(process.pid, process.pid, state="running", argv=argv, reattached=reattached, **times)
        log.info("%s %s (pid %d) on %s", "reattached" if reattached else "started", run.id, process.pid,
                 ",".join(map(str, devices)) or "cpu")

    # -- finishing and stopping ----------------------------------------------------------------
    def _reap(self) -> None:
        for run_id, job in list(self.jobs.items()):
            code = job.process.poll()
            if code is None:
                continue
            del self.jobs[run_id]
            for f in job.files:
                f.close()
            stopped = job.stop_phase > 0 or job.run.stop_requested() is not None
            if job.reattach and code < 0 and not stopped and job.failure is None \
                    and job.reattached < MAX_REATTACH:
                # The follower died (killed, out of memory), not the job it follows: start it
                # again; it finds the job by the run's id and resumes after what it wrote.
                log.warning("%s: its follower was killed by signal %d; reattaching", run_id, -code)
                self._guarded(lambda: self._launch(job.run, job.run.spec(), job.devices, job.uses_cpu_slot,
                                                   reattached=job.reattached + 1))
                continue
            fields: dict[str, Any] = {"ended": time.time(), "exit_code": code, "signal": None}
            if code < 0:
                try:
                    fields["signal"] = signal.Signals(-code).name
                except ValueError:
                    fields["signal"] = f"signal {-code}"
            if job.failure is not None:
                fields.update(state="failed", error=job.failure)
                _killpg(job.process.pid, signal.SIGKILL)
            elif stopped:
                fields["state"] = "stopped"
                # Leftovers of the group (DataLoader workers, torchrun's children) go too.
                _killpg(job.process.pid, signal.SIGKILL)
            else:
                fields["state"] = "succeeded" if code == 0 else "failed"
            try:
                job.run.write_status(**fields)
            except OSError as exc:  # a full disk: the heartbeat retries; a deleted folder: gone
                log.warning("cannot record the end of %s: %s", run_id, exc)
                if job.run.path.is_dir():
                    self.unrecorded[run_id] = (job.run, fields)
                continue
            log.info("%s %s (exit %s)", run_id, fields["state"], code)
            # Summarize the finished run once, off the loop, so that listing it or opening
            # it in an editor later reads summary.json instead of every frame.
            threading.Thread(target=_cache_summary, args=(job.run,), daemon=True).start()
            self.wake.set()  # a slot is free: look at the queue now

    def _handle_stops(self) -> None:
        now = time.monotonic()
        for job in self.jobs.values():
            if job.stop_phase == 0:
                request = job.run.stop_requested()
                if request is None:
                    continue
                grace = request.get("grace")
                if isinstance(grace, (int, float)):
                    job.grace = (float(grace), float(grace))
                job.stop_phase, job.stop_since = 1, now
                _killpg(job.process.pid, signal.SIGINT)
            elif job.stop_phase == 1 and now - job.stop_since >= job.grace[0]:
                job.stop_phase, job.stop_since = 2, now
                _killpg(job.process.pid, signal.SIGTERM)
            elif job.stop_phase == 2 and now - job.stop_since >= job.grace[1]:
                job.stop_phase = 3
                _killpg(job.process.pid, signal.SIGKILL)


def _cache_summary(run: RunFolder) -> None:
    from ml_lsp.runner.jobs import summary_json

    try:
        summary_json(run)
    except Exception:  # a cache: never worth failing for
        log.exception("summarizing %s failed", run.id)


def _unlink(path: Path) -> bool:
    """Remove a queue entry; False when someone else removed it first (that is the claim)."""
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _open_log(path: Path):
    """A job's log, appended to, readable by the user alone."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def _interpreter_problem(python: Any) -> str | None:
    """Why the spec's interpreter cannot run the job, or None. The sealed spec names the
    interpreter the user's own ml-lsp chose (the one it runs in, or the one the user
    gave); it must still be an executable file."""
    if not isinstance(python, str) or not os.path.isabs(python):
        return f"the spec's interpreter {python!r} is not an absolute path; submit the run again"
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        return f"{python}: no such interpreter (was its virtual environment removed?); submit the run again"
    return None


def _env_int(name: str) -> int | None:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml_lsp.runner",
                                     description="Serve the run queue of one runs folder.")
    parser.add_argument("--runs-dir", required=True)
    parser.add_argument("--cpu-slots", "--slots", type=int, default=_env_int("ML_LSP_CPU_SLOTS"),
                        help="at most this many CPU runs at once (default: $ML_LSP_CPU_SLOTS, else one "
                             "per core, at least 2)")
    parser.add_argument("--gpu-jobs", type=int, default=_env_int("ML_LSP_GPU_JOBS") or 1,
                        help="runs per GPU at once (default: $ML_LSP_GPU_JOBS, else 1)")
    parser.add_argument("--idle-exit", type=float, default=600.0,
                        help="exit after this many seconds with nothing queued or running (0: never)")
    parser.add_argument("--heartbeat-interval", type=float, default=None)
    parser.add_argument("--heartbeat-timeout", type=float, default=None)
    parser.add_argument("--rescan-interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    slots = args.cpu_slots if args.cpu_slots is not None else max(2, os.cpu_count() or 1)
    runner = Runner(args.runs_dir, cpu_slots=slots, gpu_jobs=args.gpu_jobs, idle_exit=args.idle_exit,
                    heartbeat_interval=args.heartbeat_interval, heartbeat_timeout=args.heartbeat_timeout,
                    rescan_interval=args.rescan_interval)
    return runner.serve()


def runner_info(runs_dir: str | os.PathLike) -> dict:
    return read_json(Path(runs_dir) / RUNNER_FILE)


if __name__ == "__main__":
    sys.exit(main())
