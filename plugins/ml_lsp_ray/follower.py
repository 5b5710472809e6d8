"""The local half of a Ray run: the process the runner starts for it (``$ML_LSP_RUN_DIR``
names the run folder).

1. Finds the run's job on the cluster by its submission id (``ml-lsp-<run id>``), or
   submits it: the workspace as ``working_dir`` (``package``), ml_lsp itself as
   ``py_modules`` (so the cluster needs only ray and torch), the job described in
   ``$ML_LSP_RAY_JOB`` for ``remote``.
2. Follows the job's log from its start (``tail_job_logs``) and splits it (``transport``):
   frames into ``frames.bin``, the job's output into ``stdout.log``, its output files into
   the run folder. What an earlier follower of the same run already wrote is skipped, so
   a follower started again after a crash or a lost connection neither loses nor repeats
   anything. Its own messages go to ``stderr.log``.
3. Polls the job's status into ``remote.json`` (``PENDING``, ``RUNNING``...: the editor
   shows it with the cluster and a dashboard link).
4. SIGINT or SIGTERM (``ml-lsp stop``) stops the Ray job, then waits for it to end.
5. Exits with the job's end: 0 when it succeeded, its driver's exit code (else 1) when it
   failed; a job stopped on the cluster by someone else is recorded as stopped.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ml_lsp.runner.run_folder import RunFolder, read_json, write_json_atomic
from ml_lsp_ray.transport import LogDemux

REMOTE_FILE = "remote.json"
STATUS_INTERVAL = 1.0
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
SUBMIT_RETRY_FOR = 120.0  # seconds a not-yet-ready cluster is given to accept the job
GIVE_UP_AFTER = float(os.environ.get("ML_LSP_RAY_GIVE_UP_AFTER", 600))  # seconds without the cluster
# Files a job may not write into the run folder: ours.
RESERVED = {"spec.json", "status.json", "frames.bin", "stdout.log", "stderr.log", "stop-request.json",
            REMOTE_FILE, "summary.json"}


def say(message: str) -> None:
    print(f"ml-lsp ray: {message}", file=sys.stderr, flush=True)


def submission_id(run: RunFolder) -> str:
    return f"ml-lsp-{run.id}"


def dashboard_url(address: str, sid: str) -> str:
    return f"{address.rstrip('/')}/#/jobs/{sid}"


def count_frames(path: Path) -> int:
    from ml_lsp.runner.frames import FrameReader
    return sum(1 for _ in FrameReader(path).payloads())


def _not_found(exc: Exception) -> bool:
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("404" in text or "does not exist" in text)


class Follower:
    def __init__(self, run: RunFolder) -> None:
        self.run = run
        self.spec = run.spec()
        self.cfg: dict = self.spec["ray"]
        self.address: str = self.cfg["address"]
        self.sid = submission_id(run)
        self.client = None
        self.stop_asked = False
        self.stop_sent = False
        self.info: Any = None  # the latest JobDetails
        self.remote = read_json(run.path / REMOTE_FILE)
        self.frames_fd = os.open(run.frames_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.stdout_fd = os.open(run.stdout_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        # What earlier followers of this run wrote: skipped when the log is read again.
        self.frames_written = count_frames(run.frames_path)
        self.text_written = os.fstat(self.stdout_fd).st_size
        self.lost_since: float | None = None

    # -- the cluster ----------------------------------------------------------------------
    def connect(self):
        from ray.job_submission import JobSubmissionClient
        self.client = JobSubmissionClient(self.address)
        return self.client

    async def call(self, fn, *args, **kw):
        return await asyncio.get_running_loop().run_in_executor(None, lambda: fn(*args, **kw))

    def write_remote(self, **fields: Any) -> None:
        self.remote.update(fields)
        self.remote.update(version=1, launcher="ray", label="Ray", address=self.address,
                           submission_id=self.sid, dashboard=dashboard_url(self.address, self.sid),
                           updated=time.time())
        try:
            write_json_atomic(self.run.path / REMOTE_FILE, self.remote)
        except OSError as exc:
            say(f"cannot write {REMOTE_FILE}: {exc}")

    def job_description(self) -> str:
        spec, cfg = self.spec, self.cfg
        desc = {"run_id": self.run.id, "root": cfg["root"], "local_run_dir": str(self.run.path.resolve()),
                "cwd": cfg.get("cwd", "."), "args": spec.get("args") or [], "num_nodes": cfg["num_nodes"],
                "nproc_per_node": cfg["nproc_per_node"], "num_gpus": cfg["num_gpus"], "num_cpus": cfg["num_cpus"],
                "resources": cfg.get("resources") or {}, "artifacts_max_mb": cfg["artifacts_max_mb"],
                "finetune": spec.get("finetune")}
        if desc["finetune"] and desc["finetune"].get("resume_from") and cfg.get("extras"):
            from ml_lsp_ray import RESUME_NAME  # the checkpoint travels in the archive under this name
            desc["finetune"] = {**desc["finetune"], "resume_from": str(Path(cfg["root"]) / RESUME_NAME)}
        for key in ("script", "ml_lsp_script", "module"):
            if cfg.get(key):
                desc[key] = cfg[key]
        return base64.b64encode(json.dumps(desc).encode()).decode()

    def submit(self) -> None:
        import ml_lsp
        import ml_lsp_ray
        from ml_lsp_ray import package

        cfg = self.cfg
        root = Path(cfg["root"])
        include = [root / p for p in cfg.get("include") or []]
        pkg = package.collect(root, leave_out=[Path(p) for p in cfg.get("leave_out") or []], include=include,
                              extras=[(Path(path), name) for path, name in cfg.get("extras") or []])
        package.check_size(pkg, cfg["max_upload_mb"])
        runtime_env = json.loads(json.dumps(cfg.get("runtime_env") or {}))
        env_vars = dict(runtime_env.get("env_vars") or {})
        env_vars.update(self.run.job_env(self.spec))  # --env values: the job's own
        env_vars.update({"ML_LSP_RAY_JOB": self.job_description(), "PYTHONUNBUFFERED": "1"})
        with tempfile.TemporaryDirectory(prefix="ml-lsp-ray-") as scratch:
            archive = package.write_zip(pkg, Path(scratch))
            runtime_env.update(
                working_dir=str(archive), env_vars=env_vars,
                py_modules=[*runtime_env.get("py_modules", []), str(Path(ml_lsp.__file__).parent),
                            str(Path(ml_lsp_ray.__file__).parent)])
            from ml_lsp.pathsafe import module_command
            entry = shlex.join(module_command(cfg.get("python") or "python", "ml_lsp_ray.remote"))
            one_node = int(cfg["num_nodes"]) <= 1
            self.write_remote(status="SUBMITTING", upload_bytes=pkg.size)
            self.client.submit_job(
                entrypoint=entry, submission_id=self.sid, runtime_env=runtime_env,
                metadata={"ml_lsp_run": self.run.id},
                entrypoint_num_cpus=cfg["num_cpus"] if one_node else 0,
                entrypoint_num_gpus=cfg["num_gpus"] if one_node and cfg["num_gpus"] else None,
                entrypoint_resources=(cfg.get("resources") or None) if one_node else None)
        say(f"submitted job {self.sid} to {self.address} ({pkg.size / 2**20:.1f} MiB of workspace); "
            f"dashboard {dashboard_url(self.address, self.sid)}")

    async def attach_or_submit(self) -> None:
        try:
            await self.call(self.connect)
        except Exception as exc:
            raise SystemExit(self.fail(f"cannot reach the Ray cluster at {self.address}: {exc}. Is it running, and "
                                       "is that its dashboard address (http://HOST:8265)?"))
        try:
            self.info = await self.call(self.client.get_job_info, self.sid)
            say(f"following job {self.sid} ({self.info.status}) on {self.address}")
            return
        except Exception as exc:
            if not _not_found(exc):
                raise
        if self.remote.get("status") not in (None, "SUBMITTING"):
            raise SystemExit(self.fail(f"the Ray job {self.sid} is gone from {self.address} (was the cluster "
                                       "restarted?); rerun the run"))
        from ml_lsp.runner.launch import LaunchError
        deadline = time.monotonic() + SUBMIT_RETRY_FOR
        while True:
            try:
                await self.call(self.submit)
                return
            except Exception as exc:
                if "already" in str(exc):  # an earlier follower's request went through after all
                    return
                text = str(exc) if isinstance(exc, LaunchError) else f"{type(exc).__name__}: {exc}"
                # A cluster just started has no job agent yet ("try again later"); a 5xx or a
                # dropped connection may pass too. Bad input does not.
                transient = not isinstance(exc, LaunchError) and (
                    "try again" in text or "status code 5" in text or isinstance(exc, OSError))
                if not transient or time.monotonic() > deadline:
                    raise SystemExit(self.fail(f"cannot submit the job to {self.address}: {text}"))
                say(f"the cluster is not ready ({text}); trying again")
                await asyncio.sleep(2.0)

    def fail(self, message: str) -> int:
        say(message)
        self.write_remote(status="FAILED", message=message)
        return 2

    # -- following --------------------------------------------------------------------------
    def write(self, out) -> None:
        if out.frames:
            data = memoryview(b"".join(out.frames))
            while data:
                data = data[os.write(self.frames_fd, data):]
            self.frames_written += len(out.frames)
        if out.text:
            data = memoryview(out.text)
            while data:
                data = data[os.write(self.stdout_fd, data):]
            self.text_written += len(out.text)
        for name, content in out.files:
            self.write_file(name, content)
        if out.damaged:
            say(f"{out.damaged} damaged frame line(s) in the job's log skipped")

    def write_file(self, name: str, content: bytes) -> None:
        parts = Path(name).parts
        if not parts or Path(name).is_absolute() or ".." in parts or parts[0] in RESERVED or parts[0] == "queue":
            say(f"not writing {name!r} from the job: not a name inside the run folder")
            return
        path = self.run.path.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.replace(tmp, path)

    async def tail(self) -> None:
        """The job's log from its start, as long as it takes; a broken connection is
        retried, re-reading from the start and skipping what was written."""
        delay = 1.0
        while True:
            demux = LogDemux(self.frames_written, self.text_written)
            try:
                async for chunk in self.client.tail_job_logs(self.sid):
                    self.write(demux.feed(chunk))
                    delay = 1.0
                self.write(demux.feed("", final=True))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                say(f"lost the job's log ({type(exc).__name__}: {exc}); reading it again in {delay:.0f} s")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)

    async def reread_log(self) -> None:
        """The whole log once more (the end, when the tail did not finish by itself)."""
        logs = await self.call(self.client.get_job_logs, self.sid)
        demux = LogDemux(self.frames_written, self.text_written)
        self.write(demux.feed(logs, final=True))

    async def poll_status(self) -> None:
        while True:
            try:
                info = await self.call(self.client.get_job_info, self.sid)
            except Exception as exc:
                now = time.time()
                if self.lost_since is None:
                    self.lost_since = now
                    say(f"lost the Ray cluster at {self.address} ({type(exc).__name__}); retrying")
                    self.write_remote(connection=f"lost since {time.strftime('%H:%M:%S')}")
                if now - self.lost_since > GIVE_UP_AFTER:
                    raise SystemExit(self.fail(f"no answer from {self.address} for {GIVE_UP_AFTER:.0f} s; the "
                                               f"job may still be running there (ray job status {self.sid})"))
                await asyncio.sleep(STATUS_INTERVAL * 2)
                continue
            if self.lost_since is not None:
                self.lost_since = None
                say(f"the Ray cluster at {self.address} answers again")
            self.info = info
            status = str(getattr(info.status, "value", info.status))
            if (status != self.remote.get("status") or info.message != self.remote.get("message")
                    or self.remote.get("connection")):
                self.write_remote(status=status, message=info.message, job_id=info.job_id,
                                  start_time=info.start_time, end_time=info.end_time,
                                  driver_exit_code=info.driver_exit_code, connection=None)
            if self.stop_asked and not self.stop_sent and status not in TERMINAL:
                try:
                    await self.call(self.client.stop_job, self.sid)
                    self.stop_sent = True
                    say(f"asked the cluster to stop job {self.sid}")
                except Exception as exc:
                    say(f"cannot stop job {self.sid} yet: {exc}")
            if status in TERMINAL:
                return
            await asyncio.sleep(0.2 if self.stop_asked else STATUS_INTERVAL)

    def on_signal(self) -> None:
        if not self.stop_asked:
            say("stop requested: stopping the Ray job")
        self.stop_asked = True

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.on_signal)
        await self.attach_or_submit()
        tail = asyncio.create_task(self.tail())
        await self.poll_status()
        try:  # the tail ends by itself once the job has ended and its log is read
            await asyncio.wait_for(asyncio.shield(tail), timeout=20.0)
        except asyncio.TimeoutError:
            tail.cancel()
            try:
                await self.reread_log()
            except Exception as exc:
                say(f"the end of the job's log could not be read: {exc}")
        return self.exit_code()

    def exit_code(self) -> int:
        info = self.info
        status = str(getattr(info.status, "value", info.status))
        if status == "SUCCEEDED":
            return 0
        if status == "STOPPED":
            if not self.stop_asked:  # stopped on the cluster (dashboard, `ray job stop`)
                self.run.request_stop(reason="the Ray job was stopped on the cluster")
                say(f"the job was stopped on the cluster: {info.message}")
            return 130
        say(f"the job failed: {info.message}")
        code = info.driver_exit_code
        return code if isinstance(code, int) and 0 < code < 256 else 1


def main() -> int:
    # Our fd 1 is stdout.log, the job's output: nothing of ours may land there (it would
    # shift the byte count that a later follower skips by), so our stdout joins stderr.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    run_dir = os.environ.get("ML_LSP_RUN_DIR")
    if not run_dir:
        say("ML_LSP_RUN_DIR is not set: the follower is started by the runner")
        return 2
    follower = Follower(RunFolder(run_dir))
    try:
        return asyncio.run(follower.main())
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
