"""Traced shapes in the editor: a ``Trace shapes`` code lens on each ``nn.Module`` class,
the ``ml-lsp.traceShapes`` command (``[{"uri": ..., "entry": CLASS}]``), trace on save in
trusted workspaces, traced shapes in hover and inlay hints (marked as traced, the static
answer beside them where it differs) and trace failures as diagnostics on the user's line.

Tracing runs the user's constructor and forward, so it asks the workspace trust
(``ml_lsp.server.trust``) first: an explicit request (the lens or command) prompts when
trust is ``ask``; trace on save runs only in a workspace the user already trusted;
``untrusted`` refuses both. The work
is done by ``ml_lsp.trace.session`` in a child process: this module never imports torch.
Results belong to one version of the document and are dropped on the next edit, which also
kills a trace still running on it.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path

from ml_lsp.server.lazy import lazy_module

trace_compare = lazy_module("ml_lsp.trace.compare")
trace_session = lazy_module("ml_lsp.trace.session")

log = logging.getLogger(__name__)

COMMAND = "ml-lsp.traceShapes"
SOURCE_KEY = "trace"  # our share of a document's diagnostics
SOURCE = "ml-lsp trace"


@dataclass
class DocumentTrace:
    """What one trace found for one version of one document."""

    version: int | None
    entries: list[dict]  # this document's traced bindings (shapes JSON + "source")
    static: dict[tuple, dict] = field(default_factory=dict)  # (scope, line, name) -> static entry
    symbols: list[str] = field(default_factory=list)
    by_line: dict[int, list[dict]] = field(default_factory=dict)
    runs: dict[str, list[dict]] = field(default_factory=dict)  # class -> the sizes it ran at
    how: str = ""  # "traced on meta at B=2, H=W=8 with /usr/bin/python3 (torch 2.4.0)"

    def __post_init__(self) -> None:
        for e in self.entries:
            self.by_line.setdefault(e["line"], []).append(e)


def format_shape(shape) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class TraceFeature:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.session = None  # a trace_session.TraceSession, started on the first trace
        self.results: dict[str, DocumentTrace] = {}
        self.requested: dict[str, set] = {}  # uri -> entries traced before (for trace on save)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ml-lsp-trace")
        self._running: dict[str, set[str]] = {}  # uri being traced -> paths of files it involves
        self._lock = threading.Lock()
        self._interpreter_setting = None  # the setting the session's interpreter was found from
        self._missing_said: set[tuple[str, str]] = set()  # (interpreter, package) already told

    # -- settings ---------------------------------------------------------------------------
    def _setting(self, key: str, default):
        value = self.server.settings.get(key)
        return default if value is None else value

    def _session(self):
        """The session, in the interpreter the settings name (``interpreter``: the user's or
        the editor's, never the repository's own file), else ml-lsp's own if it has torch,
        else one with torch from the environment (``ml_lsp.trace.interpreter``). Found only
        here, after the workspace's trust: finding one runs it."""
        from ml_lsp.trace.interpreter import find_interpreter
        configured = self._setting("interpreter", None)
        configured = configured if isinstance(configured, str) and configured.strip() else None
        if self.session is not None and configured != self._interpreter_setting:
            self.session.close()
            self.session = None
        if self.session is None:
            interpreter = find_interpreter(configured, "the interpreter setting")
            memory = int(self._setting("trace_memory_mb", trace_session.DEFAULT_MEMORY_MB))
            self.session = trace_session.TraceSession(memory_mb=memory, interpreter=interpreter)
            self._interpreter_setting = configured
        return self.session

    # -- tracing ----------------------------------------------------------------------------
    async def trace_command(self, ls: Any, *args) -> dict:
        spec = args[0] if args else {}
        if isinstance(spec, list):  # some clients wrap the arguments once more
            spec = spec[0] if spec else {}
        if not isinstance(spec, dict) or not isinstance(spec.get("uri"), str):
            raise ValueError(f'{COMMAND} expects [{{"uri": ..., "entry": CLASS}}], got {args!r}')
        from ml_lsp.server.trust import CODE_RUNNING, TrustRefused
        try:
            await ls.trust.require(CODE_RUNNING[COMMAND])
        except TrustRefused as exc:
            message = f"ml-lsp trace: {exc.message}"
            ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=message))
            return {"ok": False, "error": message}
        return await self.trace(spec["uri"], spec.get("entry"))

    async def trace(self, uri: str, entry: str | None) -> dict:
        ls = self.server
        text = ls.document_text(uri)
        path = ls.document_path(uri)
        if text is None:
            try:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError as exc:
                return {"ok": False, "error": f"{path}: cannot read ({exc.strerror})"}
        version = ls.open_documents.get(uri)
        self.requested.setdefault(uri, set()).add(entry)
        sources = self._open_sources()
        loop = asyncio.get_running_loop()
        with self._lock:
            self._running[uri] = {os.path.realpath(path)}
        token = await self._begin_progress(entry or os.path.basename(path))
        started = loop.time()
        summary = "failed"
        try:
            from ml_lsp.trace.interpreter import NoInterpreter
            try:
                response, facts = await loop.run_in_executor(
                    self.executor, self._trace_blocking, path, text, entry, sources)
            except NoInterpreter as exc:
                message = f"ml-lsp trace: {exc}"
                ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=message))
                return {"ok": False, "error": message}
            if ls.open_documents.get(uri) != version:
                summary = "dropped: the document was edited"
                return {"ok": False, "error": "the document was edited while tracing; trace again"}
            result = self._accept(uri, version, path, response, facts)
            summary = (f"{result.get('entries', 0)} shapes in {loop.time() - started:.1f} s"
                       + (f", {len(result['problems'])} problem(s)" if result.get("problems") else ""))
            return result
        finally:
            with self._lock:
                self._running.pop(uri, None)
            self._end_progress(token, summary)

    # -- $/progress: a cold trace (starting Python and torch) takes seconds ---------------------
    async def _begin_progress(self, what: str) -> str | None:
        window = self.server.client_capabilities.window
        if window is None or not window.work_done_progress:
            return None
        self._progress_count = getattr(self, "_progress_count", 0) + 1
        token = f"ml-lsp-trace-{self._progress_count}"
        progress = self.server.work_done_progress
        try:
            await progress.create_async(token)
            progress.begin(token, types.WorkDoneProgressBegin(
                title="Trace shapes", message=f"{what}: running forward on meta tensors", cancellable=True))
        except Exception:  # a client that refuses progress still gets the trace
            log.debug("no progress for the trace", exc_info=True)
            return None
        future = progress.tokens.get(token)
        if future is not None:
            future.add_done_callback(lambda f: f.cancelled() and self.session is not None and self.session.cancel())
        return token

    def _end_progress(self, token: str | None, message: str) -> None:
        if token is None:
            return
        try:
            self.server.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
        except Exception:
            log.debug("ending trace progress failed", exc_info=True)
        self.server.work_done_progress.tokens.pop(token, None)

    def _open_sources(self) -> dict[str, str]:
        """Unsaved text of every open document, by path (the child runs what the user sees)."""
        sources = {}
        for uri in list(self.server.open_documents):
            text = self.server.document_text(uri)
            if text is not None and uri.startswith("file:"):
                sources[self.server.document_path(uri)] = text
        return sources

    def _trace_blocking(self, path: str, text: str, entry: str | None, sources: dict[str, str]):
        from pathlib import Path

        from ml_lsp.analysis.dims import parse_inputs
        from ml_lsp.trace.command import static_facts, trace_file

        configured = self._setting("inputs", {}) or {}
        per_class = {}
        for name, params in configured.items() if isinstance(configured, dict) else ():
            if isinstance(params, dict):
                try:
                    per_class[name] = parse_inputs(params)
                except ValueError:
                    log.warning("trace: ignoring inputs setting for %s: %r", name, params)
        explicit = per_class.get(entry, {}) if entry else {}
        facts = static_facts(text, path, entry, None, explicit)
        session = self._session()
        response = trace_file(
            session, Path(path), entry=entry, explicit=explicit, text=text, facts=facts,
            timeout=float(self._setting("trace_timeout", trace_session.DEFAULT_TIMEOUT)),
            # Tracing at all needs the workspace's trust, so a tiny CPU run where the meta
            # device cannot (data-dependent shapes) is on unless the user turned it off.
            cpu_fallback=bool(self._setting("trace_cpu_fallback", True)), sources=sources,
            class_inputs_extra=per_class)
        return response, facts

    def _accept(self, uri: str, version, path: str, response: dict, facts) -> dict:
        if not response.get("ok"):
            self._publish(uri, [self._diagnostic(uri, {"message": response.get("error"), "line": 1})])
            return {"ok": False, "error": response.get("error")}
        real = os.path.realpath(path)
        own = [e for e in response["entries"] if os.path.realpath(e["path"]) == real]
        static = {}
        if facts is not None:
            static = {(e["scope"], e["line"], e["name"]): e for e in facts.to_json_entries()}
        symbols = sorted({s for t in response.get("traced") or [] for s in (t.get("symbols") or {})})
        runs = {t["entry"]: t["runs"] for t in response.get("traced") or [] if t.get("runs")}
        self.results[uri] = DocumentTrace(version, own, static, symbols, runs=runs, how=_how(response))
        self._say_missing_packages(response)
        # Problems in this document go on its lines; those in other files on theirs.
        by_uri: dict[str, list] = {uri: []}
        for problem in response.get("problems") or []:
            target = uri
            if problem.get("path") and os.path.realpath(problem["path"]) != real:
                target = from_fs_path(problem["path"]) or uri
            by_uri.setdefault(target, []).append(self._diagnostic(target, problem))
        for target, diagnostics in by_uri.items():
            self._publish(target, diagnostics)
        self._refresh_inlay_hints()
        return {"ok": True, "entries": len(own), "cached": bool(response.get("cached")),
                "traced": [{"entry": t["entry"], "mode": t["mode"]} for t in response.get("traced") or []],
                "problems": [p["message"] for p in response.get("problems") or []],
                "notes": response.get("notes") or []}

    def _diagnostic(self, uri: str, problem: dict) -> types.Diagnostic:
        line = max(int(problem.get("line") or 1) - 1, 0)
        text = self._line_text(uri, line)
        col = problem.get("col")
        if col is None:
            start = len(text) - len(text.lstrip())
            end = len(text.rstrip())
        else:
            start = col
            end = problem.get("end_col") if problem.get("end_line") == problem.get("line") else None
            end = end if end is not None and end > start else len(text.rstrip())
        kind = problem.get("kind") or "error"
        # Not the user's code at fault: inputs nobody gave, the time limit, an absent
        # package, sizes the tracer could not find.
        severity = types.DiagnosticSeverity.Warning \
            if kind in ("inputs", "timeout", "cancelled", "missing-package", "sizes", "interpreter", "module-level") \
            else types.DiagnosticSeverity.Error
        return types.Diagnostic(
            range=types.Range(start=types.Position(line, start), end=types.Position(line, max(end, start))),
            message=problem.get("message") or "trace failed", severity=severity, source=SOURCE,
            code=f"trace-{kind}")

    def _say_missing_packages(self, response: dict) -> None:
        """An absent package the model needs is said once per interpreter, with the command
        that installs it (the diagnostic on the import line says it again, quietly)."""
        python = (response.get("interpreter") or {}).get("python") or ""
        for problem in response.get("problems") or []:
            if problem.get("kind") != "missing-package":
                continue
            key = (python, problem.get("package") or "")
            if key in self._missing_said:
                continue
            self._missing_said.add(key)
            self.server.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Warning, message=f"ml-lsp trace: {problem['message']}"))

    def _line_text(self, uri: str, line: int) -> str:
        text = self.server.document_text(uri)
        if text is None:
            try:
                with open(self.server.document_path(uri), encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                return ""
        lines = text.splitlines()
        return lines[line] if 0 <= line < len(lines) else ""

    def _publish(self, uri: str, diagnostics: list) -> None:
        publish = getattr(self.server, "publish_diagnostics", None)
        if callable(publish):
            publish(uri, SOURCE_KEY, diagnostics)
        else:
            self.server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))

    def _refresh_inlay_hints(self) -> None:
        caps = self.server.client_capabilities.workspace
        inlay = getattr(caps, "inlay_hint", None) if caps else None
        if inlay is not None and getattr(inlay, "refresh_support", False):
            try:
                self.server.workspace_inlay_hint_refresh(None)
            except Exception:  # an old client: the hints come with the next request anyway
                log.debug("inlay hint refresh failed", exc_info=True)

    # -- document events ----------------------------------------------------------------------
    def document_changed(self, uri: str) -> None:
        """Results are for one version: drop them, and kill a trace that runs this file."""
        if uri in self.results and self.results[uri].version != self.server.open_documents.get(uri):
            del self.results[uri]
            self._publish(uri, [])
        path = os.path.realpath(self.server.document_path(uri))
        with self._lock:
            involved = any(path in paths for paths in self._running.values())
        if involved and self.session is not None:
            self.session.cancel()

    def document_closed(self, uri: str) -> None:
        self.results.pop(uri, None)

    def document_saved(self, uri: str) -> None:
        # Never a prompt on save: only a workspace the user has already trusted.
        if not (self._setting("trace_on_save", False) and self.server.trust.granted()):
            return
        entries = self.requested.get(uri) or {None}
        for entry in sorted(entries, key=lambda e: e or ""):
            asyncio.ensure_future(self.trace(uri, entry))

    # -- providers ----------------------------------------------------------------------------
    def _current(self, uri: str) -> DocumentTrace | None:
        result = self.results.get(uri)
        if result is None or result.version != self.server.open_documents.get(uri):
            return None
        return result

    def hover(self, ls: Any, uri: str, position: types.Position) -> str | None:
        result = self._current(uri)
        if result is None:
            return None
        text = ls.document_text(uri) or ""
        lines = text.splitlines()
        if not 0 <= position.line < len(lines):
            return None
        word = _word_at(lines[position.line], position.character)
        if not word:
            return None
        line = position.line + 1
        scope = _scope_at(text, line)
        # The binding on this line, else the latest one of that name above it in the scope.
        candidates = [e for e in result.entries if _base_name(e["name"]) == word
                      and (scope is None or e["scope"] == scope) and e["line"] <= line]
        if not candidates:
            return None
        latest = max(e["line"] for e in candidates)
        chosen = [e for e in candidates if e["line"] == latest]
        parts = []
        from ml_lsp.server.markup import code, escape

        for e in chosen:
            parts.append(f"{code(e['name'])}: {code(format_shape(e['shape']))}"
                         + (f" {escape(e['dtype'])}" if e.get("dtype") else "") + " *(traced)*")
            static = self._static_beside(result, e)
            if static:
                parts.append(f"static: {code(static)}")
        if result.how:
            parts.append(f"*{result.how}*")
        return "\n\n".join(parts)

    def _static_beside(self, result: DocumentTrace, e: dict) -> str | None:
        s = result.static.get((e["scope"], e["line"], e["name"]))
        if s is None:
            # The static engine ran but has no answer here: say so (it is why tracing helps).
            return "unknown" if result.static else None
        from ml_lsp.trace.symbolic import symbol_values
        envs = result.runs.get(e["scope"].split(".", 1)[0]) or next(iter(result.runs.values()), None) \
            or (symbol_values(result.symbols) if result.symbols else [{}])
        verdict = trace_compare.compare_pair(s, e, envs, set(result.symbols))
        same_text = s.get("shape") == e.get("shape") and s.get("dtype") == e.get("dtype")
        if verdict is None or same_text:
            return None
        return format_shape(s.get("shape")) + (f" {s['dtype']}" if s.get("dtype") else "")

    def inlay_hints(self, ls: Any, uri: str, rng: types.Range) -> list[types.InlayHint]:
        result = self._current(uri)
        if result is None or self._setting("inlay_hints_shapes", True) is False:
            return []
        text = ls.document_text(uri) or ""
        lines = text.splitlines()
        ends = _statement_ends(text)
        hints = []
        for line, entries in sorted(result.by_line.items()):
            if not rng.start.line <= line - 1 <= rng.end.line:
                continue
            end_line, end_col = ends.get(line, (line, len(lines[line - 1]) if line - 1 < len(lines) else 0))
            labels = []
            for e in entries:
                label = f"{e['name']}: {format_shape(e['shape'])}"
                static = self._static_beside(result, e)
                if static:
                    label += f" (static {static})"
                labels.append(label)
            hints.append(types.InlayHint(
                position=types.Position(end_line - 1, end_col),
                label="  traced " + ", ".join(labels), kind=types.InlayHintKind.Type,
                padding_left=True,
                tooltip="shape recorded by running forward on the meta device (ml-lsp trace)"))
        return hints

    def code_lenses(self, ls: Any, uri: str) -> list[types.CodeLens]:
        text = ls.document_text(uri)
        if text is None:
            return []
        lenses = []
        for name, line, col in module_classes(text):
            lenses.append(types.CodeLens(
                range=types.Range(start=types.Position(line - 1, col), end=types.Position(line - 1, col + 5)),
                command=types.Command(title="Trace shapes", command=COMMAND,
                                      arguments=[{"uri": uri, "entry": name}])))
        return lenses

    def shutdown(self) -> None:
        if self.session is not None:
            self.session.close()


