"""Metrics from PyTorch Lightning runs, on the user's lines: every ``self.log(...)`` /
``self.log_dict(...)`` of a LightningModule lands on the line that called it (per step for
step-level values, once per epoch, reduced as Lightning reduces it, for epoch-level ones),
and the epoch and step progress of ``trainer.fit(...)`` on the line that called it.

Two pieces, both loaded only inside an ml-lsp run and only if the script imports Lightning
(``lightning.pytorch`` or ``pytorch_lightning``):

- a metric capturer (``ml_lsp_metric_capturers``, this package's ``ml_lsp`` entry point)
  that wraps ``LightningModule.log`` once the module is imported;
- a ``Callback`` for progress and epoch-level values, added through Lightning's own
  ``callbacks_factory`` entry points, so the user's Trainer arguments are untouched.

Not a ``Logger``: a logger added behind the user's back would change where Lightning
writes checkpoints and logs (``trainer.log_dir`` follows the first logger), and loggers
only see values every ``log_every_n_steps``, attributed to no line.
"""

from __future__ import annotations

import sys

from ml_lsp.hookspecs import hookimpl

NAMESPACES = ("lightning.pytorch", "pytorch_lightning")

# The hook a value is logged from -> its stage, for the epoch-level values of that stage.
_STAGES = (("validation", "validation"), ("on_validation", "validation"), ("test", "test"),
           ("on_test", "test"), ("predict", "predict"))


def _stage(fx_name: str | None) -> str:
    for prefix, stage in _STAGES:
        if fx_name and fx_name.startswith(prefix):
            return stage
    return "train"


class _EpochValues:
    """Names logged with ``on_epoch=True`` since their stage last ended, with their Site."""

    def __init__(self) -> None:
        # stage -> {name: (Site, also logged per step)}
        self.pending: dict[str, dict[str, tuple]] = {}

    def add(self, stage: str, name: str, site, also_per_step: bool) -> None:
        self.pending.setdefault(stage, {})[name] = (site, also_per_step)

    def take(self, stage: str) -> dict[str, tuple]:
        return self.pending.pop(stage, {})


_epoch_values = _EpochValues()


class _StepValues:
    """Step-level values logged in the batch now running, recorded when the batch ends.
    Lightning's step of a value logged in ``training_step`` is the global step once that
    batch's optimizer step is done (what its loggers write); read at the ``self.log`` call,
    the Trainer's ``global_step`` is still the one before. Recording at the batch's end
    gives every value the step Lightning gives it, however the sampler's ticks fall."""

    def __init__(self) -> None:
        self.this_batch: dict[int, object] = {}  # sites sampled in the batch running (by id)
        self.logged: dict[int, object] = {}  # every step-level site, for the end of a stage

    def flush(self, capture, trainer, everything: bool = False) -> None:
        step = getattr(trainer, "global_step", None)
        sites = list(self.this_batch.values())
        if everything:  # the last values of a stage, when no tick sampled them
            sites += [s for s in self.logged.values() if s.count > s.sampled and id(s) not in self.this_batch]
        self.this_batch.clear()
        for site in sites:
            if site.last is not None:
                capture._queue_metric(site, site.last, step)


_step_values = _StepValues()


def install(capture):
    """Wrap ``LightningModule.log`` when Lightning is imported; returns the undo."""
    from ml_lsp.telemetry.imports import when_imported

    patched: list = []

    def patch(module) -> None:
        cls = module.LightningModule
        original = cls.log
        cls.log = _make_log(capture, original, module.__name__.rsplit(".core.", 1)[0])
        patched.append((cls, original))

    for namespace in NAMESPACES:
        when_imported(f"{namespace}.core.module", patch)

    def undo() -> None:
        for cls, original in patched:
            cls.log = original

    return undo


def _make_log(capture, original, namespace: str):
    from ml_lsp.telemetry import attribution
    from ml_lsp.telemetry.capture import Site

    getframe = sys._getframe
    sites = capture.sites
    codes: list = []  # code objects keyed by id below, kept so that no id is reused
    levels = []  # Lightning's own defaults for on_step / on_epoch, by hook

    def default_levels(fx_name, on_step, on_epoch):
        if not levels:
            try:
                validator = sys.modules[f"{namespace}.trainer.connectors.logger_connector.fx_validator"]
                levels.append(validator._FxValidator.get_default_logging_levels)
            except (KeyError, AttributeError):
                levels.append(None)
        if levels[0] is not None and fx_name:
            try:
                return levels[0](fx_name, on_step, on_epoch)
            except Exception:
                pass
        return (True if on_step is None else on_step), (False if on_epoch is None else on_epoch)

    def site_of(frame, name):
        code = frame.f_code
        key = ("lightning.log", id(code), frame.f_lasti, name)
        site = sites.get(key, False)
        if site is False:
            codes.append(code)
            user = attribution.user_frame(frame)
            site = sites[key] = None if user is None else \
                Site(name, attribution.frame_path(user), user.f_lineno)
        return site

    def log(self, name, value, prog_bar=False, logger=None, on_step=None, on_epoch=None,
            *args, **kwargs):
        original(self, name, value, prog_bar, logger, on_step, on_epoch, *args, **kwargs)
        if not capture.enabled:
            return
        try:
            trainer = getattr(self, "_trainer", None)
            if trainer is None or getattr(trainer, "sanity_checking", False):
                return
            # A torchmetrics Metric is computed by Lightning at the epoch's end only.
            is_metric = not hasattr(value, "__float__") and hasattr(value, "compute")
            fx_name = getattr(self, "_current_fx_name", None)
            step_level, epoch_level = default_levels(fx_name, on_step, on_epoch)
            step_level = step_level and not is_metric
            epoch_level = epoch_level or is_metric
            # Both: named as Lightning names them for its loggers, loss_step and loss_epoch.
            name = str(name)
            site = site_of(getframe(1), f"{name}_step" if step_level and epoch_level else name)
            if site is None:
                return
            if epoch_level:
                _epoch_values.add(_stage(fx_name), name, site, step_level)
            if step_level:
                site.count += 1
                site.last = value.detach() if hasattr(value, "detach") else value
                _step_values.logged[id(site)] = site
                if site.tick != capture.tick:
                    site.tick = capture.tick
                    _step_values.this_batch[id(site)] = site  # recorded at the batch's end
        except Exception as exc:  # telemetry must never break the training
            capture.warn_once("lightning.log", f"Lightning self.log capture failed: {exc!r}")

    log.__wrapped__ = original
    log.__doc__ = original.__doc__
    return log


