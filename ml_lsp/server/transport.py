"""Reading LSP frames off a byte stream, over stdio or TCP, in place of pygls' reader.

pygls' reader (``pygls.io_.run_async``) trusts the stream. A header line must read
``Content-Length: N\\r\\n`` exactly, so when a client counts Content-Length in characters
instead of bytes, the tail of the cut-short body is glued to the next header, that header
is never recognised, and no later message is ever read; a huge Content-Length is read in
one go and ends the process; a body that is not JSON is dropped without an answer. Here:

- a frame is headers (Content-Length, Content-Type, and our ML-LSP-Token only) and a body
  of at most ``MAX_BODY`` bytes;
- anything else (garbage, an HTTP request line, a length above the limit) is logged and
  skipped up to the next ``Content-Length:``, so one bad frame costs that one message;
- a body that is not JSON is answered with a parse error (-32700) when a request id can
  still be read from it.

``serve_tcp`` adds what a port needs and a pipe does not: the first frame must carry the
session token, nothing that is not an LSP frame (an HTTP request) is answered, and one
client holds the session (the server's state and its ``exit`` are per process).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import sys
import threading
from concurrent.futures import CancelledError as FutureCancelled
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterator

from lsprotocol import types
from pygls.io_ import StdoutWriter

log = logging.getLogger(__name__)

MAX_BODY = 64 * 2**20  # a body above this is refused unread; a 10 MB document fits easily
FIRST_FRAME_MAX_BODY = 2**20  # before a TCP client has shown its token
FIRST_FRAME_TIMEOUT_S = 30.0
MAX_HEADER_LINE = 8192
CHUNK = 65536

TOKEN_HEADER = "ml-lsp-token"
TOKEN_OPTION = "tcpToken"
HEADER_NAMES = {"content-length", "content-type", TOKEN_HEADER}

_LENGTH_ANYWHERE = re.compile(rb"content-length:", re.IGNORECASE)
_HEADER = re.compile(rb"([A-Za-z][A-Za-z0-9-]*):[ \t]*(.*?)[ \t]*")
_DIGITS = re.compile(rb"[0-9]{1,15}")


@dataclass
class Frame:
    headers: dict[str, str]
    body: bytes


@dataclass
class Skipped:
    """Bytes that are not an LSP frame; the reader skips to the next ``Content-Length:``."""

    reason: str
    preview: bytes = field(repr=False)


class FrameReader:
    """Splits a byte stream into frames. ``feed`` bytes as they come, then take the
    ``events()`` they complete: each a ``Frame`` or, once per run of bad bytes, ``Skipped``.
    Memory is bounded by ``max_body`` plus one chunk, whatever the stream says."""

    def __init__(self, max_body: int = MAX_BODY) -> None:
        self.max_body = max_body
        self._buf = bytearray()
        self._headers: dict[str, str] = {}
        self._length: int | None = None
        self._in_body = False
        self._skipping = False

    def feed(self, data: bytes) -> None:
        self._buf += data

    def push_back(self, data: bytes) -> None:
        """Read ``data`` again before anything not yet read (the tail of a bad body that
        holds the start of the next frame)."""
        self._buf[:0] = data

    def events(self) -> Iterator[Frame | Skipped]:
        while (event := self._next()) is not None:
            yield event

    def _next(self) -> Frame | Skipped | None:
        buf = self._buf
        while True:
            if self._skipping:
                found = _LENGTH_ANYWHERE.search(buf)
                if found is None:
                    # keep what could be the start of a header cut by the chunk boundary
                    del buf[:max(0, len(buf) - len(b"content-length:") + 1)]
                    return None
                del buf[:found.start()]
                self._skipping = False
            if self._in_body:
                if len(buf) < self._length:
                    return None
                frame = Frame(self._headers, bytes(buf[:self._length]))
                del buf[:self._length]
                self._reset()
                return frame
            end = buf.find(b"\n")
            if end < 0:
                if len(buf) > MAX_HEADER_LINE:
                    return self._skip(f"a header line longer than {MAX_HEADER_LINE} bytes")
                return None
            line = bytes(buf[:end]).rstrip(b"\r")
            if not line.strip():
                if self._length is None and self._headers:
                    return self._skip("headers without a Content-Length")
                del buf[:end + 1]
                if self._length is not None:
                    self._in_body = True
                continue  # a blank line between frames is harmless
            match = _HEADER.fullmatch(line)
            name = match[1].decode("ascii").lower() if match else None
            if name not in HEADER_NAMES:
                return self._skip("not an LSP header line")
            if name == "content-length":
                if not _DIGITS.fullmatch(match[2]):
                    return self._skip(f"Content-Length {match[2][:20].decode('latin-1')!r} is not a byte count")
                if int(match[2]) > self.max_body:
                    return self._skip(f"Content-Length {int(match[2])} is above the limit of {self.max_body} bytes")
                self._length = int(match[2])
            self._headers[name] = match[2].decode("latin-1")
            del buf[:end + 1]

    def _skip(self, reason: str) -> Skipped:
        skipped = Skipped(reason, bytes(self._buf[:80]))
        self._reset()
        self._skipping = True
        del self._buf[:1]  # so that a refused Content-Length header is not found again
        return skipped

    def _reset(self) -> None:
        self._headers, self._length, self._in_body = {}, None, False


# -- from a frame to the protocol ---------------------------------------------------------


class NotJson(ValueError):
    pass


def parse_body(body: bytes) -> Any:
    try:
        # A careless client may put Latin-1 bytes in a string: keep them as lone
        # surrogates (the documents code takes those) rather than drop the message.
        return json.loads(body.decode("utf-8", "surrogateescape"))
    except ValueError as exc:
        raise NotJson(str(exc)) from exc


def deliver(protocol, data: Any) -> None:
    """Hand one parsed message to the protocol, as pygls' reader does."""
    try:
        message = protocol.structure_message(data) if isinstance(data, dict) else data
        protocol.handle_message(message)
    except Exception:  # one message's failure must not end the reading loop
        log.exception("could not handle a message")


