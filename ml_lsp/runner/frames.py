"""The frames file: an append-only stream of msgpack records written by the training
process (and its ranks, forks and DataLoader workers) and followed by every reader.

On disk each frame is a 12-byte header and a msgpack payload::

    magic   2 bytes  b"\\xc1F"   (0xc1 is a byte msgpack never emits as a type tag)
    length  u32 LE   payload length in bytes (at most MAX_FRAME_BYTES)
    crc     u32 LE   zlib.crc32 of the payload
    check   u16 LE   (length ^ crc>>16 ^ crc&0xffff ^ 0xa55a) & 0xffff: lets a reader
                     trust the length before the whole payload has arrived
    payload          a msgpack map (see the kinds below)

A writer emits whole frames with one ``os.write`` on an ``O_APPEND`` descriptor, so
several processes (torchrun ranks, forked workers) may share one file. A reader keeps its
own byte offset, buffers a partial tail until the rest arrives, and when a header or a CRC
does not check out it counts one corrupt region, scans forward to the next magic and goes
on: a torn or damaged frame never hides the frames after it.

Payload: a msgpack array ``[kind, seq, t, rank, pid, *fields, extra]``, decoded by
readers to one flat dict. ``kind`` (str); ``seq`` (int, per writer process, from 0: a gap
means lost frames); ``t`` (wall time, float seconds since the epoch); ``rank`` and ``pid``
(int); then the positional fields of the kind (fixed forever: a field added later goes in
``extra``); ``extra`` is an optional trailing map of further fields. Positions rather than
a map because decoding a map costs four times as much and a reader opening a
million-frame run pays it a million times. Lines are 1-based, files absolute paths.
Readers ignore fields and kinds they do not know, so a newer writer never breaks an older
reader. The kinds and their positional fields (``KIND_FIELDS``):

    metric     name, value (float), step (int or None), file, line
    progress   current, total (int or None), unit ("step" | "epoch" | "batch"), file, line
    log        text, stream ("stdout" | "stderr" | "log")
    exception  type, message, frames ([{"file", "line", "function"}], innermost last)
    system     cpu_percent, rss (bytes), gpus ([{"index", "util", "mem_used", "mem_total"}])
    event      (none: everything in extra; name = "start" | "end" | ...)
    source     file, text (the file's whole text as the process compiled it, once per file,
               before the first frame whose line is in it: readers map that frame's line
               numbers through every edit made since, see RunSummary.sources_text)

Writing frames from the training process (the telemetry bootstrap does this; the path
comes from the ``ML_LSP_FRAMES`` environment variable, the rank from ``RANK`` or
``ML_LSP_RANK``)::

    from ml_lsp.runner.frames import FrameWriter
    w = FrameWriter(os.environ["ML_LSP_FRAMES"], rank=0)
    w.metric("loss", 0.231, step=1200, file="/abs/train.py", line=42)
    w.progress(3, 10, unit="epoch", file="/abs/train.py", line=30)
    w.log("epoch 3 done", stream="log")
    w.exception("RuntimeError", "CUDA out of memory",
                [{"file": "/abs/train.py", "line": 42, "function": "main"}])
    w.system(cpu_percent=97.0, rss=812_000_000, gpus=[])
    w.write("event", name="start")          # any kind: positional fields, then extras by name
    w.flush(); w.close()                    # close() also runs at interpreter exit

``FrameWriter`` buffers in memory and flushes at least every ``flush_interval`` seconds
(200 ms) from a daemon thread, when the buffer passes 1 MiB, on ``flush()``/``close()`` and
at exit. It is safe across ``fork``: the child drops the parent's unflushed frames (the
parent still writes them) and starts its own sequence. It never raises out of a record
call because the disk filled up: it counts ``dropped`` frames instead.

Reading::

    reader = FrameReader(path)
    for frame in reader:            # everything up to the current end of file
        ...
    new = reader.poll()             # later: only what was appended since
    reader.corrupt, reader.pending_bytes, reader.offset
"""

from __future__ import annotations

import atexit
import os
import struct
import threading
import time
import weakref
import zlib
from typing import Any, Iterator