def _make_callback(base):
    """The progress and epoch-values callback, a subclass of this namespace's Callback."""
    import ml_lsp.telemetry as telemetry
    from ml_lsp.telemetry import attribution

    class MlLspCallback(base):
        """Epoch and step progress on the ``trainer.fit(...)`` line, and the epoch-level
        values of ``self.log`` on their own lines."""

        def __init__(self) -> None:
            self.where: tuple[str, int] | None = None
            self.tick = -1

        @property
        def capture(self):
            capture = telemetry._capture
            return capture if capture is not None and capture.enabled else None

        def on_fit_start(self, trainer, pl_module):
            frame = attribution.user_frame(sys._getframe(1))
            self.where = (attribution.frame_path(frame), frame.f_lineno) if frame else None
            capture = self.capture
            if capture and self.where:
                # This callback reports the fit's progress: the automatic DataLoader and
                # backward() capture, which would see Lightning's loops from this line
                # (validation batches mixed with training ones), stay quiet here.
                capture.owned_lines.add(self.where)

        def on_train_epoch_start(self, trainer, pl_module):
            capture = self.capture
            if capture and self.where:
                total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
                capture.progress(*self.where, trainer.current_epoch + 1, total, "epoch", "epoch")

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            capture = self.capture
            if capture:
                _step_values.flush(capture, trainer)
            if capture and self.where and self.tick != capture.tick:
                self.tick = capture.tick
                self._steps(capture, trainer)

        def _steps(self, capture, trainer, force: bool = False) -> None:
            total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
            if total is None:
                try:
                    estimated = trainer.estimated_stepping_batches
                    total = int(estimated) if estimated != float("inf") else None
                except Exception:
                    total = None
            capture.progress(*self.where, trainer.global_step, total, "step", "step", force=force)

        def _epoch_values(self, trainer, stage: str) -> None:
            capture = self.capture
            if not capture or getattr(trainer, "sanity_checking", False):
                _epoch_values.take(stage)
                return
            metrics = trainer.callback_metrics
            for name, (site, also_per_step) in _epoch_values.take(stage).items():
                key = f"{name}_epoch" if also_per_step else name
                value = metrics.get(key)
                if value is not None:
                    capture.metric(key, value, trainer.global_step, site.file, site.line)

        def _batch_end(self, trainer) -> None:
            capture = self.capture
            if capture and not getattr(trainer, "sanity_checking", False):
                _step_values.flush(capture, trainer)

        def on_validation_batch_end(self, trainer, pl_module, *args, **kwargs):
            self._batch_end(trainer)

        def on_test_batch_end(self, trainer, pl_module, *args, **kwargs):
            self._batch_end(trainer)

        def on_predict_batch_end(self, trainer, pl_module, *args, **kwargs):
            self._batch_end(trainer)

        def on_train_epoch_end(self, trainer, pl_module):
            self._epoch_values(trainer, "train")

        def on_validation_epoch_end(self, trainer, pl_module):
            self._epoch_values(trainer, "validation")

        def on_test_epoch_end(self, trainer, pl_module):
            self._epoch_values(trainer, "test")

        def on_train_end(self, trainer, pl_module):
            capture = self.capture
            if capture:
                _step_values.flush(capture, trainer, everything=True)
            if capture and self.where:
                self._steps(capture, trainer, force=True)

        def on_test_end(self, trainer, pl_module):
            capture = self.capture
            if capture:
                _step_values.flush(capture, trainer, everything=True)

    return MlLspCallback


def _callbacks(namespace: str) -> list:
    import ml_lsp.telemetry as telemetry

    if telemetry._capture is None:  # not an ml-lsp run: Lightning runs as it would
        return []
    base = __import__(namespace, fromlist=["Callback"]).Callback
    return [_make_callback(base)()]


def lightning_callbacks() -> list:
    """Lightning's ``lightning.pytorch.callbacks_factory`` entry point."""
    return _callbacks("lightning.pytorch")


def pytorch_lightning_callbacks() -> list:
    """The same for the standalone ``pytorch_lightning`` package."""
    return _callbacks("pytorch_lightning")


@hookimpl
def ml_lsp_metric_capturers():
    return [install]
