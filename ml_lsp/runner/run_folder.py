"""A run is a folder; the folder, not any process's memory, is the truth about it.

    <runs dir>/                     default <workspace>/.ml-lsp/runs (ML_LSP_RUNS_DIR, setting runs_dir)
      queue/<ns>-<run id>.json      a run waiting for the runner; the name sorts in submit order
      runner.lock                   flock held by the one runner serving this folder
      runner.json                   that runner's pid, slots, heartbeat
      <run id>/
        spec.json                   what to run (written once, at submit)
        status.json                 where it stands (rewritten atomically: temp file + rename)
        frames.bin                  append-only frames (see ml_lsp.runner.frames)
        stdout.log, stderr.log      the job's output
        checkpoints.jsonl           one JSON object per checkpoint written
        stop-request.json           present once someone asked the run to stop

``docs/run-folder.md`` documents every field. Readers ignore fields they do not know;
writers keep fields they do not know when they rewrite a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

FORMAT_VERSION = 1
STATES = ("queued", "starting", "running", "succeeded", "failed", "stopped", "lost")
TERMINAL_STATES = frozenset({"succeeded", "failed", "stopped", "lost"})
ACTIVE_STATES = frozenset({"starting", "running"})
DEFAULT_HEARTBEAT_TIMEOUT = 10.0

SPEC_FILE = "spec.json"
STATUS_FILE = "status.json"
FRAMES_FILE = "frames.bin"
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
CHECKPOINTS_FILE = "checkpoints.jsonl"
STOP_REQUEST_FILE = "stop-request.json"
QUEUE_DIR = "queue"


def default_runs_dir(root: str | os.PathLike | None = None) -> Path:
    """``$ML_LSP_RUNS_DIR`` if set, else ``<root>/.ml-lsp/runs`` (root: the current folder)."""
    env = os.environ.get("ML_LSP_RUNS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return (Path(root) if root else Path.cwd()).resolve() / ".ml-lsp" / "runs"


def find_runs_dir(start: str | os.PathLike | None = None, configured: str | None = None) -> Path:
    """The runs folder for a command run from ``start``: ``$ML_LSP_RUNS_DIR``, else
    ``configured`` (the ``runs_dir`` setting) or ``.ml-lsp/runs`` under the project root,
    the nearest folder up from ``start`` holding ``.ml-lsp``, ``pyproject.toml`` or
    ``.git`` (``start`` itself when none does)."""
    env = os.environ.get("ML_LSP_RUNS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    root = project_root(start)
    if configured is None:
        try:
            from ml_lsp.settings import normalise_key, read_pyproject_table, runs_dir_inside
            table = read_pyproject_table(root)[0] or {}
            configured = {normalise_key(k): v for k, v in table.items()}.get("runs_dir")
            # The repository's own file may move its runs folder, but not out of itself.
            configured = configured if runs_dir_inside(root, configured) else None
        except Exception:  # a broken pyproject must not stop `ml-lsp runs`
            configured = None
    return (root / (configured or ".ml-lsp/runs")).resolve()


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The nearest folder up from ``start`` holding ``.ml-lsp``, ``pyproject.toml`` or
    ``.git`` (``start`` itself when none does)."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in (".ml-lsp", "pyproject.toml", ".git")):
            return folder
    return here


def write_json_atomic(path: Path, data: dict) -> None:
    """Readers see the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read_json(path: Path) -> dict:
    """The object in ``path``, or {} when missing or unreadable (a reader never crashes on
    a folder another version or a crash left behind)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def new_run_id(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:40] or "run"
    return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{slug}-{secrets.token_hex(3)}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def git_commit(folder: Path) -> dict | None:
    """``{"commit", "dirty"}`` of the git work tree holding ``folder``, or None."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=3)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=3)
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


