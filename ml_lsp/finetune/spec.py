"""The fine-tune spec: what to load, what to train and how. Plain Python only (no torch):
the CLI and the language server import this module.

A spec comes from command-line flags or from a ``[tool.ml-lsp.finetune.NAME]`` table in
pyproject.toml; both use the same keys (flags with ``-`` become keys with ``_``). Paths in
a table are relative to the pyproject.toml that holds it; paths given as flags are relative
to the current directory. ``to_job()`` gives the resolved JSON the job process reads.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SCHEDULES = ("cosine", "linear", "constant")
LAUNCHERS = ("local", "torchrun", "ray")  # ray: plugins/ml_lsp_ray, a Ray cluster
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")
KERAS_CHECKPOINT_SUFFIXES = (".keras", ".h5")  # weights for a Keras model (model.load_weights)


class FinetuneError(Exception):
    """Bad fine-tune input: the message names the file or flag and what to do."""


@dataclass
class LoraSpec:
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: list[str] = field(default_factory=list)  # glob patterns on module names
    merge: bool = False  # merge adapters into the weights of the exported model


@dataclass
class FinetuneSpec:
    model: str = ""  # path/to/file.py:ClassName or module:factory, or a saved model.keras
    init: str = ""  # constructor / factory arguments in Python syntax: "num_classes=5"
    checkpoint: str = ""  # .pt/.pth state_dict or training checkpoint, or .safetensors
    data: str = ""  # module_or_path:function -> (train, val), or a .npz/.csv/folder of .npy
    name: str = ""  # the pyproject table name, if any
    freeze: list[str] = field(default_factory=list)
    train_only: list[str] = field(default_factory=list)
    replace_head: dict[str, int] = field(default_factory=dict)
    lora: LoraSpec | None = None
    strict: bool = False
    epochs: int = 1
    max_steps: int = 0  # optimizer steps; 0 = epochs decide
    stop_after: int = 0  # checkpoint and stop after this many steps of this session (resume later)
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 0
    schedule: str = "cosine"
    clip_grad: float = 1.0  # max grad norm; 0 = no clipping
    precision: str = "auto"
    compile: bool = False
    seed: int = 0
    eval_every: int = 0  # optimizer steps; 0 = at the end of each epoch
    patience: int = 0  # evaluations without val_loss improvement before stopping; 0 = never
    checkpoint_every: int = 0  # optimizer steps; 0 = at the end of each epoch
    log_every: int = 10  # optimizer steps between metric frames
    workers: int = 0  # DataLoader worker processes
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    deterministic: bool = False  # torch.use_deterministic_algorithms, for bitwise resume
    launcher: str = "local"
    nproc_per_node: int = 1
    resume: str = ""  # run id whose last checkpoint to continue from
    resume_from: str = ""  # resolved checkpoint file of that run (filled in by the CLI)
    root: str = ""  # the directory relative paths are resolved against

    def to_job(self) -> dict[str, Any]:
        """The JSON-able dict the job process reads (``from_job`` reverses it)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_job(cls, data: dict[str, Any]) -> "FinetuneSpec":
        data = dict(data)
        lora = data.pop("lora", None)
        known = {f.name for f in dataclasses.fields(cls)}
        spec = cls(**{k: v for k, v in data.items() if k in known})  # tolerate newer keys
        if lora:
            spec.lora = LoraSpec(**{k: v for k, v in lora.items()
                                    if k in {f.name for f in dataclasses.fields(LoraSpec)}})
        return spec

    def path(self, value: str) -> Path:
        """A user path, resolved against the spec's root."""
        p = Path(value).expanduser()
        return p if p.is_absolute() or not self.root else Path(self.root) / p


# ---------------------------------------------------------------- value parsers

def parse_call_args(text: str, what: str = "--init") -> tuple[list[Any], dict[str, Any]]:
    """``"3, num_classes=5, dims=(64, 32)"`` -> ``([3], {"num_classes": 5, "dims": (64, 32)})``.
    Only literals (numbers, strings, tuples, lists, dicts, True/False/None): the spec
    is data, never code to execute."""
    text = (text or "").strip()
    if not text:
        return [], {}
    try:
        call = ast.parse(f"f({text})", mode="eval").body
    except SyntaxError as exc:
        raise FinetuneError(f"{what} {text!r} is not valid Python arguments ({exc.msg}); "
                            "write them as in a call, e.g. num_classes=5, width=32") from None
    assert isinstance(call, ast.Call)
    try:
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
    except ValueError:
        raise FinetuneError(f"{what} {text!r}: only literal values (numbers, strings, tuples, "
                            "lists, dicts, True/False/None) are allowed") from None
    return args, kwargs


