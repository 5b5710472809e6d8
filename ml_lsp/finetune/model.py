"""Building the model to fine-tune: construct it, load the checkpoint (weights only),
replace heads, choose what trains, add LoRA adapters. Imports torch: job process and the
CLI's validation step only."""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import pickle
import re
import sys
import traceback
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ml_lsp.finetune.spec import FinetuneError, FinetuneSpec, parse_call_args, split_target

# Keys a full training checkpoint commonly keeps the model's weights under.
STATE_DICT_KEYS = ("model", "state_dict", "model_state_dict", "model_state", "module", "net", "weights")
# Prefixes that wrappers add to parameter names (DDP, torch.compile, Lightning, peft).
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.", "base_model.model.")


@dataclass
class LoadReport:
    """What loading a checkpoint did, for the CLI, report.md and the editor."""
    checkpoint: str = ""
    loaded: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)  # name, checkpoint, model
    skipped_heads: list[str] = field(default_factory=list)
    stripped_prefix: str = ""
    container_key: str = ""

    def lines(self) -> list[str]:
        out = [f"loaded {self.loaded} tensors from {self.checkpoint}"
               + (f" (under key '{self.container_key}')" if self.container_key else "")
               + (f" (prefix '{self.stripped_prefix}' removed)" if self.stripped_prefix else "")]
        if self.skipped_heads:
            out.append(f"not loaded (head replaced): {', '.join(self.skipped_heads)}")
        if self.missing:
            out.append(f"missing in checkpoint ({len(self.missing)}): {_short(self.missing)}")
        if self.unexpected:
            out.append(f"unexpected in checkpoint ({len(self.unexpected)}): {_short(self.unexpected)}")
        for name, ck, mo in self.mismatched:
            out.append(f"shape mismatch {name}: checkpoint {list(ck)} vs model {list(mo)}")
        return out


def _short(names: list[str], n: int = 8) -> str:
    return ", ".join(names[:n]) + (f", … (+{len(names) - n} more)" if len(names) > n else "")


# ---------------------------------------------------------------- model

def import_target(target: str, root: str, what: str) -> Any:
    """``path/to/file.py:Name`` (imported as a file, its folder on sys.path so sibling
    imports work) or ``package.module:name`` (imported with the root on sys.path)."""
    left, name = split_target(target, what)
    if left.endswith(".py") or "/" in left or "\\" in left:
        path = Path(left)
        if not path.is_absolute() and root:
            path = Path(root) / path
        if not path.is_file():
            raise FinetuneError(f"{what} {target}: no such file {path}")
        folder = str(path.parent.resolve())
        if folder not in sys.path:
            sys.path.insert(0, folder)
        module_name = f"_ml_lsp_user_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses and pickling look the module up
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise FinetuneError(f"{what} {target}: importing {path} failed: {_where(exc, path)}") from None
    else:
        if root and root not in sys.path:
            sys.path.insert(0, root)
        try:
            module = importlib.import_module(left)
        except ModuleNotFoundError as exc:
            raise FinetuneError(f"{what} {target}: no module named {exc.name!r} (from {root or '.'})") from None
        except Exception as exc:
            raise FinetuneError(f"{what} {target}: importing {left} failed: {_where(exc)}") from None
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise FinetuneError(f"{what} {target}: {left} has no attribute {part!r}")
        obj = getattr(obj, part)
    return obj


