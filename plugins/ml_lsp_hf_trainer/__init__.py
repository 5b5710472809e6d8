"""Metrics from Hugging Face ``transformers.Trainer`` runs: what the Trainer logs (loss,
learning_rate, grad_norm, eval_*...) and its epoch and step progress, attributed to the
user's line that called ``trainer.train()``.

A metric capturer (``ml_lsp_metric_capturers``), installed inside the training process by
the run bootstrap. It costs nothing unless the script imports ``transformers.trainer``:
then it adds one callback to the Trainer's default callbacks. Registered through an entry
point exactly as a third-party capturer would be.
"""

from __future__ import annotations

import sys
import time

from ml_lsp.hookspecs import hookimpl

PROGRESS_INTERVAL = 0.1  # seconds between two step-progress frames


def install(capture):
    """Add the callback once ``transformers.trainer`` is imported; returns the undo."""
    from ml_lsp.telemetry.imports import when_imported

    added: list = []

    def patch(module) -> None:
        callback = make_callback(capture)
        module.DEFAULT_CALLBACKS.append(callback)
        added.append((module, callback))

    when_imported("transformers.trainer", patch)

    def undo() -> None:
        for module, callback in added:
            if callback in module.DEFAULT_CALLBACKS:
                module.DEFAULT_CALLBACKS.remove(callback)

    return undo


def make_callback(capture):
    from transformers import TrainerCallback

    from ml_lsp.telemetry import attribution

    class MlLspCallback(TrainerCallback):
        """Forwards the Trainer's logs and progress to the run's frames."""

        def __init__(self) -> None:
            self.where: tuple[str, int] | None = None
            self.next_progress = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            frame = attribution.user_frame(sys._getframe(1))
            self.where = (attribution.frame_path(frame), frame.f_lineno) if frame else None
            if self.where:
                capture.owned_lines.add(self.where)  # the Trainer's own loss log wins

        def on_epoch_begin(self, args, state, control, **kwargs):
            if self.where and args.num_train_epochs:
                epoch = int(state.epoch or 0) + 1
                capture.progress(*self.where, epoch, int(args.num_train_epochs), "epoch", "epoch")

        def on_step_end(self, args, state, control, **kwargs):
            now = time.monotonic()
            if self.where and (now >= self.next_progress or state.global_step >= state.max_steps):
                self.next_progress = now + PROGRESS_INTERVAL
                capture.progress(*self.where, state.global_step, state.max_steps or None, "step", "step")

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not self.where or not logs:
                return
            for name, value in logs.items():
                if name == "epoch" or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                capture.metric(name, value, state.global_step, *self.where)

    return MlLspCallback


@hookimpl
def ml_lsp_metric_capturers():
    return [install]


# ---------------------------------------------------------------- static data sources

TOKENIZER_CLASSES = ("AutoTokenizer", "BertTokenizer", "BertTokenizerFast", "DistilBertTokenizer",
                     "DistilBertTokenizerFast", "RobertaTokenizer", "RobertaTokenizerFast", "GPT2Tokenizer",
                     "GPT2TokenizerFast", "T5Tokenizer", "T5TokenizerFast", "LlamaTokenizer",
                     "LlamaTokenizerFast", "PreTrainedTokenizerFast", "AlbertTokenizer", "AlbertTokenizerFast")


def tokenizer_rules() -> dict:
    """``AutoTokenizer.from_pretrained(...)`` and friends as data sources for the static
    shape engine: calling the tokenizer with ``padding="max_length", max_length=N,
    return_tensors="pt"`` gives ``input_ids``/``attention_mask`` of shape (texts, N).
    transformers is never imported."""
    from ml_lsp.analysis.provenance import Tokenizer

    def from_pretrained(call):
        name = call.arg(0, "pretrained_model_name_or_path")
        return Tokenizer(name if isinstance(name, str) else "tokenizer")

    rules = {}
    for cls in TOKENIZER_CLASSES:
        rules[f"transformers.{cls}.from_pretrained"] = from_pretrained
    return rules


def dataset_rules() -> dict:
    """``datasets.load_dataset(...)`` as a data source: its columns are unknown until a
    batched ``map`` of a tokenizer call names them, and ``with_format("torch")`` makes its
    rows tensors (see ``ml_lsp.analysis.provenance.HFDataset``). datasets is never imported."""
    from ml_lsp.analysis.provenance import DatasetDict, HFDataset

    def load_dataset(call):
        name = call.arg(0, "path")
        name = name if isinstance(name, str) else "dataset"
        if isinstance(call.kwargs.get("split"), str):
            return HFDataset(name=name)
        return DatasetDict(name=name)

    return {"datasets.load_dataset": load_dataset}


@hookimpl
def ml_lsp_shape_rules():
    return {**tokenizer_rules(), **dataset_rules()}
