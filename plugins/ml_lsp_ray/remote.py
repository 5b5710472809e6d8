"""The Ray job's entry on the cluster: run the user's program under the telemetry bootstrap
and print its frames into the job's log for the follower (see ``transport``).

    python -c "<path-safe prefix> from ml_lsp_ray.remote import main; ..."   (job: $ML_LSP_RAY_JOB)

The job description (base64 JSON in ``$ML_LSP_RAY_JOB``) names the program relative to the
workspace, which Ray unpacked as the working folder. Frames carry absolute paths of the
files that produced them: each path under the cluster's copy of the workspace is rewritten
to the user's own, so the editor puts the hint on the user's line.

One node: the program runs as a child process (``torchrun --standalone`` when it asks for
several processes). Several nodes: one Ray actor per node, placed by a ``STRICT_SPREAD``
placement group, each running ``torchrun --nnodes N --node-rank I`` with node 0's address
as the rendezvous: the user's script, written for torchrun, runs unchanged (Ray Train's
``TorchTrainer`` would call ``init_process_group`` itself and wants a function, not a
script). Each actor reads its node's frames; this process collects them.

When the program ends, the files it wrote into its run folder (a fine-tune's outputs) are
sent home too, up to ``artifacts_max_mb``. The exit status is the program's.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ml_lsp.pathsafe import module_command

BOOTSTRAP = "ml_lsp.telemetry.bootstrap"
RELAY_INTERVAL = 0.2  # seconds between two reads of the frames file (the writer flushes every 0.2 s)


def describe() -> dict:
    return json.loads(base64.b64decode(os.environ["ML_LSP_RAY_JOB"]))


def map_strings(value: Any, mapping: list[tuple[str, str]]) -> Any:
    """``value`` with every string that starts with a mapped prefix rewritten."""
    if isinstance(value, str):
        for old, new in mapping:
            if value == old or value.startswith(old + "/"):
                return new + value[len(old):]
        return value
    if isinstance(value, list):
        return [map_strings(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: map_strings(v, mapping) for k, v in value.items()}
    return value


def encode(payload: list) -> bytes:
    import zlib

    import msgpack

    from ml_lsp.runner.frames import HEADER, MAGIC

    body = msgpack.packb(payload, use_bin_type=True)
    crc = zlib.crc32(body)
    n = len(body)
    return HEADER.pack(MAGIC, n, crc, (n ^ (crc >> 16) ^ (crc & 0xFFFF) ^ 0xA55A) & 0xFFFF) + body


class FrameRelay:
    """Reads a node's frames file as it grows and hands each frame on, paths rewritten."""

    def __init__(self, path: Path, mapping: list[tuple[str, str]]) -> None:
        from ml_lsp.runner.frames import FrameReader
        self.reader = FrameReader(path)
        self.mapping = mapping
        self.lock = threading.Lock()

    def take(self) -> list[bytes]:
        with self.lock:
            return [encode(map_strings(p, self.mapping)) for p in self.reader.payloads()]


def _write_lines(lines: list[bytes]) -> None:
    """Marked lines into the job's log: one ``write`` for the batch (the log is opened for
    appending, so the job's own output never lands inside a line)."""
    if not lines:
        return
    data = memoryview(b"".join(lines))
    while data:
        data = data[os.write(1, data):]


def run_folder(desc: dict) -> tuple[Path, list[tuple[str, str]]]:
    """A run folder on this node (the fine-tune writes its outputs there) and the path
    rewrites from this node to the user's machine."""
    here = os.getcwd()
    folder = Path(tempfile.mkdtemp(prefix=f"ml-lsp-{desc['run_id']}-"))
    mapping = [(str(folder), desc["local_run_dir"]), (here, desc["root"])]
    if desc.get("finetune") is not None:
        spec = map_strings(desc["finetune"], [(desc["root"], here)])
        (folder / "spec.json").write_text(json.dumps({"finetune": spec}))
    return folder, mapping


def worker_command(desc: dict) -> list[str]:
    """One process of the job: the bootstrap with the user's program."""
    if desc.get("module"):
        target = ["-m", desc["module"]]
    elif desc.get("ml_lsp_script"):
        import ml_lsp
        target = [str(Path(ml_lsp.__file__).resolve().parent / desc["ml_lsp_script"])]
    else:
        target = [str(Path.cwd() / desc["script"])]
    return [*module_command(sys.executable, BOOTSTRAP), *target, *desc.get("args", [])]


def job_env(desc: dict, folder: Path, rank_env: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ML_LSP_RAY_JOB", None)
    env.update({"ML_LSP_RUN_ID": desc["run_id"], "ML_LSP_RUN_DIR": str(folder),
                "ML_LSP_FRAMES": str(folder / "frames.bin"), "PYTHONUNBUFFERED": "1", **rank_env})
    return env


def artifact_lines(folder: Path, mapping: list[tuple[str, str]], limit_mb: float) -> list[bytes]:
    """The files the program left in its run folder, as marked lines, when they fit."""
    from ml_lsp_ray.transport import file_line

    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in ("frames.bin", "spec.json")]
    total = sum(p.stat().st_size for p in files)
    if total > limit_mb * 2**20:
        print(f"[ml-lsp] the run's outputs ({total / 2**20:.1f} MiB) are over launchers.ray.artifacts_max_mb "
              f"({limit_mb:g} MiB): left on the cluster in {folder}", file=sys.stderr, flush=True)
        return []
    lines = []
    for path in files:
        data = path.read_bytes()
        if path.name == "checkpoints.jsonl":  # the paths it records, as they are at home
            entries = []
            for line in data.decode("utf-8", "replace").splitlines():
                try:
                    entries.append(json.dumps(map_strings(json.loads(line), mapping)))
                except ValueError:
                    continue
            data = ("\n".join(entries) + "\n").encode() if entries else b""
        lines.append(file_line(path.relative_to(folder).as_posix(), data))
    return lines


