"""Shape facts per document version, shared by every feature that needs them (hover,
inlay hints, diagnostics), so one edit costs one analysis.

- Computed off the event loop, in one worker thread; a request for the current version
  while it is being computed waits for that computation instead of starting another.
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
from dataclasses import dataclass
from typing import Any, Callable, Optional

log = logging.getLogger(__name__)

_MAX_ENTRIES = 64


@dataclass
class AnalysedVersion:
    uri: str
    version: int
    text: str
    facts: Any  # ml_lsp.analysis.ModuleFacts
    imports: frozenset  # real paths of the workspace files the engine read

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


class ShapeFactsCache:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ml-lsp-shapes")
        self._lock = threading.Lock()
        self._memo: "OrderedDict[tuple, tuple[Any, frozenset]]" = OrderedDict()
        self._running: dict[tuple, Future] = {}
        self._latest: dict[str, AnalysedVersion] = {}
        self.listeners: list[Callable[[AnalysedVersion], None]] = []  # on each new result

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
        return {os.path.realpath(ls.document_path(u)): t for u in list(ls.open_documents)
                if u != uri and (t := ls.document_text(u)) is not None}

    def _key(self, path: str, text: str, entry, inputs, overlay) -> tuple:
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        over = tuple(sorted((p, hash(t)) for p, t in overlay.items()))
        return (path, digest, entry, repr(inputs), over)

    # Computing --------------------------------------------------------------------------
    def facts_sync(self, uri: str, text: str, overlay: dict[str, str] | None = None):
        """(facts, imports) for this text, computed at most once per key. Safe to call
        from any worker thread (diagnostics does)."""
        path = self.server.document_path(uri)
        entry, inputs = self._explicit_inputs(text)
        overlay = self._overlay(uri) if overlay is None else overlay
        key = self._key(path, text, entry, inputs, overlay)
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
            running = self._running.get(key)
            if running is None:
                running = Future()
                self._running[key] = running
                owner = True
            else:
                owner = False
        if not owner:
            return running.result()
        try:
            result = self._analyse(path, text, entry, inputs, overlay)
            running.set_result(result)
        except BaseException as exc:
            running.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._running.pop(key, None)
        with self._lock:
            self._memo[key] = result
            while len(self._memo) > _MAX_ENTRIES:
                self._memo.popitem(last=False)
        return result

    def _analyse(self, path, text, entry, inputs, overlay):
        from ml_lsp.analysis import analyze_source
        from ml_lsp.resolve import make_resolver

        base = make_resolver(str(self.server.root) if self.server.root else None, overlay)
        read: set[str] = set()

        def resolve(name, from_path):
            found = base(name, from_path)
            if found is not None:
                read.add(os.path.realpath(found[0]))
            return found

        try:
            facts = analyze_source(text, path, inputs=inputs, entry=entry, resolve_module=resolve)
        except Exception as exc:  # the engine raises InputError for bad explicit inputs
            log.warning("%s: shapes not computed: %s: %s", path, type(exc).__name__, exc)
            if entry is None:
                raise
            facts = analyze_source(text, path, resolve_module=resolve)
        return facts, frozenset(read)

    async def current(self, uri: str) -> Optional[AnalysedVersion]:
        """The facts for the document's current version (computed now if needed)."""
        ls = self.server
        version = ls.open_documents.get(uri)
        text = ls.document_text(uri)
        if version is None or text is None:
            return None
        latest = self._latest.get(uri)
        if latest is not None and latest.version == version:
            return latest
        overlay = self._overlay(uri)
        loop = asyncio.get_running_loop()
        facts, imports = await loop.run_in_executor(self.executor, self.facts_sync, uri, text, overlay)
        result = AnalysedVersion(uri, version, text, facts, imports)
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

    def latest(self, uri: str) -> Optional[AnalysedVersion]:
        return self._latest.get(uri)

    def dependents(self, uri: str) -> list[str]:
        path = os.path.realpath(self.server.document_path(uri))
        return [u for u, r in self._latest.items() if u != uri and path in r.imports]

    def forget(self, uri: str) -> None:
        self._latest.pop(uri, None)
