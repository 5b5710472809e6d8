"""Automatic capture from PyTorch, no change to the user's code: every scalar
``Tensor.backward()``, every optimizer step (learning rates, peak CUDA memory) and every
DataLoader batch. Installed when the user's script imports torch (never before, so a script
that does not use torch never pays for importing it).

Cost per training step: one extra Python call per hook, a dict lookup keyed by the
caller's code object and line, a ``detach()`` and a clock read. Everything else (names,
loops, lengths, reading values) happens at most every ``sample_interval`` per site.
"""

from __future__ import annotations

import sys
from time import perf_counter
from typing import Any, Callable

from ml_lsp.telemetry import attribution
from ml_lsp.telemetry.capture import Capture, Site


def install_backward(capture: Capture) -> Callable[[], None]:
    import torch

    original = torch.Tensor.backward
    sites = capture.sites
    interval = capture.sample_interval
    getframe = sys._getframe

    def new_site(frame, tensor) -> Site | None:
        if tensor.numel() != 1:
            return None  # a non-scalar backward (explicit gradient) is not a loss value
        user = attribution.user_frame(frame)
        if user is None:
            return None
        path = attribution.frame_path(user)
        if (path, user.f_lineno) in capture.owned_lines:
            return None
        name = attribution.backward_name(path, user.f_lineno) \
            or attribution.backward_name(attribution.frame_path(frame), frame.f_lineno) \
            or "loss"  # what backward() is called on is, by construction, the objective
        return Site(name, path, user.f_lineno)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        if capture.enabled:
            try:
                frame = getframe(1)
                # The call site by instruction offset: cheaper than f_lineno, which has to
                # search the line table.
                key = (frame.f_code, frame.f_lasti)
                site = sites.get(key, False)
                if site is False:
                    site = sites[key] = new_site(frame, self)
                if site is not None:
                    site.count += 1
                    # Keep the latest loss for the final value, detached: a plain reference
                    # keeps its whole autograd graph alive until the next step (measured
                    # slower in benchmarks/telemetry_overhead.py; a retained graph would
                    # also keep its activations).
                    value = self
                    scaled = capture.scaled_output
                    if scaled is not None and scaled() is self:  # scaler.scale(loss).backward()
                        value = capture.scaled_input
                    site.last = value.detach()
                    now = perf_counter()
                    if now >= site.next_at:
                        site.next_at = now + interval
                        capture._queue_metric(site, site.last)
                        capture.loops(attribution.user_frame(frame))
            except Exception as exc:  # telemetry must never break the training
                capture.warn_once("backward", f"backward capture disabled: {exc!r}")
                capture.enabled = False
        return original(self, gradient, retain_graph, create_graph, inputs)

    backward.__doc__ = original.__doc__
    backward.__wrapped__ = original
    torch.Tensor.backward = backward

    def undo() -> None:
        torch.Tensor.backward = original

    return undo


def install_optimizer(capture: Capture) -> Callable[[], None]:
    import weakref

    from torch.optim.optimizer import register_optimizer_step_post_hook

    # id(optimizer) -> [step count, next sample time, sampled count, (path, line), weakref]
    steps: dict[int, list] = {}
    interval = capture.sample_interval
    getframe = sys._getframe

    def after_step(optimizer, args, kwargs) -> None:
        if not capture.enabled:
            return
        state = steps.get(id(optimizer))
        if state is None:
            state = steps[id(optimizer)] = [0, 0.0, 0, None, weakref.ref(optimizer)]
        state[0] += 1
        now = perf_counter()
        if now >= state[1]:
            state[1] = now + interval
            try:
                if state[3] is None:
                    user = attribution.user_frame(getframe(1))
                    if user is None:
                        return
                    state[3] = (attribution.frame_path(user), user.f_lineno)
                state[2] = state[0]
                _sample_optimizer(capture, optimizer, state[0], *state[3])
            except Exception as exc:
                capture.warn_once("optimizer", f"optimizer capture failed: {exc!r}")

    def final_values() -> None:
        for count, _, sampled, where, ref in list(steps.values()):
            optimizer = ref()
            if optimizer is not None and where is not None and count > sampled:
                _sample_optimizer(capture, optimizer, count, *where)

    capture.on_close(final_values)
    handle = register_optimizer_step_post_hook(after_step)
    return handle.remove


