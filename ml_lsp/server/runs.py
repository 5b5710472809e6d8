"""Training runs in the editor: code lenses to run/stop/rerun a script, live metrics as
inlay hints on the lines that produced them, hovers with a sparkline, ``$/progress`` per
job from submit to end, a notification with actions when a run ends, and a failed run's
exception as a diagnostic on the user's line.

The run folders are the truth (see docs/run-folder.md): this module follows them with
watchdog plus a slow re-read timer, keeps for the latest run of each script a
``RunSummary`` (latest values and a downsampled series, never every frame), and turns that
into LSP. What the editor shows of a run at one moment is one ``RunSnapshot``: the code
lens, the inlay hints, the hover and the ``$/progress`` message all read it, so they never
show different numbers. A frame's line numbers are those of the file as the job ran it
(its ``source`` frame): they are mapped through every edit made since onto the document's
lines. Jobs are started and stopped through ``ml_lsp.runner``'s Python API; the runner
process outlives this server. Never imports torch.
"""

from __future__ import annotations

import ast
import asyncio
import difflib
import functools
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInternalError, JsonRpcInvalidParams
from pygls.uris import from_fs_path

from ml_lsp.server.trust import CODE_RUNNING, trust_file

log = logging.getLogger("ml_lsp.server.runs")

DIAGNOSTICS_KEY = "ml-lsp.runs"
REFRESH_INTERVAL = 0.25  # workspace/inlayHint/refresh at most 4 times a second
RESCAN_INTERVAL = 1.0  # the slow timer: watchdog may drop events (overflow, network FS)
EVENT_DELAY = 0.02  # coalesce a burst of file events into one re-read
SPARK = "▁▂▃▄▅▆▇█"
TAIL_BYTES = 4 << 20  # a big run is shown from its tail first, then from the whole file
ACTIVE = ("queued", "starting", "running")
SNAPSHOT_INTERVAL = 0.25  # a run's snapshot is taken again at most 4 times a second...
TICK_INTERVAL = 1.0  # ...and at least once a second while it is active (its duration moves)
# A script that imports one of these spends its first seconds importing torch.
TORCH_IMPORT = re.compile(r"^\s*(?:import|from)\s+(?:torch|lightning|pytorch_lightning|transformers|timm)\b", re.M)


# -- pure helpers -------------------------------------------------------------------------

