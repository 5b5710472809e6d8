"""Automatic capture from PyTorch, no change to the user's code: every scalar
``Tensor.backward()``, every optimizer step (learning rates, peak CUDA memory) and every
DataLoader batch. Installed when the user's script imports torch (never before, so a script
that does not use torch never pays for importing it).

Cost per training step: one extra Python call per hook, a check that the caller is the
call site of the previous step, a reference to the loss and a comparison with
``Capture.tick``.
Everything else (names, loops, lengths, reading values) happens at most once per tick and
call site: on a real step that code runs with cold caches, so it is kept off the step.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from ml_lsp.telemetry import attribution
from ml_lsp.telemetry.capture import Capture, Site


def install_backward(capture: Capture) -> Callable[[], None]:
    import torch

    original = torch.Tensor.backward
    sites = capture.sites
    codes: list = []  # the code objects keyed by id() below, kept so that no id is reused
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

    # The site of the previous call, checked before the dict: one loop calls backward()
    # from one place, step after step.
    last = [None, None, None]  # code, instruction offset, Site

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        if capture.enabled:
            try:
                frame = getframe(1)
                code = frame.f_code
                lasti = frame.f_lasti
                if code is last[0] and lasti == last[1]:
                    site = last[2]
                else:
                    # By code identity and instruction offset: hashing a code object hashes
                    # its constants (all of a module's functions, for a loop at the top
                    # level of a script), and f_lineno searches the line table.
                    key = (id(code), lasti)
                    site = sites.get(key, False)
                    if site is False:
                        codes.append(code)
                        site = sites[key] = new_site(frame, self)
                    last[:] = code, lasti, site
                if site is not None:
                    site.count += 1
                    value = self
                    scaled = capture.scaled_output
                    if scaled is not None and scaled() is self:  # scaler.scale(loss).backward()
                        value = capture.scaled_input
                    # The latest loss, for the final value. A reference, not a detach()
                    # (a new tensor every step, measurably slower): after backward() the
                    # graph it holds has freed its saved tensors, and what is left lives
                    # no longer than in the usual `loss = ...; loss.backward()`, where the
                    # variable holds it through the next forward. Unless the graph is kept
                    # (retain_graph, create_graph): then its activations would stay alive
                    # through the next step.
                    site.last = value if not (retain_graph or create_graph) else value.detach()
                    site.frame = frame
                    if site.tick != capture.tick:
                        site.tick = capture.tick
                        capture._queue_metric(site, value)
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

    # id(optimizer) -> [step count, tick of the last sample, sampled count, (path, line), weakref]
    steps: dict[int, list] = {}
    getframe = sys._getframe

    def after_step(optimizer, args, kwargs) -> None:
        if not capture.enabled:
            return
        state = steps.get(id(optimizer))
        if state is None:
            state = steps[id(optimizer)] = [0, -1, 0, None, weakref.ref(optimizer)]
        state[0] += 1
        if state[1] != capture.tick:
            if state[4]() is not optimizer:  # the id of an optimizer gone, reused
                state = steps[id(optimizer)] = [1, -1, 0, None, weakref.ref(optimizer)]
            state[1] = capture.tick
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
    last_tick = [-1]
    # The last pass that ended between two ticks: ((path, line), batches, total, batch
    # size), written at the next tick or at close, so that the final "29/29" is not lost.
    # The loops around it (the epoch that pass ended) are read from its frame, which a
    # Site holds until the function returns (Capture._finished_frames) or the run ends.
    unsent_end: list = [None]

    def position(iterator, frame):
        """(user frame, (path, line) of its loop over the loader, batches so far, len or
        None, batch size or None), or None when the loop is not the user's to report."""
        user = attribution.user_frame(frame)
        if user is None:
            return None
        where = (attribution.frame_path(user), user.f_lineno)
        if where in capture.owned_lines:  # a framework capturer reports this loop
            return None
        try:
            total = len(iterator)
        except TypeError:  # an IterableDataset without __len__
            total = None
        batch_size = getattr(getattr(iterator, "_index_sampler", None), "batch_size", None)
        return user, where, iterator._num_yielded, total, batch_size if isinstance(batch_size, int) else None

    def send(where, current, total, batch_size, force: bool) -> None:
        # The batch size rides on the progress frame: readers show samples/s as batch/s
        # times it, one rate (smoothed once, by the reader) rather than two that disagree.
        extra = {"batch_size": batch_size} if batch_size else {}
        capture.progress(*where, current, total, "batch", "batch", force=force, **extra)

    def sample(iterator, frame, done: bool) -> None:
        try:
            if unsent_end[0] is not None:
                send_end(*unsent_end[0])
            found = position(iterator, frame)
            if found is None:
                return
            user, where, current, total, batch_size = found
            send(where, current, total, batch_size, done)
            if done:
                capture.loops_at(user, user.f_lineno)
            else:
                capture.loops(user)
        except Exception as exc:
            capture.warn_once("dataloader", f"DataLoader capture failed: {exc!r}")

    def send_end(where, current, total, batch_size) -> None:
        unsent_end[0] = None
        send(where, current, total, batch_size, True)

    def end_of_pass(iterator, frame) -> None:
        tick = capture.tick
        if last_tick[0] != tick:
            last_tick[0] = tick
            sample(iterator, frame, done=True)
            return
        # Passes shorter than a tick (a small dataset): write the progress later.
        try:
            found = position(iterator, frame)
            if found is None:
                return
            user, where, current, total, batch_size = found
            unsent_end[0] = (where, current, total, batch_size)
            holder = capture.sites.get(("dataloader", where))
            if holder is None:
                holder = capture.sites[("dataloader", where)] = Site("batch", *where)
            holder.frame = user
        except Exception as exc:
            capture.warn_once("dataloader", f"DataLoader capture failed: {exc!r}")

    def __next__(self):
        try:
            batch = original(self)
        except StopIteration:
            if capture.enabled:
                end_of_pass(self, getframe(1))
            raise
        if capture.enabled and last_tick[0] != capture.tick:
            last_tick[0] = capture.tick
            sample(self, getframe(1), done=False)
        return batch

    def final_progress() -> None:
        if unsent_end[0] is not None:
            send_end(*unsent_end[0])

    capture.on_close(final_progress)
    __next__.__wrapped__ = original
    _BaseDataLoaderIter.__next__ = __next__

    def undo() -> None:
        _BaseDataLoaderIter.__next__ = original
        unsent_end[0] = None

    return undo


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
