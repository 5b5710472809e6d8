"""Fine-tuning in the editor: the "Fine-tune from checkpoint…" code action, the
``▶ Fine-tune`` / ``⟳ Resume`` code lenses, and the commands behind them.

- ``ml-lsp.finetune`` ``[{"uri", "line", "model"?, "init"?, "checkpoint"?, "data"?, "name"?}]``
  writes a ``[tool.ml-lsp.finetune.NAME]`` table to the workspace's pyproject.toml (asking
  for the checkpoint and the data with ``window/showMessageRequest`` when they are not
  given) and returns ``{"name", "pyproject"}``.
- ``ml-lsp.finetune`` ``[{"name": NAME, "run": true}]`` runs that table (``ml-lsp finetune
  NAME`` in a child process, which checks the input and submits the job) and returns
  ``{"runId"}``, or ``{"error"}`` after showing the error.
- ``ml-lsp.resume`` ``[{"runId": ID}]`` continues a stopped run from its last checkpoint.
- ``ml-lsp.finetuneCandidates`` ``[{"kind": "checkpoint" | "data", "framework"?: "torch" |
  "keras"}]`` lists what the questions above offer, for a client with a picker of its own
  (VS Code's quick pick): a Keras model (the code action's argument says ``"framework":
  "keras"``) is offered ``.keras``/``.h5`` files.

Never imports torch: everything that needs it runs in the ``ml-lsp finetune`` child.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ml_lsp.server.lazy import lazy_module
from ml_lsp.server.trust import CODE_RUNNING

spec_mod = lazy_module("ml_lsp.finetune.spec")
targets = lazy_module("ml_lsp.finetune.targets")

log = logging.getLogger(__name__)

MAX_CHOICES = 12  # buttons in a showMessageRequest; more do not fit a notification
ACTIVE = ("queued", "starting", "running")


# ---------------------------------------------------------------- code action

def code_actions(ls, params: types.CodeActionParams) -> list[types.CodeAction]:
    if params.context.only:  # asked for quick fixes or a kind we do not offer
        return []
    uri = params.text_document.uri
    text = ls.document_text(uri)
    if text is None:
        return []
    target = targets.find_target(text, params.range.start.line)
    if target is None:
        return []
    arg = {"uri": uri, "line": target.line, "model": _model_ref(ls, uri, target), "init": target.init}
    if target.framework != "torch":
        arg["framework"] = target.framework
    if target.checkpoint:
        arg["suggestedCheckpoint"] = target.checkpoint
    return [types.CodeAction(
        title="Fine-tune from checkpoint…",
        command=types.Command(title="Fine-tune from checkpoint…", command="ml-lsp.finetune", arguments=[arg]))]


def _model_ref(ls, uri: str, target: targets.FinetuneTarget) -> str:
    if target.module:
        return f"{target.module}:{target.class_name}"
    path = Path(ls.document_path(uri))
    root = ls.root
    try:
        shown = path.resolve().relative_to(root.resolve()).as_posix() if root else str(path)
    except ValueError:
        shown = str(path)
    return f"{shown}:{target.class_name}"


# ---------------------------------------------------------------- writing the spec

async def _choose(ls, root, arg: dict, key: str, candidates, question: str, missing: str):
    """``arg[key]`` when the command was given it, else the user's pick among
    ``candidates(root)`` (``arg["suggestedKey"]`` first); None, after an error message, when
    there is nothing to pick, or when the user dismisses the question."""
    value = arg.get(key)
    if value:
        return value
    found = await asyncio.get_running_loop().run_in_executor(None, candidates, root)
    suggested = arg.get("suggested" + key[:1].upper() + key[1:])
    if suggested:
        found = [suggested] + [f for f in found if f != suggested]
    if not found:
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=missing))
        return None
    return await _ask(ls, question, found)


async def _ask(ls, message: str, choices: list[str]) -> str | None:
    answer = await ls.window_show_message_request_async(types.ShowMessageRequestParams(
        type=types.MessageType.Info, message=message,
        actions=[types.MessageActionItem(title=c) for c in choices[:MAX_CHOICES]]))
    return answer.title if answer is not None else None


def _unique_name(base: str, existing: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", base).strip("-").lower() or "finetune"
    name, n = base, 2
    while name in existing:
        name, n = f"{base}-{n}", n + 1
    return name


async def create_table(ls, arg: dict) -> dict | None:
    root = ls.root
    if root is None:
        raise JsonRpcInvalidParams("fine-tune needs a workspace folder (its pyproject.toml holds the spec)")
    model = arg.get("model")
    init = arg.get("init") or ""
    uri = arg.get("uri")
    framework = arg.get("framework") if arg.get("framework") in ("torch", "keras") else "torch"
    if not model and isinstance(uri, str):
        text = ls.document_text(uri)
        if text is None:
            try:
                text = Path(ls.document_path(uri)).read_text(encoding="utf-8")
            except OSError:
                text = ""
        line = arg.get("line") if isinstance(arg.get("line"), int) else 0
        target = targets.find_target(text, line)
        if target is not None:
            model, init = _model_ref(ls, uri, target), init or target.init
            framework = target.framework
    if not isinstance(model, str) or not model:
        raise JsonRpcInvalidParams('expected [{"uri": URI, "line": N}] on an nn.Module class or a Keras '
                                   'model, or a "model"')
    class_name = model.rpartition(":")[2]
    suffixes = targets.KERAS_CHECKPOINT_SUFFIXES if framework == "keras" else targets.CHECKPOINT_SUFFIXES
    checkpoint = await _choose(
        ls, root, arg, "checkpoint", lambda root: targets.checkpoint_candidates(root, _runs_dir(ls), framework),
        f"Fine-tune {class_name}: the checkpoint to start from?",
        f"ml-lsp: no checkpoint ({', '.join(suffixes)}) in {root}; put one in the "
        "workspace or pass \"checkpoint\" to ml-lsp.finetune")
    if checkpoint is None:
        return None  # none found, or the user dismissed the question
    data = await _choose(
        ls, root, arg, "data", targets.data_candidates,
        f"Fine-tune {class_name}: the data (train, validation)?",
        f"ml-lsp: no data found in {root} (.npz, .csv, a folder of .npy, or a file.py:function "
        "returning (train, val) Datasets); pass \"data\" to ml-lsp.finetune")
    if data is None:
        return None

    pyproject = root / "pyproject.toml"
    existing = set(spec_mod.read_tables(pyproject)) if pyproject.is_file() else set()
    name = arg.get("name") if isinstance(arg.get("name"), str) and arg.get("name") else \
        _unique_name(class_name, existing)
    if name in existing:
        raise JsonRpcInvalidParams(f"{pyproject} already has [tool.ml-lsp.finetune.{name}]; choose another name")
    table = {"model": model, "init": init, "checkpoint": checkpoint, "data": data, "epochs": 3}
    text = spec_mod.table_toml(name, table)
    old = pyproject.read_text(encoding="utf-8") if pyproject.is_file() else ""
    new = old + ("" if not old or old.endswith("\n") else "\n") + ("\n" if old else "") + text
    tmp = pyproject.with_name(".pyproject.toml.ml-lsp-tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, pyproject)  # the editor sees the old file or the new one, never half
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=(
        f"ml-lsp: wrote [tool.ml-lsp.finetune.{name}] to pyproject.toml; ▶ Fine-tune runs it")))
    _refresh_lenses(ls)
    return {"name": name, "pyproject": str(pyproject), "model": model, "checkpoint": checkpoint, "data": data}


# ---------------------------------------------------------------- running

def _runs_dir(ls) -> Path:
    view = getattr(ls, "runs_view", None)
    if view is not None and view.runs_dir is not None:
        return view.runs_dir
    configured = Path(str(ls.settings.get("runs_dir") or ".ml-lsp/runs")).expanduser()
    return configured if configured.is_absolute() else (ls.root or Path.cwd()) / configured


async def run_cli(ls, command: str, *cli_args: str) -> dict:
    """``ml-lsp finetune ...`` in a child process: it imports torch, checks the input and
    submits the job; its last stdout line is the run id. ``command`` names the path for
    the trust check (it imports the workspace's model and data code)."""
    await ls.trust.require(CODE_RUNNING[command])
    from ml_lsp.pathsafe import module_command

    # Path-safe: the working folder is the workspace, whose ml_lsp/ or torch/ must not
    # stand in for ours; the model and data code is imported by path, with consent.
    proc = await asyncio.create_subprocess_exec(
        *module_command(sys.executable, "ml_lsp.cli"), "finetune", *cli_args, "--runs-dir", str(_runs_dir(ls)),
        cwd=str(ls.root or Path.cwd()), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL)
    out, err = await proc.communicate()
    lines = out.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        problem = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
        message = problem[-1] if problem else f"ml-lsp finetune exited with {proc.returncode}"
        message = message.removeprefix("ml-lsp finetune: ")
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Error,
                                                       message=f"ml-lsp fine-tune: {message}"))
        return {"error": message}
    view = getattr(ls, "runs_view", None)
    if view is not None:
        view.schedule()
    _refresh_lenses(ls)
    return {"runId": lines[-1]}


