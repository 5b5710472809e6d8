"""Shapes in the editor: hover and inlay hints from the static shape engine.

- Hover on a tensor expression or name: its shape, dtype and where it came from; on a
  layer (``self.fc1``): its signature and parameter count; on an ``nn.Module`` class name:
  its parameter count and input -> output shapes.
- Inlay hints: the shape at the end of each assignment in analysed functions, and the
  parameter count on each model class line (setting ``inlayHints.shapes`` turns them off).

The engine's positions are Python ``ast``'s (1-based lines, UTF-8 byte columns); the
client's are 0-based lines in its own units (UTF-16 by default). ``pygls`` converts code
points <-> client units; the byte <-> code point step is done here.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any, Optional

from lsprotocol import types

from ml_lsp.server.analysis_cache import AnalysedVersion, ShapeFactsCache
from ml_lsp.server.markup import code, escape

log = logging.getLogger(__name__)

DEBOUNCE_S = 0.1
REFRESH_MIN_INTERVAL_S = 0.25  # at most 4 inlay-hint refreshes a second


def byte_col(line: str, char_col: int) -> int:
    if line.isascii():
        return char_col
    return len(line[:char_col].encode("utf-8", "surrogatepass"))


def char_col(line: str, byte: int) -> int:
    if line.isascii():
        return byte
    return len(line.encode("utf-8", "surrogatepass")[:byte].decode("utf-8", "replace"))


def format_count(n: Optional[int]) -> str:
    return "?" if n is None else f"{n:,}"


def _shape(shape) -> str:
    from ml_lsp.analysis import format_shape

    return format_shape(shape)


class ShapesFeature:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.cache: ShapeFactsCache = server.shape_facts
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self._last_refresh = 0.0
        self._refresh_pending = False

    # Scheduling --------------------------------------------------------------------------
    def document_changed(self, uri: str) -> None:
        self.cache.cancel_stale(uri, self.server.document_text(uri))  # its old text's analysis is moot
        self._schedule(uri)
        for other in self.cache.dependents(uri):
            self._schedule(other)

    def _schedule(self, uri: str) -> None:
        loop = asyncio.get_event_loop()
        timer = self.timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        self.timers[uri] = loop.call_later(DEBOUNCE_S, lambda: loop.create_task(self._compute(uri)))

    async def _compute(self, uri: str) -> None:
        self.timers.pop(uri, None)
        try:
            result = await self.cache.current(uri, background=True)
        except Exception:
            log.exception("shape analysis failed for %s", uri)
            return
        if result is not None and result.version == self.server.open_documents.get(uri):
            self.request_refresh()

    def document_closed(self, uri: str) -> None:
        timer = self.timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        self.cache.forget(uri)

    def request_refresh(self) -> None:
        """Ask the client to re-request inlay hints, throttled; only when it says it can."""
        caps = self.server.client_capabilities.workspace
        if not (caps and caps.inlay_hint and caps.inlay_hint.refresh_support):
            return
        now = time.monotonic()
        wait = self._last_refresh + REFRESH_MIN_INTERVAL_S - now
        if wait > 0:
            if not self._refresh_pending:
                self._refresh_pending = True
                asyncio.get_event_loop().call_later(wait, self._send_refresh)
            return
        self._send_refresh()

    def _send_refresh(self) -> None:
        self._refresh_pending = False
        self._last_refresh = time.monotonic()
        try:
            self.server.workspace_inlay_hint_refresh(None)
        except Exception:
            log.debug("inlay hint refresh failed", exc_info=True)

    # Facts for a request -----------------------------------------------------------------
    async def facts_for_line(self, uri: str, line0: int) -> Optional[AnalysedVersion]:
        """Facts whose text has the same line ``line0`` as the document now: the newest
        result when that line is unchanged (no waiting), else the current version's."""
        latest = self.cache.latest(uri)
        if latest is not None:
            if latest.version == self.server.open_documents.get(uri):
                return latest
            doc_lines = self.server.workspace.get_text_document(uri).lines
            old_lines = latest.lines
            if line0 < len(doc_lines) and line0 < len(old_lines) and \
                    doc_lines[line0].rstrip("\r\n") == old_lines[line0] and len(doc_lines) == len(old_lines):
                return latest
        return await self.cache.current(uri)

    # Hover ---------------------------------------------------------------------------------
    async def hover(self, ls: Any, uri: str, position: types.Position) -> Optional[str]:
        doc = ls.workspace.get_text_document(uri)
        pos = doc.position_from_client_units(position)
        result = await self.facts_for_line(uri, pos.line)
        if result is None:
            return None
        lines = result.lines
        if pos.line >= len(lines):
            return None
        line_text = lines[pos.line]
        line1, col = pos.line + 1, byte_col(line_text, pos.character)
        facts = result.facts

        cls = self._class_at(facts, line_text, line1, pos.character)
        if cls is not None:
            ins = ", ".join(f"{name}: {_shape(shape)}" for name, shape in cls.input_shapes.items())
            out = _shape(cls.output_shape) if cls.output_shape is not None else "?"
            return (f"**{escape(cls.name)}** · {format_count(cls.param_count)} parameters\n\n"
                    f"{code(f'forward({ins}) -> {out}')}")

        layer = facts.layer_at(line1, col)
        hover = facts.shape_at(line1, col)
        if layer is not None and (hover is None or _span(layer) <= _span(hover)):
            parts = [f"**{escape(layer.attr)}** = {code(layer.call)}"]
            if layer.signature:
                parts.append(code(layer.signature))
            parts.append(f"{format_count(layer.param_count)} parameters")
            return "\n\n".join(parts)
        if hover is not None:
            dtype = f" · {escape(hover.dtype)}" if hover.dtype else ""
            text = hover.text if len(hover.text) <= 60 else hover.text[:57] + "..."
            if hover.generic_shape is not None:  # the model is generic: its shape, then the call's
                body = f"{code(text)}: {code(_shape(hover.generic_shape))}{dtype}"
                body += f"\n\n{code(_shape(hover.shape))} for the call on line {hover.call_line}"
            else:
                body = f"{code(text)}: {code(_shape(hover.shape))}{dtype}"
            if hover.origin:
                body += f"\n\n{escape(hover.origin)}"
            return body
        return None

    @staticmethod
    def _class_at(facts, line_text: str, line1: int, char: int):
        match = re.match(r"\s*class\s+(\w+)", line_text)
        if not match or not (match.start(1) <= char <= match.end(1)):
            return None
        cls = facts.class_named(match.group(1))
        return cls if cls is not None and cls.line == line1 else None

    # Inlay hints -----------------------------------------------------------------------------
    async def inlay_hints(self, ls: Any, uri: str, rng: types.Range) -> list[types.InlayHint]:
        if not ls.settings.get("inlay_hints_shapes", True):
            return []
        result = self.cache.latest(uri)
        if result is None or result.version != ls.open_documents.get(uri):
            result = await self.cache.current(uri)
        if result is None:
            return []
        doc = ls.workspace.get_text_document(uri)
        first, last = rng.start.line + 1, rng.end.line + 1
        lines = result.lines
        hints: list[types.InlayHint] = []
        seen: set[tuple[int, str]] = set()
        # A line the tracer answered shows the traced hint (with the static one beside it
        # where they differ), not two hints.
        trace = getattr(ls, "trace_feature", None)
        traced = trace._current(uri) if trace is not None else None
        traced_lines = set(traced.by_line) if traced is not None else set()
        by_line: dict[int, list] = {}
        for b in result.facts.bindings:
            if not (first <= b.line <= last) or (b.line, b.name) in seen or b.line in traced_lines:
                continue
            seen.add((b.line, b.name))
            shape = self._binding_shape(b)
            if shape is not None:
                by_line.setdefault(b.line, []).append((b, shape))
        for line, named in by_line.items():
            line_text = lines[line - 1] if line - 1 < len(lines) else ""
            shapes = {shape for _, shape in named}
            if len(named) == 1 or len(shapes) == 1:
                # one name, or several with one shape (q, k, v = ...split()): one hint at
                # the end of the statement's first line
                label = f"{', '.join(b.name for b, _ in named)}: {named[0][1]}"
                position = doc.position_to_client_units(_server_pos(line - 1, len(_strip_comment(line_text))))
                hints.append(types.InlayHint(position=position, label=label,
                                             kind=types.InlayHintKind.Type, padding_left=True))
                continue
            # several names with their own shapes: each at its own name, as a type annotation
            for b, shape in named:
                end = char_col(line_text, b.end_col) if b.end_line == b.line else len(line_text)
                position = doc.position_to_client_units(_server_pos(line - 1, end))
                hints.append(types.InlayHint(position=position, label=f": {shape}", kind=types.InlayHintKind.Type))
        for cls in result.facts.classes:
            if cls.param_count is None or not (first <= cls.line <= last) or cls.line - 1 >= len(lines):
                continue
            line_text = lines[cls.line - 1]
            position = doc.position_to_client_units(_server_pos(cls.line - 1, len(_strip_comment(line_text))))
            hints.append(types.InlayHint(position=position, label=f"{format_count(cls.param_count)} params",
                                         padding_left=True))
        # Several names on one line (a, b = ...) share the end of the line: merge them.
        return _merge_same_position(hints)

    @staticmethod
    def _binding_shape(b) -> Optional[str]:
        """The shape a hint shows: the model's own (``(B, 128)``) where it is generic and a
        call in the file gave concrete inputs, else the shape as analysed."""
        if b.elements is not None:
            parts = [_shape(shape) for _, shape, _ in b.elements]
            if all(p == "?" for p in parts):
                return None
            return f"({', '.join(parts)})"
        if getattr(b, "keras_layer", False):
            # a Keras layer: its output shape and parameter count, as model.summary() has them
            return f"{_shape(b.shape)} · {format_count(b.params)} params"
        shape = b.generic_shape if b.generic_shape is not None else b.shape
        return None if shape is None else _shape(shape)


def _span(f) -> tuple:
    return (f.end_line - f.line, f.end_col - f.col)


def _strip_comment(line: str) -> str:
    """The line without a trailing comment (a '#' outside string quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:i].rstrip()
    return line.rstrip()


def _server_pos(line: int, character: int):
    from pygls.workspace.position_codec import ServerTextPosition

    return ServerTextPosition(line=line, character=character)


def _merge_same_position(hints: list[types.InlayHint]) -> list[types.InlayHint]:
    merged: dict[tuple[int, int], types.InlayHint] = {}
    for h in hints:
        key = (h.position.line, h.position.character)
        if key in merged:
            merged[key].label = f"{merged[key].label}, {h.label}"
        else:
            merged[key] = h
    return list(merged.values())


def register(server: Any) -> None:
    if getattr(server, "shape_facts", None) is None:
        server.shape_facts = ShapeFactsCache(server)
    feature = ShapesFeature(server)
    server.shapes_feature = feature
    server.on_document_changed(feature.document_changed)
    server.on_document_closed(feature.document_closed)
    server.on_settings_changed(lambda _s: feature.request_refresh())
    server.hover_providers.append(feature.hover)
    server.inlay_hint_providers.append(feature.inlay_hints)
