"""The parent side of tracing: a warm child process and a cache of its results.

``TraceChild`` is one ``python -m ml_lsp.trace.child`` process in its own session (process
group), bounded in memory, with no GPU and no network. ``TraceSession`` keeps one warm child
across requests, enforces the time limit (killing the whole group on timeout or on
``cancel()``, e.g. when the user edits the file), and caches results by the content hash
of every user file the trace loaded. Never imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ml_lsp.trace.wire import CODEC_ENV, ChannelClosed, ChannelTimeout, read_message, write_message

DEFAULT_TIMEOUT = 20.0
DEFAULT_MEMORY_MB = 4096
# Importing torch in a new child; not counted against the user's time limit.
START_TIMEOUT = 60.0
# Extra time before the parent kills a child whose own timer should have fired already.
KILL_GRACE = 1.5


class TraceFailed(Exception):
    """The trace produced no answer: timeout, crash, cancel. ``problem`` is a dict like the
    child's problems (kind, message, path, line...) so callers can show it on a line."""

    def __init__(self, problem: dict):
        super().__init__(problem["message"])
        self.problem = problem


class TraceCancelled(TraceFailed):
    pass


def child_env(memory_mb: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "CUDA_VISIBLE_DEVICES": "",  # never the GPU
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
        "ML_LSP_TRACE_MEMORY_MB": str(memory_mb),
    })
    return env