import msgpack

MAGIC = b"\xc1F"
HEADER = struct.Struct("<2sIIH")
HEADER_SIZE = HEADER.size  # 12
MAX_FRAME_BYTES = 16 * 1024 * 1024
FLUSH_INTERVAL = 0.2
COALESCE = 0.02  # after a wake-up, how long to gather more frames before writing
FLUSH_BYTES = 1 << 20
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "metric": ("name", "value", "step", "file", "line"),
    "progress": ("current", "total", "unit", "file", "line"),
    "log": ("text", "stream"),
    "exception": ("type", "message", "frames"),
    "system": ("cpu_percent", "rss", "gpus"),
    "event": (),
    "source": ("file", "text"),
}
COMMON_FIELDS = ("kind", "seq", "t", "rank", "pid")


def _check(length: int, crc: int) -> int:
    return (length ^ (crc >> 16) ^ (crc & 0xFFFF) ^ 0xA55A) & 0xFFFF


def pack_payload(frame: dict) -> list:
    """The positional array for a frame given as a dict (the inverse of ``decode_payload``)."""
    kind = frame.get("kind")
    fields = KIND_FIELDS.get(kind, ())
    known = set(COMMON_FIELDS) | set(fields)
    arr = [kind, frame.get("seq", 0), frame.get("t", 0.0), frame.get("rank", 0), frame.get("pid", 0)]
    arr.extend(frame.get(f) for f in fields)
    extra = {k: v for k, v in frame.items() if k not in known}
    if extra:
        arr.append(extra)
    return arr


_NAMES = {kind: COMMON_FIELDS + fields for kind, fields in KIND_FIELDS.items()}


def decode_payload(arr: Any) -> dict | None:
    """One frame as a flat dict, or None when ``arr`` is not a frame payload."""
    if type(arr) is not list or len(arr) < 5:
        return None
    names = _NAMES.get(arr[0], COMMON_FIELDS)
    frame = dict(zip(names, arr))
    if len(arr) > len(names):
        extra = arr[len(names)]
        if type(extra) is dict:
            for k, v in extra.items():
                frame.setdefault(str(k), v)
    return frame


def encode_frame(frame: dict) -> bytes:
    """One frame's bytes (header and payload) for a frame given as a dict."""
    body = msgpack.packb(pack_payload(frame), use_bin_type=True)
    crc = zlib.crc32(body)
    n = len(body)
    return HEADER.pack(MAGIC, n, crc, (n ^ (crc >> 16) ^ (crc & 0xFFFF) ^ 0xA55A) & 0xFFFF) + body


# Writers alive in this process, so that a forked child can reset them.
_writers: "weakref.WeakSet[FrameWriter]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_writers):
        writer._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _close_all_at_exit() -> None:
    for writer in list(_writers):
        try:
            writer.close()
        except Exception:
            pass


