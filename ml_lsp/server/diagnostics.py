"""Diagnostics in the editor: the lint rules (``ml_lsp.analysis.lint``) run on every open
document, their findings published as LSP diagnostics, their fixes offered as code actions.

- Debounced: a burst of keystrokes costs one run, ``DEBOUNCE_S`` after the last one.
- Off the event loop: the rules run in a worker thread, so hovers and completions keep
  answering; a result for a version the user has already edited away is dropped.
- Only the changed document is recomputed, plus the open documents that import it (the
  shape engine reads an imported model's unsaved text from the editor).
- Code actions: a ``quickfix`` per fixable finding (preferred when the fix is safe), a
  ``# noqa`` action, and ``source.fixAll.ml-lsp`` applying every safe fix.

Never imports torch: the analysis is static.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types

from ml_lsp.analysis.lint import Finding, TextEdit, as_list, check_source, fix_text, load_rules, select_rules

log = logging.getLogger(__name__)

DEBOUNCE_S = 0.15
SOURCE = "ml-lsp"
SOURCE_KEY = "lint"  # our share of a document's diagnostics (runs publish their own)
FIX_ALL_KIND = "source.fixAll.ml-lsp"
SEVERITY = {"error": types.DiagnosticSeverity.Error, "warning": types.DiagnosticSeverity.Warning,
            "info": types.DiagnosticSeverity.Information, "hint": types.DiagnosticSeverity.Hint}


@dataclass
class DocumentLint:
    version: int
    text: str
    findings: list[Finding]
    diagnostics: list[types.Diagnostic]
    imports: set[str] = field(default_factory=set)  # paths of the modules the engine read


class DiagnosticsFeature:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.results: dict[str, DocumentLint] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        # as many as the shape analyses: one document's slow lint never queues another's
        from ml_lsp.server.analysis_cache import ANALYSIS_THREADS
        self.executor = ThreadPoolExecutor(max_workers=ANALYSIS_THREADS, thread_name_prefix="ml-lsp-lint")
        self._rules = None

    # Scheduling --------------------------------------------------------------------------
    def rules(self):
        if self._rules is None:
            self._rules = load_rules(self.server.plugins) or load_rules()
        return self._rules

    def document_changed(self, uri: str) -> None:
        self.schedule(uri)
        path = os.path.realpath(self.server.document_path(uri))
        for other, result in list(self.results.items()):
            if other != uri and path in result.imports:
                self.schedule(other)

    def schedule(self, uri: str) -> None:
        loop = asyncio.get_event_loop()
        timer = self.timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        self.timers[uri] = loop.call_later(DEBOUNCE_S, lambda: loop.create_task(self.run(uri)))

    def document_closed(self, uri: str) -> None:
        timer = self.timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        if self.results.pop(uri, None) is not None:
            self.publish(uri, [])

    def settings_changed(self, _settings: Any) -> None:
        for uri in list(self.server.open_documents):
            if uri not in getattr(self.server, "oversized", {}):
                self.schedule(uri)

    async def run(self, uri: str) -> None:
        self.timers.pop(uri, None)
        ls = self.server
        version = ls.open_documents.get(uri)
        text = ls.document_text(uri)
        if version is None or text is None:
            return
        # The engine reads imported models from the editor's unsaved text first.
        oversized = getattr(ls, "oversized", {})
        overlay = {os.path.realpath(ls.document_path(u)): ls.document_text(u)
                   for u in list(ls.open_documents) if u != uri and u not in oversized}
        select = as_list(ls.settings.get("select"))
        ignore = as_list(ls.settings.get("ignore"))
        path = ls.document_path(uri)
        loop = asyncio.get_event_loop()
        from ml_lsp.analysis import AnalysisCancelled

        try:
            findings, imports = await loop.run_in_executor(
                self.executor, self.compute, uri, text, path, select, ignore, overlay)
        except AnalysisCancelled:
            return  # the document changed during the shape analysis: its new run is scheduled
        except Exception:
            log.exception("diagnostics failed for %s", uri)
            return
        if ls.open_documents.get(uri) != version:
            return  # edited meanwhile: the newer version is already scheduled
        diagnostics = self.to_diagnostics(uri, findings)
        self.results[uri] = DocumentLint(version, text, findings, diagnostics, imports)
        self.publish(uri, diagnostics)

    def compute(self, uri: str, text: str, path: str, select, ignore, overlay) -> tuple[list[Finding], set[str]]:
        rules = self.rules()
        shape_facts, imports = None, set()
        # The shapes feature's cache (one analysis per version, shared with hover and inlay
        # hints) when it is there and a shape rule is on.
        cache = getattr(self.server, "shape_facts", None)
        if cache is not None and any(r.category == "shape" for r in select_rules(rules, select, ignore)):
            shape_facts, read = cache.facts_sync(uri, text, overlay)
            imports = set(read)
        resolve = None
        if shape_facts is None:
            from ml_lsp.commands.check import module_resolver

            root = str(self.server.root) if getattr(self.server, "root", None) else None
            base = module_resolver({p: t for p, t in overlay.items() if t is not None}, root)

            def resolve(name, from_path):
                found = base(name, from_path)
                if found:
                    imports.add(os.path.realpath(found[0]))
                return found

        from ml_lsp.workspace_env import installed_versions
        folder = os.path.dirname(path) if path else (str(self.server.root) if getattr(self.server, "root", None) else None)
        result = check_source(text, path, rules=rules, select=select, ignore=ignore,
                              resolve_module=resolve, shape_facts=shape_facts,
                              versions=installed_versions(folder))
        for problem in result.problems:
            log.debug("%s: %s", path, problem)
        return result.findings, imports

    def publish(self, uri: str, diagnostics: list[types.Diagnostic]) -> None:
        publish = getattr(self.server, "publish_diagnostics", None)
        if callable(publish):
            publish(uri, SOURCE_KEY, diagnostics)
        else:
            self.server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))

    # Conversions -------------------------------------------------------------------------
    def _range(self, uri: str, line: int, col: int, end_line: int, end_col: int) -> types.Range:
        """Finding positions (1-based lines, code-point columns) to the client's units."""
        doc = self.server.workspace.get_text_document(uri)
        rng = types.Range(start=types.Position(max(line - 1, 0), max(col, 0)),
                          end=types.Position(max(end_line - 1, 0), max(end_col, 0)))
        try:
            return doc.range_to_client_units(rng)
        except Exception:  # a position past the end of a line: keep it as computed
            return rng

    def to_diagnostics(self, uri: str, findings: list[Finding]) -> list[types.Diagnostic]:
        out = []
        for f in findings:
            related = []
            for r in f.related:
                r_uri = uri if not r.path else types_uri(r.path)
                related.append(types.DiagnosticRelatedInformation(
                    location=types.Location(uri=r_uri, range=self._range(uri, r.line, r.col, r.line, r.col)
                                            if not r.path else types.Range(
                                                start=types.Position(r.line - 1, r.col),
                                                end=types.Position(r.line - 1, r.col))),
                    message=r.message))
            out.append(types.Diagnostic(
                range=self._range(uri, f.line, f.col, f.end_line, f.end_col),
                severity=SEVERITY.get(f.severity, types.DiagnosticSeverity.Warning),
                code=f.code, source=SOURCE, message=f"{f.message} [{f.name}]",
                related_information=related or None))
        return out

    def _lsp_edits(self, uri: str, edits) -> list[types.TextEdit]:
        return [types.TextEdit(range=self._range(uri, e.line, e.col, e.end_line, e.end_col), new_text=e.new_text)
                for e in edits]

    # Code actions ------------------------------------------------------------------------
    def code_actions(self, ls: Any, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        result = self.results.get(uri)
        if result is None or ls.open_documents.get(uri) != result.version:
            return []
        only = params.context.only if params.context else None
        wants = lambda kind: not only or any(kind == k or kind.startswith(f"{k}.") for k in only)  # noqa: E731
        actions: list[types.CodeAction] = []
        if wants(types.CodeActionKind.QuickFix):
            first, last = params.range.start.line + 1, params.range.end.line + 1
            for finding, diagnostic in zip(result.findings, result.diagnostics):
                if finding.end_line < first or finding.line > last:
                    continue
                if finding.fix is not None:
                    actions.append(types.CodeAction(
                        title=f"{finding.fix.title} ({finding.code})", kind=types.CodeActionKind.QuickFix,
                        diagnostics=[diagnostic], is_preferred=finding.fix.safe,
                        edit=types.WorkspaceEdit(changes={uri: self._lsp_edits(uri, finding.fix.edits)})))
                noqa = noqa_edit(result.text, finding)
                actions.append(types.CodeAction(
                    title=f"Ignore {finding.code} on this line (# noqa)", kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    edit=types.WorkspaceEdit(changes={uri: self._lsp_edits(uri, [noqa])})))
        if wants(FIX_ALL_KIND) and any(f.fix and f.fix.safe for f in result.findings):
            edits = self.fix_all_edits(uri, result)
            if edits:
                actions.append(types.CodeAction(
                    title="ml-lsp: fix all safely fixable problems", kind=FIX_ALL_KIND,
                    edit=types.WorkspaceEdit(changes={uri: edits})))
        return actions

    def fixes_on_line(self, uri: str, line0: int) -> list[tuple[str, types.WorkspaceEdit]]:
        """(title, edit) of each fix the rules offer for a finding on 0-based ``line0`` of
        the document as it is now (a run's crash there offers them too)."""
        result = self.results.get(uri)
        if result is None or self.server.open_documents.get(uri) != result.version:
            return []
        return [(f"{f.fix.title} ({f.code})", types.WorkspaceEdit(changes={uri: self._lsp_edits(uri, f.fix.edits)}))
                for f in result.findings if f.fix is not None and f.line - 1 <= line0 <= f.end_line - 1]

    def fix_all_edits(self, uri: str, result: DocumentLint) -> list[types.TextEdit]:
        ls = self.server
        path = ls.document_path(uri)
        select, ignore = as_list(ls.settings.get("select")), as_list(ls.settings.get("ignore"))
        from ml_lsp.workspace_env import installed_versions
        versions = installed_versions(os.path.dirname(path) if path else None)
        fixed, _ = fix_text(result.text, lambda t: check_source(
            t, path, rules=self.rules(), select=select, ignore=ignore, versions=versions).findings,
            safe_only=True)
        return self._lsp_edits(uri, line_edits(result.text, fixed))


def types_uri(path: str) -> str:
    from pathlib import Path
    return Path(path).resolve().as_uri()


def noqa_edit(text: str, finding: Finding) -> TextEdit:
    """Append ``# noqa: CODE`` to the finding's first line (or add the code to an existing one)."""
    lines = text.splitlines()
    line = lines[finding.line - 1] if finding.line <= len(lines) else ""
    import re
    match = re.search(r"#\s*noqa:\s*([\w, ]+)$", line)
    if match:
        return TextEdit(finding.line, len(line), finding.line, len(line), f", {finding.code}")
    stripped = line.rstrip()
    return TextEdit(finding.line, len(stripped), finding.line, len(line), f"  # noqa: {finding.code}")


def line_edits(old: str, new: str) -> list[TextEdit]:
    """Whole-line edits that turn ``old`` into ``new`` (so the cursor and folds elsewhere stay)."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    edits = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            edits.append(TextEdit(i1 + 1, 0, i2 + 1, 0, "".join(b[j1:j2])))
    return edits


def register(server: Any) -> None:
    feature = DiagnosticsFeature(server)
    server.diagnostics_feature = feature
    server.on_document_changed(feature.document_changed)
    server.on_document_closed(feature.document_closed)
    server.on_settings_changed(feature.settings_changed)
    server.code_action_providers.append(feature.code_actions)
