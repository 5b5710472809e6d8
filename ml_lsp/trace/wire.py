"""Messages between the server (or CLI) and the tracer child: msgpack maps (JSON objects when
the child's interpreter has no msgpack: ``codec="json"``, told to the child in
``ML_LSP_TRACE_WIRE``), each preceded by its length as 4 big-endian bytes, over the child's
stdin and a private copy of its stdout.

Reads go through ``os.read`` on the raw descriptor with ``select`` so that the parent can
give up at a deadline (a forward stuck in a loop) without a blocked buffered read."""

from __future__ import annotations

import json
import os
import select
import struct
import time

CODEC_ENV = "ML_LSP_TRACE_WIRE"
HEADER = struct.Struct(">I")
MAX_MESSAGE = 256 * 1024 * 1024


class ChannelClosed(EOFError):
    """The other side went away (crashed, killed, or closed its end)."""


class ChannelTimeout(TimeoutError):
    pass


def _encode(message: dict, codec: str) -> bytes:
    if codec == "json":
        return json.dumps(message, separators=(",", ":")).encode("utf-8")
    import msgpack
    return msgpack.packb(message, use_bin_type=True)


def _decode(body: bytes, codec: str) -> dict:
    if codec == "json":
        return json.loads(body.decode("utf-8"))
    import msgpack
    return msgpack.unpackb(body, raw=False, strict_map_key=False)


def write_message(fd: int, message: dict, codec: str = "msgpack") -> None:
    body = _encode(message, codec)
    data = HEADER.pack(len(body)) + body
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BrokenPipeError as exc:
            raise ChannelClosed(str(exc)) from exc
        view = view[written:]


def read_message(fd: int, deadline: float | None = None, codec: str = "msgpack") -> dict:
    """The next message; ``ChannelTimeout`` once ``time.monotonic()`` passes ``deadline``."""
    header = _read_exactly(fd, HEADER.size, deadline)
    (size,) = HEADER.unpack(header)
    if size > MAX_MESSAGE:
        raise ChannelClosed(f"message of {size} bytes: the channel is out of step")
    return _decode(_read_exactly(fd, size, deadline), codec)


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks = []
    left = size
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise ChannelTimeout()
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                raise ChannelTimeout()
        try:
            chunk = os.read(fd, min(left, 1 << 20))
        except OSError as exc:  # the descriptor was closed under us by a cancel
            raise ChannelClosed(str(exc)) from exc
        if not chunk:
            raise ChannelClosed("end of stream")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
