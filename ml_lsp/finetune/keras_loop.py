"""Fine-tuning a Keras model: the same spec, run folder, metrics, early stopping and
report as the torch loop, trained by Keras's own ``fit`` and exported as ``model.keras``.

The model is a ``.keras`` file, or ``module:function`` (or ``file.py:function``) returning
a ``keras.Model``; ``--checkpoint`` may add weights from a ``.keras`` or ``.weights.h5``
file. ``--freeze``/``--train-only`` match layer names (a nested layer also as
``outer.inner``), ``--replace-head NAME=N`` swaps the output ``Dense`` layer NAME for a
fresh one with N units and the same activation. Keras validates once per epoch, so
``--eval-every``/``--checkpoint-every`` are per epoch here.
"""

from __future__ import annotations

import fnmatch
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ml_lsp.finetune.spec import FinetuneError, FinetuneSpec

KERAS_SUFFIX = ".keras"
WEIGHT_SUFFIXES = (".keras", ".h5")  # what model.load_weights reads


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")  # this project's set-up has torch, maybe not TF
    import keras
    return keras


def is_keras_file(model: str) -> bool:
    return model.lower().endswith(KERAS_SUFFIX)


def is_keras_model(obj: Any) -> bool:
    """A keras.Model, without importing Keras when the object did not come from it."""
    return is_keras_model_class(type(obj))


def detect(spec: FinetuneSpec) -> tuple[bool, Any]:
    """(is this a Keras fine-tune, the model already built by detecting it or None). A
    target is called here only when importing it imported Keras, so a torch model is not
    built twice."""
    if is_keras_file(spec.model):
        return True, None
    import sys

    from ml_lsp.finetune.model import import_target
    had_keras = "keras" in sys.modules
    if os.environ.get("KERAS_BACKEND") is None:
        os.environ["KERAS_BACKEND"] = "torch"  # before the user's module imports Keras
        set_here = True
    else:
        set_here = False
    target = import_target(spec.model, spec.root, "--model")
    if "keras" not in sys.modules and not had_keras:
        if set_here:
            del os.environ["KERAS_BACKEND"]
        return False, None
    if isinstance(target, type):
        return is_keras_model_class(target), None
    # A factory in a module that imports Keras: build it once here and keep what it gives
    # when that is a Keras model (a torch model is built again by the torch path: rare).
    built = _call(spec, target)
    return (True, built) if is_keras_model(built) else (False, None)


def is_keras_model_class(cls: type) -> bool:
    return any(c.__module__.split(".")[0] in ("keras", "tf_keras") and c.__name__ == "Model" for c in cls.__mro__)


@dataclass
class KerasPrepared:
    """The Keras model and data of a spec (the fields the torch report reads, too)."""
    model: Any
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    load_report: Any
    head_lines: list[str]
    counts: dict[str, int]
    loaded_from: str = ""


class _Sized(tuple):
    """(x, y) whose len() is the number of examples, for the report's item counts."""

    def __len__(self) -> int:  # noqa: D105
        return len(self[0])


# ---------------------------------------------------------------- model

def load_model(spec: FinetuneSpec, built: Any = None) -> tuple[Any, str]:
    """The model of ``spec`` (``built`` when the caller already called the factory) and a
    line saying where its weights came from."""
    keras = _keras()
    if is_keras_file(spec.model):
        path = spec.path(spec.model)
        if not path.is_file():
            raise FinetuneError(f"--model {spec.model}: no such file ({path})")
        try:
            model = keras.models.load_model(str(path), compile=False, safe_mode=True)
        except Exception as exc:
            raise FinetuneError(f"--model {spec.model}: Keras cannot load it ({type(exc).__name__}: "
                                f"{_first_line(exc)}); save it with model.save('model.keras')") from None
        source = f"loaded {len(model.weights)} weights from {spec.model}"
    else:
        model = built if built is not None else build(spec)
        source = ""
    if spec.checkpoint:
        path = spec.path(spec.checkpoint)
        if not path.name.lower().endswith(WEIGHT_SUFFIXES):
            raise FinetuneError(f"--checkpoint {spec.checkpoint}: a Keras model takes weights from a "
                                ".keras or .weights.h5 file")
        try:
            model.load_weights(str(path))
        except Exception as exc:
            raise FinetuneError(f"--checkpoint {spec.checkpoint} does not fit --model {spec.model}: "
                                f"{type(exc).__name__}: {_first_line(exc)}") from None
        source = f"loaded {len(model.weights)} weights from {spec.checkpoint}"
    if not model.built or not getattr(model, "inputs", None):
        raise FinetuneError(f"--model {spec.model}: the model has no input shape yet; start it with "
                            "keras.Input(shape=...) so its layers are built")
    return model, source