async def _launcher_args(ls, name: str, launcher: Any) -> list[str]:
    """Command-line arguments for a fine-tune handed to a cluster launcher: its settings as
    the editor has them (the child reads no editor settings), after the trust and, where
    the repository named the cluster, the user's consent (asked here: the child cannot)."""
    if launcher is None:
        _, tables = _tables(ls)
        launcher = (tables.get(name) or {}).get("launcher")
    if launcher in (None, "local", "torchrun"):
        return []
    if not isinstance(launcher, str):
        raise JsonRpcInvalidParams(f"launcher {launcher!r}: expected a launcher's name")
    await ls.trust.require(CODE_RUNNING["ml-lsp.finetune"])
    from ml_lsp.server.launchers import prepare
    settings = await prepare(ls, None, launcher)
    args = ["--launcher", launcher, "--yes"]
    if isinstance(settings, dict):
        for key, flag in (("address", "--address"), ("num_gpus", "--num-gpus"), ("num_nodes", "--num-nodes")):
            if settings.get(key) is not None:
                args += [flag, str(settings[key])]
    return args


def _refresh_lenses(ls) -> None:
    caps = ls.client_capabilities.workspace
    if caps is not None and caps.code_lens is not None and caps.code_lens.refresh_support:
        try:
            ls.workspace_code_lens_refresh(None)
        except Exception:
            log.exception("code lens refresh failed")