# -- one node ------------------------------------------------------------------------------

def run_one_node(desc: dict) -> int:
    folder, mapping = run_folder(desc)
    nproc = int(desc.get("nproc_per_node") or 1)
    worker = worker_command(desc)
    if nproc > 1:
        argv = [*module_command(sys.executable, "torch.distributed.run"), "--standalone",
                "--nproc-per-node", str(nproc), "--no-python", *worker]
        rank_env = {"ML_LSP_WORLD_SIZE": str(nproc)}
    else:
        argv, rank_env = worker, {"ML_LSP_RANK": "0", "ML_LSP_WORLD_SIZE": "1"}
    cwd = Path.cwd() / desc.get("cwd", ".")
    relay = FrameRelay(folder / "frames.bin", mapping)
    from ml_lsp_ray.transport import frame_line

    child = subprocess.Popen(argv, cwd=str(cwd), env=job_env(desc, folder, rank_env))

    def forward(signum, _frame):  # Ray's stop: the child (our process group) got it too
        try:
            child.send_signal(signum)
        except OSError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    while child.poll() is None:
        _write_lines([frame_line(f) for f in relay.take()])
        time.sleep(RELAY_INTERVAL)
    _write_lines([frame_line(f) for f in relay.take()])
    _write_lines(artifact_lines(folder, mapping, desc.get("artifacts_max_mb", 256)))
    code = child.returncode
    return code if code >= 0 else 128 - code


# -- several nodes -------------------------------------------------------------------------

def run_several_nodes(desc: dict) -> int:
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    from ml_lsp_ray.transport import frame_line

    nodes = int(desc["num_nodes"])
    bundle = {"CPU": float(desc.get("num_cpus") or 1)}
    if desc.get("num_gpus"):
        bundle["GPU"] = float(desc["num_gpus"])
    bundle.update({str(k): float(v) for k, v in (desc.get("resources") or {}).items()})
    ray.init(log_to_driver=True)
    group = placement_group([bundle] * nodes, strategy="STRICT_SPREAD")
    try:
        ray.get(group.ready(), timeout=float(desc.get("placement_timeout", 120)))
    except Exception:
        print(f"ml-lsp: cannot place {nodes} nodes with {bundle} each on this cluster (STRICT_SPREAD: one "
              f"per node); it has {ray.cluster_resources()}", file=sys.stderr, flush=True)
        return 2
    NodeRunner = ray.remote(NodeProcess)
    actors = [NodeRunner.options(num_cpus=bundle["CPU"], num_gpus=bundle.get("GPU", 0),
                                 scheduling_strategy=PlacementGroupSchedulingStrategy(group, i)).remote(desc, i)
              for i in range(nodes)]
    master, port = ray.get(actors[0].rendezvous.remote())
    ray.get([a.start.remote(master, port) for a in actors])
    stopping = {"asked": False}

    def stop(signum, _frame):
        stopping["asked"] = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    codes: list[int | None] = [None] * nodes
    asked_actors = False
    while True:
        results = ray.get([a.poll.remote() for a in actors])
        _write_lines([frame_line(f) for frames, _ in results for f in frames])
        codes = [code for _, code in results]
        if all(c is not None for c in codes):
            break
        if stopping["asked"] and not asked_actors:
            ray.get([a.stop.remote() for a in actors])
            asked_actors = True
        time.sleep(RELAY_INTERVAL)
    _write_lines(ray.get(actors[0].artifacts.remote()))
    remove_placement_group(group)
    bad = [c for c in codes if c]
    return bad[0] if bad else 0


class NodeProcess:
    """One node of a multi-node job (a Ray actor): torchrun for this node's processes."""

    def __init__(self, desc: dict, node_rank: int) -> None:
        self.desc, self.node_rank = desc, node_rank
        self.folder, self.mapping = run_folder(desc)
        self.relay = FrameRelay(self.folder / "frames.bin", self.mapping)
        self.child: subprocess.Popen | None = None

    def rendezvous(self) -> tuple[str, int]:
        import socket

        import ray
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        return ray.util.get_node_ip_address(), port

    def start(self, master: str, port: int) -> None:
        desc = self.desc
        nproc = int(desc.get("nproc_per_node") or 1)
        argv = [*module_command(sys.executable, "torch.distributed.run"),
                "--nnodes", str(desc["num_nodes"]), "--node-rank", str(self.node_rank),
                "--nproc-per-node", str(nproc), "--master-addr", master, "--master-port", str(port),
                "--no-python", *worker_command(desc)]
        env = job_env(desc, self.folder, {"ML_LSP_WORLD_SIZE": str(nproc * int(desc["num_nodes"]))})
        self.child = subprocess.Popen(argv, cwd=str(Path.cwd() / desc.get("cwd", ".")), env=env,
                                      start_new_session=True)

    def poll(self) -> tuple[list[bytes], int | None]:
        code = self.child.poll() if self.child else None
        frames = self.relay.take()  # after poll(): an ended process's last frames are on disk
        return frames, (None if code is None else (code if code >= 0 else 128 - code))

    def stop(self) -> None:
        if self.child is not None and self.child.poll() is None:
            try:
                os.killpg(self.child.pid, signal.SIGTERM)
            except OSError:
                pass

    def artifacts(self) -> list[bytes]:
        return artifact_lines(self.folder, self.mapping, self.desc.get("artifacts_max_mb", 256))


def main() -> int:
    desc = describe()
    if int(desc.get("num_nodes") or 1) > 1:
        return run_several_nodes(desc)
    return run_one_node(desc)