def build(spec: FinetuneSpec) -> Any:
    from ml_lsp.finetune.model import import_target

    _keras()
    model = _call(spec, import_target(spec.model, spec.root, "--model"))
    if not is_keras_model(model):
        raise FinetuneError(f"--model {spec.model}: returned {type(model).__name__}, not a keras.Model")
    return model


def _call(spec: FinetuneSpec, factory: Any) -> Any:
    from ml_lsp.finetune.model import _where
    from ml_lsp.finetune.spec import parse_call_args

    args, kwargs = parse_call_args(spec.init)
    try:
        return factory(*args, **kwargs)
    except Exception as exc:
        raise FinetuneError(f"--model {spec.model}: calling it with ({spec.init}) raised {_where(exc)}") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def named_layers(model: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every layer under ``model`` as (dotted name, layer): ``vgg16.block1_conv1``."""
    out = []
    for layer in getattr(model, "layers", []):
        name = f"{prefix}{layer.name}"
        out.append((name, layer))
        if getattr(layer, "layers", None):
            out += named_layers(layer, name + ".")
    return out


def _matches(name: str, pattern: str) -> bool:
    leaf = name.rpartition(".")[2]
    return any(fnmatch.fnmatchcase(n, p) for n in (name, leaf) for p in (pattern, pattern + ".*"))


def replace_heads(model: Any, heads: dict[str, int]) -> tuple[Any, list[str]]:
    """A model whose output Dense layer NAME has N units (fresh weights, same activation);
    every other layer is the same object, weights and all."""
    keras = _keras()
    lines = []
    for name, n in heads.items():
        outputs = [t._keras_history[0] if hasattr(t, "_keras_history") else None for t in model.outputs]
        names = [layer.name for layer in model.layers]
        if name not in names:
            raise FinetuneError(f"--replace-head {name}={n}: the model has no layer {name!r} "
                                f"(its last layers: {', '.join(names[-4:])})")
        old = model.get_layer(name)
        if not isinstance(old, keras.layers.Dense):
            raise FinetuneError(f"--replace-head {name}={n}: {name} is a {type(old).__name__}; "
                                "only a Dense output layer can be replaced")
        if len(model.outputs) != 1 or outputs[0] is not old:
            raise FinetuneError(f"--replace-head {name}={n}: {name} is not the model's output layer "
                                f"(the output comes from {', '.join(o.name for o in outputs if o)})")
        new = keras.layers.Dense(n, activation=old.activation, use_bias=old.use_bias, name=name)
        if isinstance(model, keras.Sequential):
            model = keras.Sequential([keras.Input(shape=model.input_shape[1:]), *model.layers[:-1], new],
                                     name=model.name)
        else:
            model = keras.Model(model.inputs, new(old.input), name=model.name)
        lines.append(f"{name}: Dense({old.units}) -> Dense({n})")
    return model, lines


def choose_trainable(model: Any, freeze: list[str], train_only: list[str], always: list[str]) -> dict[str, int]:
    """Set each layer's ``trainable`` from the patterns; replaced heads stay trainable. A
    pattern matching no layer is an error (a typo would silently train everything)."""
    layers = named_layers(model)
    names = [n for n, _ in layers]
    for flag, patterns in (("--freeze", freeze), ("--train-only", train_only)):
        for pattern in patterns:
            if not any(_matches(n, pattern) for n in names):
                raise FinetuneError(f"{flag} {pattern!r} matches no layer of the model; "
                                    f"layer names look like: {', '.join(names[:12])}")
    if train_only:
        for name, layer in layers:
            if not getattr(layer, "layers", None):  # leaves: "base" also matches "base.conv1"
                layer.trainable = any(_matches(name, p) for p in train_only)
    for name, layer in layers:
        if any(_matches(name, p) for p in freeze):
            layer.trainable = False  # freezes a nested model's layers too
    for name, layer in layers:
        if any(_matches(name, h) for h in always):
            layer.trainable = True
    counts = {"trainable": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
              "frozen": int(sum(np.prod(w.shape) for w in model.non_trainable_weights))}
    if counts["trainable"] == 0:
        raise FinetuneError("every layer is frozen: loosen --freeze or --train-only")
    return counts


# ---------------------------------------------------------------- data

def load_arrays(spec: FinetuneSpec) -> tuple[_Sized, _Sized]:
    """(x, y) arrays for train and validation: a data function may return two (x, y) pairs
    of arrays; anything the torch path reads (Datasets, .npz, .csv, .npy folders) works too."""
    from ml_lsp.finetune.model import _where, import_target

    source = spec.data
    path = spec.path(source)
    if ":" in source and not path.exists():
        func = import_target(source, spec.root, "--data")
        try:
            result = func()
        except Exception as exc:
            raise FinetuneError(f"--data {source}: calling it raised {_where(exc)}") from None
        pairs = _array_pairs(result)
        if pairs is not None:
            return _checked(pairs, source)
    from ml_lsp.finetune import data as data_mod
    train, val = data_mod.load_datasets(spec)
    return _checked((_dataset_arrays(train), _dataset_arrays(val)), source)


def _array_pairs(result: Any):
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        return None
    pairs = []
    for part in result:
        if not (isinstance(part, (tuple, list)) and len(part) == 2 and all(hasattr(a, "shape") for a in part)):
            return None
        pairs.append(tuple(np.asarray(a) for a in part))
    return pairs


def _dataset_arrays(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    tensors = getattr(ds, "tensors", None)  # a TensorDataset: no per-item loop
    if tensors is not None and len(tensors) >= 2:
        return np.asarray(tensors[0]), np.asarray(tensors[1])
    items = [ds[i] for i in range(len(ds))]
    return np.stack([np.asarray(i[0]) for i in items]), np.stack([np.asarray(i[1]) for i in items])


def _checked(pairs, source: str) -> tuple[_Sized, _Sized]:
    out = []
    for label, (x, y) in zip(("train", "validation"), pairs):
        if len(x) == 0:
            raise FinetuneError(f"--data {source}: the {label} arrays have 0 items")
        if len(x) != len(y):
            raise FinetuneError(f"--data {source}: the {label} split has {len(x)} inputs but {len(y)} targets")
        if np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
        out.append(_Sized((x, y)))
    return out[0], out[1]


def _check_input(model: Any, x: np.ndarray, source: str) -> None:
    expected = tuple(model.inputs[0].shape[1:])
    got = tuple(x.shape[1:])
    if len(expected) != len(got) or any(e is not None and e != g for e, g in zip(expected, got)):
        shown = "(B, " + ", ".join("?" if e is None else str(e) for e in expected) + ")"
        raise FinetuneError(f"--data {source}: examples of shape {got} do not fit the model's input "
                            f"{shown}; reshape them in the data function")


# ---------------------------------------------------------------- the run

def prepare(spec: FinetuneSpec, built: Any = None) -> KerasPrepared:
    model, source = load_model(spec, built)
    model, head_lines = replace_heads(model, spec.replace_head)
    counts = choose_trainable(model, spec.freeze, spec.train_only, list(spec.replace_head))
    if spec.lora:
        raise FinetuneError("--lora is for torch models; a Keras model is fine-tuned by freezing layers")
    train, val = load_arrays(spec)
    _check_input(model, train[0], spec.data)
    return KerasPrepared(model, train, val, None, head_lines, counts, source)


def _output_is_probability(model: Any) -> bool:
    layer = model.layers[-1]
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", "")
    return name in ("softmax", "sigmoid") or type(layer).__name__ == "Softmax"


def _compile(model: Any, spec: FinetuneSpec, total_steps: int, classification: bool) -> None:
    keras = _keras()
    decay_steps = max(1, total_steps - spec.warmup_steps)
    if spec.schedule == "constant" and not spec.warmup_steps:
        lr: Any = spec.lr
    elif spec.schedule == "linear":
        lr = keras.optimizers.schedules.PolynomialDecay(spec.lr, decay_steps, end_learning_rate=0.0)
        if spec.warmup_steps:
            lr = keras.optimizers.schedules.CosineDecay(0.0, decay_steps, alpha=0.0, warmup_target=spec.lr,
                                                        warmup_steps=spec.warmup_steps)
    else:  # cosine (constant with warm-up is cosine's warm-up and alpha=1)
        alpha = 1.0 if spec.schedule == "constant" else 0.0
        lr = keras.optimizers.schedules.CosineDecay(
            0.0 if spec.warmup_steps else spec.lr, decay_steps, alpha=alpha,
            warmup_target=spec.lr if spec.warmup_steps else None, warmup_steps=spec.warmup_steps)
    optimizer = keras.optimizers.AdamW(learning_rate=lr, weight_decay=spec.weight_decay,
                                       clipnorm=spec.clip_grad or None)
    if classification:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=not _output_is_probability(model))
        metrics = ["accuracy"]
    else:
        loss, metrics = keras.losses.MeanSquaredError(), []
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics)


def train(spec: FinetuneSpec, run_dir: Path, emit: Callable[..., None] | None = None,
          built: Any = None) -> dict[str, Any]:
    """Fine-tune per ``spec`` with ``model.fit``; outputs go to ``run_dir`` (model.keras,
    best.keras, checkpoints/last.keras, metrics.json, report.md, curves.png)."""
    emit = emit or (lambda kind, **kw: None)
    keras = _keras()
    if spec.launcher != "local" or spec.nproc_per_node > 1:
        raise FinetuneError("a Keras fine-tune runs in one process: use --launcher local")
    if spec.resume_from:
        raise FinetuneError("resuming a Keras fine-tune is not supported; start a new run from its "
                            "checkpoints/last.keras (--model that file)")
    keras.utils.set_random_seed(spec.seed)
    prepared = prepare(spec, built)
    model = prepared.model
    (x, y), (xv, yv) = prepared.train, prepared.val
    classification = np.issubdtype(y.dtype, np.integer)
    steps_per_epoch = math.ceil(len(x) / spec.batch_size)
    total_steps = spec.max_steps or spec.epochs * steps_per_epoch
    epochs = math.ceil(total_steps / steps_per_epoch)
    _compile(model, spec, total_steps, classification)
    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)

    history: list[dict[str, Any]] = []
    status = {"step": 0, "stopped": False, "paused": False, "early": False, "best": math.inf,
              "best_step": 0, "since_best": 0, "samples": 0, "time": 0.0, "last_loss": math.nan,
              "eval": {}, "epoch": 0}

    def record(**values: Any) -> None:
        history.append({"step": status["step"], **values})
        emit("metric", step=status["step"], **values)

    class RunCallback(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            status["epoch"] = epoch
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            status["step"] += 1
            status["samples"] += min(spec.batch_size, len(x) - batch * spec.batch_size)
            status["last_loss"] = float((logs or {}).get("loss", math.nan))
            at_end = status["step"] >= total_steps
            if spec.stop_after and status["step"] >= spec.stop_after and not at_end:
                status["stopped"] = status["paused"] = True
            if status["step"] % spec.log_every == 0 or at_end or status["stopped"]:
                lr = self.model.optimizer.learning_rate
                record(train_loss=status["last_loss"], lr=float(np.asarray(lr)),
                       epoch=epoch_fraction(batch + 1))
                emit("progress", current=status["step"], total=total_steps)
            if at_end or status["stopped"]:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            status["time"] += time.perf_counter() - self.t0
            values = {k: float(v) for k, v in (logs or {}).items() if k.startswith("val_")}
            if values:
                status["eval"] = values
                record(**values)
                if values["val_loss"] < status["best"]:
                    status["best"], status["best_step"], status["since_best"] = values["val_loss"], status["step"], 0
                    self.model.save(run_dir / "best.keras")
                else:
                    status["since_best"] += 1
                    if spec.patience and status["since_best"] >= spec.patience:
                        status["early"] = True
                        self.model.stop_training = True
            self.model.save(ckpt_dir / "last.keras")
            emit("checkpoint", path=str(ckpt_dir / "last.keras"), step=status["step"])

    def epoch_fraction(batches_done: int) -> float:
        return status["epoch"] + batches_done / steps_per_epoch

    def request_stop(signum, frame):  # finish the step, checkpoint at the epoch's end, exit
        status["stopped"] = True
        model.stop_training = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    emit("progress", current=0, total=total_steps)
    try:
        # Keras's own fit, not the run bootstrap's wrapper of it: this loop sends the metrics
        # itself, on the model's line, and a second copy on this file's line would be noise.
        fit = getattr(keras.Model.fit, "__wrapped__", keras.Model.fit)
        fit(model, x, y, batch_size=spec.batch_size, epochs=epochs, validation_data=(xv, yv),
            shuffle=True, verbose=0, callbacks=[RunCallback()])
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if not status["eval"] or history[-1]["step"] != status["step"]:  # stopped mid-epoch: evaluate anyway
        values = model.evaluate(xv, yv, batch_size=spec.batch_size, verbose=0, return_dict=True)
        status["eval"] = {f"val_{k}": float(v) for k, v in values.items()}
        record(**status["eval"])
    model.save(ckpt_dir / "last.keras")

    metrics: dict[str, Any] = {
        "steps": status["step"], "total_steps": total_steps, "epochs": status["step"] / steps_per_epoch,
        "train_loss": status["last_loss"],
        "samples_per_s": status["samples"] / status["time"] if status["time"] else 0.0,
        "best_val_loss": status["best"] if status["best_step"] else None, "best_step": status["best_step"],
        "stopped": status["stopped"], "paused": status["paused"], "stopped_early": status["early"],
        "world_size": 1, "precision": "fp32", "device": f"keras ({keras.backend.backend()})",
        "trainable_params": prepared.counts["trainable"], "frozen_params": prepared.counts["frozen"],
        **status["eval"],
    }
    if not status["stopped"] or status["paused"]:
        export(spec, run_dir, model, metrics, history, prepared)
    return metrics


def export(spec: FinetuneSpec, run_dir: Path, model: Any, metrics: dict[str, Any],
           history: list[dict[str, Any]], prepared: KerasPrepared) -> None:
    import json

    from ml_lsp.finetune.export import _json_safe, _plot, _report

    model.save(run_dir / "model.keras")
    metrics = {k: _json_safe(v) for k, v in metrics.items()}
    metrics["model_file"] = "model.keras"
    metrics["lora_merged"] = False
    tmp = run_dir / "metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, run_dir / "metrics.json")
    curve = _plot(history, run_dir / "curves.png")
    report = _report(spec, metrics, prepared, curve, "model.keras", best="best.keras")
    if prepared.loaded_from:
        report = report.replace("\n## Results", f"\n## Weights\n\n- {prepared.loaded_from}\n\n## Results", 1)
    tmp = run_dir / "report.md.tmp"
    tmp.write_text(report)
    os.replace(tmp, run_dir / "report.md")
