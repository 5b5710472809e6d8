"""Telemetry inside the training process: the capture hooks the run bootstrap installs
(``python -m ml_lsp.telemetry.bootstrap SCRIPT ARGS...``) and ``ml_lsp.log``.

This module is imported by every ``import ml_lsp`` user, so it imports nothing heavy: the
capture machinery is loaded by the bootstrap only.
"""

from __future__ import annotations

import sys

# The process's Capture, set by the bootstrap; None outside a run.
_capture = None


def log(step: int | None = None, **metrics) -> None:
    """Record named values, attributed to the line that calls this::

        ml_lsp.log(loss=loss, acc=acc, step=step)

    Values may be numbers or one-element tensors (read later, without a GPU sync). Outside
    a run started by ml-lsp this does nothing and costs one global lookup.
    """
    capture = _capture
    if capture is None or not capture.enabled:
        return
    capture.log_call(sys._getframe(1), step, metrics)


def active() -> bool:
    """True inside a process whose frames reach a run folder."""
    return _capture is not None and _capture.enabled