def runnable_line(text: str) -> int | None:
    """0-based line for the Run lens of a script: its ``if __name__ == "__main__":`` block
    or, failing that, its first top-level loop that trains (calls ``backward``, ``step``
    or ``fit``), or its first top-level ``model.fit(...)`` (a Keras script); None for a
    module that is not a script."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        match = re.search(r"^if\s+__name__\s*==\s*['\"]__main__['\"]", text, re.M)
        return text.count("\n", 0, match.start()) if match else None
    for node in tree.body:
        if isinstance(node, ast.If) and _is_main_test(node.test):
            return node.lineno - 1
    for node in tree.body:
        if isinstance(node, (ast.For, ast.While, ast.With)):
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
                        and call.func.attr in ("backward", "step", "fit", "train"):
                    return node.lineno - 1
    for node in tree.body:
        value = node.value if isinstance(node, (ast.Expr, ast.Assign)) else None
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "fit":
            return node.lineno - 1
    return None


def _is_main_test(test: ast.expr) -> bool:
    if not isinstance(test, ast.Compare) or len(test.comparators) != 1:
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    consts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return bool(names and consts)


def format_value(value: float | None) -> str:
    if value is None:
        return "?"
    if value != value:
        return "nan"
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


def format_rate(value: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.0f}m"
    return f"{int(minutes // 60)}h {int(minutes % 60)}m"


def relocate(line: int, source: str | None, lines: list[str]) -> int | None:
    """Where 1-based ``line``, whose text was ``source`` when the run wrote it, is in
    ``lines`` now: the same line if its text is unchanged (or unknown), else the nearest
    line with that text, else None (the line was edited or deleted)."""
    if source is None:
        return line
    if 0 < line <= len(lines) and lines[line - 1].strip() == source:
        return line
    found = [i + 1 for i, text in enumerate(lines) if text.strip() == source]
    return min(found, key=lambda i: abs(i - line)) if found else None


@functools.lru_cache(maxsize=64)
def line_map(old_text: str, new_text: str) -> dict[int, int]:
    """1-based line of ``old_text`` -> the same line in ``new_text``, for every line an
    edit left as it was (lines compared without their indentation and trailing spaces);
    a changed or deleted line has no entry."""
    old_lines = [line.strip() for line in old_text.splitlines()]
    new_lines = [line.strip() for line in new_text.splitlines()]
    mapping: dict[int, int] = {}
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, _j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                mapping[i1 + k + 1] = j1 + k + 1
    return mapping


def sparkline(values: list[float], width: int = 24) -> str:
    values = [v for v in values if v == v][-width:]
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low
    return "".join(SPARK[0 if span == 0 else min(len(SPARK) - 1, int((v - low) / span * len(SPARK)))]
                   for v in values)


def metric_label(metric) -> str:
    if metric.name.endswith("/s"):
        return f"{format_rate(metric.last or 0.0)} {metric.name}"
    trend = metric.trend()
    return f"{metric.name} {format_value(metric.last)}" + (f" {trend}" if trend else "")


def loop_label(loop, eta: float | None = None) -> str:
    """``batch 12/23 · 4.1 batch/s · 262 samples/s``; the run's ``eta`` goes on the line of
    its outer loop only (one ETA per run, the same one the lens and $/progress show)."""
    total = f"/{loop.total}" if loop.total else ""
    parts = [f"{loop.unit} {loop.current}{total}"]
    rate = loop.rate()
    if rate:
        parts.append(f"{format_duration(1 / rate)}/{loop.unit}" if rate < 1 else f"{format_rate(rate)} {loop.unit}/s")
    samples = loop.samples_per_second()
    if samples:
        parts.append(f"{format_rate(samples)} samples/s")
    if eta is not None:
        parts.append(f"ETA {format_duration(eta)}")
    return " · ".join(parts)


def is_workspace_file(path: str, root: Path | None) -> bool:
    """A file of the user's workspace (not an installed library, not Python's own)."""
    if "site-packages" in path or "dist-packages" in path or path.startswith("<"):
        return False
    return root is None or _inside(path, root)


def user_frame(frames: list[dict], root: Path | None, script: str | None) -> dict | None:
    """The innermost traceback frame in the user's workspace (not an installed library);
    the innermost one in the script itself when none is."""
    for frame in reversed(frames):
        if isinstance(frame, dict) and isinstance(frame.get("file"), str) and is_workspace_file(frame["file"], root):
            return frame
    for frame in reversed(frames):
        if isinstance(frame, dict) and frame.get("file") == script:
            return frame
    return None


def traceback_frames(frames: list, root: Path | None) -> tuple[list[dict], list[dict]]:
    """The frames a crash diagnostic can point at, as (the user's, the libraries'), each
    in traceback order (outermost first), the innermost MAX_RELATED_FRAMES of them."""
    usable = [f for f in frames[-MAX_RELATED_FRAMES:] if isinstance(f, dict) and isinstance(f.get("file"), str)
              and isinstance(f.get("line"), int) and f["line"] >= 1 and not f["file"].startswith("<")]
    mine = [f for f in usable if is_workspace_file(f["file"], root)]
    return mine, [f for f in usable if not is_workspace_file(f["file"], root)]


def imports_torch(text: str | None) -> bool:
    return bool(text and TORCH_IMPORT.search(text))


def _inside(path: str, root: Path) -> bool:
    try:
        Path(path).resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError):
        return False


@functools.lru_cache(maxsize=4096)
def real_path(path: str | None) -> str | None:
    """Paths in frames and document URIs may differ by symlinks (/tmp and /private/tmp)."""
    return os.path.realpath(path) if isinstance(path, str) else None


def is_out_of_memory(exception: dict) -> bool:
    text = f"{exception.get('type')} {exception.get('message')}".lower()
    return bool(exception.get("oom")) or any(
        words in text for words in ("outofmemory", "out of memory", "can't allocate memory", "memoryerror"))


# -- what the editor shows of a run at one moment ----------------------------------------

@dataclass
class RunSnapshot:
    """One run as the editor shows it at one moment: the code lens, the inlay hints, the
    hover and the ``$/progress`` message are all made from this, so the loss, the ETA and
    the progress they show are the same numbers."""
    taken: float  # time.monotonic()
    state: str
    phase: str  # "queued", "starting (importing torch…)", "running", or the final state
    duration: float | None
    eta: float | None
    percentage: int | None
    headline: str  # "epoch 3/10 · ETA 4m · loss 0.231"
    where: str = ""  # " · on Ray 10.0.0.5:8265 (pending)" for a run on a cluster
    # (file, line) as the run recorded them -> (inlay hint label, hover Markdown)
    lines: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def lens_title(self) -> str:
        if self.active:
            status = self.phase + (f" {format_duration(self.duration)}" if self.duration is not None else "")
        else:
            status = self.state + (f" in {format_duration(self.duration)}" if self.duration is not None else "")
        return status + self.where + (f" · {self.headline}" if self.headline else "")

    def progress_message(self) -> str:
        if self.phase != "running" and self.active:
            return self.phase + (f" · {self.headline}" if self.headline else "")
        return self.headline or self.phase


def take_snapshot(followed: "FollowedRun") -> RunSnapshot:
    summary = followed.summary
    active = followed.state in ACTIVE
    eta = summary.eta() if active else None
    outer, _ = summary.outer_and_inner()
    fraction = summary.fraction_done(finished=not active)

    headline = []
    if outer is not None and outer.current is not None:
        headline.append(f"{outer.unit} {outer.current}" + (f"/{outer.total}" if outer.total else ""))
    if eta is not None:
        headline.append(f"ETA {format_duration(eta)}")
    for metric in summary.shown_metrics()[:3]:
        if not metric.name.endswith("/s"):
            headline.append(f"{metric.name} {format_value(metric.last)}")

    reported: dict[tuple[str, int], tuple[list, list]] = {}
    for loop in summary.loops.values():
        if loop.rank == 0 and isinstance(loop.line, int) and isinstance(loop.path, str):
            reported.setdefault((loop.path, loop.line), ([], []))[0].append(loop)
    for metric in summary.shown_metrics():
        if isinstance(metric.line, int) and isinstance(metric.path, str):
            reported.setdefault((metric.path, metric.line), ([], []))[1].append(metric)
    lines = {}
    for key, (loops, metrics) in reported.items():
        if any(loop.batch_size for loop in loops):  # samples/s is shown from the loop's rate
            metrics = [m for m in metrics if m.name != "samples/s"]
        loops.sort(key=lambda loop: loop.unit)
        parts = [loop_label(loop, eta if loop is outer else None) for loop in loops]
        parts += [metric_label(m) for m in metrics]
        if parts:
            lines[key] = (" · ".join(parts), _hover_markdown(followed, loops, metrics, eta, outer))
    return RunSnapshot(
        taken=time.monotonic(), state=followed.state, phase=followed.phase(), duration=followed.duration(),
        eta=eta, percentage=None if fraction is None else int(100 * fraction), headline=" · ".join(headline),
        where=followed.where(), lines=lines)


def _hover_markdown(followed, loops, metrics, eta, outer) -> str:
    from ml_lsp.server.markup import code, escape

    out = [f"**run** {code(followed.id)} · {escape(followed.state)}"]
    for loop in loops:
        out.append(f"- {escape(loop_label(loop, eta if loop is outer else None))}")
    for m in metrics:
        values = [v for _, v in m.series]
        out.append(f"- **{escape(m.name)}** {code(sparkline(values))} last {escape(format_value(m.last))}"
                   f" · min {escape(format_value(m.min))} · max {escape(format_value(m.max))}"
                   f" · step {m.step if m.step is not None else m.count}")
    return "\n".join(out)


# -- following the run folders ----------------------------------------------------------

class FollowedRun:
    """The latest run of one script, as far as this server has read it."""

    def __init__(self, run, spec: dict) -> None:
        from ml_lsp.runner.frames import FrameReader
        from ml_lsp.runner.summary import RunSummary

        self.run = run
        self.id = run.id
        self.spec = spec
        self.script = spec.get("script")
        self.name = spec.get("name") or Path(self.script or "run").stem
        self.summary = RunSummary()
        self.reader = FrameReader(run.frames_path)
        self.status: dict = {}
        self.state = "queued"
        self.loading = True  # the first read (maybe a million frames) runs off the event loop
        self.partial = False  # showing the tail of a big run while the whole file is read
        self.frames_seen = -1
        self.snapshot: RunSnapshot | None = None
        self.progress_token: str | None = None
        self.progress_shown: tuple | None = None  # (message, percentage) last reported
        self.seen_active = False  # this server saw it queued or running (so its end is news)
        self.notified = False
        self.library_frames = False  # the crash diagnostic lists library frames too
        self.diagnosed: set[str] = set()  # uris this run's exception was published on
        self.retired = False  # a newer run of the script replaced it (or is being started)
        self._uses_torch: bool | None = None

    def read_status(self) -> None:
        self.status = self.run.status()
        self.state = self.run.state(self.status)
        if self.spec.get("launcher") not in (None, "local", "torchrun"):
            from ml_lsp.runner.jobs import remote_record
            self.remote = remote_record(self.run, self.spec)

    remote: dict | None = None  # where a run handed to a cluster runs (remote.json)

    def where(self) -> str:
        """`` · on Ray 10.0.0.5:8265 (PENDING)`` for a run on a cluster, else ""."""
        remote = self.remote
        if not remote:
            return ""
        from urllib.parse import urlparse
        host = urlparse(str(remote.get("address") or "")).netloc or remote.get("address")
        status = remote.get("status")
        text = f" · on {remote.get('label') or remote.get('launcher')} {host}"
        if status and status not in ("RUNNING", "SUCCEEDED"):
            text += f" ({status.lower()})"
        if remote.get("connection"):
            text += f" · connection {remote['connection']}"
        return text

    def duration(self) -> float | None:
        started = self.status.get("started")
        if not isinstance(started, (int, float)):
            return None
        ended = self.status.get("ended")
        return (ended if isinstance(ended, (int, float)) else time.time()) - started

    def uses_torch(self) -> bool:
        if self._uses_torch is None:
            text = self.summary.texts.get(self.script) if self.script else None
            if text is None and self.script:
                text = _read_source(self.script)
            self._uses_torch = imports_torch(text)
        return self._uses_torch

    def phase(self) -> str:
        """What the job is doing: ``starting (importing torch…)`` from its start to the
        moment torch is imported (seconds, during which it reports nothing else)."""
        if self.state not in ("starting", "running"):
            return self.state
        summary = self.summary
        if summary.metrics or summary.loops or "torch" in summary.imported:
            return "running"
        return "starting (importing torch…)" if self.uses_torch() else "starting…"


class RunsView:
    """What the editor shows of the runs in the workspace's runs folder."""

    def __init__(self, server) -> None:
        self.server = server
        self.runs_dir: Path | None = None
        self.latest: dict[str, FollowedRun] = {}  # script path -> its latest run
        self.specs: dict[str, dict] = {}  # run id -> spec (written once, read once)
        self.observer = None
        self.watched: Path | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pending = False
        self.later: asyncio.TimerHandle | None = None  # a snapshot held back by the interval
        self.timer: asyncio.Task | None = None
        self.progress_tokens: set[str] = set()  # every $/progress token created
        self.runnable: dict[str, tuple[int, int | None]] = {}  # uri -> (version, Run lens line)

    # -- set-up -----------------------------------------------------------------------
    def configure(self, settings) -> None:
        root = self.server.root
        configured = settings.get("runs_dir") or ".ml-lsp/runs"
        path = Path(configured).expanduser()
        if not path.is_absolute():
            path = (root or Path.cwd()) / path
        if path != self.runs_dir:
            self.runs_dir = path
            self.latest.clear()
            self._stop_watching()
        self._ensure_started()

    def _ensure_started(self) -> None:
        if not getattr(self.server, "is_initialized", True):
            return  # not before the initialize reply has gone: on_initialized starts us
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # settings loaded outside the loop: the initialized handler starts us
        self.loop = loop
        if self.timer is None:
            self.timer = loop.create_task(self._slow_timer())
        self.schedule()

    async def _slow_timer(self) -> None:
        while True:
            await asyncio.sleep(RESCAN_INTERVAL)
            try:
                self.refresh()
            except Exception:
                log.exception("re-reading runs failed")

    def _watch(self) -> None:
        """Watch the runs folder (once it exists) for any change; events only poke the
        event loop, which re-reads."""
        if self.runs_dir is None or self.watched == self.runs_dir or not self.runs_dir.is_dir():
            return
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:  # the slow timer still follows the runs
            return
        view = self

        class Poke(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                loop = view.loop
                if loop is not None and not loop.is_closed():
                    loop.call_soon_threadsafe(view.schedule)

        observer = Observer()
        observer.daemon = True
        try:
            observer.schedule(Poke(), str(self.runs_dir), recursive=True)
            observer.start()
        except OSError as exc:  # inotify watch limit: the slow timer still works
            log.warning("cannot watch %s (%s); re-reading it every %.0f s", self.runs_dir, exc, RESCAN_INTERVAL)
            return
        self.observer = observer
        self.watched = self.runs_dir

    def _stop_watching(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer = None
        self.watched = None

    def schedule(self) -> None:
        if self.pending or self.loop is None:
            return
        self.pending = True
        self.loop.call_later(EVENT_DELAY, self._scheduled_refresh)

    def _scheduled_refresh(self) -> None:
        self.pending = False
        try:
            self.refresh()
        except Exception:
            log.exception("re-reading runs failed")

    def _refresh_later(self, delay: float) -> None:
        if self.later is None and self.loop is not None:
            def again() -> None:
                self.later = None
                self._scheduled_refresh()
            self.later = self.loop.call_later(max(0.0, delay), again)

    # -- re-reading ---------------------------------------------------------------------
    def refresh(self) -> None:
        """Read what is new in each followed run; take a new snapshot of a run whose
        shown facts changed (at most every SNAPSHOT_INTERVAL, at once on a change of
        state, every TICK_INTERVAL while it runs), then send what depends on it: the
        inlay hint and code lens refreshes and the $/progress report, together."""
        if self.runs_dir is None:
            return
        self._watch()
        self._find_latest_runs()
        hints_changed = lenses_changed = False
        now = time.monotonic()
        for followed in list(self.latest.values()):
            if followed.loading:
                continue
            before_state = followed.state
            if followed.state in ACTIVE or followed.frames_seen < 0:
                followed.read_status()
            followed.summary.follow(followed.reader)
            shown = followed.summary.shown_frames()
            old = followed.snapshot
            new_frames = shown != followed.frames_seen
            state_changed = old is None or followed.state != old.state
            ticking = followed.state in ACTIVE and old is not None and now - old.taken >= TICK_INTERVAL
            if not (new_frames or state_changed or ticking):
                continue
            if not state_changed and now - old.taken < SNAPSHOT_INTERVAL:
                self._refresh_later(SNAPSHOT_INTERVAL - (now - old.taken))
                continue
            followed.frames_seen = shown
            new = followed.snapshot = take_snapshot(followed)
            if new.active:
                followed.seen_active = True
            if old is None or new.lines != old.lines:
                hints_changed = True
            if old is None or new.lens_title() != old.lens_title():
                lenses_changed = True
            self._update_progress(followed)
            self._update_diagnostics(followed)
            if old is not None and old.active and not new.active:
                self._notify_end(followed)
        if hints_changed:
            self._send_refresh("inlay_hint")
        if lenses_changed:
            self._send_refresh("code_lens")

    def _find_latest_runs(self) -> None:
        from ml_lsp.runner.run_folder import iter_runs

        best: dict[str, tuple] = {}
        for run in iter_runs(self.runs_dir):
            spec = self.specs.get(run.id)
            if spec is None:
                spec = self.specs[run.id] = run.spec()
            script = spec.get("script")
            if not isinstance(script, str):
                continue
            key = (spec.get("created") or 0, run.id)
            if script not in best or key > best[script][0]:
                best[script] = (key, run, spec)
        for script, (_, run, spec) in best.items():
            current = self.latest.get(script)
            if current is not None and current.id == run.id:
                continue
            if current is not None:
                self._retire(current)
            followed = self.latest[script] = FollowedRun(run, spec)
            self._load(followed)

    def _load(self, followed: FollowedRun) -> None:
        """The first read of a run's frames, on a worker thread so that requests never wait
        for it. A big frames file is shown from its last TAIL_BYTES first (latest values,
        progress and the end of each series in a fraction of a second), and the summary of
        the whole file, min/max/counts included, replaces it when read."""
        from ml_lsp.runner.frames import FrameReader
        from ml_lsp.runner.summary import RunSummary

        try:
            size = followed.run.frames_path.stat().st_size
        except OSError:
            size = 0

        def read(offset: int):
            followed.read_status()
            summary, reader = RunSummary(), FrameReader(followed.run.frames_path, offset=offset)
            summary.follow(reader)
            return summary, reader

        def install(future, final: bool) -> None:
            if not final and not followed.partial:
                return  # the whole file was read first
            try:
                followed.summary, followed.reader = future.result()
            except Exception:
                log.exception("reading run %s failed", followed.id)
            if final:
                followed.partial = False
            followed.loading = False
            followed.frames_seen = -1
            if self.latest.get(followed.script) is followed:
                self.refresh()

        if self.loop is None:
            followed.summary, followed.reader = read(0)
            followed.loading = False
            return
        submit = self.loop.run_in_executor
        if size > 2 * TAIL_BYTES:
            followed.partial = True
            submit(None, read, size - TAIL_BYTES).add_done_callback(
                lambda f: self.loop.call_soon_threadsafe(install, f, False))
        submit(None, read, 0).add_done_callback(
            lambda f: self.loop.call_soon_threadsafe(install, f, True))

    def _retire(self, followed: FollowedRun) -> None:
        """A newer run of the same script replaces this one: its diagnostics go (the next
        run clears the last one's crash) and its progress ends."""
        followed.retired = True
        log.info("run %s replaced; clearing %s", followed.id, sorted(followed.diagnosed))
        for uri in followed.diagnosed:
            self.server.publish_diagnostics(uri, DIAGNOSTICS_KEY, [])
        followed.diagnosed.clear()
        if followed.progress_token is not None:
            self._end_progress(followed)

    # -- lines of a run in the document as it is now ---------------------------------------
    def newest_runs(self) -> list[FollowedRun]:
        """The latest run of each script, newest first (a file that several scripts use
        shows the newest run's values)."""
        runs = [r for r in self.latest.values() if not r.loading and r.snapshot is not None]
        runs.sort(key=lambda r: (r.spec.get("created") or 0, r.id), reverse=True)
        return runs

    @staticmethod
    def current_line(followed: FollowedRun, recorded_path: str, line: int, text: str | None) -> int | None:
        """Where 1-based ``line`` of ``recorded_path``, as the run recorded it, is in the
        document's ``text`` now: mapped through every edit since the job read the file
        (its source frame), else found by the line's own text (a run without one);
        None when the line itself was changed or deleted."""
        if text is None:
            return line
        ran = followed.summary.texts.get(recorded_path)
        if ran is not None:
            return line_map(ran, text).get(line)
        return relocate(line, followed.summary.sources.get((recorded_path, line)), text.splitlines())

    def line_facts(self, path: str, text: str | None = None) -> dict[int, tuple[FollowedRun, str, str]]:
        """1-based line of the document -> (run, hint label, hover) from the newest run
        reporting that line, each run read from its snapshot."""
        path = real_path(path)
        facts: dict[int, tuple[FollowedRun, str, str]] = {}
        for followed in self.newest_runs():
            for (recorded_path, line), (label, hover) in followed.snapshot.lines.items():
                if real_path(recorded_path) != path:
                    continue
                line = self.current_line(followed, recorded_path, line, text)
                if line is not None:
                    facts.setdefault(line, (followed, label, hover))
        return facts

    # -- inlay hints, hovers, code lenses ------------------------------------------------
    def inlay_hints(self, ls, uri: str, range_: types.Range) -> list[types.InlayHint]:
        if not ls.settings.get("inlay_hints_metrics", True):
            return []
        text = ls.document_text(uri)
        if text is None:
            return []
        lines = text.splitlines()
        hints = []
        for line, (followed, label, _hover) in sorted(self.line_facts(ls.document_path(uri), text).items()):
            index = line - 1
            if not (range_.start.line <= index <= range_.end.line) or index >= len(lines):
                continue
            hints.append(types.InlayHint(
                position=types.Position(index, len(lines[index])),
                label=label, padding_left=True,
                tooltip=f"run {followed.id} ({followed.snapshot.state})"))
        return hints

    def hover(self, ls, uri: str, position: types.Position) -> str | None:
        facts = self.line_facts(ls.document_path(uri), ls.document_text(uri)).get(position.line + 1)
        return facts[2] if facts is not None else None

    def _runnable_line(self, ls, uri: str, text: str) -> int | None:
        version = ls.open_documents.get(uri)
        known = self.runnable.get(uri)
        if known is not None and known[0] == version:
            return known[1]
        line = runnable_line(text)
        self.runnable[uri] = (version, line)
        return line

    def code_lenses(self, ls, uri: str) -> list[types.CodeLens]:
        text = ls.document_text(uri)
        if text is None:
            return []
        line = self._runnable_line(ls, uri, text)
        if line is None:
            return []
        path = str(Path(ls.document_path(uri)).resolve())
        where = types.Range(types.Position(line, 0), types.Position(line, 0))
        followed = self.latest.get(path)
        run_lens = types.CodeLens(range=where, command=types.Command(
            title="▶ Run", command="ml-lsp.run", arguments=[{"uri": uri, "args": []}]))
        from ml_lsp.server.launchers import offered
        remote_lenses = [types.CodeLens(range=where, command=types.Command(
            title=f"▶ Run on {label}", command="ml-lsp.run", arguments=[{"uri": uri, "args": [], "launcher": name}]))
            for name, label in offered(ls)]
        snapshot = followed.snapshot if followed is not None else None
        if snapshot is None:
            return [run_lens, *remote_lenses]
        ref = [{"runId": followed.id}]
        if snapshot.active:
            lenses = [types.CodeLens(range=where, command=types.Command(title="■ Stop", command="ml-lsp.stop", arguments=ref))]
        else:
            lenses = [run_lens, *remote_lenses,
                      types.CodeLens(range=where, command=types.Command(title="⟳ Rerun", command="ml-lsp.rerun", arguments=ref))]
        lenses.append(types.CodeLens(range=where, command=types.Command(
            title=snapshot.lens_title(), command="ml-lsp.showRun", arguments=ref)))
        if followed.remote and followed.remote.get("dashboard"):
            label = followed.remote.get("label") or followed.remote.get("launcher")
            lenses.append(types.CodeLens(range=where, command=types.Command(
                title=f"{label} dashboard ↗", command="ml-lsp.showRun", arguments=[{**ref[0], "dashboard": True}])))
        return lenses

    # -- refresh requests ----------------------------------------------------------------
    def _send_refresh(self, what: str) -> None:
        caps = self.server.client_capabilities.workspace
        cap = getattr(caps, what, None) if caps is not None else None
        if cap is None or not getattr(cap, "refresh_support", False):
            return
        send = self.server.workspace_inlay_hint_refresh if what == "inlay_hint" \
            else self.server.workspace_code_lens_refresh
        try:
            send(None)
        except Exception:
            log.exception("%s refresh failed", what)

    # -- $/progress ----------------------------------------------------------------------
    def _supports_progress(self) -> bool:
        window = self.server.client_capabilities.window
        return bool(window is not None and window.work_done_progress)

    def _update_progress(self, followed: FollowedRun) -> None:
        """From the moment the run is queued to its end: the title names it, the message
        says what it does (queued, starting (importing torch…), the headline), cancel
        stops it."""
        if not self._supports_progress() or followed.retired:
            return
        snapshot = followed.snapshot
        if followed.progress_token is None:
            if snapshot.active:
                self._begin_progress(followed)
            return
        if not snapshot.active:
            self._end_progress(followed)
            return
        shown = (snapshot.progress_message(), snapshot.percentage)
        if shown == followed.progress_shown:
            return
        followed.progress_shown = shown
        self.server.work_done_progress.report(followed.progress_token, types.WorkDoneProgressReport(
            message=shown[0], percentage=shown[1], cancellable=True))

    def _begin_progress(self, followed: FollowedRun) -> None:
        token = f"ml-lsp-run-{followed.id}"
        if token in self.progress_tokens:
            return  # one progress per run, ever: a client rejects a token created twice
        self.progress_tokens.add(token)
        followed.progress_token = token
        progress = self.server.work_done_progress

        def created(*_args) -> None:
            if followed.progress_token != token:
                return
            snapshot = followed.snapshot
            followed.progress_shown = (snapshot.progress_message(), snapshot.percentage)
            progress.begin(token, types.WorkDoneProgressBegin(
                title=f"Run {followed.name}", cancellable=True, message=followed.progress_shown[0],
                percentage=snapshot.percentage or 0))
            future = progress.tokens.get(token)
            if future is not None:
                future.add_done_callback(lambda f: f.cancelled() and self._cancelled(followed))
            if not snapshot.active:  # it ended while the client was creating the token
                self._end_progress(followed)

        try:
            progress.create(token, created)
        except Exception:
            log.exception("cannot create progress for run %s", followed.id)

    def _end_progress(self, followed: FollowedRun) -> None:
        token, followed.progress_token = followed.progress_token, None
        if token is None or token not in self.server.work_done_progress.tokens:
            return  # not begun yet: `created` ends it
        snapshot = followed.snapshot
        self.server.work_done_progress.end(token, types.WorkDoneProgressEnd(
            message=snapshot.lens_title() if snapshot is not None else followed.state))
        self.server.work_done_progress.tokens.pop(token, None)

    def _cancelled(self, followed: FollowedRun) -> None:
        """The user cancelled the run's progress: stop the job."""
        if followed.state in ACTIVE and self.runs_dir is not None:
            from ml_lsp import runner
            try:
                runner.stop(followed.id, self.runs_dir)
            except Exception as exc:
                log.warning("cannot stop run %s: %s", followed.id, exc)

    # -- the end of a run: a notification with what to do next ---------------------------
    def end_message(self, followed: FollowedRun) -> tuple[types.MessageType, str, list[str]]:
        snapshot = followed.snapshot
        took = f" in {format_duration(snapshot.duration)}" if snapshot.duration is not None else ""
        if snapshot.state == "succeeded":
            text = f"ml-lsp: {followed.name} succeeded{took}" + (f" · {snapshot.headline}" if snapshot.headline else "")
            return types.MessageType.Info, text, [SHOW_LOG, RERUN]
        exception = followed.summary.exception
        if snapshot.state == "lost":
            text = f"ml-lsp: {followed.name} was lost: its runner stopped watching it"
        elif exception is not None:
            where = user_frame(exception.get("frames") or [], self.server.root, followed.script)
            at = f" ({Path(where['file']).name}:{where['line']})" if where and isinstance(where.get("line"), int) else ""
            text = (f"ml-lsp: {followed.name} failed{took}: {exception.get('type')}: "
                    f"{_shorten(str(exception.get('message') or ''), 200)}{at}")
        else:
            code = followed.status.get("exit_code")
            text = f"ml-lsp: {followed.name} failed{took}" + (f" (exit status {code})" if code is not None else "")
        actions = [SHOW_TRACEBACK, SHOW_LOG, RERUN] if exception is not None else [SHOW_LOG, RERUN]
        return types.MessageType.Error, text, actions

    def _notify_end(self, followed: FollowedRun) -> None:
        """A run this server watched has succeeded, failed or been lost: say so, with
        Show traceback / Show log / Rerun (a stopped run was the user's own doing)."""
        if followed.notified or followed.retired or followed.state not in ("succeeded", "failed", "lost"):
            return
        followed.notified = True
        how = str(self.server.settings.get("run_notifications") or "actions")
        if how == "off":
            return
        kind, text, actions = self.end_message(followed)
        if how == "message":
            self.server.window_show_message(types.ShowMessageParams(
                type=kind, message=f"{text} (ml-lsp.showRun, ml-lsp.rerun: run {followed.id})"))
            return
        if self.loop is not None:
            self.loop.create_task(self._ask_end(followed, kind, text, actions))

    async def _ask_end(self, followed: FollowedRun, kind, text: str, actions: list[str]) -> None:
        try:
            choice = await self.server.window_show_message_request_async(types.ShowMessageRequestParams(
                type=kind, message=text, actions=[types.MessageActionItem(title=a) for a in actions]))
        except Exception as exc:
            log.info("end-of-run notification for %s: %s", followed.id, exc)
            return
        title = getattr(choice, "title", None)
        try:
            if title == SHOW_LOG:
                await self.show_log(followed.run, "stdout")
            elif title == SHOW_TRACEBACK:
                await self.show_log(followed.run, "stderr", traceback=True)
            elif title == RERUN:
                await self.rerun(followed.id)
        except Exception as exc:  # a refused rerun (trust), a run folder gone...
            log.warning("%s for run %s: %s", title, followed.id, exc)
            self.server.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Error, message=f"ml-lsp: {title}: {exc}"))

    async def show_log(self, run, stream: str, traceback: bool = False) -> str:
        """Open the run's log (``stdout``/``stderr``); with ``traceback``, at the last
        traceback it holds. Returns the log's uri."""
        path = run.stderr_path if stream == "stderr" else run.stdout_path
        if not path.exists():
            path = run.stdout_path
        uri = from_fs_path(str(path))
        selection = None
        if traceback:
            text = _read_source(str(path))
            starts = [i for i, line in enumerate(text.splitlines()) if line.startswith("Traceback (most recent call last)")]
            if starts:
                selection = types.Range(types.Position(starts[-1], 0), types.Position(starts[-1], 0))
        try:
            await self.server.window_show_document_async(types.ShowDocumentParams(
                uri=uri, take_focus=True, selection=selection))
        except Exception as exc:  # a client without showDocument: the uri is still returned
            log.info("showDocument failed: %s", exc)
        return uri

    async def rerun(self, run_id: Any) -> dict:
        old = self.run_folder_for(run_id)
        self._ensure_started()
        await self.server.trust.require(CODE_RUNNING["ml-lsp.rerun"])
        from ml_lsp import runner
        script = old.spec().get("script")
        if isinstance(script, str):
            self.clear_diagnostics_of(script)
        try:
            run = await asyncio.get_running_loop().run_in_executor(None, runner.rerun, old, self.runs_dir)
        except (runner.SpecError, runner.ForeignRun) as exc:
            raise JsonRpcInvalidParams(str(exc)) from None
        self.schedule()
        return {"runId": run.id}

    # -- diagnostics ---------------------------------------------------------------------
    def _update_diagnostics(self, followed: FollowedRun) -> None:
        exception = followed.summary.exception
        if followed.diagnosed or followed.retired or exception is None or followed.state in ACTIVE:
            return
        self._publish_crash(followed)

    def _publish_crash(self, followed: FollowedRun) -> None:
        """The exception as an error on the user's innermost line, its related rows the
        user's own frames (the workspace's files, in traceback order), and the frames in
        libraries only once asked for (the "Show library frames" code action)."""
        exception = followed.summary.exception
        frames = exception.get("frames") or []
        root = self.server.root
        target = user_frame(frames, root, followed.script)
        if target is None or not isinstance(target.get("line"), int):
            return
        uri = from_fs_path(target["file"])
        line = self._now_line(followed, target["file"], target["line"]) - 1
        out_of_memory = is_out_of_memory(exception)
        message = f"{exception.get('type')}: {exception.get('message')}"
        if out_of_memory:
            message = (f"Out of memory in run {followed.id}: {exception.get('message')}\n"
                       "Try a smaller batch size, or mixed precision (torch.autocast with "
                       "bfloat16/float16), or gradient accumulation.")
        else:
            message += f"\n(run {followed.id} failed here)"
        mine, libraries = traceback_frames(frames, root)
        shown = mine + (libraries if followed.library_frames else [])
        related = []
        for f in shown:
            library = f in libraries
            row = (self._now_line(followed, f["file"], f["line"]) if not library else f["line"]) - 1
            where = f"in {f.get('function', '?')}" + (f" ({_library_path(f['file'])})" if library else "")
            related.append(types.DiagnosticRelatedInformation(
                location=types.Location(from_fs_path(f["file"]), _line_range(f["file"], row, self.server)),
                message=where))
        diagnostic = types.Diagnostic(
            range=_line_range(target["file"], line, self.server), message=message,
            severity=types.DiagnosticSeverity.Error, source=RUN_SOURCE,
            code="out-of-memory" if out_of_memory else "run-failed",
            related_information=related or None,
            data={"runId": followed.id, "libraryFrames": len(libraries), "shown": followed.library_frames})
        followed.diagnosed.add(uri)
        log.info("run %s failed at %s:%d", followed.id, target["file"], target["line"])
        self.server.publish_diagnostics(uri, DIAGNOSTICS_KEY, [diagnostic])

    def _now_line(self, followed: FollowedRun, path: str, line: int) -> int:
        """A traceback line, as the job ran the file, in the open document now (the line
        as recorded when the document is not open or the line itself was edited)."""
        text = self.server.document_text(from_fs_path(path))
        return self.current_line(followed, path, line, text) or line

    def show_library_frames(self, run_id: str, shown: bool) -> None:
        for followed in self.latest.values():
            if followed.id == run_id and followed.diagnosed:
                followed.library_frames = shown
                self._publish_crash(followed)
                return

    def code_actions(self, ls, params: types.CodeActionParams) -> list[types.CodeAction]:
        """On a run's crash: show (or hide) its library frames, and the static check's own
        fix when it flags the crashing line (a shape error it proved, say)."""
        uri = params.text_document.uri
        crashes = [d for d in (params.context.diagnostics if params.context else []) if d.source == RUN_SOURCE]
        if not crashes:
            crashes = [d for d in self.server._diagnostics.get(uri, {}).get(DIAGNOSTICS_KEY, [])
                       if d.range.start.line <= params.range.end.line and d.range.end.line >= params.range.start.line]
        actions = []
        for crash in crashes:
            data = crash.data if isinstance(crash.data, dict) else {}
            run_id, hidden = data.get("runId"), data.get("libraryFrames") or 0
            if isinstance(run_id, str) and hidden:
                shown = bool(data.get("shown"))
                actions.append(types.CodeAction(
                    title=f"Hide library frames of run {run_id}" if shown else
                    f"Show library frames ({hidden}) of run {run_id}",
                    kind=types.CodeActionKind.QuickFix, diagnostics=[crash],
                    command=types.Command(title="library frames", command="ml-lsp.showLibraryFrames",
                                          arguments=[{"runId": run_id, "shown": not shown}])))
            lint = getattr(ls, "diagnostics_feature", None)
            for title, edit in (lint.fixes_on_line(uri, crash.range.start.line) if lint is not None else []):
                actions.append(types.CodeAction(
                    title=f"{title}: the static check's fix for this crash", kind=types.CodeActionKind.QuickFix,
                    diagnostics=[crash], is_preferred=True, edit=edit))
        return actions

    # -- commands ------------------------------------------------------------------------
    def run_folder_for(self, run_id: Any):
        if not isinstance(run_id, str) or not run_id:
            raise JsonRpcInvalidParams('expected [{"runId": ID}] with the id ml-lsp.run returned')
        from ml_lsp import runner
        try:
            return runner.resolve(run_id, self.runs_dir)
        except runner.RunNotFound as exc:
            raise JsonRpcInvalidParams(str(exc)) from None

    def clear_diagnostics_of(self, script: str) -> None:
        followed = self.latest.get(script)
        if followed is not None:
            self._retire(followed)


