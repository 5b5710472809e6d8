"""A real Ray cluster on this machine, bound to 127.0.0.1, for the tests and the benchmark:
``ray start --head --block`` (and ``ray start --address`` for a second "node") in sessions
of their own, stopped by killing exactly those process groups (never ``ray stop``, which
stops every Ray process of the user)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

RAY = [sys.executable, "-c", "import sys; from ray.scripts.scripts import main; sys.argv[0] = 'ray'; sys.exit(main())"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Started beside the cluster, in a session of its own: when the process that started the
# cluster is gone without stopping it (pytest-timeout's thread method, a kill -9), every
# process of the cluster (run from its temp dir, or naming it) is killed, so that no Ray
# head outlives the test run that started it.
REAPER = """
import os, shutil, signal, sys, time
parent, temp = int(sys.argv[1]), sys.argv[2]
while os.path.isdir(temp):
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        break
    time.sleep(1.0)
else:
    sys.exit(0)
for entry in os.listdir("/proc"):
    if not entry.isdigit() or int(entry) == os.getpid():
        continue
    try:
        mine = temp in open(f"/proc/{entry}/cmdline", "rb").read().decode(errors="replace") or \
            os.readlink(f"/proc/{entry}/cwd").startswith(temp)
    except OSError:
        continue
    if mine:
        try:
            os.kill(int(entry), signal.SIGKILL)
        except OSError:
            pass
shutil.rmtree(temp, ignore_errors=True)
"""


class LocalCluster:
    def __init__(self, num_cpus: int = 2, log_dir: Path | None = None) -> None:
        self.num_cpus = num_cpus
        # Ray's socket paths must stay short: a temp dir of its own under /tmp.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ml-lsp-ray-", dir="/tmp"))
        self.log_dir = log_dir or self.temp_dir
        self.processes: list[subprocess.Popen] = []
        self.gcs_port = free_port()
        self.dashboard_port = free_port()
        self.address = f"http://127.0.0.1:{self.dashboard_port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(RAY_USAGE_STATS_ENABLED="0", RAY_DEDUP_LOGS="0", PYTHONUNBUFFERED="1")
        env.pop("RAY_ADDRESS", None)
        return env

    @staticmethod
    def _own_ports() -> list[str]:
        """Ports a node would otherwise take by default, and so collide with another
        cluster on the machine (a second test session, a user's own Ray)."""
        return ["--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
                "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port()),
                "--node-manager-port", str(free_port()), "--object-manager-port", str(free_port())]

    def _start(self, args: list[str], name: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        process = subprocess.Popen([*RAY, "start", "--block", "--disable-usage-stats", *self._own_ports(), *args],
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=self._env(), start_new_session=True, cwd=str(self.temp_dir))
        log.close()
        self.processes.append(process)
        return process

    def start(self, timeout: float = 120.0, tries: int = 3) -> "LocalCluster":
        """The head; started again (fresh ports) when it fails to come up: Ray gives a raylet
        a fixed 30 s to register, which a busy 2-core machine sometimes misses."""
        subprocess.Popen([sys.executable, "-c", REAPER, str(os.getpid()), str(self.temp_dir)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, cwd="/")
        for attempt in range(tries):
            try:
                return self._start_head(timeout)
            except (RuntimeError, TimeoutError):
                if attempt == tries - 1:
                    raise
                self.stop(remove=False)
                self.processes = []
                self.gcs_port, self.dashboard_port = free_port(), free_port()
                self.address = f"http://127.0.0.1:{self.dashboard_port}"

    def _start_head(self, timeout: float) -> "LocalCluster":
        self._start(["--head", "--node-ip-address", "127.0.0.1", "--port", str(self.gcs_port),
                     "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard_port),
                     "--ray-client-server-port", str(free_port()),
                     "--include-dashboard", "true", "--num-cpus", str(self.num_cpus), "--num-gpus", "0",
                     "--temp-dir", str(self.temp_dir), "--object-store-memory", str(200 * 2**20),
                     "--min-worker-port", "0", "--max-worker-port", "0"], "head")
        self.wait_for_nodes(1, timeout)
        return self

    def add_node(self, num_cpus: int = 1, timeout: float = 120.0) -> None:
        """A second raylet on the same machine: another "node" for multi-node placement."""
        self._start([f"--address=127.0.0.1:{self.gcs_port}", "--node-ip-address", "127.0.0.1",
                     "--num-cpus", str(num_cpus), "--num-gpus", "0", "--object-store-memory", str(100 * 2**20),
                     "--min-worker-port", "0", "--max-worker-port", "0"], f"node{len(self.processes)}")
        self.wait_for_nodes(len(self.processes), timeout)

    def wait_for_nodes(self, count: int, timeout: float) -> None:
        import json
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            for p in self.processes:
                if p.poll() is not None:
                    raise RuntimeError(f"ray start exited with {p.returncode}; see {self.log_dir}")
            try:
                with urllib.request.urlopen(f"{self.address}/nodes?view=summary", timeout=5) as r:
                    data = json.loads(r.read())
                alive = [n for n in data["data"]["summary"] if n.get("raylet", {}).get("state") == "ALIVE"]
                if len(alive) >= count:
                    return
                last = f"{len(alive)} node(s) alive"
            except Exception as exc:
                last = repr(exc)
            time.sleep(1.0)
        raise TimeoutError(f"the Ray cluster did not come up with {count} node(s) in {timeout} s ({last})")

    def stop(self, remove: bool = True) -> None:
        for process in reversed(self.processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.kill_leftovers()
        if remove:
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def kill_leftovers(self) -> None:
        """Ray daemons that left our sessions (some daemonize) but run from our temp dir."""
        me = str(self.temp_dir)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if me in cmdline:
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
