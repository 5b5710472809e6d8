"""The fine-tune training loop, run inside the job process (one process, or one per rank
under torchrun). Checkpoints hold everything an exact resume needs: model, optimizer,
scheduler, scaler, step/epoch, the position in the epoch's data order and every RNG state."""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Subset

from ml_lsp.finetune import data as data_mod
from ml_lsp.finetune import model as model_mod
from ml_lsp.finetune.spec import FinetuneError, FinetuneSpec

CHECKPOINT_FORMAT = "ml-lsp-finetune/1"


# ---------------------------------------------------------------- set-up pieces

@dataclass
class Prepared:
    """The model and data of a spec, ready to train (also what the CLI validates)."""
    model: nn.Module
    train: Any
    val: Any
    load_report: model_mod.LoadReport | None
    head_lines: list[str]
    counts: dict[str, int]


def prepare(spec: FinetuneSpec, load_weights: bool = True) -> Prepared:
    """Build the model, load the checkpoint, replace heads, choose what trains, add LoRA,
    load the data. Raises FinetuneError with a message fit for the user."""
    model = model_mod.build_model(spec)
    report = None
    if spec.checkpoint and load_weights:
        report = model_mod.load_checkpoint(model, spec)
    head_lines = model_mod.replace_heads(model, spec.replace_head)
    heads = list(spec.replace_head)
    counts = model_mod.choose_trainable(model, spec.freeze, spec.train_only, heads)
    if spec.lora:
        model = model_mod.add_lora(model, spec, heads + spec.train_only)
        counts = {"trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
                  "frozen": sum(p.numel() for p in model.parameters() if not p.requires_grad)}
    train, val = data_mod.load_datasets(spec)
    return Prepared(model, train, val, report, head_lines, counts)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    # Plain types and tensors only, so the checkpoint loads with weights_only=True.
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state = {"python": random.getstate(),
             "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def pick_device(spec: FinetuneSpec, local_rank: int) -> torch.device:
    if spec.device != "auto":
        return torch.device(spec.device)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def pick_precision(spec: FinetuneSpec, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, use a GradScaler). auto: bf16 on GPUs that have it, fp16 +
    GradScaler on older GPUs, fp32 on CPU."""
    precision = spec.precision
    if precision == "auto":
        if device.type != "cuda":
            return None, False
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp32":
        return None, False
    if precision == "bf16":
        return torch.bfloat16, False
    return torch.float16, True


def lr_lambda(spec: FinetuneSpec, total_steps: int) -> Callable[[int], float]:
    warmup = spec.warmup_steps

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if spec.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        if spec.schedule == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


def model_output(out: Any) -> torch.Tensor:
    """Logits from what forward returned: a tensor, a tuple (first item), or an object or
    dict with ``logits``."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict) and "logits" in out:
        return out["logits"]
    if hasattr(out, "logits"):
        return out.logits
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise FinetuneError(f"the model's forward returned {type(out).__name__}; expected a tensor of outputs")


def compute_loss(out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy for integer targets (classification), mean squared error otherwise."""
    if not y.is_floating_point():
        return F.cross_entropy(out.float(), y, reduction=reduction)
    if out.shape != y.shape and out.numel() == y.numel():
        out = out.reshape(y.shape)
    return F.mse_loss(out.float(), y, reduction=reduction)


class ShardSampler(DistributedSampler):
    """DistributedSampler that can start part-way into an epoch (the resume position)."""

    skip = 0

    def __iter__(self):
        indices = list(super().__iter__())
        return iter(indices[self.skip:])

    def __len__(self) -> int:
        return self.num_samples - self.skip


# ---------------------------------------------------------------- the run

@dataclass
class RunState:
    step: int = 0
    epoch: int = 0
    batch: int = 0  # micro-batches of this epoch already consumed
    best_val_loss: float = math.inf
    best_step: int = 0
    evals_since_best: int = 0
    train_samples: int = 0
    train_time: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_weights(state_dict: dict[str, torch.Tensor], path: Path) -> Path:
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    tmp = path.with_name(path.name + ".tmp")
    try:
        from safetensors.torch import save_file
    except ImportError:  # the finetune extra brings it; keep the weights anyway
        path = path.with_suffix(".pt")
        tmp = path.with_name(path.name + ".tmp")
        torch.save(tensors, tmp)
    else:
        save_file(tensors, str(tmp))
    os.replace(tmp, path)
    return path


def train(spec: FinetuneSpec, run_dir: Path, emit: Callable[..., None] | None = None) -> dict[str, Any]:
    """Fine-tune per ``spec``; outputs go to ``run_dir``. ``emit(kind, **fields)`` receives
    metrics and progress as they happen (the job streams them as frames). Returns the final
    metrics (also written to metrics.json)."""
    emit = emit or (lambda kind, **kw: None)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(spec, local_rank)
    distributed = world > 1
    if distributed:
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    is_main = rank == 0
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if spec.deterministic:
        torch.use_deterministic_algorithms(True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    seed_everything(spec.seed)

    resume = None
    if spec.resume_from:
        try:
            resume = torch.load(spec.resume_from, map_location="cpu", weights_only=True)
        except Exception as exc:
            from ml_lsp.finetune.model import load_error_line
            raise FinetuneError(f"--resume: cannot read {spec.resume_from} ({load_error_line(exc)})") from None
    prepared = prepare(spec, load_weights=resume is None)
    raw_model = prepared.model.to(device)
    train_set, val_set = prepared.train, prepared.val
    params = [p for p in raw_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)

    sampler = ShardSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=spec.seed)
    batches_per_epoch = math.ceil(sampler.num_samples / spec.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / spec.grad_accum)
    total_steps = spec.max_steps or spec.epochs * steps_per_epoch
    epochs = math.ceil(total_steps / steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(spec, total_steps))
    amp_dtype, use_scaler = pick_precision(spec, device)
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)

    state = RunState()
    if resume is not None:
        if resume.get("format") != CHECKPOINT_FORMAT:
            raise FinetuneError(f"--resume: {spec.resume_from} is not an ml-lsp fine-tune checkpoint")
        raw_model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        scaler.load_state_dict(resume["scaler"])
        state = RunState(**resume["state"])
        set_rng_state(resume["rng"])
        if state.batch >= batches_per_epoch:
            state.epoch, state.batch = state.epoch + 1, 0

    model: nn.Module = raw_model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel
        model = DistributedDataParallel(raw_model, device_ids=[device.index] if device.type == "cuda" else None)
    forward = torch.compile(model) if spec.compile else model
    autocast = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if amp_dtype else contextlib.nullcontext
    ckpt_dir = run_dir / "checkpoints"
    if is_main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)

    stop = {"requested": False, "paused": False}  # paused: --stop-after, not a signal

    def request_stop(signum, frame):  # finish the step, checkpoint, exit: never lose work
        stop["requested"] = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}

    def checkpoint() -> None:
        if not is_main:
            return
        payload = {"format": CHECKPOINT_FORMAT, "spec": spec.to_job(),
                   "model": raw_model.state_dict(), "optimizer": optimizer.state_dict(),
                   "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                   "state": {**state.__dict__, "history": list(state.history)}, "rng": rng_state()}
        _atomic_save(payload, ckpt_dir / "last.pt")
        emit("checkpoint", path=str(ckpt_dir / "last.pt"), step=state.step)

    def evaluate() -> dict[str, float]:
        raw_model.eval()
        shard = Subset(val_set, range(rank, len(val_set), world))
        totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, count
        classification = True
        with torch.no_grad(), autocast():
            for x, y, *_ in DataLoader(shard, batch_size=spec.batch_size, num_workers=spec.workers):
                x, y = x.to(device), y.to(device)
                out = model_output(raw_model(x))
                totals[0] += compute_loss(out, y, reduction="sum").double()
                classification = not y.is_floating_point()
                if classification:
                    totals[1] += (out.argmax(1) == y).sum()
                totals[2] += y.numel()
        if distributed:
            torch.distributed.all_reduce(totals)
        raw_model.train()
        result = {"val_loss": (totals[0] / totals[2]).item()}
        if classification:
            result["val_accuracy"] = (totals[1] / totals[2]).item()
        return result

    def record(**values: Any) -> None:
        state.history.append({"step": state.step, **values})
        if is_main:
            emit("metric", step=state.step, **values)

    eval_every = spec.eval_every or steps_per_epoch
    checkpoint_every = spec.checkpoint_every or steps_per_epoch
    last_eval: dict[str, float] = {}
    last_loss = math.nan
    stopped_early = False
    window_loss = torch.zeros((), device=device)
    window_steps = 0
    final_group_losses: list[torch.Tensor] = []
    raw_model.train()
    emit("progress", current=state.step, total=total_steps)
    first_step = state.step
    t_start = time.perf_counter()
    try:
        while state.step < total_steps and not stop["requested"] and not stopped_early:
            sampler.set_epoch(state.epoch)
            sampler.skip = state.batch * spec.batch_size
            # A loader of its own generator: creating the iterator must not draw from the
            # global RNG, or a resumed run would diverge from an uninterrupted one.
            loader = DataLoader(train_set, batch_size=spec.batch_size, sampler=sampler,
                                num_workers=spec.workers, pin_memory=device.type == "cuda",
                                generator=torch.Generator().manual_seed(spec.seed * 100003 + state.epoch))
            group_losses: list[torch.Tensor] = []
            for x, y, *_ in loader:
                b = state.batch
                group_start = b - b % spec.grad_accum
                group_size = min(spec.grad_accum, batches_per_epoch - group_start)
                last_micro = b + 1 == group_start + group_size
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                sync = contextlib.nullcontext() if (last_micro or not distributed) else model.no_sync()
                with sync:
                    with autocast():
                        loss = compute_loss(model_output(forward(x)), y)
                        if group_size > 1:
                            loss = loss / group_size
                    scaler.scale(loss).backward()
                # One cheap add per micro-step and no host sync: read only when logging.
                detached = loss.detach()
                window_loss += detached
                group_losses.append(detached)
                state.batch += 1
                state.train_samples += y.shape[0] * world
                if not last_micro:
                    continue
                if spec.clip_grad:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(params, spec.clip_grad)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                state.step += 1
                window_steps += 1
                final_group_losses, group_losses = group_losses, []
                at_end = state.step >= total_steps
                if spec.stop_after and state.step - first_step >= spec.stop_after and not at_end:
                    stop["requested"] = stop["paused"] = True
                if distributed:  # every rank must agree to stop at the same step
                    flag = torch.tensor([float(stop["requested"])], device=device)
                    torch.distributed.all_reduce(flag)
                    stop["requested"] = bool(flag.item())
                if state.step % spec.log_every == 0 or at_end or stop["requested"]:
                    if distributed:
                        torch.distributed.all_reduce(window_loss)
                        window_loss /= world
                    record(train_loss=(window_loss / window_steps).item(),
                           lr=scheduler.get_last_lr()[0], epoch=state.epoch + state.batch / batches_per_epoch)
                    emit("progress", current=state.step, total=total_steps)
                    window_loss.zero_()
                    window_steps = 0
                if state.step % eval_every == 0 or at_end:
                    t_eval = time.perf_counter()
                    last_eval = evaluate()
                    record(**last_eval)
                    if last_eval["val_loss"] < state.best_val_loss:
                        state.best_val_loss, state.best_step, state.evals_since_best = last_eval["val_loss"], state.step, 0
                        if is_main:
                            save_weights(raw_model.state_dict(), run_dir / "best.safetensors")
                    else:
                        state.evals_since_best += 1
                        if spec.patience and state.evals_since_best >= spec.patience:
                            stopped_early = True
                    t_start += time.perf_counter() - t_eval  # throughput counts training only
                if state.step % checkpoint_every == 0 or at_end or stop["requested"] or stopped_early:
                    t_ck = time.perf_counter()
                    state.train_time += t_ck - t_start
                    checkpoint()
                    t_start = time.perf_counter()
                if at_end or stop["requested"] or stopped_early:
                    break
            else:
                state.epoch, state.batch = state.epoch + 1, 0
                continue
            if state.batch >= batches_per_epoch:
                state.epoch, state.batch = state.epoch + 1, 0
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        state.train_time += time.perf_counter() - t_start
        if final_group_losses:
            last = torch.stack(final_group_losses).sum()
            if distributed:
                torch.distributed.all_reduce(last)
                last /= world
            last_loss = last.item()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)

    metrics: dict[str, Any] = {
        "steps": state.step, "total_steps": total_steps, "epochs": state.epoch + state.batch / batches_per_epoch,
        "train_loss": last_loss, "samples_per_s": state.train_samples / state.train_time if state.train_time else 0.0,
        "best_val_loss": state.best_val_loss if state.best_step else None, "best_step": state.best_step,
        "stopped": stop["requested"], "paused": stop["paused"], "stopped_early": stopped_early, "world_size": world,
        "precision": str(amp_dtype).replace("torch.", "") if amp_dtype else "fp32",
        "device": str(device), "trainable_params": prepared.counts["trainable"],
        "frozen_params": prepared.counts["frozen"], **last_eval,
    }
    if is_main and not stop["requested"]:
        from ml_lsp.finetune.export import export_run
        export_run(spec, run_dir, raw_model, metrics, state.history, prepared)
    if distributed:
        torch.distributed.barrier()
    return metrics