def handle_event(protocol, reader: FrameReader, event: Frame | Skipped) -> None:
    if isinstance(event, Skipped):
        log.warning("skipped bytes that are not an LSP frame (%s): %r...; reading on from the next "
                    "Content-Length header", event.reason, event.preview[:60])
        return
    try:
        data = parse_body(event.body)
    except NotJson as exc:
        _answer_parse_error(protocol, event.body, exc)
        # A Content-Length counted too long swallows the start of the next frame: read on
        # from the header inside this body instead of losing that message too.
        inner = _LENGTH_ANYWHERE.search(event.body, 1)
        if inner is not None:
            reader.push_back(event.body[inner.start():])
        return
    deliver(protocol, data)


def _answer_parse_error(protocol, body: bytes, exc: Exception) -> None:
    msg_id = request_id_of(body)
    log.warning("a %d-byte message is not JSON (%s)%s; a Content-Length must count the body's "
                "UTF-8 bytes, not its characters", len(body), exc,
                f", answered request {msg_id!r} with a parse error" if msg_id is not None else "")
    if msg_id is not None:
        protocol._send_response(msg_id, error=types.ResponseError(
            code=types.ErrorCodes.ParseError,
            message=f"ml-lsp could not parse this message ({exc}); a Content-Length must count "
                    "the body's UTF-8 bytes, not its characters"))


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_AFTER_KEY = re.compile(r'\s*:\s*(-?[0-9]+(?![0-9.eE])|"(?:[^"\\]|\\.)*")?')


