"""The frames file: what a reader sees when the writer crashed, the disk lied, or the
writer forked."""

from __future__ import annotations

import os
import time

import msgpack

from ml_lsp.runner.frames import FrameReader, FrameWriter, encode_frame, read_frames


def wait_for(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def test_round_trip_keeps_fields_order_and_sequence(tmp_path):
    path = tmp_path / "frames.bin"
    with FrameWriter(path, rank=1) as w:
        w.metric("loss", 0.5, step=1, file="/abs/t.py", line=12)
        w.progress(3, 10, unit="epoch", file="/abs/t.py", line=8)
        w.log("hello", stream="stdout")
        w.exception("ValueError", "bad", [{"file": "/abs/t.py", "line": 3, "function": "f"}])
        w.system(cpu_percent=12.5, rss=1000, gpus=[{"index": 0, "util": 50, "mem_used": 1, "mem_total": 2}])
    frames = read_frames(path)
    assert [f["kind"] for f in frames] == ["metric", "progress", "log", "exception", "system"]
    assert [f["seq"] for f in frames] == [0, 1, 2, 3, 4]
    assert all(f["rank"] == 1 and f["pid"] == os.getpid() for f in frames)
    assert frames[0]["name"] == "loss" and frames[0]["value"] == 0.5 and frames[0]["line"] == 12
    assert frames[3]["frames"][0]["function"] == "f"


def test_truncated_tail_is_held_back_then_completed(tmp_path):
    path = tmp_path / "frames.bin"
    whole = b"".join(encode_frame({"kind": "metric", "seq": i, "value": float(i)}) for i in range(5))
    cut = len(whole) - 7
    path.write_bytes(whole[:cut])
    reader = FrameReader(path)
    assert [f["seq"] for f in reader.poll()] == [0, 1, 2, 3]
    assert reader.pending_bytes > 0 and reader.corrupt == 0
    with open(path, "ab") as f:  # the writer finishes its last frame
        f.write(whole[cut:])
    assert [f["seq"] for f in reader.poll()] == [4]
    assert reader.pending_bytes == 0 and reader.offset == len(whole)


def test_corrupt_frame_in_the_middle_is_counted_and_skipped(tmp_path):
    path = tmp_path / "frames.bin"
    frames = [encode_frame({"kind": "metric", "seq": i, "value": float(i)}) for i in range(10)]
    damaged = bytearray(frames[4])
    damaged[-2] ^= 0xFF  # a flipped payload byte: CRC mismatch
    garbage = b"\x00garbage\xc1"  # and a run of junk between two frames
    path.write_bytes(b"".join(frames[:4]) + bytes(damaged) + b"".join(frames[5:7]) + garbage
                     + b"".join(frames[7:]))
    reader = FrameReader(path)
    seqs = [f["seq"] for f in reader.poll()]
    assert seqs == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert reader.corrupt == 2
    assert reader.errors[0][0] == sum(len(f) for f in frames[:4])  # byte offset of the bad frame


def test_unknown_kinds_and_fields_pass_through(tmp_path):
    path = tmp_path / "frames.bin"
    body = msgpack.packb({"kind": "hologram", "seq": 0, "future_field": [1, 2]})
    path.write_bytes(encode_frame({"kind": "metric", "seq": 0, "value": 1.0, "new": {"x": 1}})
                     + encode_frame(msgpack.unpackb(body)))
    frames = read_frames(path)
    assert frames[0]["new"] == {"x": 1} and frames[1]["kind"] == "hologram"


def test_writer_flushes_on_its_own_within_the_interval(tmp_path):
    path = tmp_path / "frames.bin"
    w = FrameWriter(path)
    w.metric("loss", 1.0)
    reader = FrameReader(path)
    start = time.monotonic()
    frames = wait_for(reader.poll, timeout=5)
    assert frames[0]["value"] == 1.0
    assert time.monotonic() - start < 2.0  # generous: the interval is 200 ms
    w.close()


def test_fork_child_writes_its_own_frames_without_duplicating_parents(tmp_path):
    path = tmp_path / "frames.bin"
    w = FrameWriter(path)
    w.metric("before", 1.0)  # still buffered when we fork
    pid = os.fork()
    if pid == 0:
        try:
            w.metric("child", 2.0)
            w.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    w.metric("after", 3.0)
    w.close()
    frames = read_frames(path)
    names = sorted(f["name"] for f in frames)
    assert names == ["after", "before", "child"]
    child = [f for f in frames if f["name"] == "child"][0]
    assert child["pid"] == pid and child["seq"] == 0


def test_many_writers_share_one_file(tmp_path):
    path = tmp_path / "frames.bin"
    pids = []
    for rank in range(3):
        pid = os.fork()
        if pid == 0:
            try:
                w = FrameWriter(path, rank=rank)
                for i in range(2000):
                    w.metric("loss", float(i), step=i)
                    if i % 100 == 0:
                        w.flush()
                w.close()
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    reader = FrameReader(path)
    frames = reader.poll()
    assert reader.corrupt == 0 and len(frames) == 6000
    for rank in range(3):
        assert [f["step"] for f in frames if f["rank"] == rank] == list(range(2000))


def test_a_damaged_length_field_neither_stalls_nor_hides_later_frames(tmp_path):
    import struct

    path = tmp_path / "frames.bin"
    frames = [encode_frame({"kind": "metric", "seq": i, "value": float(i)}) for i in range(6)]
    damaged = bytearray(frames[2])
    struct.pack_into("<I", damaged, 2, 1_000_000)  # says 1 MB follow: they never will
    path.write_bytes(b"".join(frames[:2]) + bytes(damaged) + b"".join(frames[3:]))
    reader = FrameReader(path)
    assert [f["seq"] for f in reader.poll()] == [0, 1, 3, 4, 5]
    assert reader.corrupt == 1 and reader.pending_bytes == 0