def _where(exc: BaseException, prefer: Path | None = None) -> str:
    """``Type: message (file:line)`` for the innermost frame in the user's code."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = str(Path(__file__).resolve().parents[1])  # the ml_lsp package
    user = [f for f in frames if not f.filename.startswith(ours) and "/torch/" not in f.filename
            and not f.filename.startswith("<frozen")]
    if prefer is not None:
        user = [f for f in user if Path(f.filename).resolve() == prefer.resolve()] or user
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"SyntaxError: {exc.msg} ({exc.filename}:{exc.lineno})"
    place = f" ({user[-1].filename}:{user[-1].lineno})" if user else ""
    return f"{type(exc).__name__}: {exc}{place}"


def build_model(spec: FinetuneSpec) -> nn.Module:
    factory = import_target(spec.model, spec.root, "--model")
    args, kwargs = parse_call_args(spec.init)
    try:
        model = factory(*args, **kwargs)
    except Exception as exc:
        raise FinetuneError(f"--model {spec.model}: calling it with ({spec.init}) raised {_where(exc)}") from None
    if not isinstance(model, nn.Module):
        raise FinetuneError(f"--model {spec.model}: returned {type(model).__name__}, not a torch.nn.Module")
    return model


# ---------------------------------------------------------------- checkpoints

# What torch.save writes: a zip archive (since 1.6) or, in the legacy format, a pickle
# (protocol 2 and up starts with the PROTO opcode 0x80 and the protocol number).
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def not_a_checkpoint(path: Path, safetensors: bool = False) -> str | None:
    """Why the file at ``path`` cannot be a checkpoint, from its first bytes (a text file,
    zeros, other binary data), or None when it looks like one. Saying what the file is
    beats passing on what torch.load says about it (which suggests weights_only=False)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None  # torch.load (or the caller) says why it cannot be read
    if safetensors:
        # an 8-byte little-endian header length, then the JSON header
        if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100 * 2**20:
            return None
    elif head.startswith(_ZIP_MAGIC) or (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
        return None
    if not head:
        return "the file is empty"
    if head.count(0) == len(head):
        return f"the file holds only zero bytes{' (its first 4 KB)' if len(head) == 4096 else ''}"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = head[:exc.start].decode("utf-8") if exc.start > len(head) - 4 else None
    if text is not None and all(c.isprintable() or c in "\t\r\n" for c in text):
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        return f"it is a text file (it starts {first[:60]!r})"
    return f"it is binary data of an unknown kind (it starts {head[:8].hex(' ')})"


def _checkpoint_kind(safetensors: bool) -> str:
    return ("a .safetensors file (an 8-byte header length, then a JSON header)" if safetensors
            else "a file written by torch.save (a zip archive, or a legacy pickle) or a .safetensors file")


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors of a checkpoint file and the key they were found under (a full training
    checkpoint keeps them under "model", "state_dict"...). Never unpickles code."""
    shown = str(path)
    is_safetensors = path.suffix.lower() == ".safetensors"
    why = not_a_checkpoint(path, is_safetensors)
    if why is not None:
        raise FinetuneError(f"{shown}: not a checkpoint: {why}; expected {_checkpoint_kind(is_safetensors)}")
    if path.suffix.lower() == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise FinetuneError(f"{shown}: reading .safetensors needs the safetensors package: "
                                "pip install 'ml-lsp[finetune]'") from None
        try:
            return load_file(str(path), device="cpu"), ""
        except Exception as exc:
            raise FinetuneError(f"{shown}: corrupt or truncated safetensors file ({exc}); "
                                "re-export it or pick another checkpoint") from None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "weights_only" in text or "Weights only load failed" in text:
            found = re.search(r"(?:GLOBAL|global) ([\w.]+)|Unsupported global: GLOBAL ([\w.]+)", text)
            what = f" (it stores a {next(g for g in found.groups() if g)} object)" if found else ""
            raise FinetuneError(
                f"{shown}: this checkpoint pickles Python objects{what}, which loading with "
                "weights_only=True refuses because unpickling can run arbitrary code. If you trust the "
                "file, re-save only the weights: torch.save(model.state_dict(), 'weights.pt') "
                "(or save as .safetensors) and fine-tune from that") from None
        raise FinetuneError(f"{shown}: corrupt checkpoint ({text.splitlines()[0]})") from None
    except Exception as exc:  # whatever torch.load raises on a damaged file: one line, no traceback
        raise FinetuneError(f"{shown}: corrupt or truncated checkpoint file ({load_error_line(exc)}); "
                            "re-download or re-save it") from None
    return _find_state_dict(obj, shown)


def load_error_line(exc: BaseException) -> str:
    """The first line of what torch.load raised, without its advice to load with
    weights_only=False (which would run the file's code)."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if "weights_only" in first:
        return f"{type(exc).__name__}: not a format torch.load reads without running code from the file"
    return first if str(exc) else type(exc).__name__


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _find_state_dict(obj: Any, shown: str) -> tuple[dict[str, torch.Tensor], str]:
    if _is_state_dict(obj):
        return obj, ""
    if isinstance(obj, dict):
        for key in STATE_DICT_KEYS:
            if _is_state_dict(obj.get(key)):
                return obj[key], key
        # A training checkpoint may mix tensors and bookkeeping: keep the tensors.
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
        if tensors:
            return tensors, ""
        keys = ", ".join(map(str, list(obj)[:10]))
        raise FinetuneError(f"{shown}: no model weights found (top-level keys: {keys}); expected a "
                            f"state_dict or a dict holding one under one of {', '.join(STATE_DICT_KEYS)}")
    raise FinetuneError(f"{shown}: holds a {type(obj).__name__}, not a state_dict; save model.state_dict()")


def _strip_prefix(ckpt: dict[str, torch.Tensor], model_keys: set[str]) -> tuple[dict, str]:
    """Remove a wrapper prefix ("module.", "_orig_mod."...) when doing so matches more keys."""
    best, best_prefix = ckpt, ""
    best_hits = len(model_keys & set(ckpt))
    for prefix in WRAPPER_PREFIXES:
        if not any(k.startswith(prefix) for k in ckpt):
            continue
        stripped = {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in ckpt.items()}
        hits = len(model_keys & set(stripped))
        if hits > best_hits:
            best, best_prefix, best_hits = stripped, prefix, hits
    return best, best_prefix


def load_checkpoint(model: nn.Module, spec: FinetuneSpec) -> LoadReport:
    """Load ``spec.checkpoint`` into ``model``. Shape mismatches are fatal (except in a head
    being replaced); missing/unexpected keys are fatal with ``--strict``; a checkpoint
    matching no tensor of the model is always fatal (wrong architecture)."""
    path = spec.path(spec.checkpoint)
    report = LoadReport(checkpoint=spec.checkpoint)
    tensors, report.container_key = read_checkpoint(path)
    own = model.state_dict()
    tensors, report.stripped_prefix = _strip_prefix(tensors, set(own))
    heads = tuple(f"{h}." for h in spec.replace_head)
    usable = {}
    for key, value in tensors.items():
        if key.startswith(heads):
            report.skipped_heads.append(key)
        elif key not in own:
            report.unexpected.append(key)
        elif tuple(own[key].shape) != tuple(value.shape):
            report.mismatched.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            usable[key] = value
    report.missing = [k for k in own if k not in tensors and not k.startswith(heads)]
    report.loaded = len(usable)
    problems = []
    if not usable:
        problems.append("no tensor in the checkpoint matches the model: wrong architecture or wrong --init")
    if report.mismatched:
        problems.append(f"{len(report.mismatched)} shape mismatch(es)"
                        + ("" if spec.replace_head else "; if these are the output layer, add --replace-head NAME=N"))
    if spec.strict and (report.missing or report.unexpected):
        problems.append("--strict: missing or unexpected keys")
    if problems:
        details = "\n  ".join(report.lines()[1:])
        raise FinetuneError(f"--checkpoint {spec.checkpoint} does not fit --model {spec.model}: "
                            + "; ".join(problems) + (f"\n  {details}" if details else ""))
    with torch.no_grad():
        for key, value in usable.items():
            own[key].copy_(value)
    return report


# ---------------------------------------------------------------- heads, freezing, LoRA

def replace_heads(model: nn.Module, heads: dict[str, int]) -> list[str]:
    """Swap each named output layer for a fresh one with N outputs (same input size)."""
    lines = []
    for name, n in heads.items():
        try:
            old = model.get_submodule(name)
        except AttributeError:
            linear = [m for m, mod in model.named_modules() if isinstance(mod, (nn.Linear, nn.Conv1d, nn.Conv2d))]
            raise FinetuneError(f"--replace-head {name}={n}: the model has no module {name!r} "
                                f"(its last layers: {', '.join(linear[-4:])})") from None
        target_name, target = name, old
        if isinstance(old, nn.Sequential):  # e.g. classifier = Sequential(..., Linear): replace its last layer
            idx = [i for i, m in enumerate(old) if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
            if not idx:
                raise FinetuneError(f"--replace-head {name}={n}: {name} holds no Linear or Conv layer")
            target_name, target = f"{name}.{idx[-1]}", old[idx[-1]]
        if isinstance(target, nn.Linear):
            new = nn.Linear(target.in_features, n, bias=target.bias is not None)
            desc = f"Linear({target.in_features}, {target.out_features}) -> Linear({target.in_features}, {n})"
        elif isinstance(target, (nn.Conv1d, nn.Conv2d)):
            new = type(target)(target.in_channels, n, target.kernel_size, target.stride, target.padding,
                               target.dilation, target.groups, target.bias is not None)
            desc = f"{type(target).__name__} out_channels {target.out_channels} -> {n}"
        else:
            raise FinetuneError(f"--replace-head {name}={n}: {name} is a {type(target).__name__}; "
                                "only Linear and Conv1d/Conv2d layers (or a Sequential ending in one) can be replaced")
        new.to(device=target.weight.device, dtype=target.weight.dtype)
        model.set_submodule(target_name, new)
        lines.append(f"{target_name}: {desc}")
    return lines


def _matches(name: str, pattern: str) -> bool:
    # "features" and "features.*" both mean the module and everything in it.
    return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, pattern + ".*")


def choose_trainable(model: nn.Module, freeze: list[str], train_only: list[str],
                     always: list[str]) -> dict[str, int]:
    """Set requires_grad from the patterns; ``always`` (replaced heads) stay trainable.
    A pattern that matches no parameter is an error (a typo would silently train all)."""
    names = [n for n, _ in model.named_parameters()]
    for flag, patterns in (("--freeze", freeze), ("--train-only", train_only)):
        for pattern in patterns:
            if not any(_matches(n, pattern) for n in names):
                sample = ", ".join(sorted({n.rsplit(".", 1)[0] for n in names})[:12])
                raise FinetuneError(f"{flag} {pattern!r} matches no parameter of the model; "
                                    f"parameter names look like: {sample}")
    for name, param in model.named_parameters():
        trainable = True
        if train_only:
            trainable = any(_matches(name, p) for p in train_only)
        if any(_matches(name, p) for p in freeze):
            trainable = False
        if any(_matches(name, h) for h in always):
            trainable = True
        param.requires_grad_(trainable)
    counts = {"trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
              "frozen": sum(p.numel() for p in model.parameters() if not p.requires_grad)}
    if counts["trainable"] == 0:
        raise FinetuneError("every parameter is frozen: loosen --freeze or --train-only")
    return counts


LORA_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Embedding)


def add_lora(model: nn.Module, spec: FinetuneSpec, keep_trainable: list[str]) -> nn.Module:
    """Wrap the matching layers with LoRA adapters through peft; everything else is frozen
    except ``keep_trainable`` (replaced heads, --train-only patterns)."""
    lora = spec.lora
    modules = [n for n, m in model.named_modules() if isinstance(m, LORA_LAYERS)]
    targets = [n for n in modules if any(_matches(n, p) or fnmatch.fnmatchcase(n, p) for p in lora.targets)]
    heads = set(spec.replace_head)
    targets = [t for t in targets if t not in heads]
    if not targets:
        raise FinetuneError(f"--lora targets={'|'.join(lora.targets)!r} matches no Linear/Conv/Embedding layer; "
                            f"candidate layers: {', '.join(modules[:12])}")
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise FinetuneError("--lora needs the peft package: pip install 'ml-lsp[finetune]'") from None
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                        target_modules=targets, bias="none")
    try:
        wrapped = get_peft_model(model, config)
    except Exception as exc:
        raise FinetuneError(f"--lora: peft could not add adapters: {type(exc).__name__}: {exc}") from None
    base = wrapped.get_base_model()
    for name, param in base.named_parameters():
        if any(_matches(name, p) for p in keep_trainable):
            param.requires_grad_(True)
    return wrapped


def merge_lora(model: nn.Module) -> nn.Module:
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
