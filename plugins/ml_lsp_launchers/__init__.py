"""The built-in launchers, registered through the ``ml_lsp_launchers`` hook like any
third-party launcher (a Ray or Slurm one would look the same).

A launcher is a function ``launcher(spec, devices) -> {"argv": [...], "env": {...}}``:
``spec`` is the run's spec.json as a dict, ``devices`` the GPU indices the runner gave the
run ([] on CPU). The runner adds the ML_LSP_* and CUDA_* variables itself, starts ``argv``
in a new process group in the spec's ``cwd`` and waits for it.

Both launchers run the user's code under the telemetry bootstrap
(``python -m ml_lsp.telemetry.bootstrap SCRIPT ARGS...`` or ``... -m MODULE ARGS...``),
which installs the capture hooks and runs the script unchanged as ``__main__``.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from ml_lsp.hookspecs import hookimpl

BOOTSTRAP = "ml_lsp.telemetry.bootstrap"


def _bootstrap_available() -> bool:
    # Look for the file without importing ml_lsp.telemetry (that runs in the job, not here).
    spec = importlib.util.find_spec("ml_lsp.telemetry") if importlib.util.find_spec("ml_lsp") else None
    locations = getattr(spec, "submodule_search_locations", None) or []
    return any(os.path.exists(os.path.join(loc, "bootstrap.py")) for loc in locations)


def _target(spec: dict) -> list[str]:
    """The user's program and its arguments: ``SCRIPT ARGS`` or ``-m MODULE ARGS``."""
    args = [str(a) for a in spec.get("args") or []]
    if spec.get("module"):
        return ["-m", spec["module"], *args]
    return [spec["script"], *args]


def _python(spec: dict) -> str:
    return spec.get("python") or sys.executable


def local(spec: dict, devices: list[int]) -> dict:
    """One process: ``python -m ml_lsp.telemetry.bootstrap SCRIPT ARGS``."""
    prefix = [_python(spec), "-m", BOOTSTRAP] if _bootstrap_available() else [_python(spec)]
    return {"argv": [*prefix, *_target(spec)], "env": {"ML_LSP_RANK": "0", "ML_LSP_WORLD_SIZE": "1"}}


def torchrun(spec: dict, devices: list[int]) -> dict:
    """``torchrun --standalone --nproc-per-node N`` on this machine, each worker under the
    bootstrap (which reads its rank from torchrun's ``RANK``). N is the spec's
    ``nproc_per_node``, else one per GPU given, else 1."""
    nproc = int(spec.get("nproc_per_node") or len(devices) or 1)
    argv = [_python(spec), "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)]
    target = _target(spec)
    if _bootstrap_available():
        argv += ["-m", BOOTSTRAP, *target]
    elif target[0] == "-m":
        argv += ["-m", *target[1:]]
    else:
        argv += target
    return {"argv": argv, "env": {"ML_LSP_WORLD_SIZE": str(nproc)}}


@hookimpl
def ml_lsp_launchers():
    return {"local": local, "torchrun": torchrun}
