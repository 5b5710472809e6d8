"""The workspace's call sites in the editor: the ``CallSiteIndex`` (ml_lsp.workspace_index)
built in the background once the client is ``initialized``, kept current by watchdog (files
on disk) and by the editor's unsaved text (open files), and handed to the shape facts cache
so that ``model.py`` gets its input shapes from ``train.py`` with no setting. A hover never
waits for it: until it is built, analyses run without callers; when it changes, the open
documents are analysed again in the background and the hints refreshed.

``ml-lsp.callSites`` (workspace/executeCommand, argument: a document URI) lists the call
sites the document's analysis used.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any, Optional

from ml_lsp.workspace_index import CallSiteIndex

log = logging.getLogger(__name__)

CHANGE_DELAY_S = 0.2  # file events closer than this are one re-analysis
CHANGES = {"created", "modified", "deleted", "moved", "closed"}  # watchdog event types that change a file


class WorkspaceCalls:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.index: Optional[CallSiteIndex] = None
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.observer = None
        self._pending = False

    def start(self) -> None:
        root = self.server.root
        if root is None or self.server.settings.get("workspace_call_sites") is False:
            return
        self.loop = asyncio.get_event_loop()
        index = CallSiteIndex(str(root))
        threading.Thread(target=self._build, args=(index,), name="ml-lsp-call-sites", daemon=True).start()

    def _build(self, index: CallSiteIndex) -> None:
        try:
            count = index.build()
        except Exception:
            log.exception("indexing the workspace's call sites failed")
            return
        # open documents' unsaved text replaces what the disk says
        for uri in list(self.server.open_documents):
            text = self.server.document_text(uri)
            if text is not None:
                index.set_unsaved(self.server.document_path(uri), text)
        self.index = index
        self.server.shape_facts.callers_for = index.callers_of
        log.info("call sites: %d workspace files indexed", count)
        self._watch(index)
        self._poke()

    def _watch(self, index: CallSiteIndex) -> None:
        """One non-recursive watch per indexed folder: a recursive one would also watch
        every folder of a .venv or node_modules inside the workspace (tens of thousands)."""
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            return
        from ml_lsp.workspace_index import indexed_folder_name

        feature = self
        observer = Observer()
        observer.daemon = True

        class OnChange(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                # only what changes a file: reading one (ours included, every analysis
                # opens the callers) must not start another analysis
                if event.event_type not in CHANGES:
                    return
                if event.is_directory:
                    if event.event_type == "created" and indexed_folder_name(os.path.basename(event.src_path)):
                        feature._watch_folder(observer, self, event.src_path)
                        # files written before the watch began: read them now
                        for folder, dirs, files in os.walk(event.src_path):
                            dirs[:] = [d for d in dirs if indexed_folder_name(d)]
                            if folder != event.src_path:
                                feature._watch_folder(observer, self, folder)
                            for name in files:
                                if name.endswith(".py"):
                                    index.file_changed(os.path.join(folder, name))
                        feature._poke()
                    return
                paths = [event.src_path, getattr(event, "dest_path", "") or ""]
                if not any(p.endswith(".py") for p in paths):
                    return
                for p in paths:
                    if not p.endswith(".py"):
                        continue
                    if os.path.exists(p):
                        index.file_changed(p)
                    else:
                        index.file_deleted(p)
                feature._poke()

        handler = OnChange()
        try:
            observer.start()
        except OSError as exc:
            log.warning("cannot watch %s for call sites (%s)", index.root, exc)
            return
        for folder in index.folders:
            if not self._watch_folder(observer, handler, folder):
                break
        self.observer = observer

    @staticmethod
    def _watch_folder(observer, handler, folder: str) -> bool:
        try:
            observer.schedule(handler, folder, recursive=False)
            return True
        except OSError as exc:  # inotify watch limit: the open documents' text still counts
            log.warning("cannot watch %s for call sites (%s)", folder, exc)
            return False

    def _poke(self) -> None:
        """From any thread: analyse the open documents again, soon (once per burst)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._schedule_refresh)
        except RuntimeError:
            pass

    def _schedule_refresh(self) -> None:
        if self._pending:
            return
        self._pending = True
        asyncio.get_event_loop().call_later(CHANGE_DELAY_S, self._refresh)

    def _refresh(self) -> None:
        self._pending = False
        ls = self.server
        for uri in list(ls.open_documents):
            if not ls.analysed(uri):
                continue
            shapes = getattr(ls, "shapes_feature", None)
            if shapes is not None:
                shapes._schedule(uri)
            diagnostics = getattr(ls, "diagnostics_feature", None)
            if diagnostics is not None:
                diagnostics.schedule(uri)

    # the editor's text -------------------------------------------------------------------
    def document_changed(self, uri: str) -> None:
        index = self.index
        if index is None:
            return
        index.set_unsaved(self.server.document_path(uri), self.server.document_text(uri))
        self._schedule_refresh_others(uri)

    def document_closed(self, uri: str) -> None:
        index = self.index
        if index is None:
            return
        index.set_unsaved(self.server.document_path(uri), None)
        self._schedule_refresh()

    def _schedule_refresh_others(self, uri: str) -> None:
        # the edited document schedules itself; its callees may take inputs from it
        self._schedule_refresh()

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer = None

    # the command ---------------------------------------------------------------------------
    async def call_sites(self, uri: str) -> dict:
        from ml_lsp.workspace_index import describe_call_site

        result = await self.server.shape_facts.current(uri)
        sites = list(getattr(result.facts, "call_sites", None) or []) if result is not None else []
        root = str(self.server.root) if self.server.root else None
        return {"indexed": self.index is not None,
                "callSites": [{**s.to_json(), "text": describe_call_site(s, root)} for s in sites]}


def register(server: Any) -> None:
    feature = WorkspaceCalls(server)
    server.workspace_calls = feature
    server.on_initialized(feature.start)
    server.on_document_changed(feature.document_changed)
    server.on_document_closed(feature.document_closed)

    @server.command("ml-lsp.callSites")
    async def call_sites(ls: Any, *args):
        uri = args[0] if args else None
        if isinstance(uri, list) and uri:
            uri = uri[0]
        if isinstance(uri, dict):
            uri = uri.get("uri")
        if not isinstance(uri, str) or uri not in ls.open_documents:
            return {"indexed": feature.index is not None, "callSites": [],
                    "error": "ml-lsp.callSites takes the URI of an open document"}
        return await feature.call_sites(uri)
