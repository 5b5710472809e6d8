"""How frames and files come home from a Ray job: inside the job's own log.

The job on the cluster writes its frames to a file on its node, as a local run does; the
job's entry (``remote``) reads them back and prints each one into the job's log as one
marked line::

    \\x1fmlf:<base64 of the frame's bytes, header and payload>\\n

and, once the job has ended, each output file of its run folder (a fine-tune's
``metrics.json``, ``model.safetensors``...) as::

    \\x1fmla:<base64 of the relative path>:<base64 of zlib(bytes)>\\n

Why the log: it is the one channel Ray Jobs gives a client (``JobSubmissionClient``'s
``tail_job_logs``/``get_job_logs``, over the dashboard's HTTP port) with nothing more to
open on the cluster; Ray keeps it on the head node for the job's lifetime and after, so a
follower that lost its connection (or was killed) reads it again from the start. What it
already wrote is then skipped by count (the frames in ``frames.bin``, the bytes in
``stdout.log``): the log is append-only, so a re-read splits into exactly the same frames
and text, and nothing is written twice or lost.

A marked line is written with one ``write`` to the log file Ray opened in append mode, so
it is never torn by the job's own output; it may start in the middle of a line the job is
printing in pieces (``print(a, b)`` writes ``a``, `` ``, ``b``, ``\\n``), so the reader finds
markers anywhere and joins the text around them. ``\\x1f`` (unit separator) is not text a
program prints.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass, field

FRAME_MARK = "\x1fmlf:"
FILE_MARK = "\x1fmla:"
MARKS = (FRAME_MARK, FILE_MARK)
MARK_START = "\x1f"
MARK_LEN = len(FRAME_MARK)


def frame_line(frame: bytes) -> bytes:
    return FRAME_MARK.encode() + base64.b64encode(frame) + b"\n"


def file_line(relpath: str, data: bytes) -> bytes:
    return (FILE_MARK.encode() + base64.urlsafe_b64encode(relpath.encode()) + b":"
            + base64.b64encode(zlib.compress(data, 6)) + b"\n")


def valid_frame(data: bytes) -> bool:
    """Whether ``data`` is one whole frame (header, length and CRC check out)."""
    from ml_lsp.runner.frames import HEADER, HEADER_SIZE, MAGIC

    if len(data) < HEADER_SIZE:
        return False
    magic, length, crc, _check = HEADER.unpack_from(data, 0)
    return magic == MAGIC and length == len(data) - HEADER_SIZE and zlib.crc32(data[HEADER_SIZE:]) == crc


@dataclass
class Demuxed:
    frames: list[bytes] = field(default_factory=list)  # new frames, in order
    text: bytes = b""  # new job output
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (relative path, content)
    damaged: int = 0  # marked lines that did not decode (never written, never counted)


class LogDemux:
    """Splits a job's log, read from its start, into frames, files and the job's own text,
    and leaves out the first ``frames_done`` frames and ``text_done`` bytes of text (what a
    previous follower already wrote). Feed it the log in chunks of any size."""

    def __init__(self, frames_done: int = 0, text_done: int = 0) -> None:
        self.frames_done, self.text_done = frames_done, text_done
        self.frames_seen = 0  # frames in the log so far (written or skipped)
        self.text_seen = 0  # bytes of text in the log so far
        self._buf = ""

    def feed(self, chunk: str, final: bool = False) -> Demuxed:
        out = Demuxed()
        buf = self._buf + chunk
        pos = 0
        text_parts: list[str] = []
        while True:
            at = buf.find(MARK_START, pos)
            if at < 0:
                text_parts.append(buf[pos:])
                pos = len(buf)
                break
            mark = buf[at:at + MARK_LEN]
            if mark not in MARKS:
                if len(mark) < MARK_LEN and any(m.startswith(mark) for m in MARKS) and not final:
                    text_parts.append(buf[pos:at])  # maybe the start of a marker: wait
                    pos = at
                    break
                text_parts.append(buf[pos:at + 1])  # a lone \x1f is text
                pos = at + 1
                continue
            end = buf.find("\n", at)
            if end < 0:
                text_parts.append(buf[pos:at])
                pos = at
                if final:  # a marked line cut off for good
                    out.damaged += 1
                    pos = len(buf)
                break
            text_parts.append(buf[pos:at])
            self._segment(mark, buf[at + MARK_LEN:end], out)
            pos = end + 1
        self._buf = buf[pos:]
        self._text("".join(text_parts), out)
        return out

    def _segment(self, mark: str, body: str, out: Demuxed) -> None:
        try:
            if mark == FRAME_MARK:
                frame = base64.b64decode(body, validate=True)
                if not valid_frame(frame):
                    raise ValueError("not a frame")
                self.frames_seen += 1
                if self.frames_seen > self.frames_done:
                    out.frames.append(frame)
            else:
                name, _, data = body.partition(":")
                out.files.append((base64.urlsafe_b64decode(name).decode(),
                                  zlib.decompress(base64.b64decode(data, validate=True))))
        except (ValueError, binascii.Error, zlib.error, UnicodeDecodeError):
            out.damaged += 1

    def _text(self, text: str, out: Demuxed) -> None:
        if not text:
            return
        data = text.encode("utf-8", errors="surrogateescape")
        start = self.text_seen
        self.text_seen += len(data)
        if self.text_seen > self.text_done:
            out.text = data[max(0, self.text_done - start):]