# ---------------------------------------------------------------- code lenses

class FinetuneRuns:
    """The latest run of each fine-tune table, read from the runs folder (specs are
    written once, so each is read once)."""

    def __init__(self) -> None:
        self.specs: dict[str, dict] = {}

    def latest(self, runs_dir: Path) -> dict[str, Any]:
        from ml_lsp.runner.run_folder import iter_runs

        best: dict[str, tuple] = {}
        for run in iter_runs(runs_dir):
            spec = self.specs.get(run.id)
            if spec is None:
                spec = self.specs[run.id] = run.spec()
            if spec.get("kind") != "finetune":
                continue
            name = (spec.get("finetune") or {}).get("name")
            if not name:
                continue
            key = (spec.get("created") or 0, run.id)
            if name not in best or key > best[name][0]:
                best[name] = (key, run)
        return {name: run for name, (_, run) in best.items()}


def _tables(ls) -> tuple[Path | None, dict[str, dict]]:
    if ls.root is None:
        return None, {}
    pyproject = ls.root / "pyproject.toml"
    if not pyproject.is_file():
        return pyproject, {}
    try:
        return pyproject, spec_mod.read_tables(pyproject)
    except spec_mod.FinetuneError:
        return pyproject, {}


def _model_file(root: Path, model: str) -> Path | None:
    left, _, _ = model.rpartition(":")
    if not left:
        return None
    if left.endswith(".py") or "/" in left:
        path = Path(left)
        return (path if path.is_absolute() else root / path).resolve()
    return (root / (left.replace(".", "/") + ".py")).resolve()


def _run_lenses(name: str, run, where: types.Range) -> list[types.CodeLens]:
    if run is None:
        return []
    state = run.state()
    ref = [{"runId": run.id}]
    lenses = []
    if state in ACTIVE:
        lenses.append(types.CodeLens(range=where, command=types.Command(title="■ Stop", command="ml-lsp.stop", arguments=ref)))
        return lenses + [types.CodeLens(range=where, command=types.Command(
            title=f"{name}: {state}", command="ml-lsp.showRun", arguments=ref))]
    metrics = json.loads((run.path / "metrics.json").read_text()) if (run.path / "metrics.json").is_file() else None
    if metrics is None and (run.path / "checkpoints" / "last.pt").is_file():
        lenses.append(types.CodeLens(range=where, command=types.Command(
            title=f"⟳ Resume {name}", command="ml-lsp.resume", arguments=ref)))
    if metrics is not None:
        shown = [f"{k} {metrics[k]:.4g}" for k in ("val_accuracy", "val_loss") if isinstance(metrics.get(k), float)]
        title = f"{name}: {state}" + (f" · {' · '.join(shown)}" if shown else "")
    else:
        title = f"{name}: {state if state != 'succeeded' else 'paused'}"
    lenses.append(types.CodeLens(range=where, command=types.Command(title=title, command="ml-lsp.showRun", arguments=ref)))
    return lenses


