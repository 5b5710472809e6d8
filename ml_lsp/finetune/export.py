"""What a finished fine-tune run leaves in its folder: ``model.safetensors`` (LoRA merged
on request), ``metrics.json``, ``report.md`` and, with matplotlib installed, ``curves.png``."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from torch import nn

from ml_lsp.finetune import model as model_mod
from ml_lsp.finetune.loop import Prepared, save_weights
from ml_lsp.finetune.spec import FinetuneSpec


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def export_run(spec: FinetuneSpec, run_dir: Path, model: nn.Module, metrics: dict[str, Any],
               history: list[dict[str, Any]], prepared: Prepared) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    merged = bool(spec.lora and spec.lora.merge)
    if merged:
        model = model_mod.merge_lora(model)
    weights = save_weights(model.state_dict(), run_dir / "model.safetensors")
    metrics = {k: _json_safe(v) for k, v in metrics.items()}
    metrics["model_file"] = weights.name
    metrics["lora_merged"] = merged
    tmp = run_dir / "metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, run_dir / "metrics.json")
    curve = _plot(history, run_dir / "curves.png")
    tmp = run_dir / "report.md.tmp"
    tmp.write_text(_report(spec, metrics, prepared, curve, weights.name))
    os.replace(tmp, run_dir / "report.md")


def _plot(history: list[dict[str, Any]], path: Path) -> str | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # optional extra: ml-lsp[plot]
        return None
    series = {name: [(h["step"], h[name]) for h in history if name in h]
              for name in ("train_loss", "val_loss", "val_accuracy")}
    if not any(series.values()):
        return None
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
    for name in ("train_loss", "val_loss"):
        if series[name]:
            ax_loss.plot(*zip(*series[name]), label=name, marker="." if name == "val_loss" else None)
    ax_loss.set_xlabel("step")
    ax_loss.set_title("loss")
    ax_loss.legend()
    if series["val_accuracy"]:
        ax_acc.plot(*zip(*series["val_accuracy"]), marker=".", color="tab:green")
        ax_acc.set_title("validation accuracy")
        ax_acc.set_xlabel("step")
    else:
        ax_acc.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def _report(spec: FinetuneSpec, metrics: dict[str, Any], prepared: Prepared, curve: str | None,
            weights: str, best: str = "best.safetensors") -> str:
    title = spec.name or spec.model
    lines = [f"# Fine-tune: {title}", "",
             f"- model: `{spec.model}`" + (f" with `{spec.init}`" if spec.init else ""),
             f"- checkpoint: `{spec.checkpoint or ('(the weights saved with the model)' if spec.model.endswith('.keras') else '(none: trained from initialisation)')}`",
             f"- data: `{spec.data}` ({len(prepared.train)} train, {len(prepared.val)} validation items)",
             f"- trainable parameters: {prepared.counts['trainable']:,}; frozen: {prepared.counts['frozen']:,}"]
    if spec.freeze:
        lines.append(f"- frozen: {', '.join(f'`{p}`' for p in spec.freeze)}")
    if spec.train_only:
        lines.append(f"- trained only: {', '.join(f'`{p}`' for p in spec.train_only)}")
    for head in prepared.head_lines:
        lines.append(f"- new head: {head}")
    if spec.lora:
        lines.append(f"- LoRA r={spec.lora.r} alpha={spec.lora.alpha} on {', '.join(spec.lora.targets)}"
                     + (" (merged into the exported weights)" if spec.lora.merge else ""))
    lines.append(f"- settings: {spec.epochs} epoch(s), batch {spec.batch_size} x {spec.grad_accum} accumulation "
                 f"x {metrics.get('world_size', 1)} process(es), AdamW lr {spec.lr}, {spec.schedule} schedule, "
                 f"warmup {spec.warmup_steps}, precision {metrics.get('precision')}, seed {spec.seed}")
    if prepared.load_report:
        lines += ["", "## Checkpoint", ""] + [f"- {line}" for line in prepared.load_report.lines()]
    lines += ["", "## Results", "", "| metric | value |", "| --- | --- |"]
    for key in ("val_loss", "val_accuracy", "train_loss", "best_val_loss", "best_step", "steps",
                "samples_per_s", "stopped_early"):
        if metrics.get(key) is not None:
            value = metrics[key]
            lines.append(f"| {key} | {value:.4f} |" if isinstance(value, float) else f"| {key} | {value} |")
    lines += ["", f"Weights: `{weights}` (last step); `{best}` (lowest val_loss).", ""]
    if curve:
        lines += [f"![loss and accuracy]({curve})", ""]
    return "\n".join(lines)
