"""What a reader keeps of a run's frames: the latest value of each metric per
(file, line, name, rank) with a bounded, downsampled series, the latest progress per loop,
the last exception and system sample. Memory stays flat however many frames a run wrote:
a million-frame run costs the same as a thousand-frame one, minus the time to read it.

``RunSummary.add(frame)`` takes frames one at a time, so the language server can follow a
run with a ``FrameReader`` and keep one summary up to date; ``summarize(run)`` reads a
whole run folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterable

from ml_lsp.runner.frames import FrameReader, decode_payload

SERIES_POINTS = 256


@dataclass
class MetricSummary:
    name: str
    path: str | None
    line: int | None
    rank: int
    last: float | None = None
    step: int | None = None
    count: int = 0
    min: float | None = None
    max: float | None = None
    first_time: float | None = None
    last_time: float | None = None
    # Every ``stride``-th value, at most SERIES_POINTS of them: (step or count, value).
    series: list[tuple[int, float]] = field(default_factory=list)
    stride: int = 1

    def add(self, value: Any, step: Any, t: Any) -> None:
        if type(value) is not float:
            try:
                value = float(value)
            except (TypeError, ValueError):
                return
        self.count = count = self.count + 1
        self.last = value
        if type(step) is int:
            self.step = step
        self.last_time = t
        if self.first_time is None:
            self.first_time = t
        if value == value:  # NaN neither raises the max nor lowers the min
            if self.min is None:
                self.min = self.max = value
            elif value < self.min:
                self.min = value
            elif value > self.max:
                self.max = value
        if count % self.stride == 0:
            self.series.append((step if type(step) is int else count, value))
            if len(self.series) >= SERIES_POINTS:
                # Halve the resolution: keep every other point, sample half as often.
                del self.series[1::2]
                self.stride *= 2

    def trend(self) -> str:
        """``↓`` / ``↑`` / ``→`` comparing the last value with the mean of the points before."""
        if len(self.series) < 3 or self.last is None:
            return ""
        prev = [v for _, v in self.series[-9:-1]]
        mean = sum(prev) / len(prev)
        if abs(self.last - mean) <= 1e-3 * max(abs(mean), 1e-12):
            return "→"
        return "↓" if self.last < mean else "↑"

    def to_json(self) -> dict:
        return {"name": self.name, "path": self.path, "line": self.line, "rank": self.rank,
                "last": self.last, "step": self.step, "count": self.count, "min": self.min,
                "max": self.max, "trend": self.trend()}


SMOOTHING = 0.3  # weight of the newest interval in a loop's rate (tqdm's default)
MIN_RATE_SAMPLES = 3  # intervals a loop's rate needs before an ETA is given from it


@dataclass
class ProgressSummary:
    current: int | None
    total: int | None
    unit: str
    path: str | None
    line: int | None
    rank: int
    first_time: float | None
    time: float | None
    first_current: int | None
    batch_size: int | None = None  # a DataLoader loop's batch size (samples per batch)
    # Exponential moving averages of (units done, seconds taken) between two frames of
    # this loop, as tqdm smooths its rate: a slow first batch or a pause for validation
    # fades instead of skewing the rate for the rest of the run. A loop that starts a new
    # pass (its position goes back) adds no interval.
    ema_done: float = 0.0
    ema_seconds: float = 0.0
    samples: int = 0

    def update(self, current: Any, total: Any, t: Any, batch_size: Any = None) -> None:
        before, then = self.current, self.time
        self.current, self.total, self.time = current, total, t
        if type(batch_size) is int and batch_size > 0:
            self.batch_size = batch_size
        if type(current) is int and type(before) is int and isinstance(t, (int, float)) \
                and isinstance(then, (int, float)):
            done, seconds = current - before, t - then
            if done > 0 and seconds > 0:
                self.ema_done = SMOOTHING * done + (1 - SMOOTHING) * self.ema_done
                self.ema_seconds = SMOOTHING * seconds + (1 - SMOOTHING) * self.ema_seconds
                self.samples += 1

    def rate(self) -> float | None:
        """Units per second, smoothed; None before the loop has moved twice."""
        if self.samples == 0 or self.ema_seconds <= 0:
            return None
        return self.ema_done / self.ema_seconds

    def samples_per_second(self) -> float | None:
        rate = self.rate()
        return rate * self.batch_size if rate is not None and self.batch_size else None

    def eta(self) -> float | None:
        """Seconds to the end of this loop's pass, once its rate has enough history; None
        at the end (never "ETA 0 s")."""
        rate = self.rate()
        if rate is None or self.samples < MIN_RATE_SAMPLES or self.total is None or self.current is None \
                or self.current >= self.total:
            return None
        return (self.total - self.current) / rate

    def to_json(self) -> dict:
        return {"current": self.current, "total": self.total, "unit": self.unit, "path": self.path,
                "line": self.line, "rank": self.rank, "rate": self.rate(), "eta": self.eta(),
                "batch_size": self.batch_size}


class RunSummary:
    def __init__(self) -> None:
        self.metrics: dict[tuple, MetricSummary] = {}
        self.loops: dict[tuple, ProgressSummary] = {}
        self.progress: ProgressSummary | None = None  # the latest progress frame's loop, rank 0 first
        self.exception: dict | None = None
        self.system: dict | None = None
        # (file, line) -> the line's text when the run wrote it (a frame's "src"): where
        # an editor finds the line again after the file was edited.
        self.sources: dict[tuple, str] = {}
        # file -> its whole text as the process ran it (a "source" frame): the lines of
        # every frame in it are that text's lines, whatever the file holds now.
        self.texts: dict[str, str] = {}
        self.imported: set[str] = set()  # modules the job said it finished importing (torch)
        self.events: list[dict] = []
        self.logs: list[str] = []  # the last few log frames
        self.frames = 0
        self.kinds: dict[str, int] = {}
        self.corrupt = 0
        self.pending_bytes = 0
        self.first_time: float | None = None
        self.last_time: float | None = None

    def add(self, frame: dict) -> None:
        self.frames += 1
        kind = frame.get("kind")
        t = frame.get("t")
        if self.first_time is None:
            self.first_time = t
        self.last_time = t
        src = frame.get("src")
        if type(src) is str:
            self.sources[(frame.get("file"), frame.get("line"))] = src
        if kind == "metric":
            rank = frame.get("rank") or 0
            key = (frame.get("file"), frame.get("line"), frame.get("name"), rank)
            m = self.metrics.get(key)
            if m is None:
                m = self.metrics[key] = MetricSummary(str(frame.get("name")), key[0], key[1], rank)
            m.add(frame.get("value"), frame.get("step"), t)
            return
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if kind == "progress":
            rank = frame.get("rank") or 0
            key = (frame.get("file"), frame.get("line"), frame.get("unit", "step"), rank)
            p = self.loops.get(key)
            current = frame.get("current")
            if p is None:
                p = self.loops[key] = ProgressSummary(current, frame.get("total"), key[2], key[0], key[1],
                                                      rank, t, t, current)
                p.update(current, frame.get("total"), t, frame.get("batch_size"))
            else:
                p.update(current, frame.get("total"), t, frame.get("batch_size"))
            if rank == 0 or self.progress is None or self.progress.rank != 0:
                # The outermost loop reads best in one line: epochs win over steps.
                if self.progress is None or p.unit == "epoch" or self.progress.unit != "epoch" \
                        or self.progress is p:
                    self.progress = p
        elif kind == "exception":
            self.exception = frame
        elif kind == "system":
            self.system = frame
        elif kind == "log":
            self.logs.append(str(frame.get("text", "")))
            if len(self.logs) > 50:
                del self.logs[:25]
        elif kind == "event":
            if frame.get("name") == "imported" and isinstance(frame.get("module"), str):
                self.imported.add(frame["module"])
            if len(self.events) < 100:
                self.events.append(frame)
        elif kind == "source":
            if isinstance(frame.get("file"), str) and isinstance(frame.get("text"), str):
                self.texts[frame["file"]] = frame["text"]

    def add_all(self, frames: Iterable[dict]) -> None:
        for frame in frames:
            self.add(frame)

    def follow(self, reader: FrameReader) -> int:
        """Add what ``reader`` has that is new; return how many frames that was.

        Metric frames, nearly all of a big run, take a fast path on the raw payload array
        (no dict per frame): that is what lets a million-frame run open in about a second."""
        before = self.frames
        metrics = self.metrics
        t = None
        for arr in reader.payloads():
            t = arr[2]
            if arr[0] == "metric" and len(arr) >= 10:
                self.frames += 1
                if self.first_time is None:
                    self.first_time = t
                rank = arr[3] or 0
                key = (arr[8], arr[9], arr[5], rank)
                m = metrics.get(key)
                if m is None:
                    m = metrics[key] = MetricSummary(str(arr[5]), arr[8], arr[9], rank)
                m.add(arr[6], arr[7], t)
                if len(arr) > 10 and type(arr[10]) is dict and type(arr[10].get("src")) is str:
                    self.sources[(arr[8], arr[9])] = arr[10]["src"]
            else:
                frame = decode_payload(arr)
                if frame is not None:
                    self.add(frame)
        if t is not None:
            self.last_time = t
        self.corrupt = reader.corrupt
        self.pending_bytes = reader.pending_bytes
        return self.frames - before

    def shown_frames(self) -> int:
        """How many frames change what an editor shows (metrics, progress, an exception):
        a process sample or a log line alone is no reason to redraw the hints."""
        kinds = self.kinds
        return self.frames - kinds.get("system", 0) - kinds.get("log", 0) - kinds.get("event", 0)

    def outer_and_inner(self) -> tuple[ProgressSummary | None, ProgressSummary | None]:
        """The run's outermost loop (epochs, when it has them) and the newest loop of the
        same rank running inside it (batches or steps), or None."""
        outer = self.progress
        if outer is None:
            return None, None
        inner = [p for p in self.loops.values() if p is not outer and p.rank == outer.rank
                 and p.unit in ("batch", "step") and p.total and p.current is not None]
        return outer, (max(inner, key=lambda p: p.time or 0) if inner and outer.unit == "epoch" else None)

    def fraction_done(self, finished: bool = False) -> float | None:
        """How much of the run is done (0..1), from its outer loop and the pass of the loop
        inside it; None without a loop that has a total."""
        outer, inner = self.outer_and_inner()
        if outer is None or not outer.total or outer.current is None:
            return None
        done = float(outer.current)
        if outer.unit == "epoch" and not finished:
            done = outer.current - 1
            if inner is not None:
                done += min(1.0, inner.current / inner.total)
        return max(0.0, min(1.0, done / outer.total))

    def eta(self) -> float | None:
        """Seconds to the end of the run, from smoothed rates with enough history: an
        epoch loop's own rate once two epochs have ended (validation and the rest
        included), else the rate of the loop inside it; None when there is not enough
        history or nothing is left. The caller shows it only for an active run."""
        outer, inner = self.outer_and_inner()
        if outer is None or not outer.total or outer.current is None:
            return None
        if outer.unit != "epoch":
            return outer.eta()
        fraction = self.fraction_done()
        if fraction is None or fraction >= 1.0:
            return None
        left_epochs = outer.total * (1.0 - fraction)
        if outer.samples >= 2:
            seconds = left_epochs / outer.rate()
            if inner is None:  # the running epoch's share is unknown: take off its time so far
                seconds -= max(0.0, (self.last_time or outer.time or 0.0) - (outer.time or 0.0))
            return seconds if seconds > 0 else None
        if inner is not None and inner.samples >= MIN_RATE_SAMPLES and inner.rate():
            return left_epochs * inner.total / inner.rate()
        return None

    def shown_metrics(self, rank: int | None = None) -> list[MetricSummary]:
        """The metrics of one rank (default: rank 0, else the lowest rank that has any),
        in source order."""
        if rank is None:
            ranks = {m.rank for m in self.metrics.values()}
            rank = 0 if 0 in ranks or not ranks else min(ranks)
        items = [m for m in self.metrics.values() if m.rank == rank]
        items.sort(key=lambda m: (m.path or "", m.line or 0, m.name))
        return items


def summarize(run: Any) -> RunSummary:
    """Read a whole run (a RunFolder, a run folder path, or a frames file path)."""
    path = getattr(run, "frames_path", None)
    if path is None:
        path = os.fspath(run)
        if os.path.isdir(path):
            from ml_lsp.runner.run_folder import FRAMES_FILE
            path = os.path.join(path, FRAMES_FILE)
    summary = RunSummary()
    summary.follow(FrameReader(path))
    return summary
