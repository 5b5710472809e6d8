"""The runner: jobs, run folders and the frames they hold. Never imported by the
language server at start-up; never imports torch (the jobs do, in their own processes).

Python API (what ``ml-lsp run``/``runs``/``stop``/``rerun``, the server's ``ml-lsp.run``
command and the fine-tune jobs use)::

    from ml_lsp import runner

    spec = runner.make_spec("train.py", ["--epochs", "3"], devices="auto", launcher="local",
                            nproc_per_node=None, name=None, env={"SEED": "1"}, cwd=None)
    spec = runner.make_spec(module="ml_lsp.finetune.job", args=[...], kind="finetune")  # python -m
    run = runner.submit(spec, runs_dir)       # -> RunFolder; starts a detached runner if none
    runner.wait(run.id, runs_dir, timeout=None)   # -> "succeeded" | "failed" | "stopped" | "lost"
    runner.stop(run.id, runs_dir, grace=5.0, wait_for=None)
    runner.rerun(run.id, runs_dir)            # -> the new RunFolder
    runner.list_runs(runs_dir)                # -> [RunFolder], newest first
    runner.run_record(run)                    # -> the `ml-lsp runs --json` entry
    runner.run_details(run)                   # -> the `ml-lsp runs show --json` object
    runner.summarize(run)                     # -> RunSummary: latest metric per (file, line,
                                              #    name, rank), downsampled series, progress

``runs_dir`` defaults to ``$ML_LSP_RUNS_DIR`` or ``./.ml-lsp/runs``. ``make_spec`` raises
``SpecError`` (message ``FILE:LINE: ...``) for a missing script or a syntax error, before
anything is written. Following a live run: ``FrameReader(run.frames_path)`` plus
``RunSummary.follow(reader)`` on each change (watchdog) and on a slow timer.

Modules: ``frames`` (the frames file format, ``FrameWriter``/``FrameReader``),
``run_folder`` (``RunFolder``: spec.json, status.json, logs, checkpoints), ``summary``,
``jobs`` (this API), ``daemon`` (the runner process), ``devices`` (GPU probing).
The on-disk format is documented in docs/run-folder.md.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "make_spec": "jobs", "submit": "jobs", "wait": "jobs", "stop": "jobs", "rerun": "jobs",
    "list_runs": "jobs", "run_record": "jobs", "run_details": "jobs", "ensure_runner": "jobs",
    "resolve": "jobs", "check_script": "jobs", "SpecError": "jobs", "RunNotFound": "jobs",
    "ForeignRun": "jobs",
    "summarize": "summary", "RunSummary": "summary",
    "RunFolder": "run_folder", "default_runs_dir": "run_folder",
    "FrameWriter": "frames", "FrameReader": "frames",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ml_lsp.runner' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"ml_lsp.runner.{module}"), name)
