"""The built-in launchers, registered through the ``ml_lsp_launchers`` hook like any
third-party launcher (a Ray or Slurm one would look the same).

A launcher is a function ``launcher(spec, devices) -> {"argv": [...], "env": {...}}``:
``spec`` is the run's spec.json as a dict, ``devices`` the GPU indices the runner gave the
run ([] on CPU). The runner adds the ML_LSP_* and CUDA_* variables itself, starts ``argv``
in a new process group in the spec's ``cwd`` and waits for it.

Both launchers run the user's code under the telemetry bootstrap
(``python -c "...bootstrap.main()" SCRIPT ARGS...`` or ``... -m MODULE ARGS...``), which
installs the capture hooks and runs the script unchanged as ``__main__``. They start our
own code path-safe (``ml_lsp.pathsafe``): the job's working folder is the user's project,
and its files must not stand in for ml_lsp or torch; the user's script then gets the
``sys.path`` that ``python SCRIPT`` gives.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from ml_lsp.hookspecs import hookimpl
from ml_lsp.pathsafe import module_command

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


def _worker(spec: dict) -> list[str]:
    """One process of the job: the bootstrap with the user's program, or the program alone
    when the job's interpreter has no ml-lsp."""
    python = _python(spec)
    prefix = module_command(python, BOOTSTRAP) if _bootstrap_available() else [python]
    return [*prefix, *_target(spec)]


def local(spec: dict, devices: list[int]) -> dict:
    """One process: ``python -c "<bootstrap>" SCRIPT ARGS``."""
    return {"argv": _worker(spec), "env": {"ML_LSP_RANK": "0", "ML_LSP_WORLD_SIZE": "1"}}


def torchrun(spec: dict, devices: list[int]) -> dict:
    """``torchrun --standalone --nproc-per-node N`` on this machine, each worker under the
    bootstrap (which reads its rank from torchrun's ``RANK``). N is the spec's
    ``nproc_per_node``, else one per GPU given, else 1. torchrun starts each worker's
    command as it is (``--no-python``), so workers start path-safe too."""
    nproc = int(spec.get("nproc_per_node") or len(devices) or 1)
    argv = [*module_command(_python(spec), "torch.distributed.run"), "--standalone",
            "--nproc-per-node", str(nproc), "--no-python", *_worker(spec)]
    return {"argv": argv, "env": {"ML_LSP_WORLD_SIZE": str(nproc)}}


@hookimpl
def ml_lsp_launchers():
    return {"local": local, "torchrun": torchrun}