def code_lenses(ls, uri: str, runs: FinetuneRuns) -> list[types.CodeLens]:
    text = ls.document_text(uri)
    if text is None or ls.root is None:
        return []
    pyproject, tables = _tables(ls)
    if not tables:
        return []
    path = Path(ls.document_path(uri)).resolve()
    latest = runs.latest(_runs_dir(ls))
    from ml_lsp.server.launchers import offered as offered_launchers
    offered = offered_launchers(ls)
    lenses: list[types.CodeLens] = []
    lines = text.splitlines()
    for name, table in tables.items():
        line = None
        if path == pyproject.resolve():
            header = re.compile(r"^\s*\[\s*tool\s*\.\s*(\"ml-lsp\"|ml-lsp)\s*\.\s*finetune\s*\.\s*(\"?)"
                                + re.escape(name) + r"\2\s*\]")
            line = next((i for i, text_line in enumerate(lines) if header.match(text_line)), None)
        elif isinstance(table.get("model"), str) and _model_file(pyproject.parent, table["model"]) == path:
            class_name = table["model"].rpartition(":")[2].split(".")[-1]
            pattern = re.compile(rf"^\s*(class|def)\s+{re.escape(class_name)}\b")
            line = next((i for i, text_line in enumerate(lines) if pattern.match(text_line)), None)
        if line is None:
            continue
        where = types.Range(types.Position(line, 0), types.Position(line, 0))
        lenses.append(types.CodeLens(range=where, command=types.Command(
            title=f"▶ Fine-tune {name}", command="ml-lsp.finetune", arguments=[{"name": name, "run": True}])))
        for launcher, label in offered:
            lenses.append(types.CodeLens(range=where, command=types.Command(
                title=f"▶ Fine-tune {name} on {label}", command="ml-lsp.finetune",
                arguments=[{"name": name, "run": True, "launcher": launcher}])))
        lenses += _run_lenses(name, latest.get(name), where)
    return lenses


# ---------------------------------------------------------------- registration

def register(server) -> None:
    runs = FinetuneRuns()
    server.code_action_providers.append(code_actions)
    server.code_lens_providers.append(lambda ls, uri: code_lenses(ls, uri, runs))

    @server.command("ml-lsp.finetune")
    async def finetune(ls, *args):
        arg = args[0] if args and isinstance(args[0], dict) else {}
        if arg.get("run"):
            name = arg.get("name")
            if not isinstance(name, str) or not name:
                raise JsonRpcInvalidParams('expected [{"name": NAME, "run": true}] naming a [tool.ml-lsp.finetune.NAME] table')
            return await run_cli(ls, "ml-lsp.finetune", name, *(await _launcher_args(ls, name, arg.get("launcher"))))
        return await create_table(ls, arg)

    @server.command("ml-lsp.finetuneCandidates")
    async def finetune_candidates(ls, *args):
        """What a client's own picker offers: ``[{"kind": "checkpoint" | "data"}]`` ->
        ``{"candidates": [...]}``, the same lists this server asks with."""
        kind = args[0].get("kind") if args and isinstance(args[0], dict) else None
        framework = args[0].get("framework", "torch") if args and isinstance(args[0], dict) else "torch"
        if kind not in ("checkpoint", "data") or framework not in ("torch", "keras") or ls.root is None:
            raise JsonRpcInvalidParams('expected [{"kind": "checkpoint" | "data", "framework"?: "torch" | "keras"}] '
                                       'in a workspace folder')
        list_them = (lambda root: targets.checkpoint_candidates(root, _runs_dir(ls), framework)) \
            if kind == "checkpoint" else targets.data_candidates
        return {"candidates": await asyncio.get_running_loop().run_in_executor(None, list_them, ls.root)}

    @server.command("ml-lsp.resume")
    async def resume(ls, *args):
        run_id = args[0].get("runId") if args and isinstance(args[0], dict) else None
        if not isinstance(run_id, str) or not run_id:
            raise JsonRpcInvalidParams('expected [{"runId": ID}] naming a stopped fine-tune run')
        return await run_cli(ls, "ml-lsp.resume", "--resume", run_id)