class TraceChild:
    """One tracer process. ``request`` is not thread-safe (one request at a time);
    ``kill`` may be called from any thread and makes a pending ``request`` raise."""

    def __init__(self, memory_mb: int = DEFAULT_MEMORY_MB, python: str = sys.executable, codec: str = "msgpack"):
        self.memory_mb = memory_mb
        self.codec = codec
        self._stderr = tempfile.TemporaryFile(prefix="ml-lsp-trace-", suffix=".log")
        from ml_lsp.pathsafe import own_module_command
        from ml_lsp.userdirs import neutral_cwd

        # A working folder of ours, not the workspace, and the working folder dropped from
        # sys.path: the child's own imports (torch...) must not find a workspace's
        # tokenize.py first; the loader puts the model's package root on sys.path itself.
        # The user's interpreter may not have ml-lsp: the child is this ml-lsp's tracer.
        env = child_env(memory_mb)
        env[CODEC_ENV] = codec
        self.started = time.monotonic()
        self.start_seconds: float | None = None
        self.proc = subprocess.Popen(
            own_module_command(python, "ml_lsp.trace.child"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, cwd=str(neutral_cwd()),
            env=env, start_new_session=True, close_fds=True)
        self.pid = self.proc.pid
        self.killed = False
        self.requests = 0
        self.ready: dict | None = None
        self._next_id = 0
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return not self.killed and self.proc.poll() is None

    def wait_ready(self, timeout: float = START_TIMEOUT) -> dict:
        if self.ready is None:
            try:
                self.ready = read_message(self.proc.stdout.fileno(), time.monotonic() + timeout, self.codec)
                self.start_seconds = time.monotonic() - self.started
            except (ChannelClosed, ChannelTimeout) as exc:
                self.kill()
                raise TraceFailed({"kind": "start", "message": "the tracer process did not start: "
                                   + (self.stderr_tail() or type(exc).__name__)}) from None
        return self.ready

    def request(self, message: dict, timeout: float) -> dict:
        """Send ``message`` and wait for the answer; ``timeout`` is the user's limit on the
        work (the child enforces it too, and reports where it was stuck)."""
        self.wait_ready()
        self.requests += 1
        self._next_id += 1
        message = dict(message, id=self._next_id, timeout=timeout)
        log_offset = self._stderr_size()
        try:
            write_message(self.proc.stdin.fileno(), message, self.codec)
            deadline = time.monotonic() + timeout + KILL_GRACE
            while True:
                response = read_message(self.proc.stdout.fileno(), deadline, self.codec)
                if response.get("id") == self._next_id:
                    return response
        except ChannelTimeout:
            self.kill()
            raise TraceFailed(self._timeout_problem(timeout, log_offset)) from None
        except (ChannelClosed, OSError):
            was_killed = self.killed
            self.kill()
            if was_killed:
                raise TraceCancelled({"kind": "cancelled", "message": "trace cancelled"}) from None
            log = self._stderr_since(log_offset)
            if "Timeout (" in log:
                raise TraceFailed(self._timeout_problem(timeout, log_offset)) from None
            raise TraceFailed(_crash_problem(self.proc.returncode, log)) from None

    def _timeout_problem(self, timeout: float, log_offset: int) -> dict:
        problem = {"kind": "timeout",
                   "message": f"trace timed out after {timeout:g} s (the time limit; raise it "
                              "with --timeout or the trace_timeout setting)"}
        stack = parse_faulthandler(self._stderr_since(log_offset))
        problem["stack"] = stack
        return problem

    def kill(self) -> None:
        """SIGKILL the child's whole process group (anything the user's code started
        goes too) and reap it."""
        with self._lock:
            self.killed = True
            if self.proc.poll() is None:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            # Stragglers that left the group's leader but not the group.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def close(self) -> None:
        """Ask politely (stdin EOF), then kill."""
        if self.proc.poll() is None and not self.killed:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
        self._stderr.close()

    def _stderr_size(self) -> int:
        try:
            return os.fstat(self._stderr.fileno()).st_size
        except (OSError, ValueError):
            return 0

    def _stderr_since(self, offset: int) -> str:
        try:
            self._stderr.seek(offset)
            return self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def stderr_tail(self, chars: int = 2000) -> str:
        return self._stderr_since(max(0, self._stderr_size() - chars)).strip()


_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')


def parse_faulthandler(log: str) -> list[dict]:
    """The frames of the first thread faulthandler dumped, innermost first."""
    frames = []
    for line in log.splitlines():
        match = _FRAME.match(line)
        if match:
            frames.append({"path": match["path"], "line": int(match["line"]), "func": match["func"]})
        elif frames and not line.strip():
            break
        elif frames and line.startswith("Thread"):
            break
    return frames


def _crash_problem(returncode: int | None, log: str) -> dict:
    if returncode is not None and returncode < 0:
        how = f"was killed by signal {-returncode}"
        if -returncode == signal.SIGKILL:
            how += " (out of memory?)"
    else:
        how = f"exited with status {returncode}"
    tail = " ".join(log.strip().splitlines()[-3:])[-300:]
    return {"kind": "crash", "message": f"the tracer process {how}" + (f": {tail}" if tail else ""),
            "stack": parse_faulthandler(log)}


# ---------------------------------------------------------------------------------------

@dataclass
class TraceRequest:
    path: str
    entry: str | None = None
    init: str | None = None
    # class -> {param: {"dims": [...], "dtype": str | None}}
    inputs: dict[str, dict[str, dict]] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # unsaved editor text by path
    cpu_fallback: bool = False
    timeout: float = DEFAULT_TIMEOUT
    argv: list[str] = field(default_factory=list)  # sys.argv[1:] for scripts that parse it
    # The static engine's symbolic shapes of the file ({scope, line, name, shape}): where
    # the tracer looks for input sizes the model can take (ml_lsp.trace.sizes).
    static: list[dict] = field(default_factory=list)
    # What layer calls need of their input ({dim, value, line, layer}): the first sizes
    # tried satisfy them (ml_lsp.trace.sizes.fit).
    constraints: list[dict] = field(default_factory=list)

    def message(self) -> dict:
        return {"op": "trace", "path": os.path.realpath(self.path), "entry": self.entry,
                "init": self.init, "inputs": self.inputs, "roots": self.roots,
                "sources": self.sources, "argv": self.argv, "static": self.static,
                "constraints": self.constraints,
                "modes": ["meta", "fake", "cpu"] if self.cpu_fallback else ["meta", "fake"]}

    def key(self) -> str:
        return json.dumps({"path": os.path.realpath(self.path), "entry": self.entry, "init": self.init,
                           "inputs": self.inputs, "roots": self.roots, "cpu": self.cpu_fallback,
                           "argv": self.argv},
                          sort_keys=True)


def content_hash(path: str, sources: dict[str, str]) -> str | None:
    real = os.path.realpath(path)
    text = sources.get(real) if real in sources else sources.get(path)
    if text is not None:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


class TraceSession:
    """A warm tracer child plus a result cache keyed by the request and the content hash of
    every user file the trace loaded. Thread-safe: one trace runs at a time."""

    def __init__(self, memory_mb: int = DEFAULT_MEMORY_MB, cache_size: int = 64, interpreter=None):
        """``interpreter``: an ``ml_lsp.trace.interpreter.Interpreter``; None finds one
        (``find_interpreter``) when the first child starts."""
        self.memory_mb = memory_mb
        self.cache_size = cache_size
        self.interpreter = interpreter
        self._child: TraceChild | None = None
        self._cache: dict[str, tuple[dict[str, str | None], dict]] = {}
        self._run_lock = threading.Lock()
        self._child_lock = threading.Lock()
        self.stats = {"cold": 0, "warm": 0, "cached": 0}

    @property
    def child_pid(self) -> int | None:
        child = self._child
        return child.pid if child is not None and child.alive else None

    def _new_child(self) -> TraceChild:
        if self.interpreter is None:
            from ml_lsp.trace.interpreter import NoInterpreter, find_interpreter
            try:
                self.interpreter = find_interpreter()
            except NoInterpreter as exc:
                raise TraceFailed({"kind": "interpreter", "message": str(exc)}) from None
        return TraceChild(self.memory_mb, self.interpreter.python,
                          "msgpack" if self.interpreter.msgpack else "json")

    @property
    def start_seconds(self) -> float | None:
        """How long the current child took to start (Python and torch), once it is ready."""
        child = self._child
        return child.start_seconds if child is not None else None

    def start(self) -> None:
        """Start (or keep) a warm child now, so a later trace does not pay for torch."""
        with self._child_lock:
            if self._child is None or not self._child.alive:
                self._child = self._new_child()

    def trace(self, request: TraceRequest, use_cache: bool = True) -> dict:
        key = request.key()
        if use_cache:
            hit = self._cache.get(key)
            if hit is not None:
                hashes, response = hit
                real_sources = {os.path.realpath(p): t for p, t in request.sources.items()}
                if all(content_hash(p, real_sources) == h for p, h in hashes.items()):
                    self.stats["cached"] += 1
                    return dict(response, cached=True)
        with self._run_lock:
            with self._child_lock:
                if self._child is None or not self._child.alive:
                    self._child = self._new_child()
                    self.stats["cold"] += 1
                else:
                    self.stats["warm"] += 1
                child = self._child
            child.wait_ready()
            cold = child.requests == 0   # its first: the model's packages are imported too
            started = time.monotonic()
            response = child.request(request.message(), request.timeout)
            # The request's own round trip; a cold one also paid ``start_seconds`` before it.
            response["trace_seconds"] = time.monotonic() - started
            response["cold"] = cold
            response["start_seconds"] = child.start_seconds
            response["interpreter"] = dict(self.interpreter.to_json(), torch=(child.ready or {}).get("torch")
                                           or self.interpreter.torch)
            for problem in response.get("problems") or []:
                self.interpreter.name_missing_package(problem)
        if response.get("ok"):
            real_sources = {os.path.realpath(p): t for p, t in request.sources.items()}
            hashes = {p: content_hash(p, real_sources) for p in response.get("files") or [request.path]}
            if len(self._cache) >= self.cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = (hashes, response)
        return dict(response, cached=False)

    def cancel(self) -> bool:
        """Kill a trace in progress (the user edited the file). True if one was running.
        The next trace starts a new child."""
        running = self._run_lock.locked()
        if running:
            with self._child_lock:
                child = self._child
            if child is not None:
                child.kill()
        return running

    def forget(self, path: str | None = None) -> None:
        """Drop cached results (all, or those that loaded ``path``)."""
        if path is None:
            self._cache.clear()
            return
        real = os.path.realpath(path)
        for key in [k for k, (hashes, _) in self._cache.items() if real in hashes]:
            del self._cache[key]

    def close(self) -> None:
        with self._child_lock:
            child, self._child = self._child, None
        if child is not None:
            child.close()