class FrameWriter:
    """Appends frames to ``path`` (created if missing, with its folder)."""

    def __init__(self, path: str | os.PathLike, rank: int = 0,
                 flush_interval: float = FLUSH_INTERVAL) -> None:
        self.path = os.fspath(path)
        self.rank = int(rank)
        self.flush_interval = flush_interval
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.dropped = 0
        self.written = 0  # bytes
        self._closed = False
        self._init_process_state()
        _writers.add(self)

    def _init_process_state(self) -> None:
        self.pid = os.getpid()
        self.seq = 0
        self._buf: list[bytes] = []
        self._buf_bytes = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._packer = msgpack.Packer(use_bin_type=True)

    def _reset_after_fork(self) -> None:
        # The parent flushes what it buffered; the child must not write it a second time.
        # Locks and threads do not survive fork, so make new ones.
        self._init_process_state()

    def _start_flusher(self) -> None:
        thread = threading.Thread(target=self._flush_loop, name="ml-lsp-frame-flush", daemon=True)
        self._thread = thread
        thread.start()

    def _flush_loop(self) -> None:
        me = threading.current_thread()
        while not self._closed and self._thread is me:
            if self._wake.wait(self.flush_interval) and not self._closed:
                # values logged together (a batch's loss and metrics) go out in one write,
                # and a loop that logs every few ms costs a flush per COALESCE s, not one
                # per step (the Keras callback's per-batch cost was mostly these flushes)
                time.sleep(COALESCE)
            self._wake.clear()
            self.flush()

    # -- recording -----------------------------------------------------------------------
    def write(self, kind: str, *positional: Any, t: float | None = None, **extra: Any) -> None:
        """Record one frame of ``kind``: its positional fields (``KIND_FIELDS[kind]``, in
        order; missing ones are None) and any ``extra`` fields by name. Values must be
        plain (str, int, float, bool, None, lists, dicts); others are converted."""
        if self._closed:
            return
        arr = [kind, self.seq, time.time() if t is None else t, self.rank, self.pid]
        arr.extend(positional)
        if extra:
            width = len(KIND_FIELDS.get(kind, ()))
            if len(positional) < width:
                arr.extend([None] * (width - len(positional)))
            arr.append(extra)
        self._append(arr)

    def _append(self, arr: list) -> None:
        try:
            body = self._packer.pack(arr)
        except (TypeError, ValueError, OverflowError):
            body = self._packer.pack(_plain(arr))
        n = len(body)
        if n > MAX_FRAME_BYTES:
            self.dropped += 1
            return
        crc = zlib.crc32(body)
        frame = HEADER.pack(MAGIC, n, crc, (n ^ (crc >> 16) ^ (crc & 0xFFFF) ^ 0xA55A) & 0xFFFF) + body
        with self._lock:
            self.seq += 1
            self._buf.append(frame)
            self._buf_bytes += n + HEADER_SIZE
            full = self._buf_bytes >= FLUSH_BYTES
        if self._thread is None:
            self._start_flusher()
        if full:
            self.flush()

    def metric(self, name: str, value: float, step: int | None = None,
               file: str | None = None, line: int | None = None, **extra: Any) -> None:
        if self._closed:
            return
        arr = ["metric", self.seq, time.time(), self.rank, self.pid, name, value, step, file, line]
        if extra:
            arr.append(extra)
        self._append(arr)

    def progress(self, current: int, total: int | None = None, unit: str = "step",
                 file: str | None = None, line: int | None = None, **extra: Any) -> None:
        self.write("progress", current, total, unit, file, line, **extra)

    def log(self, text: str, stream: str = "log", **extra: Any) -> None:
        self.write("log", text, stream, **extra)

    def exception(self, type: str, message: str, frames: list[dict], **extra: Any) -> None:
        self.write("exception", type, message, frames, **extra)

    def source(self, file: str, text: str, **extra: Any) -> None:
        self.write("source", file, text, **extra)

    def system(self, cpu_percent: float | None = None, rss: int | None = None,
               gpus: list[dict] | None = None, **extra: Any) -> None:
        self.write("system", cpu_percent, rss, gpus or [], **extra)

    # -- flushing ------------------------------------------------------------------------
    def flush(self) -> None:
        with self._lock:
            if not self._buf:
                return
            data = b"".join(self._buf)
            self._buf = []
            self._buf_bytes = 0
            try:
                # One write per flush, under the lock, so frames of two threads (or, with
                # O_APPEND, two processes) never interleave; finish a short write.
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError:
                self.dropped += data.count(MAGIC)  # disk full or fd gone: count, never raise
                return
            self.written += len(data)

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._wake.set()
        try:
            os.close(self._fd)
        except OSError:
            pass
        _writers.discard(self)

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _plain(value: Any) -> Any:
    """Make a value msgpack can pack: numbers stay numbers (numpy scalars included)."""
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    try:
        return float(value)
    except (TypeError, ValueError):
        return repr(value)