def request_id_of(body: bytes) -> int | str | None:
    """The ``id`` of a request whose body is broken JSON (cut short, say), read from the
    top-level keys only (``$/cancelRequest`` carries an ``id`` in its params), and only
    when the message has a ``method``: a broken response from the client gets no answer."""
    text = body.decode("utf-8", "replace")
    depth, i, found, has_method = 0, 0, None, False
    while i < len(text):
        c = text[i]
        if c == '"':
            string = _STRING.match(text, i)
            if string is None:
                break  # cut inside a string
            i = string.end()
            if depth == 1:
                after = _AFTER_KEY.match(text, i)
                if after is not None:  # a key
                    if string.group() == '"id"' and after.group(1):
                        found = json.loads(after.group(1))
                    has_method = has_method or string.group() == '"method"'
                    i = after.end()
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        i += 1
    return found if has_method else None


# -- stdio --------------------------------------------------------------------------------


def serve_stdio(server, stdin=None, stdout=None) -> int:
    """Serve one session over stdin/stdout. Returns the exit code the ``exit`` notification
    asked for (0 after ``shutdown``, 1 without), or 0 when the client closes stdin."""
    server._stop_event = threading.Event()  # pygls' shutdown() sets it
    server.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
    try:
        asyncio.run(_read_stdio(server, stdin or sys.stdin.buffer))
        return 0
    except SystemExit as exc:  # pygls ends the session with sys.exit(code) on `exit`
        return _exit_code(exc)
    except BrokenPipeError:
        log.error("the client closed its end of the pipe; the server stops")
        return 1
    finally:
        server.shutdown()


async def _read_stdio(server, stdin) -> None:
    reader = FrameReader()
    async for chunk in _stdin_chunks(stdin):
        reader.feed(chunk)
        for event in reader.events():
            handle_event(server.protocol, reader, event)
        if server._stop_event.is_set():
            return
    log.debug("the client closed stdin; the server stops")


async def _stdin_chunks(stdin) -> AsyncIterator[bytes]:
    """Chunks of stdin as they arrive, read by a daemon thread (a thread pool's worker
    blocked in read() would hold the process at exit), a few chunks ahead at most. The
    thread reads the file descriptor, not ``sys.stdin.buffer``: a daemon thread blocked
    inside a buffered reader makes the interpreter abort at exit, as it cannot take the
    buffer's lock."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue(maxsize=4)

    try:
        fd = stdin.fileno()
        read = lambda: os.read(fd, CHUNK)  # noqa: E731
    except (AttributeError, OSError, ValueError):
        read = lambda: stdin.read1(CHUNK)  # noqa: E731

    def pump() -> None:
        while True:
            try:
                chunk = read()
            except (OSError, ValueError):
                chunk = b""
            try:
                asyncio.run_coroutine_threadsafe(chunks.put(chunk), loop).result()
            except (RuntimeError, FutureCancelled):  # the loop has ended
                return
            if not chunk:
                return

    threading.Thread(target=pump, name="ml-lsp-stdin", daemon=True).start()
    while chunk := await chunks.get():
        yield chunk


def _exit_code(exc: SystemExit) -> int:
    return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


# -- TCP ----------------------------------------------------------------------------------


class CannotListen(Exception):
    pass


def serve_tcp(server, host: str, port: int, token: str,
              on_listening: Callable[[], None] | None = None) -> int:
    """Listen on ``host:port`` for one client session. The first frame of a connection
    must carry ``token`` (an ``ML-LSP-Token`` header, or ``initializationOptions.tcpToken``
    in ``initialize``); a connection that starts otherwise is closed, answered only when its
    first message is a well-formed request. The first client with the token holds the
    session until it disconnects or sends ``exit``; then the server stops, as over stdio."""
    server._stop_event = threading.Event()
    try:
        return asyncio.run(_serve_tcp(server, host, port, token, on_listening))
    except SystemExit as exc:
        return _exit_code(exc)
    finally:
        server.shutdown()


async def _serve_tcp(server, host, port, token, on_listening) -> int:
    session_over = asyncio.Event()
    session_taken = False

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal session_taken
        peer = writer.get_extra_info("peername")
        frames = FrameReader(max_body=FIRST_FRAME_MAX_BODY)
        try:
            try:
                first = await asyncio.wait_for(_first_event(reader, frames), FIRST_FRAME_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.warning("closed a TCP connection from %s: no LSP message within %.0f s",
                            peer, FIRST_FRAME_TIMEOUT_S)
                return
            if first is None:
                return
            data, refusal = _admit(first, token)
            if refusal is None and session_taken:
                refusal = ("another client holds this server's session; start another "
                           "`ml-lsp serve --tcp` for a second editor")
            if refusal is not None:
                log.warning("refused a TCP connection from %s: %s", peer, refusal)
                msg_id = data.get("id") if isinstance(data, dict) and "method" in data else None
                if isinstance(msg_id, (int, str)):
                    writer.write(_error_frame(msg_id, types.ErrorCodes.InvalidRequest, refusal))
                    await _close_after_reply(reader, writer)
                return
            session_taken = True
            log.info("TCP client %s holds the session", peer)
            frames.max_body = MAX_BODY
            server.protocol.set_writer(writer)
            deliver(server.protocol, data)
            for event in frames.events():
                handle_event(server.protocol, frames, event)
            while chunk := await reader.read(CHUNK):
                frames.feed(chunk)
                for event in frames.events():
                    handle_event(server.protocol, frames, event)
            log.info("the TCP client closed the connection; the server stops")
            session_over.set()
        except ConnectionError as exc:
            log.warning("TCP connection from %s: %s", peer, exc)
            if session_taken:
                session_over.set()
        finally:
            writer.close()

    try:
        listener = await asyncio.start_server(connection, host, port)
    except OSError as exc:
        raise CannotListen(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    if on_listening is not None:
        on_listening()
    try:
        await session_over.wait()
    finally:
        listener.close()
    return 0


async def _close_after_reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send what was written and half-close, then read what the client still sends for a
    moment: closing a socket with unread input resets it, and the reset can reach the
    client before the reply does."""
    await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()
    try:
        await asyncio.wait_for(_read_to_end(reader), 2.0)
    except asyncio.TimeoutError:
        pass


