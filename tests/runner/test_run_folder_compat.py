"""Run folders another version, a crash or a bad disk left behind: readers show what is
there and say what is damaged."""

from __future__ import annotations

import json
import time

from ml_lsp.runner.frames import encode_frame
from ml_lsp.runner.run_folder import RunFolder, write_json_atomic

from .conftest import cli, runs_json


def make_finished_run(runs_dir, frames: bytes, **status_extra) -> RunFolder:
    run = RunFolder.create(runs_dir, {"script": "/abs/train.py", "args": [], "name": "train"})
    now = time.time()
    run.write_status(state="succeeded", started=now - 5, ended=now, exit_code=0, **status_extra)
    run.frames_path.write_bytes(frames)
    return run


def metric(i: int, line: int = 12) -> bytes:
    return encode_frame({"kind": "metric", "seq": i, "t": 1.0 + i, "rank": 0, "pid": 1,
                         "name": "loss", "value": 1.0 / (i + 1), "step": i, "file": "/abs/train.py",
                         "line": line})


def test_folder_written_by_a_newer_version_reads_fine(runs_dir):
    frames = (metric(0) + encode_frame({"kind": "gpu_trace", "seq": 1, "blob": [1, 2, 3]})
              + encode_frame({"kind": "metric", "seq": 2, "name": "loss", "value": 0.25, "step": 7,
                              "file": "/abs/train.py", "line": 12, "unit": "nats", "tags": {"a": 1}}))
    run = make_finished_run(runs_dir, frames, cluster={"nodes": 4}, version=2)
    spec = json.loads(run.spec_path.read_text())
    spec.update({"version": 2, "scheduler": {"queue": "gpu"}, "kind": "sweep"})
    write_json_atomic(run.spec_path, spec)
    (run.path / "profiler.trace").write_text("{}")
    [record] = runs_json(runs_dir)
    assert record["id"] == run.id and record["state"] == "succeeded"
    details = json.loads(cli("runs", "show", run.id, "--json", runs_dir=runs_dir).stdout)
    [loss] = details["metrics"]
    assert (loss["last"], loss["step"], loss["count"], loss["line"]) == (0.25, 7, 2, 12)
    assert details["corrupt_frames"] == 0
    # a rewrite by this version keeps the fields it does not know
    run.write_status(heartbeat=1.0)
    assert run.status()["cluster"] == {"nodes": 4}


def test_corrupt_frame_in_the_middle_and_truncated_tail_are_reported(runs_dir):
    frames = [metric(i) for i in range(20)]
    damaged = bytearray(frames[10])
    damaged[-3] ^= 0x55
    data = b"".join(frames[:10]) + bytes(damaged) + b"".join(frames[11:]) + metric(20)[:-4]
    run = make_finished_run(runs_dir, data)
    out = cli("runs", "show", run.id, "--json", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    details = json.loads(out.stdout)
    [loss] = details["metrics"]
    assert loss["count"] == 19 and loss["step"] == 19 and loss["last"] == 1.0 / 20
    assert details["corrupt_frames"] == 1 and details["truncated_bytes"] > 0
    text = cli("runs", "show", run.id, runs_dir=runs_dir).stdout
    assert "1 damaged region(s) skipped" in text and "cut-off frame" in text


def test_a_half_written_status_or_empty_folder_does_not_break_listing(runs_dir):
    good = make_finished_run(runs_dir, metric(0))
    broken = RunFolder.create(runs_dir, {"script": "/abs/x.py"})
    broken.status_path.write_text('{"state": "runn')  # torn by a crash of an old writer
    (runs_dir / "not-a-run").mkdir()
    (runs_dir / ".tmp-of-a-dead-submit").mkdir()
    ids = {r["id"]: r["state"] for r in runs_json(runs_dir)}
    assert ids == {good.id: "succeeded", broken.id: "queued"}


def test_summary_cache_is_refreshed_when_the_frames_file_grows(runs_dir):
    run = make_finished_run(runs_dir, metric(0))
    first = json.loads(cli("runs", "show", run.id, "--json", runs_dir=runs_dir).stdout)
    assert first["metrics"][0]["count"] == 1 and (run.path / "summary.json").exists()
    with open(run.frames_path, "ab") as f:  # a straggling rank flushed late
        f.write(metric(1))
    second = json.loads(cli("runs", "show", run.id, "--json", runs_dir=runs_dir).stdout)
    assert second["metrics"][0]["count"] == 2