class FrameReader:
    """Follows a frames file from its own byte offset.

    ``poll()`` returns the frames appended since the last call; iterating yields the same
    in a stream (constant memory for a large file). A frame whose bytes are not all there
    yet stays in ``pending_bytes`` until they are. ``corrupt`` counts damaged regions
    skipped; ``errors`` keeps the first few as (byte offset, reason)."""

    CHUNK = 4 << 20

    def __init__(self, path: str | os.PathLike, offset: int = 0) -> None:
        self.path = os.fspath(path)
        self.offset = offset  # bytes consumed (whole frames or skipped garbage)
        self._file_pos = offset  # bytes read from the file
        self._tail = b""
        self.corrupt = 0
        self.corrupt_bytes = 0
        self.errors: list[tuple[int, str]] = []
        self.frames_read = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete frame at the end (a truncated tail, once the writer is gone)."""
        return len(self._tail)

    def poll(self) -> list[dict]:
        return list(self)

    def __iter__(self) -> Iterator[dict]:
        return self._frames(decode_payload)

    def payloads(self) -> Iterator[list]:
        """Like iterating, but each frame as its raw payload array (no dict made: the
        fast path for a summary of a big file)."""
        return self._frames(None)

    def _frames(self, decode) -> Iterator[Any]:
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            if size < self._file_pos:  # the file was replaced or truncated: start over
                self.offset = self._file_pos = 0
                self._tail = b""
            f.seek(self._file_pos)
            while True:
                chunk = f.read(self.CHUNK)
                if not chunk:
                    return
                self._file_pos += len(chunk)
                yield from self._parse(self._tail + chunk if self._tail else chunk, decode)

    def _corrupt(self, at: int, reason: str, nbytes: int) -> None:
        self.corrupt += 1
        self.corrupt_bytes += nbytes
        if len(self.errors) < 20:
            self.errors.append((at, reason))

    def _parse(self, buf: bytes, decode) -> Iterator[Any]:
        n = len(buf)
        pos = 0
        base = self.offset  # file offset of buf[0]
        unpack_header = HEADER.unpack_from
        crc32 = zlib.crc32
        unpackb = msgpack.unpackb
        view = memoryview(buf)
        bad_since = -1  # start of the current corrupt region, -1 when in sync
        count = 0
        try:
            while pos + HEADER_SIZE <= n:
                magic, length, crc, check = unpack_header(buf, pos)
                if magic == MAGIC:
                    end = pos + HEADER_SIZE + length
                    # The header check matters only when the length cannot be confirmed by
                    # the CRC yet (it decides between "wait for more" and "damaged").
                    if (end > n or length > MAX_FRAME_BYTES) and (
                            length > MAX_FRAME_BYTES
                            or check != ((length ^ (crc >> 16) ^ (crc & 0xFFFF) ^ 0xA55A) & 0xFFFF)):
                        reason = "bad header"
                    else:
                        if end > n:
                            break  # partial frame: wait for the rest
                        body = view[pos + HEADER_SIZE:end]
                        if crc32(body) != crc:
                            reason = "CRC mismatch"
                        else:
                            try:
                                frame = unpackb(body, strict_map_key=False)
                            except Exception:
                                frame = None
                            if decode is not None and frame is not None:
                                frame = decode(frame)
                            elif type(frame) is not list or len(frame) < 5:
                                frame = None
                            if frame is not None:
                                if bad_since >= 0:
                                    self._corrupt(base + bad_since, self._bad_reason, pos - bad_since)
                                    bad_since = -1
                                pos = end
                                count += 1
                                yield frame
                                continue
                            reason = "payload is not a frame"
                else:
                    reason = "no frame header"
                # Resync: skip to the next magic; the whole skipped region counts once.
                if bad_since < 0:
                    bad_since = pos
                    self._bad_reason = reason
                nxt = buf.find(MAGIC, pos + 1)
                if nxt < 0:
                    pos = max(pos + 1, n - 1)  # the last byte may start the next magic
                    break
                pos = nxt
        finally:
            # Also runs when the caller stops iterating early: the offset stays exact.
            if bad_since >= 0 and bad_since < pos:
                self._corrupt(base + bad_since, self._bad_reason, pos - bad_since)
            self.frames_read += count
            self.offset = base + pos
            self._tail = bytes(view[pos:])
            view.release()

    _bad_reason = ""


def read_frames(path: str | os.PathLike) -> list[dict]:
    """Every readable frame of a file (convenience for tests and small files)."""
    return FrameReader(path).poll()
