"""Shape facts per document version, shared by every feature that needs them (hover,
inlay hints, diagnostics), so one edit costs one analysis.

- Computed off the event loop, in a small pool of worker threads, so that a document that
  is slow to analyse never holds up the requests of another; a request for a version
  being computed waits for that computation instead of starting another.
- Bounded: each analysis has a time budget (``TIME_BUDGET_S``; what is not reached by then
  is left unknown) and is abandoned when nobody wants it any more: the document changed
  again, or every request waiting for it was cancelled (``$/cancelRequest``).
- Keyed by the text's hash plus the inputs that change the answer (explicit inputs from the
  settings, the unsaved text of the workspace files it imports), so a result is reused
  across features and dropped when any of those change.
- ``latest(uri)`` answers at once with the newest finished result, even for an older
  version: a hover never waits behind an analysis.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

log = logging.getLogger(__name__)

_MAX_ENTRIES = 64
# A few threads: documents are analysed side by side (the GIL shares the CPU between them,
# so a small file's analysis is slowed, never queued, by a big one next to it).
ANALYSIS_THREADS = 4
# Wall-clock budget of one document's analysis; the units not finished by then are unknown.
TIME_BUDGET_S = 5.0
# A request whose document keeps changing under it restarts at most this often.
_MAX_RESTARTS = 3


@dataclass
class AnalysedVersion:
    uri: str
    version: int
    text: str
    facts: Any  # ml_lsp.analysis.ModuleFacts
    imports: frozenset  # real paths of the workspace files the engine read
    callers_key: tuple = ()  # the workspace callers (path, text hash) the analysis took inputs from

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


@dataclass(eq=False)
class _Job:
    """One analysis in progress and who waits for it: requests and the diagnostics run
    (``wanted``), and the background refresh after an edit (``watchers``), which keeps
    an analysis going only while nothing else has given up on it."""
    uri: str
    text: str
    future: Future = field(default_factory=Future)
    cancel: threading.Event = field(default_factory=threading.Event)
    wanted: int = 0
    watchers: int = 0


class ShapeFactsCache:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.executor = ThreadPoolExecutor(max_workers=ANALYSIS_THREADS, thread_name_prefix="ml-lsp-shapes")
        self.time_budget_s = TIME_BUDGET_S
        self._lock = threading.Lock()
        self._memo: "OrderedDict[tuple, tuple[Any, frozenset]]" = OrderedDict()
        self._running: dict[tuple, _Job] = {}
        self._latest: dict[str, AnalysedVersion] = {}
        self.listeners: list[Callable[[AnalysedVersion], None]] = []  # on each new result
        # (path, text) -> [(caller path, caller text)]: the workspace files that call this
        # file's models (server/workspace_calls.py sets it once its index is built)
        self.callers_for: Optional[Callable[[str, str], list]] = None

    # What the analysis depends on ------------------------------------------------------
    def _explicit_inputs(self, text: str) -> tuple[Optional[str], Optional[dict]]:
        """The ``inputs`` setting maps a class (or function) to its forward's input
        shapes, e.g. ``{"Net": {"x": "B,1,28,28"}}``; use the first class in this file."""
        table = self.server.settings.get("inputs") or {}
        if not isinstance(table, dict):
            return None, None
        from ml_lsp.analysis.dims import parse_inputs

        for entry, params in table.items():
            if (f"class {entry}" in text or f"def {entry}" in text) and isinstance(params, dict):
                try:
                    return entry, parse_inputs(params)
                except ValueError as exc:
                    log.warning("settings: inputs for %s ignored: %s", entry, exc)
        return None, None

    def _overlay(self, uri: str) -> dict[str, str]:
        ls = self.server
        oversized = getattr(ls, "oversized", {})
        return {os.path.realpath(ls.document_path(u)): t for u in list(ls.open_documents)
                if u != uri and u not in oversized and (t := ls.document_text(u)) is not None}

    def _callers(self, path: str, text: str) -> list:
        if self.callers_for is None or not path:
            return []
        try:
            return self.callers_for(path, text)
        except Exception:
            log.exception("workspace call sites of %s", path)
            return []

    def _key(self, path: str, text: str, entry, inputs, overlay, callers=()) -> tuple:
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        over = tuple(sorted((p, hash(t)) for p, t in overlay.items()))
        return (path, digest, entry, repr(inputs), over, _callers_key(callers))

    # Computing --------------------------------------------------------------------------
    def _join(self, uri: str, text: str, overlay: dict[str, str], background: bool = False,
              callers=None) -> tuple[tuple, _Job]:
        """The job computing this text's facts (a finished one from the memo, the one in
        progress, or a new one in the pool), with one more waiter counted on it."""
        path = self.server.document_path(uri)
        entry, inputs = self._explicit_inputs(text)
        callers = self._callers(path, text) if callers is None else callers
        key = self._key(path, text, entry, inputs, overlay, callers)
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                job = _Job(uri, text)
                job.future.set_result(self._memo[key])
            else:
                job = self._running.get(key)
                if job is None:
                    job = _Job(uri, text)
                    self._running[key] = job
                    self.executor.submit(self._run, key, job, path, entry, inputs, overlay, callers)
            if background:
                job.watchers += 1
            else:
                job.wanted += 1
        return key, job

    def _leave(self, key: tuple, job: _Job, background: bool = False) -> None:
        """One waiter less. An unfinished job is abandoned when the last request waiting
        for it leaves (it was cancelled), or when nobody at all waits any more."""
        with self._lock:
            if background:
                job.watchers -= 1
            else:
                job.wanted -= 1
            if not job.future.done() and job.wanted <= 0 and (not background or job.watchers <= 0):
                self._abandon(key, job)

    def _abandon(self, key: tuple, job: _Job) -> None:  # under the lock
        job.cancel.set()
        if self._running.get(key) is job:
            del self._running[key]  # a new request starts afresh instead of joining it

    def cancel_stale(self, uri: str, text: Optional[str]) -> None:
        """The document changed: abandon its analyses of any other text (their waiters see
        ``AnalysisCancelled`` and ask again for the new text)."""
        with self._lock:
            for key, job in list(self._running.items()):
                if job.uri == uri and job.text != text:
                    self._abandon(key, job)

    def _run(self, key, job: _Job, path, entry, inputs, overlay, callers=()) -> None:
        from ml_lsp.analysis import AnalysisCancelled

        try:
            if job.cancel.is_set():
                raise AnalysisCancelled()
            result = self._analyse(path, job.text, entry, inputs, overlay, job.cancel.is_set, callers)
        except BaseException as exc:  # AnalysisCancelled included: the waiters decide what next
            with self._lock:
                if self._running.get(key) is job:
                    del self._running[key]
            job.future.set_exception(exc)
            return
        with self._lock:
            if self._running.get(key) is job:
                del self._running[key]
            self._memo[key] = result
            while len(self._memo) > _MAX_ENTRIES:
                self._memo.popitem(last=False)
        job.future.set_result(result)

    def facts_sync(self, uri: str, text: str, overlay: dict[str, str] | None = None):
        """(facts, imports) for this text, computed at most once per key. Blocks; safe to
        call from any thread but the pool's (diagnostics does). Raises AnalysisCancelled
        when the document changes meanwhile."""
        overlay = self._overlay(uri) if overlay is None else overlay
        key, job = self._join(uri, text, overlay)
        try:
            return job.future.result()
        finally:
            self._leave(key, job)

    def _analyse(self, path, text, entry, inputs, overlay, cancelled, callers=()):
        from ml_lsp.analysis import analyze_source
        from ml_lsp.commands import memo_cache
        from ml_lsp.resolve import make_resolver

        # the library functions' answers memoised by earlier analyses and by `ml-lsp check`
        memo_cache.load()
        base = make_resolver(str(self.server.root) if self.server.root else None, overlay)
        read: set[str] = set()

        def resolve(name, from_path):
            found = base(name, from_path)
            if found is not None:
                read.add(os.path.realpath(found[0]))
            return found

        # generic: hints show (B, 128) where the call in the file gives (64, 128)
        bounds = dict(time_budget_s=self.time_budget_s, cancelled=cancelled, generic=True,
                      callers=list(callers) or None, batch=_analysis_batch())
        try:
            facts = analyze_source(text, path, inputs=inputs, entry=entry, resolve_module=resolve, **bounds)
        except Exception as exc:  # the engine raises InputError for bad explicit inputs
            log.warning("%s: shapes not computed: %s: %s", path, type(exc).__name__, exc)
            if entry is None:
                raise
            facts = analyze_source(text, path, resolve_module=resolve, **bounds)
        for problem in facts.problems:
            if problem.startswith("time budget"):
                log.info("%s: %s", path, problem)
        memo_cache.save()
        return facts, frozenset(read)

    async def current(self, uri: str, background: bool = False) -> Optional[AnalysedVersion]:
        """The facts for the document's current version (computed now if needed). When the
        document changes while they are computed, the analysis of the old text is
        abandoned and the new text's is awaited instead. ``background``: the refresh after
        an edit, which does not keep alive an analysis every request has given up on."""
        from ml_lsp.analysis import AnalysisCancelled

        ls = self.server
        for _ in range(_MAX_RESTARTS):
            version = ls.open_documents.get(uri)
            text = ls.document_text(uri)
            if version is None or text is None:
                return None
            callers = self._callers(ls.document_path(uri), text)
            latest = self._latest.get(uri)
            if latest is not None and latest.version == version and latest.callers_key == _callers_key(callers):
                return latest
            key, job = self._join(uri, text, self._overlay(uri), background, callers)
            try:
                facts, imports = await _wait(job.future)
            except AnalysisCancelled:
                if ls.open_documents.get(uri) != version:
                    continue  # the text changed under us: ask again for the new one
                return None  # given up by every request that wanted it
            finally:  # also when this request is cancelled: see _leave
                self._leave(key, job, background)
            result = AnalysedVersion(uri, version, text, facts, imports, _callers_key(callers))
            if ls.open_documents.get(uri) == version:
                previous = self._latest.get(uri)
                if previous is None or previous.version <= version:
                    self._latest[uri] = result
                    for listener in self.listeners:
                        try:
                            listener(result)
                        except Exception:
                            log.exception("shape facts listener failed")
            return result
        return None

    def latest(self, uri: str) -> Optional[AnalysedVersion]:
        return self._latest.get(uri)

    def dependents(self, uri: str) -> list[str]:
        path = os.path.realpath(self.server.document_path(uri))
        return [u for u, r in self._latest.items() if u != uri and path in r.imports]

    def forget(self, uri: str) -> None:
        self._latest.pop(uri, None)
        self.cancel_stale(uri, None)


def _callers_key(callers) -> tuple:
    return tuple((p, hash(t)) for p, t in callers or ())


async def _wait(future: Future):
    """Await a job's future without letting this waiter's cancellation cancel it (other
    requests may be waiting for the same analysis): ``asyncio.wrap_future`` would."""
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def copy(done: Future) -> None:
        if waiter.done():
            return
        exc = done.exception()
        if exc is not None:
            waiter.set_exception(exc)
        else:
            waiter.set_result(done.result())

    def hand_over(done: Future) -> None:
        try:
            loop.call_soon_threadsafe(copy, done)
        except RuntimeError:  # the event loop is gone (the server is exiting): nobody waits
            pass

    future.add_done_callback(hand_over)
    return await waiter


def _analysis_batch():
    """What one analysis shares within itself, as one ``ml-lsp shapes`` does: each text parsed
    once, and imported library modules parsed as outlines where an earlier command or
    analysis stored where their function bodies are (``outline_cache``; each body parsed
    when first run). A new one per analysis: nothing of one analysis reaches the next."""
    from ml_lsp.analysis import BatchCache
    from ml_lsp.commands.outline_cache import OutlineStore
    outlines = OutlineStore() if os.environ.get("ML_LSP_OUTLINES", "1") != "0" else None
    return BatchCache(share_modules=False, outlines=outlines)
