"""The Ray launcher: runs a job on a Ray cluster through Ray Jobs and brings its frames,
output and end home into the run folder, so that a remote run reads like a local one.

Registered through the ``ml_lsp`` entry point like any third-party launcher. The runner
starts ``launcher(spec, devices)``'s command locally as for every run: here that command is
the *follower* (``ml_lsp_ray.follower``), a small process that submits the job with
``ray.job_submission.JobSubmissionClient`` (the workspace as its ``working_dir``), follows
it, and ends with the job: its exit status is the job's. ``ml-lsp stop`` signals the
follower, which stops the Ray job. A follower killed on the way is started again by the
runner (``"reattach": True``) and resumes where it was (see ``transport``).

On the cluster the job's entry is ``ml_lsp_ray.remote``: the telemetry bootstrap around
the user's script (or ``torchrun`` over the job's nodes), its frames read back and
printed into the job's log for the follower.

``prepare`` runs in the submitting process (command line or language server) and fills
in ``spec["ray"]`` from the settings (``config``), checks what will be sent
(``package``), and asks the user's consent when the repository chose the cluster.
Neither this module nor ``prepare`` imports ray: the language server never does.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from ml_lsp.hookspecs import hookimpl
from ml_lsp.pathsafe import module_command
from ml_lsp.runner.launch import LaunchContext, LaunchError

FOLLOWER = "ml_lsp_ray.follower"


def _ml_lsp_file(path: Path) -> str | None:
    """``finetune/job.py`` for a script inside the ml_lsp package (the fine-tune job), which
    reaches the cluster with ml_lsp itself rather than with the workspace."""
    import ml_lsp
    package = Path(ml_lsp.__file__).resolve().parent
    try:
        return path.resolve().relative_to(package).as_posix()
    except ValueError:
        return None


def _inside(path: Path, root: Path) -> str | None:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def _finetune_files(spec: dict, root: Path) -> list[Path]:
    """The files a fine-tune names (checkpoint, data, model file): sent even when git
    ignores them; each must be inside the workspace."""
    data = spec.get("finetune")
    if not isinstance(data, dict):
        return []
    base = Path(data.get("root") or root)
    named = []
    for key in ("checkpoint", "data", "model"):
        value = data.get(key)
        if not isinstance(value, str) or not value:
            continue
        if key in ("data", "model") and ":" in value:
            left = value.rpartition(":")[0]
            if not (left.endswith(".py") or "/" in left or os.sep in left):
                continue  # a module name: found on the cluster as here
            value = left
        path = Path(value) if os.path.isabs(value) else base / value
        if not path.exists():
            continue
        if _inside(path, root) is None:
            raise LaunchError(f"--{key} {value}: {path} is outside the workspace {root}, which is what is sent "
                              "to the Ray cluster; move it into the workspace or put it where the cluster can read it")
        named.append(path)
    return named


RESUME_NAME = ".ml-lsp/resume/last.pt"  # where a resumed run's checkpoint lands in the job's working_dir


def _resume_checkpoint(spec: dict) -> list[tuple[Path, str]]:
    """A resumed fine-tune's checkpoint is in the local run folder, which is never sent: it
    goes in the archive under a fixed name of its own (the follower points the job there)."""
    data = spec.get("finetune")
    resume = data.get("resume_from") if isinstance(data, dict) else None
    if not resume:
        return []
    source = Path(resume)
    if not source.is_file():
        raise LaunchError(f"--resume: the checkpoint {source} is not on this machine; the run it belongs to "
                          "did not bring it home (over launchers.ray.artifacts_max_mb?)")
    return [(source, RESUME_NAME)]


def prepare(spec: dict | None, context: LaunchContext) -> dict | None:
    """The spec with ``spec["ray"]`` filled in and checked; see the module's doc."""
    from ml_lsp_ray import config, package

    settings = config.resolve(context)
    if spec is None:  # the settings only (the server asks consent before its child submits)
        return settings
    if importlib.util.find_spec("ray") is None:
        raise LaunchError(f"ray is not installed in {spec.get('python') or sys.executable}, which follows the job: "
                          "pip install 'ml-lsp[ray]'")
    root = Path(context.root or spec.get("cwd") or os.getcwd()).resolve()
    target = {}
    if spec.get("module"):
        target["module"] = spec["module"]
    else:
        script = Path(spec["script"])
        inside = _inside(script, root)
        if inside is not None:
            target["script"] = inside
        elif _ml_lsp_file(script) is not None:
            target["ml_lsp_script"] = _ml_lsp_file(script)
        else:
            raise LaunchError(f"{script}: outside the workspace {root}, which is what is sent to the Ray cluster; "
                              "run it from its own project folder")
    cwd = _inside(Path(spec.get("cwd") or root), root) or "."
    include = _finetune_files(spec, root)
    extras = _resume_checkpoint(spec)
    runs_dir = context.options.get("runs_dir")
    leave_out = [Path(runs_dir)] if runs_dir else []
    pkg = package.collect(root, leave_out=leave_out, include=include, extras=extras)
    package.check_size(pkg, settings["max_upload_mb"])
    spec = dict(spec)
    spec["devices"] = "cpu"  # the follower needs no GPU here; the job asks the cluster for its own
    nproc = settings["nproc_per_node"] or spec.get("nproc_per_node") or max(1, int(settings["num_gpus"]))
    spec["ray"] = {**settings, "nproc_per_node": int(nproc), "root": str(root), "cwd": cwd,
                   "include": [p.relative_to(root).as_posix() if p.is_absolute() else str(p)
                               for p in (i.resolve() for i in include)],
                   "extras": [[str(path), name] for path, name in extras],
                   "leave_out": [str(p) for p in leave_out], "upload_bytes": pkg.size, **target}
    return spec


def configured(context: LaunchContext) -> bool:
    """Whether "Run on Ray" is offered: a cluster address is set somewhere (the user's
    settings, $RAY_ADDRESS, or the repository's table, which asks before the first run)."""
    tables = [context.user, context.workspace]
    return bool(os.environ.get("RAY_ADDRESS")) or any(
        isinstance(t, dict) and any(str(k).lower() == "address" for k in t) for t in tables)


def ray(spec: dict, devices: list[int]) -> dict:
    """The follower, path-safe: it reads the run folder from ``$ML_LSP_RUN_DIR``."""
    if not isinstance(spec.get("ray"), dict):
        raise ValueError("the spec has no 'ray' settings; submit it with `ml-lsp run --launcher ray`")
    python = spec.get("python") or sys.executable
    return {"argv": module_command(python, FOLLOWER), "env": {}, "reattach": True}


ray.prepare = prepare
ray.configured = configured
ray.label = "Ray"


@hookimpl
def ml_lsp_launchers():
    return {"ray": ray}