# -- source helpers (pure) ------------------------------------------------------------------

def _how(response: dict) -> str:
    """How the shapes were traced, for the hover: the mode, the sizes, the interpreter."""
    traced = [t for t in response.get("traced") or [] if t.get("mode")]
    interpreter = response.get("interpreter") or {}
    text = "traced"
    if traced:
        first = traced[0]
        text += f" on {first['mode']}"
        sizes = first.get("symbols") or {}
        if sizes:
            text += " at " + ", ".join(f"{k}={v}" for k, v in sizes.items())
        if first.get("pinned"):
            text += " (" + ", ".join(first["pinned"]) + ": the only sizes tried that the model takes)"
    if interpreter.get("python"):
        text += f" with {interpreter['python']}"
        if interpreter.get("torch"):
            text += f" (torch {interpreter['torch']})"
    return text


_MODULE_BASE = re.compile(r"(^|\.)(Module|[A-Za-z]*Module|PreTrainedModel|[A-Za-z]*Model)$")


def module_classes(text: str) -> list[tuple[str, int, int]]:
    """(name, line, col of the name) of the classes that look like ``nn.Module``s: a base
    named ``Module``/``...Module``/``...Model`` (nn.Module, LightningModule,
    PreTrainedModel), or another such class of the same file."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    found: dict[str, tuple[int, int]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for base in node.bases:
            dotted = _dotted(base)
            if dotted and (_MODULE_BASE.search(dotted) or dotted in found):
                line = node.lineno
                col = (node.col_offset + len("class ")) if not node.decorator_list else node.col_offset
                found[node.name] = (line, col)
                break
    return [(name, line, col) for name, (line, col) in found.items()]


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


def _word_at(line: str, character: int) -> str | None:
    for match in re.finditer(r"[A-Za-z_]\w*", line):
        if match.start() <= character <= match.end():
            return match.group()
    return None


def _base_name(name: str) -> str:
    return name.split("[", 1)[0]


def _scope_at(text: str, line: int) -> str | None:
    """The qualified name of the innermost function containing ``line`` (as the recorder
    names scopes: ``Class.method``, ``outer.<locals>.inner``)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    best = None

    def visit(node, prefix):
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qual = prefix + child.name
                if child.lineno <= line <= (child.end_lineno or child.lineno):
                    best = qual
                visit(child, qual + ".<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return best


def _statement_ends(text: str) -> dict[int, tuple[int, int]]:
    """First line of each simple statement -> (last line, end column)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    ends = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and not hasattr(node, "body") and node.end_lineno:
            ends[node.lineno] = (node.end_lineno, node.end_col_offset or 0)
    return ends


def register(server: Any) -> None:
    feature = TraceFeature(server)
    server.trace_feature = feature
    server.on_document_changed(feature.document_changed)
    server.on_document_closed(feature.document_closed)
    if hasattr(server, "on_document_saved"):
        server.on_document_saved(feature.document_saved)
    server.hover_providers.append(feature.hover)
    server.inlay_hint_providers.append(feature.inlay_hints)
    server.code_lens_providers.append(feature.code_lenses)

    @server.command(COMMAND)
    async def trace_shapes(ls, *args):
        return await feature.trace_command(ls, *args)