class RunFolder:
    """One run's folder. Cheap to make; every accessor reads the disk afresh."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.id = self.path.name
        self.runs_dir = self.path.parent

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunFolder) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    # -- paths -----------------------------------------------------------------------------
    @property
    def spec_path(self) -> Path:
        return self.path / SPEC_FILE

    @property
    def status_path(self) -> Path:
        return self.path / STATUS_FILE

    @property
    def frames_path(self) -> Path:
        return self.path / FRAMES_FILE

    @property
    def stdout_path(self) -> Path:
        return self.path / STDOUT_FILE

    @property
    def stderr_path(self) -> Path:
        return self.path / STDERR_FILE

    @property
    def checkpoints_path(self) -> Path:
        return self.path / CHECKPOINTS_FILE

    @property
    def stop_request_path(self) -> Path:
        return self.path / STOP_REQUEST_FILE

    def exists(self) -> bool:
        return self.spec_path.is_file()

    # -- spec and status ---------------------------------------------------------------------
    def spec(self) -> dict:
        return read_json(self.spec_path)

    def is_ours(self, spec: dict | None = None) -> bool:
        """Whether this user's ml-lsp on this machine wrote the spec (its seal holds). A
        run that is not ours (a repository shipped it) is listed, never started or
        signalled."""
        from ml_lsp.runner import origin
        return origin.is_sealed("spec", self.spec() if spec is None else spec)

    def job_env(self, spec: dict | None = None) -> dict[str, str]:
        """The values of the spec's ``env_keys``, kept outside the run folder (see
        ``_store_env``); {} when they are gone."""
        spec = self.spec() if spec is None else spec
        keys = spec.get("env_keys") or []
        if not keys or not isinstance(spec.get("seal"), str):
            return {}
        data = read_json(_env_file(spec["seal"]))
        return {k: data[k] for k in keys if isinstance(data.get(k), str)}

    def record_process(self, pid: int, pgid: int, **fields: Any) -> dict:
        """Write the job's pid and process group with a seal over them and the pid's start
        time: ``stop`` signals only a process whose seal and start time both match."""
        from ml_lsp.runner import origin
        start = process_start(pid)
        token = origin.seal("process", {"run": self.id, "pid": pid, "pgid": pgid, "start": start})
        return self.write_status(pid=pid, pgid=pgid, pid_start=start, process_seal=token, **fields)

    def verified_process(self, status: dict | None = None) -> tuple[int, int] | None:
        """(pid, pgid) of the job this run's runner started, if it is still that process:
        the seal proves our runner wrote them, the start time that the pid was not reused."""
        from ml_lsp.runner import origin
        status = self.status() if status is None else status
        pid, pgid, start = status.get("pid"), status.get("pgid"), status.get("pid_start")
        if not (isinstance(pid, int) and isinstance(pgid, int) and isinstance(start, int)):
            return None
        if not origin.verify("process", {"run": self.id, "pid": pid, "pgid": pgid, "start": start},
                             status.get("process_seal")):
            return None
        return (pid, pgid) if process_start(pid) == start else None

    def status(self) -> dict:
        """status.json as written, with ``state`` filled in; see ``state()`` for ``lost``."""
        status = read_json(self.status_path)
        status.setdefault("state", "queued" if self.exists() else "lost")
        return status

    def state(self, status: dict | None = None, now: float | None = None) -> str:
        """The run's state as a reader should show it: a run whose status says starting or
        running but whose heartbeat is older than its timeout is ``lost`` (the runner
        died; nobody will ever record how the job ended)."""
        status = self.status() if status is None else status
        state = status.get("state", "queued")
        if state in ACTIVE_STATES:
            beat = status.get("heartbeat") or status.get("started") or status.get("queued")
            timeout = status.get("heartbeat_timeout") or DEFAULT_HEARTBEAT_TIMEOUT
            if isinstance(beat, (int, float)) and (now or time.time()) - beat > timeout:
                return "lost"
        return state if state in STATES else state  # an unknown newer state passes through

    def write_status(self, **changes: Any) -> dict:
        """Merge ``changes`` into status.json (unknown fields kept) and write it atomically."""
        status = read_json(self.status_path)
        status.update(changes)
        status["version"] = FORMAT_VERSION
        write_json_atomic(self.status_path, status)
        return status

    # -- stop requests and checkpoints -------------------------------------------------------
    def request_stop(self, reason: str = "user") -> None:
        if not self.stop_request_path.exists():
            write_json_atomic(self.stop_request_path, {"version": FORMAT_VERSION, "time": time.time(),
                                                       "reason": reason, "pid": os.getpid()})

    def stop_requested(self) -> dict | None:
        return read_json(self.stop_request_path) if self.stop_request_path.exists() else None

    def add_checkpoint(self, path: str | os.PathLike, step: int | None = None, **info: Any) -> None:
        """Record a checkpoint the job wrote (one JSON line, appended)."""
        entry = {"path": os.path.abspath(path), "step": step, "time": time.time(), **info}
        with open(self.checkpoints_path, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def checkpoints(self) -> list[dict]:
        try:
            lines = self.checkpoints_path.read_text().splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:  # a line cut short by a crash
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out

    # -- creation ---------------------------------------------------------------------------
    @classmethod
    def create(cls, runs_dir: str | os.PathLike, spec: dict, run_id: str | None = None) -> "RunFolder":
        """Make the folder with spec.json and a ``queued`` status, all at once: it is built
        under a temporary name and renamed into place, so no reader ever sees half a run.
        The spec is sealed (``origin``); the values of its ``env`` go to a file of the
        user's outside the folder, the spec keeps their names (``env_keys``)."""
        from ml_lsp.runner import origin

        runs_dir = Path(runs_dir)
        make_runs_dir(runs_dir)
        name = spec.get("name") or Path(spec.get("script") or spec.get("module") or "run").stem
        run_id = run_id or new_run_id(name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.", dir=runs_dir))
        try:
            now = time.time()
            env = {str(k): str(v) for k, v in (spec.get("env") or {}).items()}
            spec = {k: v for k, v in spec.items() if k not in ("env", "seal")}
            spec.update(version=FORMAT_VERSION, id=run_id, created=spec.get("created", now),
                        env_keys=sorted(env))
            spec = origin.sealed("spec", spec)
            if env:
                _store_env(spec["seal"], env)
            write_json_atomic(tmp / SPEC_FILE, spec)
            write_json_atomic(tmp / STATUS_FILE, {"version": FORMAT_VERSION, "state": "queued",
                                                  "queued": now})
            os.rename(tmp, runs_dir / run_id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls(runs_dir / run_id)


def make_runs_dir(runs_dir: Path) -> None:
    """The runs folder, readable by the user alone (run folders hold logs and checkpoints),
    and kept out of git."""
    from ml_lsp.userdirs import private_folder
    private_folder(runs_dir)
    _keep_out_of_git(runs_dir)


def _env_file(spec_seal: str) -> Path:
    from ml_lsp.userdirs import state_dir
    return state_dir() / "run-env" / f"{spec_seal[:32]}.json"


def _store_env(spec_seal: str, env: dict[str, str]) -> None:
    """A run's environment values (tokens, keys) stay out of the run folder, which other
    tools and backups read: they go to a 0600 file in the user's state folder, found by
    the spec's seal."""
    from ml_lsp.userdirs import write_private
    write_private(_env_file(spec_seal), json.dumps(env).encode("utf-8"))


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks (Linux), to tell it from a later process
    that reuses the pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _keep_out_of_git(runs_dir: Path) -> None:
    """Runs are data, not source: a ``.gitignore`` of ``*`` in the ``.ml-lsp`` folder keeps
    them out of ``git status`` (as .pytest_cache does), unless the user wrote their own."""
    folder = runs_dir.parent if runs_dir.parent.name == ".ml-lsp" else None
    if folder is not None and not (folder / ".gitignore").exists():
        try:
            (folder / ".gitignore").write_text("# written by ml-lsp: run folders are not source\n*\n")
        except OSError:
            pass


def enqueue(run: RunFolder) -> Path:
    """Put the run in the queue folder the runner watches, sealed together with its spec's
    seal (the runner starts only entries whose seals hold)."""
    from ml_lsp.runner import origin
    from ml_lsp.userdirs import private_folder
    queue = private_folder(run.runs_dir / QUEUE_DIR)
    entry = queue / f"{time.time_ns():020d}-{run.id}.json"
    write_json_atomic(entry, origin.sealed("queue", {
        "id": run.id, "version": FORMAT_VERSION, "spec_seal": run.spec().get("seal")}))
    return entry


def queue_entry_is_ours(entry: Path, run: RunFolder, spec: dict) -> bool:
    """Whether ``entry`` queues ``run`` and both were written by this user's ml-lsp."""
    from ml_lsp.runner import origin
    data = read_json(entry)
    return (data.get("id") == run.id and origin.is_sealed("queue", data)
            and data.get("spec_seal") == spec.get("seal") and run.is_ours(spec))


def queue_entries(runs_dir: str | os.PathLike) -> list[tuple[Path, str]]:
    """(entry file, run id) for each queued run, oldest first."""
    queue = Path(runs_dir) / QUEUE_DIR
    try:
        names = sorted(n for n in os.listdir(queue) if n.endswith(".json") and not n.startswith("."))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        run_id = name[:-5].split("-", 1)[1] if "-" in name else name[:-5]
        out.append((queue / name, run_id))
    return out


def iter_runs(runs_dir: str | os.PathLike) -> Iterable[RunFolder]:
    try:
        entries = os.scandir(runs_dir)
    except FileNotFoundError:
        return
    with entries:
        for entry in entries:
            if entry.is_dir() and not entry.name.startswith(".") and entry.name != QUEUE_DIR:
                run = RunFolder(entry.path)
                if run.exists():
                    yield run


def find_run(runs_dir: str | os.PathLike, run_id: str) -> RunFolder | None:
    """The run ``run_id`` names: its full id, or a unique prefix or suffix of it."""
    run = RunFolder(Path(runs_dir) / run_id)
    if run_id and "/" not in run_id and run.exists():
        return run
    matches = matching_runs(runs_dir, run_id)
    return matches[0] if len(matches) == 1 else None


def matching_runs(runs_dir: str | os.PathLike, run_id: str) -> list[RunFolder]:
    """Every run whose id starts or ends with ``run_id``."""
    return [r for r in iter_runs(runs_dir) if r.id.startswith(run_id) or r.id.endswith(run_id)]
