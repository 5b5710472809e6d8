"""``ml-lsp finetune``: fine-tune a model from a checkpoint as a run.

    ml-lsp finetune --model net.py:Net --init 'num_classes=5' --checkpoint pre.pt \\
        --data data.py:load --freeze 'features.*' --replace-head fc=10 --wait
    ml-lsp finetune NAME            # the [tool.ml-lsp.finetune.NAME] table of pyproject.toml
    ml-lsp finetune --resume RUN_ID # continue a stopped run from its last checkpoint

Everything that can be checked before the job starts is checked here (the model builds,
the checkpoint fits, the patterns match, the data is not empty), so bad input gets a
one-line error and no run folder is made.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# flag dest -> help; every one defaults to None so we can tell which were given.
SPEC_FLAGS = {
    "model": "PATH:CLASS (a file) or MODULE:FACTORY building the nn.Module or keras.Model, or a saved "
             "model.keras (then --freeze/--train-only match Keras layer names and the export is model.keras)",
    "init": "constructor/factory arguments in Python syntax, e.g. 'num_classes=5, width=32'",
    "checkpoint": ".pt/.pth state_dict or training checkpoint, or .safetensors (loaded weights-only); "
                  ".keras or .weights.h5 for a Keras model",
    "data": "MODULE_OR_PATH:FUNCTION returning (train, val) Datasets, or a .npz, .csv or folder of .npy",
    "lora": "LoRA adapters, e.g. r=8,alpha=16,targets='attn.*' (needs peft)",
    "epochs": "passes over the training data (default 1)",
    "max_steps": "optimizer steps in all (overrides --epochs)",
    "stop_after": "checkpoint and stop after N steps of this session (continue with --resume)",
    "batch_size": "examples per step and process (default 32)",
    "grad_accum": "micro-batches per optimizer step (default 1)",
    "lr": "AdamW learning rate (default 1e-3)",
    "weight_decay": "AdamW weight decay (default 0.01)",
    "warmup_steps": "linear warm-up steps (default 0)",
    "schedule": "learning-rate schedule after warm-up: cosine (default), linear, constant",
    "clip_grad": "max gradient norm, 0 for none (default 1.0)",
    "precision": "auto (bf16 on GPUs that have it, fp16 on older ones, fp32 on CPU), fp32, bf16, fp16",
    "seed": "random seed (default 0)",
    "eval_every": "evaluate every N steps (default: every epoch)",
    "patience": "stop after N evaluations without a better val_loss (default: never)",
    "checkpoint_every": "checkpoint every N steps (default: every epoch)",
    "log_every": "send metrics every N steps (default 10)",
    "workers": "DataLoader worker processes (default 0)",
    "device": "auto, cpu, cuda or cuda:N (default auto)",
    "launcher": "local (one process), torchrun (DistributedDataParallel, one process per GPU) or ray "
                "(a Ray cluster: --address, --num-gpus, --num-nodes)",
    "nproc_per_node": "processes for --launcher torchrun",
}
LIST_FLAGS = {
    "freeze": "freeze parameters matching PATTERN (glob on names, e.g. 'features.*'); repeatable",
    "train_only": "train only parameters matching PATTERN, freeze the rest; repeatable",
    "replace_head": "replace output layer NAME by a fresh one with N outputs (NAME=N); repeatable",
}
BOOL_FLAGS = {
    "strict": "missing or unexpected checkpoint keys are errors",
    "compile": "torch.compile the model",
    "deterministic": "deterministic algorithms (bitwise-reproducible runs on CPU)",
    "lora_merge": "merge LoRA adapters into the exported model.safetensors",
}
TYPES = {"epochs": int, "max_steps": int, "stop_after": int, "batch_size": int, "grad_accum": int,
         "lr": float, "weight_decay": float, "warmup_steps": int, "clip_grad": float, "seed": int,
         "eval_every": int, "patience": int, "checkpoint_every": int, "log_every": int,
         "workers": int, "nproc_per_node": int}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="fine-tune a model from a checkpoint (a run)",
                       description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", metavar="NAME",
                   help="a [tool.ml-lsp.finetune.NAME] table in pyproject.toml (flags override it)")
    for dest, text in SPEC_FLAGS.items():
        p.add_argument("--" + dest.replace("_", "-"), dest=dest, type=TYPES.get(dest, str), default=None, help=text)
    for dest, text in LIST_FLAGS.items():
        p.add_argument("--" + dest.replace("_", "-"), dest=dest, action="append", default=None, metavar="PATTERN"
                       if dest != "replace_head" else "NAME=N", help=text)
    for dest, text in BOOL_FLAGS.items():
        p.add_argument("--" + dest.replace("_", "-"), dest=dest, action="store_true", default=None, help=text)
    p.add_argument("--resume", metavar="RUN_ID", help="continue a stopped or failed fine-tune run from its last checkpoint")
    p.add_argument("--runs-dir", help="run folders (default: .ml-lsp/runs beside pyproject.toml, or $ML_LSP_RUNS_DIR)")
    p.add_argument("--wait", action="store_true", help="block until the run ends; print the run id last; "
                   "exit 0 only if it succeeded")
    p.add_argument("--spec-out", metavar="FILE",
                   help="write the checked job spec to FILE instead of submitting (for torchrun on "
                        "several nodes: torchrun ... -m ml_lsp.finetune.job FILE --run-dir DIR)")
    p.add_argument("--no-check", action="store_true",
                   help="skip building the model and loading data here before submitting")
    from ml_lsp.commands.run import add_remote_options
    add_remote_options(p)
    p.set_defaults(func=run)


def _given(args: argparse.Namespace) -> dict:
    values = {}
    for dest in [*SPEC_FLAGS, *LIST_FLAGS, *BOOL_FLAGS]:
        value = getattr(args, dest)
        if value is not None:
            values[dest] = value
    if values.pop("lora_merge", None):
        values["lora_merge"] = True
    return values


def _runs_dir(args: argparse.Namespace, root: Path) -> Path:
    if args.runs_dir:
        return Path(args.runs_dir).resolve()
    if os.environ.get("ML_LSP_RUNS_DIR"):
        return Path(os.environ["ML_LSP_RUNS_DIR"]).expanduser().resolve()
    from ml_lsp.settings import load_settings
    configured = Path(str(load_settings(root).get("runs_dir") or ".ml-lsp/runs")).expanduser()
    return configured if configured.is_absolute() else (root / configured).resolve()


def build_spec(args: argparse.Namespace):
    """The spec from the pyproject table, the flags, or the run being resumed."""
    from ml_lsp.finetune import spec as spec_mod

    values = _given(args)
    merge = values.pop("lora_merge", False)
    cwd = Path.cwd()
    if args.resume:
        return None, values, merge
    if args.name:
        pyproject = spec_mod.pyproject_path(cwd)
        if pyproject is None:
            raise spec_mod.FinetuneError(f"no pyproject.toml in {cwd} or above to read "
                                         f"[tool.ml-lsp.finetune.{args.name}] from")
        spec = spec_mod.from_table(args.name, pyproject, values)
    else:
        spec = spec_mod.from_values(values, cwd)
    if merge:
        if not spec.lora:
            raise spec_mod.FinetuneError("--lora-merge needs --lora")
        spec.lora.merge = True
    return spec, values, merge


def resume_spec(args: argparse.Namespace, values: dict, merge: bool, runs_dir: Path):
    from ml_lsp import runner
    from ml_lsp.finetune import spec as spec_mod

    try:
        old = runner.resolve(args.resume, runs_dir)
    except runner.RunNotFound as exc:
        raise spec_mod.FinetuneError(str(exc)) from None
    if not old.is_ours():  # its checkpoint and settings would run as the user's own
        raise spec_mod.FinetuneError(str(runner.ForeignRun(old, "resumed")))
    data = old.spec().get("finetune")
    if not isinstance(data, dict):
        raise spec_mod.FinetuneError(f"run {old.id} is not a fine-tune run (its spec.json has no 'finetune')")
    if old.state() in ("queued", "starting", "running"):
        raise spec_mod.FinetuneError(f"run {old.id} is still {old.state()}; stop it first (ml-lsp stop {old.id})")
    last = old.path / "checkpoints" / "last.pt"
    keras_last = old.path / "checkpoints" / "last.keras"
    if not last.is_file() and keras_last.is_file():
        raise spec_mod.FinetuneError(f"run {old.id} fine-tuned a Keras model, which cannot be resumed; "
                                     f"start a new run from where it stopped: --model {keras_last}")
    if not last.is_file():
        raise spec_mod.FinetuneError(f"run {old.id} wrote no checkpoint ({last}); nothing to resume from")
    spec = spec_mod.FinetuneSpec.from_job(data)
    spec.stop_after = 0
    for key, value in values.items():
        spec_mod._coerce(spec, key, value, "command line")
    if merge and spec.lora:
        spec.lora.merge = True
    spec.resume, spec.resume_from = old.id, str(last)
    previous = old.spec().get(spec.launcher)
    if isinstance(previous, dict):  # a cluster run resumes on the cluster it ran on, as large as it was
        for dest in ("address", "num_gpus", "num_nodes"):
            if getattr(args, dest, None) is None and previous.get(dest) is not None:
                setattr(args, dest, previous[dest])
    return spec_mod.check(spec)


def validate(spec) -> list[str]:
    """Build everything the job will build (in this process, importing torch) so bad input
    fails here, before a run exists. Returns lines describing what will happen."""
    from ml_lsp.finetune import keras_loop
    from ml_lsp.finetune.spec import FinetuneError

    if not spec.resume_from:
        is_keras, built = keras_loop.detect(spec)
        if is_keras:
            return _validate_keras(spec, built)
    import torch

    from ml_lsp.finetune import loop

    if spec.resume_from:
        from pathlib import Path

        from ml_lsp.finetune.model import load_error_line, not_a_checkpoint
        why = not_a_checkpoint(Path(spec.resume_from))
        if why is not None:
            raise FinetuneError(f"{spec.resume_from}: not an ml-lsp fine-tune checkpoint: {why}; "
                                "resume from another run")
        try:
            ckpt = torch.load(spec.resume_from, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise FinetuneError(f"{spec.resume_from}: corrupt or truncated checkpoint "
                                f"({load_error_line(exc)}); resume from another run") from None
        if not isinstance(ckpt, dict) or ckpt.get("format") != loop.CHECKPOINT_FORMAT:
            raise FinetuneError(f"{spec.resume_from}: not an ml-lsp fine-tune checkpoint")
    torch.manual_seed(spec.seed)
    prepared = loop.prepare(spec, load_weights=not spec.resume_from)
    if spec.resume_from:
        missing = set(prepared.model.state_dict()) ^ set(ckpt["model"])
        if missing:
            raise FinetuneError(f"{spec.resume_from}: the checkpoint's tensors differ from the model's "
                                f"({', '.join(sorted(missing)[:5])}); was the model code changed?")
    lines = []
    if prepared.load_report:
        lines += prepared.load_report.lines()
    lines += [f"new head {h}" for h in prepared.head_lines]
    lines.append(f"{prepared.counts['trainable']:,} trainable and {prepared.counts['frozen']:,} frozen parameters; "
                 f"{len(prepared.train)} train and {len(prepared.val)} validation items")
    if spec.resume_from:
        lines.append(f"resuming at step {ckpt['state']['step']} from {spec.resume_from}")
    return lines


def _validate_keras(spec, built) -> list[str]:
    from ml_lsp.finetune import keras_loop
    from ml_lsp.finetune.spec import FinetuneError

    if spec.launcher not in ("local", "ray") or spec.nproc_per_node > 1:
        raise FinetuneError("a Keras fine-tune runs in one process: use --launcher local")
    prepared = keras_loop.prepare(spec, built)
    lines = [prepared.loaded_from] if prepared.loaded_from else []
    lines += [f"new head {h}" for h in prepared.head_lines]
    lines.append(f"Keras model: {prepared.counts['trainable']:,} trainable and {prepared.counts['frozen']:,} "
                 f"frozen parameters; {len(prepared.train)} train and {len(prepared.val)} validation items")
    return lines


def run(args: argparse.Namespace) -> int:
    from ml_lsp import runner
    from ml_lsp.cli import CommandFailed, UsageError
    from ml_lsp.finetune.spec import FinetuneError

    try:
        spec, values, merge = build_spec(args)
        root = Path(spec.root) if spec else Path.cwd()
        runs_dir = _runs_dir(args, root)
        if args.resume:
            spec = resume_spec(args, values, merge, runs_dir)
            root = Path(spec.root or Path.cwd())
        if not args.no_check:
            for line in validate(spec):
                print(line, file=sys.stderr)
    except FinetuneError as exc:
        raise UsageError(str(exc)) from None
    if args.spec_out:
        import json
        Path(args.spec_out).write_text(json.dumps({"finetune": spec.to_job()}, indent=1) + "\n")
        print(args.spec_out)
        return 0
    name = spec.name or Path(spec.model.rpartition(":")[2] or "model").name
    try:
        from ml_lsp.finetune import job as job_module  # its file is the job's script
        job = runner.make_spec(job_module.__file__, [], cwd=str(root), launcher=spec.launcher,
                               nproc_per_node=spec.nproc_per_node if spec.launcher == "torchrun" else None,
                               devices="cpu" if spec.device == "cpu" else "auto",
                               name=f"finetune-{name}", kind="finetune", finetune=spec.to_job())
        from ml_lsp.commands.run import prepare_for_launcher
        job = prepare_for_launcher(job, args, runs_dir, root=root)
        run_folder = runner.submit(job, runs_dir)
    except runner.SpecError as exc:
        raise UsageError(str(exc)) from None
    if not args.wait:
        print(run_folder.id)
        return 0
    state = _follow(run_folder)
    if state != "succeeded":
        tail = _tail(run_folder.stderr_path, 8)
        print(f"run {run_folder.id} {state}" + (":\n" + tail if tail else ""), file=sys.stderr)
    print(run_folder.id)
    if state != "succeeded":
        raise CommandFailed(f"run {run_folder.id} {state}; `ml-lsp logs {run_folder.id}` shows its output"
                            + (f"; continue it with `ml-lsp finetune --resume {run_folder.id}`"
                               if (run_folder.path / "checkpoints" / "last.pt").is_file() else ""))
    return 0


def _follow(run_folder) -> str:
    """Echo the job's stdout while waiting; Ctrl-C stops the run (it checkpoints first)."""
    from ml_lsp import runner
    from ml_lsp.runner.run_folder import TERMINAL_STATES

    offset = 0
    try:
        while True:
            state = run_folder.state()
            offset = _echo(run_folder.stdout_path, offset)
            if state in TERMINAL_STATES:
                _echo(run_folder.stdout_path, offset)
                return state
            time.sleep(0.2)
    except KeyboardInterrupt:
        print(f"stopping {run_folder.id} (it writes a checkpoint first)…", file=sys.stderr)
        return runner.stop(run_folder, wait_for=60.0)


def _echo(path: Path, offset: int) -> int:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
    except OSError:
        return offset
    end = chunk.rfind(b"\n") + 1  # whole lines only
    if end:
        sys.stdout.write(chunk[:end].decode("utf-8", "replace"))
        sys.stdout.flush()
    return offset + end


def _tail(path: Path, n: int) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])