def _sample_optimizer(capture: Capture, optimizer: Any, count: int, path: str, line: int) -> None:
    groups = optimizer.param_groups
    for i, group in enumerate(groups):
        lr = group.get("lr")
        if lr is None:
            continue
        name = "lr" if len(groups) == 1 else f"lr[{i}]"
        capture.record(name, lr, count, path, line)
    torch = sys.modules["torch"]
    if torch.cuda.is_initialized():
        # Peak since the last sample: the steps in between are the ones it covers.
        peak = torch.cuda.max_memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        capture.record("gpu_mem_peak_mb", peak / 2**20, count, path, line)


def install_dataloader(capture: Capture) -> Callable[[], None]:
    from torch.utils.data.dataloader import _BaseDataLoaderIter

    original = _BaseDataLoaderIter.__next__
    getframe = sys._getframe
    next_at = [0.0]
    interval = capture.sample_interval

    def __next__(self):
        try:
            batch = original(self)
        except StopIteration:
            if capture.enabled:
                _sample_loader(capture, self, getframe(1), done=True)
            raise
        if capture.enabled:
            now = perf_counter()
            if now >= next_at[0]:
                next_at[0] = now + interval
                _sample_loader(capture, self, getframe(1))
        return batch

    __next__.__wrapped__ = original
    _BaseDataLoaderIter.__next__ = __next__

    def undo() -> None:
        _BaseDataLoaderIter.__next__ = original

    return undo


def _sample_loader(capture: Capture, iterator: Any, frame, done: bool = False) -> None:
    try:
        user = attribution.user_frame(frame)
        if user is None:
            return
        path, line = attribution.frame_path(user), user.f_lineno
        current = iterator._num_yielded
        try:
            total = len(iterator)
        except TypeError:  # an IterableDataset without __len__
            total = None
        capture.progress(path, line, current, total, "batch", "batch", force=done)
        now = perf_counter()
        batch_size = getattr(getattr(iterator, "_index_sampler", None), "batch_size", None)
        previous = capture._loader_prev.get(id(iterator))
        capture._loader_prev[id(iterator)] = (now, current)
        if previous is not None and batch_size and now > previous[0] and current > previous[1]:
            rate = (current - previous[1]) * batch_size / (now - previous[0])
            capture.record("samples/s", rate, None, path, line)
        if done:  # the end of a pass: forget the iterator
            capture._loader_prev.pop(id(iterator), None)
        capture.loops(user)
    except Exception as exc:
        capture.warn_once("dataloader", f"DataLoader capture failed: {exc!r}")


def install_grad_scaler(capture: Capture) -> Callable[[], None]:
    """``scaler.scale(loss).backward()`` (mixed precision) backpropagates the loss times
    the scale factor: remember the last scaled tensor so the hook records the loss itself."""
    import weakref

    from torch.amp import GradScaler

    original = GradScaler.scale

    def scale(self, outputs):
        scaled = original(self, outputs)
        if capture.enabled and hasattr(outputs, "detach"):
            # A weak reference: holding the scaled loss would keep its graph alive.
            capture.scaled_output, capture.scaled_input = weakref.ref(scaled), outputs.detach()
        return scaled

    scale.__wrapped__ = original
    GradScaler.scale = scale

    def undo() -> None:
        GradScaler.scale = original
        capture.scaled_output = capture.scaled_input = None

    return undo


def install(capture: Capture) -> None:
    """Every built-in torch hook; one that fails to install is reported, the rest stay."""
    for installer in (install_backward, install_optimizer, install_dataloader, install_grad_scaler):
        try:
            capture.add_uninstaller(installer(capture))
        except Exception as exc:
            capture.warn_once(installer.__name__, f"{installer.__name__} failed: {exc!r}")