async def _read_to_end(reader: asyncio.StreamReader) -> None:
    while await reader.read(CHUNK):
        pass


async def _first_event(reader: asyncio.StreamReader, frames: FrameReader) -> Frame | Skipped | None:
    while True:
        for event in frames.events():
            return event
        chunk = await reader.read(CHUNK)
        if not chunk:
            return None
        frames.feed(chunk)


def _admit(first: Frame | Skipped, token: str) -> tuple[Any, str | None]:
    """(the parsed first message, None) when it carries the token, else (what could be
    parsed, why the connection is refused). The token is taken out of the message."""
    if isinstance(first, Skipped):
        return None, f"not an LSP frame ({first.reason}: {first.preview[:40]!r})"
    try:
        data = parse_body(first.body)
    except NotJson as exc:
        return None, f"the first message is not JSON ({exc})"
    if not isinstance(data, dict):
        return None, "the first message is not a JSON-RPC object"
    offered = first.headers.get(TOKEN_HEADER)
    params = data.get("params")
    options = params.get("initializationOptions") if isinstance(params, dict) else None
    if data.get("method") == "initialize" and isinstance(options, dict) and TOKEN_OPTION in options:
        offered = options.pop(TOKEN_OPTION)  # settings never see it
    if not isinstance(offered, str) or not hmac.compare_digest(offered.encode(), token.encode()):
        why = "a wrong" if offered is not None else "no"
        return data, (f"{why} session token: this server (ml-lsp serve --tcp) needs the token it "
                      f"printed at start, in initializationOptions.{TOKEN_OPTION} or an ML-LSP-Token header")
    return data, None


def _error_frame(msg_id: int | str, code: int, message: str) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "error": {"code": int(code), "message": message}})
    data = body.encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(data) + data
