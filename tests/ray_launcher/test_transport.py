"""The job's log splits into the same frames and text however it is cut into chunks, with
frames printed in the middle of a line the job was writing in pieces, and a second reader
that starts over skips exactly what the first one wrote (no frame or byte twice, none lost)."""

from __future__ import annotations

from ml_lsp.runner.frames import encode_frame
from ml_lsp_ray.transport import LogDemux, file_line, frame_line


def frame(i: int) -> bytes:
    return encode_frame({"kind": "metric", "seq": i, "t": 1.0, "rank": 0, "pid": 7, "name": "loss",
                         "value": float(i), "step": i, "file": "/w/train.py", "line": 3})


def job_log() -> tuple[str, list[bytes], str]:
    """A log as Ray keeps it: ``print("step", i)`` written in pieces, frames landing between
    the pieces, a lone unit separator and a file at the end."""
    parts, frames, text = [], [], ""
    for i in range(40):
        for piece in ("step", " ", str(i), "\n"):
            parts.append(piece)
            text += piece
            if piece == " " and i % 3 == 0:
                frames.append(frame(i))
                parts.append(frame_line(frame(i)).decode())
    parts.append("odd \x1f byte\n")
    text += "odd \x1f byte\n"
    parts.append(file_line("metrics.json", b'{"val_accuracy": 0.97}').decode())
    return "".join(parts), frames, text


def split(log: str, size: int) -> list[str]:
    return [log[i:i + size] for i in range(0, len(log), size)]


def read(chunks: list[str], frames_done: int = 0, text_done: int = 0, ended: bool = True):
    demux = LogDemux(frames_done, text_done)
    frames, text, files = [], b"", []
    for i, chunk in enumerate(chunks):
        out = demux.feed(chunk, final=ended and i == len(chunks) - 1)
        assert out.damaged == 0
        frames += out.frames
        text += out.text
        files += out.files
    return frames, text, files


def test_any_chunking_gives_the_same_frames_text_and_files():
    log, frames, text = job_log()
    for size in (1, 2, 3, 7, 64, 1000, len(log)):
        got_frames, got_text, files = read(split(log, size))
        assert got_frames == frames and got_text.decode() == text
        assert files == [("metrics.json", b'{"val_accuracy": 0.97}')]


def test_a_reader_starting_over_writes_only_what_the_last_one_did_not():
    log, frames, text = job_log()
    cut = len(log) * 2 // 3
    first_frames, first_text, _ = read(split(log[:cut], 5), ended=False)  # the connection dropped here
    assert 0 < len(first_frames) < len(frames)
    rest_frames, rest_text, _ = read(split(log, 11), len(first_frames), len(first_text))
    assert first_frames + rest_frames == frames
    assert (first_text + rest_text).decode() == text