def parse_replace_head(values: Any) -> dict[str, int]:
    """``fc=10`` (or a list of them, or a TOML table ``{fc = 10}``) -> ``{"fc": 10}``."""
    if not values:
        return {}
    if isinstance(values, dict):
        items = list(values.items())
    else:
        items = []
        for value in [values] if isinstance(values, str) else values:
            name, sep, n = str(value).partition("=")
            if not sep:
                raise FinetuneError(f"--replace-head {value!r}: write NAME=N, e.g. fc=10")
            items.append((name.strip(), n.strip()))
    heads = {}
    for name, n in items:
        try:
            count = int(n)
        except (TypeError, ValueError):
            raise FinetuneError(f"--replace-head {name}={n}: N must be a whole number of outputs") from None
        if count < 1 or not name:
            raise FinetuneError(f"--replace-head {name}={n}: needs a module name and N >= 1")
        heads[name] = count
    return heads


def parse_lora(value: Any) -> LoraSpec | None:
    """``r=8,alpha=16,targets='attn.*'`` (targets may list several patterns separated by
    ``|`` or be a Python list), or a TOML table with the same keys."""
    if not value:
        return None
    if isinstance(value, dict):
        items = dict(value)
    else:
        _, items = parse_call_args(str(value), "--lora")
    known = {f.name for f in dataclasses.fields(LoraSpec)}
    unknown = sorted(set(items) - known)
    if unknown:
        raise FinetuneError(f"--lora: unknown key(s) {', '.join(unknown)}; known: r, alpha, dropout, targets, merge")
    targets = items.get("targets", [])
    if isinstance(targets, str):
        targets = [t for t in targets.split("|") if t]
    if not targets:
        raise FinetuneError("--lora needs targets='PATTERN' naming the layers to adapt, e.g. targets='attn.*'")
    try:
        spec = LoraSpec(r=int(items.get("r", 8)), alpha=float(items.get("alpha", 16)),
                        dropout=float(items.get("dropout", 0.0)), targets=[str(t) for t in targets],
                        merge=bool(items.get("merge", False)))
    except (TypeError, ValueError) as exc:
        raise FinetuneError(f"--lora {value!r}: {exc}") from None
    if spec.r < 1:
        raise FinetuneError("--lora r must be >= 1")
    return spec


def split_target(target: str, what: str) -> tuple[str, str]:
    """``path/to/file.py:Name`` or ``package.module:name`` -> (left, name)."""
    left, sep, name = target.rpartition(":")
    if not sep or not left or not name or not re.fullmatch(r"[A-Za-z_][\w.]*", name):
        raise FinetuneError(f"{what} {target!r}: write path/to/file.py:Name or package.module:name")
    return left, name


# ---------------------------------------------------------------- building specs

# Keys allowed in a pyproject table (the flags' long names with "_").
TABLE_KEYS = {f.name for f in dataclasses.fields(FinetuneSpec)} - {"name", "resume_from", "root"}


def _coerce(spec: FinetuneSpec, key: str, value: Any, where: str) -> None:
    if key == "freeze" or key == "train_only":
        value = [value] if isinstance(value, str) else list(value or [])
    elif key == "replace_head":
        value = parse_replace_head(value)
    elif key == "lora":
        value = parse_lora(value)
    elif key == "init" and isinstance(value, dict):
        value = ", ".join(f"{k}={v!r}" for k, v in value.items())
    else:
        default = getattr(FinetuneSpec(), key)
        try:
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError("expected true or false")
            elif isinstance(default, int):
                if isinstance(value, bool) or int(value) != value:
                    raise ValueError("expected a whole number")
                value = int(value)
            elif isinstance(default, float):
                value = float(value)
            elif isinstance(default, str):
                value = str(value)
        except (TypeError, ValueError) as exc:
            raise FinetuneError(f"{where}: {key} = {value!r}: {exc}") from None
    setattr(spec, key, value)


