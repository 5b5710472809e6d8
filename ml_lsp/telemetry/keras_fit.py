"""Metrics from Keras ``model.fit``: installed inside the training process by the run
bootstrap once the script imports ``keras`` (Keras 3, on any backend; TensorFlow's
``tf.keras`` is Keras 3 too). Every ``fit`` gets one more callback, after the user's own
(which still run): the loss and each compiled metric per batch, the ``val_*`` metrics per
epoch, and the epoch and step progress, all on the user's line that called ``fit``.
"""

from __future__ import annotations

import sys
import time

PROGRESS_INTERVAL = 0.1  # seconds between two step-progress frames
CALLBACKS_POSITION = 5  # fit(x, y, batch_size, epochs, verbose, callbacks, ...)


def install(capture, keras_module):
    """Wrap ``keras.Model.fit``; returns the undo."""
    from ml_lsp.telemetry import attribution

    model_class = keras_module.Model
    original = model_class.fit
    callback_class = make_callback_class(capture, keras_module)

    def fit(self, *args, **kwargs):
        frame = attribution.user_frame(sys._getframe(1))
        where = (attribution.frame_path(frame), frame.f_lineno) if frame is not None else None
        if where is not None:
            callback = callback_class(where)
            if len(args) > CALLBACKS_POSITION:
                args = list(args)
                args[CALLBACKS_POSITION] = _with(args[CALLBACKS_POSITION], callback)
            else:
                kwargs["callbacks"] = _with(kwargs.get("callbacks"), callback)
        return original(self, *args, **kwargs)

    fit.__wrapped__ = original
    fit.__doc__ = original.__doc__
    model_class.fit = fit

    def undo() -> None:
        if model_class.fit is fit:
            model_class.fit = original

    return undo


def _with(callbacks, callback):
    if callbacks is None:
        return [callback]
    if isinstance(callbacks, (list, tuple)):
        return [*callbacks, callback]
    try:  # a keras.callbacks.CallbackList
        callbacks.append(callback)
    except AttributeError:
        pass
    return callbacks


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def make_callback_class(capture, keras_module):
    class MlLspFitCallback(keras_module.callbacks.Callback):
        """Forwards fit's logs and progress to the run's frames, on the fit line."""

        def __init__(self, where):
            super().__init__()
            self.where = where
            self.step = 0
            self.epochs = None
            self.next_progress = 0.0
            capture.owned_lines.add(where)  # fit's own loss wins over the backward hook's

        def on_train_begin(self, logs=None):
            self.epochs = (self.params or {}).get("epochs")
            self.steps = (self.params or {}).get("steps")

        def on_epoch_begin(self, epoch, logs=None):
            capture.progress(*self.where, epoch + 1, self.epochs, "epoch", "epoch")

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            for name, value in (logs or {}).items():
                number = _number(value)
                if number is not None:
                    capture.metric(name, number, self.step, *self.where)
            now = time.monotonic()
            total = self.steps * self.epochs if self.steps and self.epochs else None
            if now >= self.next_progress or (total and self.step >= total):
                self.next_progress = now + PROGRESS_INTERVAL
                capture.progress(*self.where, self.step, total, "step", "step")

        def on_epoch_end(self, epoch, logs=None):
            for name, value in (logs or {}).items():
                number = _number(value) if name.startswith("val_") else None
                if number is not None:
                    capture.metric(name, number, self.step, *self.where)

    return MlLspFitCallback