SHOW_LOG, SHOW_TRACEBACK, RERUN = "Show log", "Show traceback", "Rerun"
RUN_SOURCE = "ml-lsp run"


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _library_path(path: str) -> str:
    """``torch/nn/modules/linear.py`` for a file under site-packages, else the file's name."""
    parts = Path(path).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return "/".join(parts[parts.index(marker) + 1:])
    return Path(path).name


def _line_range(path: str, line: int, server=None) -> types.Range:
    """The text of ``line`` (0-based) without its indentation; the whole line when the file
    cannot be read."""
    text = None
    if server is not None:
        text = server.document_text(from_fs_path(path))
    if text is None:
        text = _read_source(path)
    lines = text.splitlines()
    if 0 <= line < len(lines):
        content = lines[line]
        start = len(content) - len(content.lstrip())
        return types.Range(types.Position(line, start), types.Position(line, len(content)))
    return types.Range(types.Position(max(line, 0), 0), types.Position(max(line, 0), 0))


MAX_RELATED_FRAMES = 20  # traceback rows shown under a crash diagnostic (the innermost)
MAX_SOURCE_BYTES = 4 << 20  # a frame names a source file; a bigger one is not source


def _read_source(path: str) -> str:
    """The text of a file a run's frames name (its traceback), for a diagnostic's range:
    "" unless it is a regular file of at most MAX_SOURCE_BYTES. The frames are the run
    folder's, anyone's input: they may name /dev/zero or a FIFO."""
    import stat
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return ""
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SOURCE_BYTES:
            return ""
        return f.read(MAX_SOURCE_BYTES).decode("utf-8", errors="replace")


