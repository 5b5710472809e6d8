"""The in-process capture: turns what the hooks see into frames, at a bounded rate and
without ever waiting for the GPU on the training thread.

The hooks (``torch_hooks``, ``tensorboard``, ``ml_lsp.log``, capturer plugins) run on the
training thread and only do cheap things there: count, keep a reference to the latest
value, and compare ``Capture.tick`` with the tick of their last sample. The sampler thread
advances the tick every ``sample_interval`` seconds, so each call site takes at most one
sample per tick and all of them take it at the same moment. (Samples, not the per-step
bookkeeping, were most of the cost: on a real step the sampling code runs with cold caches,
about 100 us each, measured in ``benchmarks/telemetry_overhead.py``.) A number or a CPU
tensor is written at once (reading it costs nothing). A CUDA value becomes an asynchronous
device-to-host copy plus an event; the sampler thread waits on the event and writes the
number, so the training thread never syncs. The run's ``FrameWriter`` flushes every
200 ms; an explicit value (``ml_lsp.log``) also wakes the sampler thread, which flushes at
once (at most every ``FLUSH_GAP``), so what a user logs reaches the editor in milliseconds.
"""

from __future__ import annotations

import collections
import linecache
import os
import sys
import threading
import time
from types import FrameType
from typing import Any

from ml_lsp.telemetry import attribution

SAMPLE_INTERVAL = 0.25  # seconds between two ticks: one sample per call site per tick
# (the editor refreshes hints at most 4 times a second: sampling faster shows nothing more)
SYSTEM_INTERVAL = 2.0  # seconds between process CPU/RSS samples
FLUSH_GAP = 0.05  # seconds between two drains woken by explicit values
MAX_SOURCE_CHARS = 2_000_000  # a file's text goes in a source frame up to this size


class Site:
    """One source line that produces a metric (a backward() call, an optimizer step...)."""

    __slots__ = ("name", "file", "line", "count", "last", "tick", "sampled", "frame")

    def __init__(self, name: str, file: str, line: int) -> None:
        self.name = name
        self.file = file
        self.line = line
        self.count = 0
        self.last: Any = None  # latest value (a detached tensor or a number)
        self.tick = -1  # Capture.tick at the last sample (-1: sample the first value)
        self.sampled = 0  # count at the last queued sample
        # The frame of the latest call (the loop around it, running): when it has returned,
        # its loops' final positions are read from it once, then it is let go.
        self.frame: FrameType | None = None