def check(spec: FinetuneSpec, where: str = "") -> FinetuneSpec:
    """Checks that need no torch and no file reads beyond existence."""
    prefix = f"{where}: " if where else ""
    if not spec.resume:
        if not spec.model:
            raise FinetuneError(f"{prefix}no model: give --model path/to/file.py:ClassName (or module:factory)")
        if not spec.data:
            raise FinetuneError(f"{prefix}no data: give --data module_or_path:function (or a .npz/.csv/folder of .npy)")
        if spec.model.lower().endswith(".keras"):  # a saved Keras model: architecture and weights
            if not spec.path(spec.model).is_file():
                raise FinetuneError(f"{prefix}--model {spec.model}: no such file ({spec.path(spec.model)})")
        else:
            split_target(spec.model, "--model")
        if spec.checkpoint:
            ckpt = spec.path(spec.checkpoint)
            if not ckpt.is_file():
                raise FinetuneError(f"{prefix}--checkpoint {spec.checkpoint}: no such file ({ckpt})")
            if ckpt.suffix.lower() not in CHECKPOINT_SUFFIXES + KERAS_CHECKPOINT_SUFFIXES:
                raise FinetuneError(f"{prefix}--checkpoint {spec.checkpoint}: expected one of "
                                    f"{', '.join(CHECKPOINT_SUFFIXES + KERAS_CHECKPOINT_SUFFIXES)}")
        parse_call_args(spec.init)
    if spec.precision not in PRECISIONS:
        raise FinetuneError(f"{prefix}--precision {spec.precision!r}: choose one of {', '.join(PRECISIONS)}")
    if spec.schedule not in SCHEDULES:
        raise FinetuneError(f"{prefix}--schedule {spec.schedule!r}: choose one of {', '.join(SCHEDULES)}")
    if spec.launcher not in LAUNCHERS:
        raise FinetuneError(f"{prefix}--launcher {spec.launcher!r}: choose one of {', '.join(LAUNCHERS)}")
    for key in ("epochs", "batch_size", "grad_accum", "nproc_per_node"):
        if getattr(spec, key) < 1:
            raise FinetuneError(f"{prefix}--{key.replace('_', '-')} must be >= 1")
    if spec.lr <= 0:
        raise FinetuneError(f"{prefix}--lr must be > 0")
    return spec


def pyproject_path(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above ``start``."""
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def read_tables(pyproject: Path) -> dict[str, dict[str, Any]]:
    """All ``[tool.ml-lsp.finetune.NAME]`` tables of a pyproject.toml."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FinetuneError(f"{pyproject}: cannot read it as TOML ({exc})") from None
    tables = data.get("tool", {}).get("ml-lsp", {}).get("finetune", {})
    return {k: v for k, v in tables.items() if isinstance(v, dict)}


def from_table(name: str, pyproject: Path, overrides: dict[str, Any] | None = None) -> FinetuneSpec:
    tables = read_tables(pyproject)
    if name not in tables:
        known = ", ".join(sorted(tables)) or "none"
        raise FinetuneError(f"{pyproject}: no [tool.ml-lsp.finetune.{name}] table (tables there: {known})")
    where = f"{pyproject} [tool.ml-lsp.finetune.{name}]"
    spec = FinetuneSpec(name=name, root=str(pyproject.parent.resolve()))
    for key, value in tables[name].items():
        key = key.replace("-", "_")
        if key not in TABLE_KEYS:
            raise FinetuneError(f"{where}: unknown key {key!r}")
        _coerce(spec, key, value, where)
    for key, value in (overrides or {}).items():
        _coerce(spec, key, value, "command line")
    return check(spec, where)


def from_values(values: dict[str, Any], root: Path) -> FinetuneSpec:
    spec = FinetuneSpec(root=str(root.resolve()))
    for key, value in values.items():
        _coerce(spec, key, value, "command line")
    return check(spec)


def table_toml(name: str, spec: dict[str, Any]) -> str:
    """A ``[tool.ml-lsp.finetune.NAME]`` table as TOML text, for the editor's "Fine-tune
    from checkpoint…" (tomli-w writes it: any name, emoji and quotes included, is valid)."""
    import tomli_w

    table = {key: value for key, value in spec.items() if value not in (None, "", [], {})}
    return tomli_w.dumps({"tool": {"ml-lsp": {"finetune": {name: table}}}})