async def _show_dashboard(ls, run) -> dict:
    """Open the cluster's page for a run in the browser: the address from the run's sealed
    spec, never from a file a repository could have written."""
    from ml_lsp.runner.jobs import remote_record
    remote = remote_record(run)
    url = (remote or {}).get("dashboard")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise JsonRpcInvalidParams(f"run {run.id} has no cluster dashboard")
    try:
        await ls.window_show_document_async(types.ShowDocumentParams(uri=url, external=True))
    except Exception as exc:  # a client without showDocument: the url is still returned
        log.info("showDocument failed: %s", exc)
    return {"runId": run.id, "uri": url}


def _first_arg(args: tuple, what: str) -> dict:
    if not args or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams(f"expected [{what}] as the command's arguments")
    return args[0]


def register(server) -> None:
    view = RunsView(server)
    server.runs_view = view
    server.on_settings_changed(view.configure)
    if hasattr(server, "on_initialized"):
        server.on_initialized(view._ensure_started)
    server.inlay_hint_providers.append(view.inlay_hints)
    server.hover_providers.append(view.hover)
    server.code_lens_providers.append(view.code_lenses)
    server.code_action_providers.append(view.code_actions)

    @server.command("ml-lsp.run")
    async def run_script(ls, *args):
        arg = _first_arg(args, '{"uri": SCRIPT_URI, "args": [...], "launcher"?: NAME}')
        uri, script_args = arg.get("uri"), arg.get("args") or []
        launcher = arg.get("launcher") or "local"
        if not isinstance(uri, str) or not isinstance(script_args, list) or not isinstance(launcher, str):
            raise JsonRpcInvalidParams('expected [{"uri": SCRIPT_URI, "args": [...], "launcher"?: NAME}]')
        view._ensure_started()
        await ls.trust.require(CODE_RUNNING["ml-lsp.run"])
        from ml_lsp import runner
        from ml_lsp.server.launchers import prepare
        path = ls.document_path(uri)
        try:
            spec = runner.make_spec(path, [str(a) for a in script_args],
                                    cwd=str(ls.root or Path(path).parent),
                                    devices=ls.settings.get("devices") or "auto", launcher=launcher)
        except runner.SpecError as exc:
            raise JsonRpcInvalidParams(str(exc)) from None
        # A cluster launcher checks its settings, and asks before sending the workspace to a
        # cluster the repository named (on top of the trust asked above).
        spec = await prepare(ls, spec, launcher, {"runs_dir": str(view.runs_dir)})
        view.clear_diagnostics_of(spec["script"])
        run = await asyncio.get_running_loop().run_in_executor(None, runner.submit, spec, view.runs_dir)
        view.schedule()
        return {"runId": run.id}

    @server.command("ml-lsp.stop")
    async def stop_run(ls, *args):
        run = view.run_folder_for(_first_arg(args, '{"runId": ID}').get("runId"))
        from ml_lsp import runner
        try:
            state = await asyncio.get_running_loop().run_in_executor(None, runner.stop, run, view.runs_dir)
        except runner.ForeignRun as exc:
            raise JsonRpcInvalidParams(str(exc)) from None
        view.schedule()
        return {"runId": run.id, "state": state}

    @server.command("ml-lsp.rerun")
    async def rerun_run(ls, *args):
        return await view.rerun(_first_arg(args, '{"runId": ID}').get("runId"))

    @server.command("ml-lsp.showLibraryFrames")
    def show_library_frames(ls, *args):
        """The crash diagnostic of a run with (``shown``: true) or without its frames in
        installed libraries (torch's own modules, say)."""
        arg = _first_arg(args, '{"runId": ID, "shown": true}')
        if not isinstance(arg.get("runId"), str):
            raise JsonRpcInvalidParams('expected [{"runId": ID, "shown": true}]')
        view.show_library_frames(arg["runId"], bool(arg.get("shown", True)))
        return {"runId": arg["runId"], "shown": bool(arg.get("shown", True))}

    @server.command("ml-lsp.untrust")
    async def untrust(ls, *args):
        """Forget that this workspace was trusted: the next run asks again."""
        root = str(ls.root or "")
        try:
            was = ls.trust.forget()
        except OSError as exc:
            raise JsonRpcInternalError(f"cannot update {trust_file()}: {exc}") from None
        ls.window_show_message(types.ShowMessageParams(
            type=types.MessageType.Info,
            message=f"ml-lsp: {root or 'this workspace'} is no longer trusted; the next run asks again."))
        return {"root": root, "wasTrusted": was}

    @server.command("ml-lsp.showRun")
    async def show_run(ls, *args):
        """Open the run's log: ``stream`` "stdout" or "stderr" (default: stderr for a
        failed run), ``traceback``: at the last traceback in it; ``dashboard``: the
        cluster's page for a run on a cluster."""
        arg = _first_arg(args, '{"runId": ID, "stream"?: "stdout"|"stderr", "traceback"?: true, "dashboard"?: true}')
        run = view.run_folder_for(arg.get("runId"))
        if arg.get("dashboard"):
            return await _show_dashboard(ls, run)
        stream = arg.get("stream") or ("stderr" if run.status().get("state") == "failed" else "stdout")
        uri = await view.show_log(run, stream, traceback=bool(arg.get("traceback")))
        return {"runId": run.id, "uri": uri}