def snapshot(value: Any) -> Any:
    """A value that can be read without syncing the training thread: numbers and CPU
    tensors as they are (reading them costs no wait); an accelerator tensor as a
    ``Pending`` for the sampler thread: for CUDA an asynchronous copy to host plus an event
    to wait on."""
    if isinstance(value, (int, float)) or getattr(value, "is_cpu", True):
        return value
    value = value.detach()
    if value.is_cuda:
        import torch  # already imported: the value is a CUDA tensor

        host = value.to("cpu", non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        return Pending(host, event)
    return Pending(value, None)  # MPS, XLA...: read (and waited for) on the sampler thread


class Pending:
    __slots__ = ("tensor", "event")

    def __init__(self, tensor: Any, event: Any) -> None:
        self.tensor = tensor
        self.event = event


def resolve(value: Any) -> float | None:
    """The float a snapshot holds, or None if it is not one number. Waits for a Pending's
    copy: call it on the sampler thread for those."""
    try:
        if isinstance(value, Pending):
            if value.event is not None:
                value.event.synchronize()  # blocks this thread only, never the training thread
            value = value.tensor
        if hasattr(value, "numel"):
            if value.numel() != 1:
                return None
            value = value.item()
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return None


class Capture:
    """Frames for one process, written through the run's ``FrameWriter``."""

    def __init__(self, writer: Any, sample_interval: float = SAMPLE_INTERVAL) -> None:
        self.writer = writer
        self.sample_interval = sample_interval
        self.enabled = True
        # Advanced by the sampler thread every sample_interval; a hook samples when it
        # differs from the tick of its last sample.
        self.tick = 0
        self.sites: dict[tuple, Site | None] = {}  # hook's key -> Site, None = ignore
        self._loops_tick: dict[int, int] = {}  # id(code) -> tick of its last loops() walk
        self._sourced: set[tuple[str, int]] = set()  # lines whose text a frame carried
        self._files_sourced: set[str] = set()  # files whose whole text a source frame carried
        self._loop_units: dict[tuple[str, int], str] = {}  # loop line -> epoch or step
        self._queue: collections.deque = collections.deque()  # (kind, fields) with snapshots
        self._progress_seen: dict[tuple[str, int], tuple] = {}
        self._warned: set[str] = set()
        self._uninstallers: list = []
        self._closers: list = []  # fn() writing final values, run by close()
        # Lines a framework capturer (HF Trainer, Lightning) reports itself: the automatic
        # backward and DataLoader capture stay quiet there rather than mix their own loss
        # and batches (of the framework's training and evaluation loops) in.
        self.owned_lines: set[tuple[str, int]] = set()
        self.scaled_output: Any = None  # weakref to the last GradScaler.scale() result...
        self.scaled_input: Any = None  # ...and the (detached) loss it scaled
        self._stop = threading.Event()
        self._wake = threading.Event()  # an explicit value waits to be flushed
        self._thread: threading.Thread | None = None
        self._cpu_prev = (time.monotonic(), _cpu_seconds())
        self._next_system = 0.0
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._disable_in_child)

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._sample_loop, name="ml-lsp-telemetry", daemon=True)
        self._thread.start()

    def add_uninstaller(self, undo) -> None:
        if callable(undo):
            self._uninstallers.append(undo)

    def on_close(self, fn) -> None:
        self._closers.append(fn)

    def _disable_in_child(self) -> None:
        # A forked DataLoader worker inherits the hooks but not the sampler thread; its
        # frames would pile up unread, and the parent already reports the training.
        self.enabled = False
        self._queue = collections.deque()

    def _sample_loop(self) -> None:
        # Ticks every sample_interval; woken early by accelerator values to read and by
        # explicit values to flush at once.
        interval = self.sample_interval
        next_tick = time.monotonic() + interval
        while not self._stop.is_set():
            woken = self._wake.wait(max(0.0, next_tick - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                break
            now = time.monotonic()
            if now >= next_tick:
                self.tick += 1
                next_tick = now + interval
                self._finished_frames()
                self._idle_sites()
            self.drain()
            if woken:  # under dense explicit logging, drain at most every FLUSH_GAP
                self._stop.wait(FLUSH_GAP)

    def _finished_frames(self) -> None:
        """The final loop positions of the functions whose call sites the hooks saw and
        which have returned since (an epoch shorter than a tick would otherwise end the
        run one behind), read once on this thread, then their frames let go so that their
        locals are not kept alive. A frame still running is left alone."""
        held = [site for site in list(self.sites.values()) if site is not None and site.frame is not None]
        if not held:
            return
        running = set()
        for top in sys._current_frames().values():
            while top is not None:
                running.add(id(top))
                top = top.f_back
        for site in held:
            frame = site.frame
            if frame is not None and id(frame) not in running:
                site.frame = None
                self._final_loops(frame, site, outer=False)

    def _idle_sites(self) -> None:
        """The latest value of each site that has not been called for a whole tick since
        values came after its last sample: a training that pauses after a burst (an
        evaluation, a checkpoint) would otherwise show a value up to a tick old until it goes
        on. A site called in the last tick samples itself."""
        for site in list(self.sites.values()):
            if site is None or site.tick >= self.tick - 1 or site.count <= site.sampled:
                continue
            value, count = site.last, site.count
            if value is None or site.last is not value or site.count != count:
                continue  # the training thread is at this site now: its own sample follows
            # site.tick stays: the hook's next call samples as ever, and with it the loops'
            # positions (a resumed epoch must show, which only the training thread can read)
            if not getattr(value, "is_cpu", True):
                value = Pending(value.detach(), None)  # read (and waited for) on this thread
            site.sampled = count
            self.record(site.name, value, count, site.file, site.line)

    def _final_loops(self, frame: FrameType, site: Site, outer: bool) -> None:
        try:
            user = attribution.user_frame(frame)
            if user is not None:
                # The user's frame has moved on from the call site: use the site's line.
                self.loops_at(user, site.line if attribution.frame_path(user) == site.file else user.f_lineno,
                              outer=outer)
        except Exception as exc:
            self.warn_once("final loops", f"loop progress at the end failed: {exc!r}")

    def drain(self) -> None:
        """Resolve queued accelerator values into frames and flush them to the file."""
        write = self.writer.write
        queue = self._queue
        while queue:
            try:
                kind, fields, t, extra = queue.popleft()
            except IndexError:
                break
            if kind == "metric":
                value = resolve(fields[1])
                if value is None:
                    continue
                fields = (fields[0], value, *fields[2:])
            write(kind, *fields, t=t, **extra)
        now = time.monotonic()
        if now >= self._next_system:
            self._next_system = now + SYSTEM_INTERVAL
            self._system_sample(now)
        self.writer.flush()

    def close(self) -> None:
        """Final values of every site, then a last flush (at exit, on an exception, on
        SIGTERM). Safe to call twice."""
        if not self.enabled:
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        for site in list(self.sites.values()):
            if site is None:
                continue
            if site.frame is not None:
                frame, site.frame = site.frame, None
                self._final_loops(frame, site, outer=True)
            if site.count > site.sampled and site.last is not None:
                self._queue_metric(site, site.last)
        for fn in self._closers:
            try:
                fn()
            except Exception:
                pass
        self.enabled = False
        for undo in reversed(self._uninstallers):
            try:
                undo()
            except Exception:
                pass
        self._uninstallers.clear()
        self.drain()

    # -- recording (training thread) -------------------------------------------------------
    def _queue_metric(self, site: Site, value: Any, step: int | None = None) -> None:
        site.sampled = site.count
        self.record(site.name, value, site.count if step is None else step, site.file, site.line)

    def record(self, name: str, value: Any, step: int | None, file: str, line: int) -> None:
        """A sampled value (hooks): written now if reading it costs no wait, else queued for
        the sampler thread; unlike ``metric`` it does not ask for an immediate flush."""
        snap = snapshot(value)
        if isinstance(snap, Pending):
            self._queue.append(("metric", (name, snap, step, file, line), time.time(), self._source(file, line)))
            if not self._wake.is_set():
                self._wake.set()
            return
        number = resolve(snap)
        if number is not None:
            self.writer.metric(name, number, step, file, line, **self._source(file, line))

    def metric(self, name: str, value: Any, step: int | None, file: str, line: int) -> None:
        """An explicit value (``ml_lsp.log``, ``SummaryWriter.add_scalar``): every call is
        recorded; an accelerator tensor is read later by the sampler thread."""
        wake = self._wake
        if not wake.is_set():
            wake.set()  # flush soon: a value the user logs should reach the editor at once
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.writer.metric(name, float(value), step, file, line, **self._source(file, line))
            return
        if not hasattr(value, "detach") and not hasattr(value, "__float__"):
            self.warn_once(name, f"ml_lsp.log: {file}:{line}: the value of '{name}' is a "
                                 f"{type(value).__name__}, not a number; it is not recorded")
            return
        self.record(name, value, step, file, line)

    def log_call(self, frame: FrameType, step: Any, metrics: dict[str, Any]) -> None:
        if not self.enabled:
            return
        file = attribution.frame_path(frame)
        line = frame.f_lineno
        if step is not None and not isinstance(step, int):
            try:
                step = int(step)
            except (TypeError, ValueError):
                step = None
        for name, value in metrics.items():
            self.metric(name, value, step, file, line)

    def progress(self, file: str, line: int, current: int, total: int | None, unit: str,
                 name: str, force: bool = False, **extra: Any) -> None:
        """A loop's position; only changes are written (their times give s/epoch)."""
        key = (file, line)
        state = (current, total)
        if not force and self._progress_seen.get(key) == state:
            return
        self._progress_seen[key] = state
        self.writer.progress(current, total, unit, file, line, name=name, **extra, **self._source(file, line))

    def _source(self, file: str, line: int) -> dict:
        """``{"src": text of the line}`` with the first frame of each line, and before the
        first frame of each file a ``source`` frame with the file's whole text as this
        process runs it: an editor maps the frame's line through every edit made since
        (see RunSummary.texts)."""
        key = (file, line)
        if key in self._sourced:
            return {}
        self._sourced.add(key)
        self.file_source(file)
        text = linecache.getline(file, line).strip()
        return {"src": text} if text else {}

    def file_source(self, file: str) -> None:
        """The ``source`` frame of ``file``, once: its text from linecache (the script's
        is pinned there by the bootstrap as it was compiled, so a save after the start
        does not change it)."""
        if file in self._files_sourced:
            return
        self._files_sourced.add(file)
        lines = linecache.getlines(file)
        text = "".join(lines)
        if text and len(text) <= MAX_SOURCE_CHARS:
            self.writer.source(file, text)

    def loops(self, frame: FrameType | None) -> None:
        """Progress of the ``for ... in range(...)`` loops around ``frame``'s line and its
        user callers; at most once per tick for each function (hooks call it when they
        sample, and several hooks often sample the same loop)."""
        if frame is None:
            return
        key = id(frame.f_code)
        if self._loops_tick.get(key) == self.tick:
            return
        self._loops_tick[key] = self.tick
        self.loops_at(frame, frame.f_lineno)

    def loops_at(self, frame: FrameType, line: int, outer: bool = True) -> None:
        """The loops around ``line`` of ``frame`` and, with ``outer``, of its callers'
        lines (only ever from the thread running them, or once they have all returned)."""
        per_frame = []  # innermost frame first; in each, its loops outermost first
        for f in attribution.outer_user_frames(frame, limit=8 if outer else 1):
            path = attribution.frame_path(f)
            found = []
            for loop in attribution.range_loops_around(path, line if f is frame else f.f_lineno):
                position = attribution.loop_position(loop, f)
                if position is not None:
                    found.append((path, loop, position))
            per_frame.append(found)
        # The outermost loop of all counts epochs; the ones inside it count steps. A walk
        # that does not see the callers keeps the unit a full walk gave the loop.
        ordered = [item for found in reversed(per_frame) for item in found]
        for i, (path, loop, (current, total)) in enumerate(ordered):
            unit = "epoch" if i == 0 else "step"
            if outer:
                self._loop_units[(path, loop.line)] = unit
            else:
                unit = self._loop_units.get((path, loop.line), unit)
            self.progress(path, loop.line, current, total, unit, loop.var)

    def warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.writer.log(message, stream="log")
            print(f"[ml-lsp] {message}", file=sys.stderr)

    # -- exceptions ------------------------------------------------------------------------
    def exception(self, exc: BaseException, **extra: Any) -> None:
        import traceback

        frames = [{"file": os.path.abspath(f.filename), "line": f.lineno, "function": f.name}
                  for f in traceback.extract_tb(exc.__traceback__)
                  if not f.filename.startswith("<")]
        if isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
            frames.append({"file": os.path.abspath(exc.filename), "line": exc.lineno,
                           "function": "<module>"})
        message = str(exc)
        self.writer.exception(type(exc).__name__, message, frames,
                              qualname=f"{type(exc).__module__}.{type(exc).__qualname__}",
                              oom=is_out_of_memory(exc), **extra)

    # -- process samples (sampler thread) --------------------------------------------------
    def _system_sample(self, now: float) -> None:
        cpu = _cpu_seconds()
        then, cpu_then = self._cpu_prev
        self._cpu_prev = (now, cpu)
        percent = 100.0 * (cpu - cpu_then) / (now - then) if now > then else None
        self.writer.system(cpu_percent=percent, rss=_rss_bytes(), gpus=_gpus())


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, a RuntimeError saying so (CUDA, MPS, CPU allocator), or
    Python's MemoryError."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        try:
            import resource
            scale = 1 if sys.platform == "darwin" else 1024
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
        except Exception:
            return None


_nvml: Any = None


def _gpus() -> list[dict]:
    """GPU utilisation and memory through NVML when ``nvidia-ml-py`` is installed and this
    process uses CUDA; an empty list otherwise (never imports torch)."""
    global _nvml
    try:
        if not sys.modules["torch"].cuda.is_initialized():
            return []
    except (KeyError, AttributeError):  # no torch, or torch still importing
        return []
    if _nvml is None:
        try:
            import pynvml
            pynvml.nvmlInit()
            _nvml = pynvml
        except Exception:
            _nvml = False
    if not _nvml:
        return []
    gpus = []
    try:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        indices = [int(i) for i in visible.split(",") if i.strip().isdigit()] if visible else \
            range(_nvml.nvmlDeviceGetCount())
        for index in indices:
            handle = _nvml.nvmlDeviceGetHandleByIndex(index)
            util = _nvml.nvmlDeviceGetUtilizationRates(handle)
            mem = _nvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append({"index": index, "util": util.gpu, "mem_used": mem.used, "mem_total": mem.total})
    except Exception:
        pass
    return gpus
