"""Training runs in the editor: code lenses to run/stop/rerun a script, live metrics as
inlay hints on the lines that produced them, hovers with a sparkline, ``$/progress`` per
running job, and a failed run's exception as a diagnostic on the user's line.

The run folders are the truth (see docs/run-folder.md): this module follows them with
watchdog plus a slow re-read timer, keeps for the latest run of each script a
``RunSummary`` (latest values and a downsampled series, never every frame), and turns that
into LSP. Jobs are started and stopped through ``ml_lsp.runner``'s Python API; the runner
process outlives this server. Never imports torch.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import logging
import os
import re
import time
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


def loop_label(loop, running: bool) -> str:
    total = f"/{loop.total}" if loop.total else ""
    parts = [f"{loop.unit} {loop.current}{total}"]
    rate = loop.rate()
    if rate:
        parts.append(f"{format_duration(1 / rate)}/{loop.unit}" if rate < 1 else f"{format_rate(rate)} {loop.unit}/s")
    eta = loop.eta()
    if running and eta is not None and loop.total and loop.current is not None and loop.current < loop.total:
        parts.append(f"ETA {format_duration(eta)}")
    return " · ".join(parts)


def user_frame(frames: list[dict], root: Path | None, script: str | None) -> dict | None:
    """The innermost traceback frame in the user's workspace (not an installed library);
    the innermost one in the script itself when none is."""
    def is_workspace(path: str) -> bool:
        if "site-packages" in path or "dist-packages" in path or path.startswith("<"):
            return False
        return root is None or _inside(path, root)

    for frame in reversed(frames):
        if isinstance(frame, dict) and isinstance(frame.get("file"), str) and is_workspace(frame["file"]):
            return frame
    for frame in reversed(frames):
        if isinstance(frame, dict) and frame.get("file") == script:
            return frame
    return None


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
        self.summary = RunSummary()
        self.reader = FrameReader(run.frames_path)
        self.status: dict = {}
        self.state = "queued"
        self.loading = True  # the first read (maybe a million frames) runs off the event loop
        self.partial = False  # showing the tail of a big run while the whole file is read
        self.frames_seen = -1
        self.progress_token: str | None = None
        self.progress_sent = 0.0
        self.diagnosed: set[str] = set()  # uris this run's exception was published on
        self.retired = False  # a newer run of the script replaced it (or is being started)

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

    def percentage(self) -> int | None:
        loops = self.summary.loops
        epoch = self.summary.progress
        if epoch is None or not epoch.total or epoch.current is None:
            return None
        done = epoch.current - 1 if epoch.unit == "epoch" else epoch.current
        if epoch.unit == "epoch":  # add the fraction of the current epoch the batches say
            inner = [p for p in loops.values() if p is not epoch and p.unit in ("batch", "step")
                     and p.total and p.current is not None and p.rank == epoch.rank]
            if inner:
                newest = max(inner, key=lambda p: p.time or 0)
                done += min(1.0, newest.current / newest.total)
            if self.state not in ACTIVE:
                done = epoch.current
        return max(0, min(100, int(100 * done / epoch.total)))

    def headline(self) -> str:
        """``epoch 3/10 · loss 0.231``: the progress and the first metrics."""
        parts = []
        if self.summary.progress is not None:
            p = self.summary.progress
            parts.append(f"{p.unit} {p.current}" + (f"/{p.total}" if p.total else ""))
        for metric in self.summary.shown_metrics()[:3]:
            if not metric.name.endswith("/s"):
                parts.append(f"{metric.name} {format_value(metric.last)}")
        return " · ".join(parts)


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
        self.last_inlay_refresh = 0.0
        self.inlay_refresh_due: asyncio.TimerHandle | None = None
        self.last_lens_refresh = 0.0
        self.timer: asyncio.Task | None = None
        self.progress_tokens: set[str] = set()  # every $/progress token created

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

    # -- re-reading ---------------------------------------------------------------------
    def refresh(self) -> None:
        if self.runs_dir is None:
            return
        self._watch()
        self._find_latest_runs()
        hints_changed = lenses_changed = False
        for followed in list(self.latest.values()):
            if followed.loading:
                continue
            before_state = followed.state
            if followed.state in ACTIVE or followed.frames_seen < 0:
                followed.read_status()
            followed.summary.follow(followed.reader)
            shown = followed.summary.shown_frames()
            if shown != followed.frames_seen:
                followed.frames_seen = shown
                hints_changed = True
            if followed.state != before_state:
                lenses_changed = hints_changed = True
            self._update_progress(followed)
            self._update_diagnostics(followed)
        if hints_changed:
            self.request_inlay_refresh()
        now = time.monotonic()
        if lenses_changed or (hints_changed and now - self.last_lens_refresh > 2.0):
            self.last_lens_refresh = now
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
                self._send_refresh("code_lens")

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

    # -- inlay hints, hovers, code lenses ------------------------------------------------
    def newest_runs(self) -> list[FollowedRun]:
        """The latest run of each script, newest first (a file that several scripts use
        shows the newest run's values)."""
        runs = [r for r in self.latest.values() if not r.loading]
        runs.sort(key=lambda r: (r.spec.get("created") or 0, r.id), reverse=True)
        return runs

    def line_facts(self, path: str, text: str | None = None) -> dict[int, tuple[FollowedRun, list, list]]:
        """1-based line -> (run, loops, metrics) for the newest run reporting that line.
        With the document's ``text``, a line edited since the run is looked for where it
        went (lines added or removed above it); one whose text is gone shows nothing."""
        path = real_path(path)
        lines = text.splitlines() if text is not None else None
        facts: dict[int, tuple[FollowedRun, list, list]] = {}
        for followed in self.newest_runs():
            summary = followed.summary
            reported: dict[tuple[str, int], tuple[list, list]] = {}
            for loop in summary.loops.values():
                if loop.rank == 0 and isinstance(loop.line, int) and real_path(loop.path) == path:
                    reported.setdefault((loop.path, loop.line), ([], []))[0].append(loop)
            for metric in summary.shown_metrics():
                if isinstance(metric.line, int) and real_path(metric.path) == path:
                    reported.setdefault((metric.path, metric.line), ([], []))[1].append(metric)
            for (recorded_path, line), (loops, metrics) in reported.items():
                if lines is not None:
                    line = relocate(line, summary.sources.get((recorded_path, line)), lines)
                    if line is None:
                        continue
                facts.setdefault(line, (followed, loops, metrics))
        return facts

    def inlay_hints(self, ls, uri: str, range_: types.Range) -> list[types.InlayHint]:
        if not ls.settings.get("inlay_hints_metrics", True):
            return []
        text = ls.document_text(uri)
        if text is None:
            return []
        lines = text.splitlines()
        hints = []
        for line, (followed, loops, metrics) in sorted(self.line_facts(ls.document_path(uri), text).items()):
            index = line - 1
            if not (range_.start.line <= index <= range_.end.line) or index >= len(lines):
                continue
            running = followed.state in ACTIVE
            parts = [loop_label(loop, running) for loop in sorted(loops, key=lambda l: l.unit)]
            parts += [metric_label(m) for m in metrics]
            hints.append(types.InlayHint(
                position=types.Position(index, len(lines[index])),
                label=" · ".join(parts), padding_left=True,
                tooltip=f"run {followed.id} ({followed.state})"))
        return hints

    def hover(self, ls, uri: str, position: types.Position) -> str | None:
        facts = self.line_facts(ls.document_path(uri), ls.document_text(uri)).get(position.line + 1)
        if facts is None:
            return None
        followed, loops, metrics = facts
        out = [f"**run** `{followed.id}` · {followed.state}"]
        for loop in loops:
            out.append(f"- {loop_label(loop, followed.state in ACTIVE)}")
        for m in metrics:
            values = [v for _, v in m.series]
            out.append(f"- **{m.name}** `{sparkline(values)}` last {format_value(m.last)}"
                       f" · min {format_value(m.min)} · max {format_value(m.max)}"
                       f" · step {m.step if m.step is not None else m.count}")
        return "\n".join(out)

    def code_lenses(self, ls, uri: str) -> list[types.CodeLens]:
        text = ls.document_text(uri)
        if text is None:
            return []
        line = runnable_line(text)
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
        if followed is None:
            return [run_lens, *remote_lenses]
        ref = [{"runId": followed.id}]
        if followed.state in ACTIVE:
            lenses = [types.CodeLens(range=where, command=types.Command(title="■ Stop", command="ml-lsp.stop", arguments=ref))]
            status = f"{followed.state} {format_duration(followed.duration())}"
        else:
            lenses = [run_lens, *remote_lenses,
                      types.CodeLens(range=where, command=types.Command(title="⟳ Rerun", command="ml-lsp.rerun", arguments=ref))]
            status = f"{followed.state}"
            duration = followed.duration()
            if duration is not None:
                status += f" in {format_duration(duration)}"
        headline = followed.headline()
        title = status + followed.where() + (f" · {headline}" if headline else "")
        lenses.append(types.CodeLens(range=where, command=types.Command(title=title, command="ml-lsp.showRun", arguments=ref)))
        if followed.remote and followed.remote.get("dashboard"):
            label = followed.remote.get("label") or followed.remote.get("launcher")
            lenses.append(types.CodeLens(range=where, command=types.Command(
                title=f"{label} dashboard ↗", command="ml-lsp.showRun", arguments=[{**ref[0], "dashboard": True}])))
        return lenses

    # -- refresh requests (throttled) ----------------------------------------------------
    def request_inlay_refresh(self) -> None:
        caps = self.server.client_capabilities.workspace
        if caps is None or caps.inlay_hint is None or not caps.inlay_hint.refresh_support:
            return
        if self.inlay_refresh_due is not None:
            return  # one is already on its way
        wait = self.last_inlay_refresh + REFRESH_INTERVAL - time.monotonic()
        if wait <= 0 or self.loop is None:
            self._send_inlay_refresh()
        else:
            self.inlay_refresh_due = self.loop.call_later(wait, self._send_inlay_refresh)

    def _send_inlay_refresh(self) -> None:
        self.inlay_refresh_due = None
        self.last_inlay_refresh = time.monotonic()
        self._send_refresh("inlay_hint")

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
        if not self._supports_progress():
            return
        active = followed.state in ACTIVE
        if followed.progress_token is None:
            if active and followed.state != "queued":
                self._begin_progress(followed)
            return
        if not active:
            self._end_progress(followed)
            return
        now = time.monotonic()
        if now - followed.progress_sent < REFRESH_INTERVAL:
            return
        followed.progress_sent = now
        self.server.work_done_progress.report(followed.progress_token, types.WorkDoneProgressReport(
            message=followed.headline() or followed.state, percentage=followed.percentage(),
            cancellable=True))

    def _begin_progress(self, followed: FollowedRun) -> None:
        token = f"ml-lsp-run-{followed.id}"
        if token in self.progress_tokens:
            return  # one progress per run, ever: a client rejects a token created twice
        self.progress_tokens.add(token)
        followed.progress_token = token
        progress = self.server.work_done_progress
        name = followed.spec.get("name") or Path(followed.script or "run").stem

        def created(*_args) -> None:
            if followed.progress_token != token:
                return
            progress.begin(token, types.WorkDoneProgressBegin(
                title=f"Run {name}", cancellable=True, message=followed.headline() or followed.state,
                percentage=followed.percentage() or 0))
            future = progress.tokens.get(token)
            if future is not None:
                future.add_done_callback(lambda f: f.cancelled() and self._cancelled(followed))

        try:
            progress.create(token, created)
        except Exception:
            log.exception("cannot create progress for run %s", followed.id)

    def _end_progress(self, followed: FollowedRun) -> None:
        token, followed.progress_token = followed.progress_token, None
        message = followed.state
        duration = followed.duration()
        if duration is not None:
            message += f" in {format_duration(duration)}"
        headline = followed.headline()
        if headline:
            message += f" · {headline}"
        self.server.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
        self.server.work_done_progress.tokens.pop(token, None)

    def _cancelled(self, followed: FollowedRun) -> None:
        """The user cancelled the run's progress: stop the job."""
        if followed.state in ACTIVE and self.runs_dir is not None:
            from ml_lsp import runner
            try:
                runner.stop(followed.id, self.runs_dir)
            except Exception as exc:
                log.warning("cannot stop run %s: %s", followed.id, exc)

    # -- diagnostics ---------------------------------------------------------------------
    def _update_diagnostics(self, followed: FollowedRun) -> None:
        exception = followed.summary.exception
        if followed.diagnosed or followed.retired or exception is None or followed.state in ACTIVE:
            return
        frames = exception.get("frames") or []
        root = self.server.root
        target = user_frame(frames, root, followed.script)
        if target is None or not isinstance(target.get("line"), int):
            return
        uri = from_fs_path(target["file"])
        line = max(0, target["line"] - 1)
        message = f"{exception.get('type')}: {exception.get('message')}"
        if is_out_of_memory(exception):
            message = (f"Out of memory in run {followed.id}: {exception.get('message')}\n"
                       "Try a smaller batch size, or mixed precision (torch.autocast with "
                       "bfloat16/float16), or gradient accumulation.")
        else:
            message += f"\n(run {followed.id} failed here)"
        related = [types.DiagnosticRelatedInformation(
            location=types.Location(from_fs_path(f["file"]), _line_range(f["file"], f["line"] - 1)),
            message=f"in {f.get('function', '?')}")
            for f in frames[-MAX_RELATED_FRAMES:] if isinstance(f, dict) and isinstance(f.get("file"), str)
            and isinstance(f.get("line"), int) and f["line"] >= 1 and not f["file"].startswith("<")]
        diagnostic = types.Diagnostic(
            range=_line_range(target["file"], line, self.server), message=message,
            severity=types.DiagnosticSeverity.Error, source="ml-lsp run",
            code="out-of-memory" if is_out_of_memory(exception) else "run-failed",
            related_information=related or None)
        followed.diagnosed.add(uri)
        log.info("run %s failed at %s:%d", followed.id, target["file"], target["line"])
        self.server.publish_diagnostics(uri, DIAGNOSTICS_KEY, [diagnostic])

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
        old = view.run_folder_for(_first_arg(args, '{"runId": ID}').get("runId"))
        view._ensure_started()
        await ls.trust.require(CODE_RUNNING["ml-lsp.rerun"])
        from ml_lsp import runner
        script = old.spec().get("script")
        if isinstance(script, str):
            view.clear_diagnostics_of(script)
        try:
            run = await asyncio.get_running_loop().run_in_executor(None, runner.rerun, old, view.runs_dir)
        except (runner.SpecError, runner.ForeignRun) as exc:
            raise JsonRpcInvalidParams(str(exc)) from None
        view.schedule()
        return {"runId": run.id}

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
        arg = _first_arg(args, '{"runId": ID, "dashboard"?: true}')
        run = view.run_folder_for(arg.get("runId"))
        if arg.get("dashboard"):
            return await _show_dashboard(ls, run)
        log_path = run.stderr_path if run.status().get("state") == "failed" else run.stdout_path
        if not log_path.exists():
            log_path = run.stdout_path
        uri = from_fs_path(str(log_path))
        try:
            await ls.window_show_document_async(types.ShowDocumentParams(uri=uri, take_focus=True))
        except Exception as exc:  # a client without showDocument: the uri is still returned
            log.info("showDocument failed: %s", exc)
        return {"runId": run.id, "uri": uri}
