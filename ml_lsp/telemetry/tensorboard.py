"""Forward what the script writes with ``torch.utils.tensorboard.SummaryWriter.add_scalar``
(and ``add_scalars``) to the run's frames, attributed to the line that called it. The
script's TensorBoard logs are written exactly as before."""

from __future__ import annotations

import sys
from typing import Callable

from ml_lsp.telemetry import attribution
from ml_lsp.telemetry.capture import Capture


def install_summary_writer(capture: Capture, writer_module) -> Callable[[], None]:
    cls = writer_module.SummaryWriter
    original_scalar = cls.add_scalar
    original_scalars = cls.add_scalars

    def record(tag: str, value, step) -> None:
        if not capture.enabled:
            return
        frame = attribution.user_frame(sys._getframe(2))
        if frame is None:
            return
        path = attribution.frame_path(frame)
        if (path, frame.f_lineno) in capture.owned_lines:
            # A framework's TensorBoard logger (Lightning's, the HF Trainer's) writing from
            # inside the line its own capturer reports: those values are there already.
            return
        try:
            step = int(step) if step is not None else None
        except (TypeError, ValueError):
            step = None
        capture.metric(str(tag), value, step, path, frame.f_lineno)

    def add_scalar(self, tag, scalar_value, global_step=None, *args, **kwargs):
        record(tag, scalar_value, global_step)
        return original_scalar(self, tag, scalar_value, global_step, *args, **kwargs)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, *args, **kwargs):
        for tag, value in dict(tag_scalar_dict).items():
            record(f"{main_tag}/{tag}", value, global_step)
        return original_scalars(self, main_tag, tag_scalar_dict, global_step, *args, **kwargs)

    cls.add_scalar = add_scalar
    cls.add_scalars = add_scalars

    def undo() -> None:
        cls.add_scalar = original_scalar
        cls.add_scalars = original_scalars

    return undo
