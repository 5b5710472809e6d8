"""The language server: pygls wiring and thin handlers that translate between LSP and
the engine. Feature modules (shapes, diagnostics, runs...) each add their handlers with a
``register(server)`` function listed in ``FEATURES``."""

from __future__ import annotations

import importlib
import inspect
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from ml_lsp import __version__
from ml_lsp.plugins import PluginFailure, PluginHost
from ml_lsp.server.logs import ClientLogHandler
from ml_lsp.server.protocol import RobustProtocol
from ml_lsp.server.trust import WorkspaceTrust
from ml_lsp.settings import Settings, load_settings

log = logging.getLogger("ml_lsp.server")

# URI schemes whose documents we analyse; others (git:, vscode-notebook-cell:...) are
# ignored with a log line rather than guessed at.
SUPPORTED_SCHEMES = ("file", "untitled")

SIZE_KEY = "size"  # the diagnostics share that says a document is too large to analyse

# Feature modules, each with ``register(server: MlLspServer)``; later features append here.
FEATURES: list[str] = ["ml_lsp.server.shapes", "ml_lsp.server.runs", "ml_lsp.server.diagnostics", "ml_lsp.server.trace",
                       "ml_lsp.server.finetune", "ml_lsp.server.workspace_calls"]


class MlLspServer(LanguageServer):
    def __init__(self, plugins: PluginHost | None = None) -> None:
        super().__init__("ml-lsp", __version__, protocol_cls=RobustProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.plugins = plugins or PluginHost()
        self.settings = Settings()
        self.init_options: Any = None
        self.root: Path | None = None
        self.open_documents: dict[str, int] = {}  # uri -> version, for supported schemes
        self._settings_listeners: list = []
        self._document_listeners: list = []  # cb(uri) after open/change
        self._close_listeners: list = []  # cb(uri) after close
        self._save_listeners: list = []  # cb(uri) after save
        self._initialized_listeners: list = []  # cb() once the client has our initialize reply
        self.is_initialized = False
        self.trust = WorkspaceTrust(self)  # every path that runs workspace code asks it
        # uri -> why it is not analysed (above the analysis size limit): the features never
        # see such a document, its only diagnostic says why
        self.oversized: dict[str, str] = {}
        # uri -> {source key: [Diagnostic]}: lint, runs... each publish their own share and
        # the client gets the union (a publish replaces all of a document's diagnostics).
        self._diagnostics: dict[str, dict[str, list]] = {}
        # pygls allows one handler per LSP method, and several features answer the same
        # request (shapes and metrics both give hovers and inlay hints), so each request
        # below asks every provider a feature module added and merges the answers.
        self.hover_providers: list = []  # fn(ls, uri, position) -> Markdown str | None (server/markup.py)
        self.inlay_hint_providers: list = []  # fn(ls, uri, range) -> list[types.InlayHint]
        self.code_lens_providers: list = []  # fn(ls, uri) -> list[types.CodeLens]
        self.code_action_providers: list = []  # fn(ls, params: CodeActionParams) -> list[types.CodeAction]

    # pygls' default reaction to an out-of-band error (bad JSON, a notification handler
    # that raised) is to shut the whole server down. Log it and carry on instead.
    def report_server_error(self, error: Exception, source: Any) -> None:
        log.error("%s: %s: %s", getattr(source, "__name__", source), type(error).__name__, error)

    # pygls' own reader trusts every frame (one bad Content-Length leaves it deaf for good)
    # and loses the exit code; ours resynchronises and returns it (server/transport.py).
    def start_io(self, stdin=None, stdout=None) -> int:
        from ml_lsp.server.transport import serve_stdio

        return serve_stdio(self, stdin, stdout)

    def start_tcp(self, host: str, port: int, *, token: str, on_listening=None) -> int:
        """Serve one client on ``host:port``; its first message must carry ``token``."""
        from ml_lsp.server.transport import serve_tcp

        return serve_tcp(self, host, port, token, on_listening)

    def on_settings_changed(self, listener) -> None:
        self._settings_listeners.append(listener)

    def on_document_changed(self, listener) -> None:
        """``listener(uri)`` after a supported document is opened or edited."""
        self._document_listeners.append(listener)

    def on_document_closed(self, listener) -> None:
        self._close_listeners.append(listener)

    def on_initialized(self, listener) -> None:
        """``listener()`` after the ``initialized`` notification: work a feature can start
        then (following run folders) stays off the path of the ``initialize`` reply."""
        self._initialized_listeners.append(listener)

    def on_document_saved(self, listener) -> None:
        """``listener(uri)`` after an open document is saved (the trace-on-save setting)."""
        self._save_listeners.append(listener)

    def _document_updated(self, uri: str) -> None:
        """After open or change: the features analyse the document, unless it is above the
        size limit; then they drop what they had for it and one Information diagnostic at
        line 1 says why."""
        from ml_lsp.analysis.parse import too_large

        why = too_large(self.document_text(uri) or "")
        was = self.oversized.get(uri)
        if why is None:
            if was is not None:
                del self.oversized[uri]
                self.publish_diagnostics(uri, SIZE_KEY, [])
            self._notify(self._document_listeners, uri)
            return
        self.oversized[uri] = why
        if was is None:
            log.info("%s: %s", uri, why)
            self._notify(self._close_listeners, uri)
        if was != why:
            self.publish_diagnostics(uri, SIZE_KEY, [types.Diagnostic(
                range=types.Range(start=types.Position(0, 0), end=types.Position(0, 0)),
                severity=types.DiagnosticSeverity.Information, source="ml-lsp",
                message=f"{why}: ml-lsp does not analyse this file (no shapes, no diagnostics)")])

    def analysed(self, uri: str) -> bool:
        """An open document the features work on (a supported scheme, under the size limit)."""
        return uri in self.open_documents and uri not in self.oversized

    def _notify(self, listeners: list, uri: str) -> None:
        for listener in listeners:
            try:
                listener(uri)
            except Exception:  # one feature's bug must not hide the others' results
                log.exception("document listener %s failed for %s", getattr(listener, "__qualname__", listener), uri)

    def reload_settings(self, client_options: Any = None, source: str = "workspace/didChangeConfiguration") -> None:
        layers = [(self.init_options, "initializationOptions")]
        if client_options is not None:
            layers.append((client_options, source))
        self.settings = load_settings(self.root, *layers)
        for problem in self.settings.problems:
            log.warning("settings: %s", problem)
        level = self.settings.get("log_level")
        if isinstance(level, str):
            from ml_lsp.server.logs import LEVELS
            logging.getLogger("ml_lsp").setLevel(LEVELS.get(level, logging.INFO))
        for listener in self._settings_listeners:
            listener(self.settings)

    def document_text(self, uri: str) -> str | None:
        """The current text of an open document we analyse, or None."""
        if uri not in self.open_documents:
            return None
        return self.workspace.get_text_document(uri).source

    def publish_diagnostics(self, uri: str, source_key: str, diagnostics: list) -> None:
        """Replace the ``source_key`` share of ``uri``'s diagnostics and publish the union
        of every share, so that features never clobber each other's diagnostics."""
        shares = self._diagnostics.setdefault(uri, {})
        if diagnostics:
            shares[source_key] = list(diagnostics)
        else:
            shares.pop(source_key, None)
        union = [d for share in shares.values() for d in share]
        if not shares:
            del self._diagnostics[uri]
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=union))

    def document_path(self, uri: str) -> str:
        return to_fs_path(uri) or uri


def _scheme(uri: str) -> str:
    return uri.split(":", 1)[0].lower() if ":" in uri else ""


def create_server(plugins: PluginHost | None = None) -> MlLspServer:
    server = MlLspServer(plugins)
    client_log = ClientLogHandler(server, logging.INFO)
    logging.getLogger("ml_lsp").addHandler(client_log)

    def report_plugin_failure(failure: PluginFailure) -> None:
        log.warning("plugin '%s' disabled or skipped: %s", failure.name, failure.reason)

    @server.feature(types.INITIALIZE)
    def initialize(ls: MlLspServer, params: types.InitializeParams) -> None:
        ls.init_options = params.initialization_options
        root_uri = None
        if params.workspace_folders:
            root_uri = params.workspace_folders[0].uri
        elif params.root_uri:
            root_uri = params.root_uri
        if root_uri and _scheme(root_uri) == "file":
            ls.root = Path(to_fs_path(root_uri))
        ls.reload_settings()

    @server.feature(types.INITIALIZED)
    def initialized(ls: MlLspServer, params: types.InitializedParams) -> None:
        # Failures found while loading plugins at start-up reach the client only now.
        ls.plugins.on_failure(report_plugin_failure)
        ls.is_initialized = True
        for listener in ls._initialized_listeners:
            try:
                listener()
            except Exception:
                log.exception("initialized listener %s failed", getattr(listener, "__qualname__", listener))
        log.info("ml-lsp %s ready (%d plugins, root %s)", __version__, len(ls.plugins.loaded), ls.root)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: MlLspServer, params: types.DidOpenTextDocumentParams) -> None:
        uri = params.text_document.uri
        if _scheme(uri) not in SUPPORTED_SCHEMES:
            log.info("not analysing %s: only file: and untitled: documents are", uri)
            return
        ls.open_documents[uri] = params.text_document.version
        ls._document_updated(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: MlLspServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri in ls.open_documents:
            ls.open_documents[uri] = params.text_document.version
            ls._document_updated(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: MlLspServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        if ls.open_documents.pop(uri, None) is not None:
            if ls.oversized.pop(uri, None) is not None:  # the features had already let it go
                ls.publish_diagnostics(uri, SIZE_KEY, [])
                return
            ls._notify(ls._close_listeners, uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: MlLspServer, params: types.DidSaveTextDocumentParams) -> None:
        if ls.analysed(params.text_document.uri):
            ls._notify(ls._save_listeners, params.text_document.uri)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: MlLspServer, params: types.DidChangeConfigurationParams) -> None:
        if params.settings:
            ls.reload_settings(params.settings)
            return
        # Clients that use the pull model send an empty notification: ask for our section.
        caps = ls.client_capabilities.workspace
        if caps is not None and caps.configuration:
            def got(result):
                ls.reload_settings(result[0] if result else None, "workspace/configuration")

            ls.workspace_configuration(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="ml-lsp")]),
                callback=got)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: MlLspServer, params: types.HoverParams) -> types.Hover | None:
        uri = params.text_document.uri
        if not ls.analysed(uri):
            return None
        parts = [p for p in await _ask(ls.hover_providers, "hover", ls, uri, params.position) if p]
        if not parts:
            return None
        from ml_lsp.server.markup import to_plain, wants_plain_text

        markdown = "\n\n---\n\n".join(parts)
        if wants_plain_text(ls.client_capabilities):  # the format the client asked for
            return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.PlainText, value=to_plain(markdown)))
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=markdown))

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    async def inlay_hint(ls: MlLspServer, params: types.InlayHintParams) -> list[types.InlayHint] | None:
        uri = params.text_document.uri
        if not ls.analysed(uri):
            return None
        return [h for hints in await _ask(ls.inlay_hint_providers, "inlay hints", ls, uri, params.range)
                for h in hints or ()]

    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    async def code_lens(ls: MlLspServer, params: types.CodeLensParams) -> list[types.CodeLens] | None:
        uri = params.text_document.uri
        if not ls.analysed(uri):
            return None
        return [c for lenses in await _ask(ls.code_lens_providers, "code lenses", ls, uri)
                for c in lenses or ()]

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[
            types.CodeActionKind.QuickFix, types.CodeActionKind.Refactor,
            types.CodeActionKind.Source, "source.fixAll.ml-lsp"]))
    async def code_action(ls: MlLspServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        if not ls.analysed(params.text_document.uri):
            return None
        return [a for actions in await _ask(ls.code_action_providers, "code actions", ls, params)
                for a in actions or ()]

    @server.command("ml-lsp.settings")
    def effective_settings(ls: MlLspServer, *args) -> dict:
        """The settings in force and where they went wrong: what "ml-lsp: Show settings"
        displays, so a user can see which of pyproject/editor/defaults won."""
        return {"settings": ls.settings.values, "problems": ls.settings.problems,
                "root": str(ls.root) if ls.root else None,
                "plugins": [p.name for p in ls.plugins.loaded],
                "plugin_failures": [f"{f.name}: {f.reason}" for f in ls.plugins.failures]}

    _register_plugin_commands(server)
    for module_name in FEATURES:
        importlib.import_module(module_name).register(server)
    return server


async def _ask(providers: list, what: str, *args):
    """Call each provider (plain or async); one that raises is logged and skipped, so the
    others still answer (the request itself never fails because of one feature)."""
    answers = []
    for provider in providers:
        try:
            answer = provider(*args)
            if inspect.isawaitable(answer):
                answer = await answer
            answers.append(answer)
        except Exception:
            log.exception("%s provider %s failed", what, getattr(provider, "__qualname__", provider))
    return answers


def _register_plugin_commands(server: MlLspServer) -> None:
    """Every command a plugin contributes becomes a ``workspace/executeCommand`` command.
    An exception in the command is returned to the client as a JSON-RPC error by pygls."""
    for name, func in server.plugins.merged_mapping("ml_lsp_commands").items():
        def make(func=func):
            def run_command(ls: MlLspServer, *args):
                return func(ls, *args)
            return run_command
        server.command(name)(make())
