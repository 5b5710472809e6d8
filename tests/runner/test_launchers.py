"""Launchers come from plugins (the built-in ones through the same entry point a third
party uses); torchrun runs every rank under the telemetry bootstrap."""

from __future__ import annotations

import json

from ml_lsp.plugins import PluginHost
from ml_lsp.runner.frames import read_frames
from ml_lsp.runner.run_folder import RunFolder

from .conftest import cli, runs_json, write_script


def test_builtin_launchers_load_through_the_entry_point():
    host = PluginHost()
    host.load_entry_points()
    launchers = host.merged_mapping("ml_lsp_launchers")
    assert {"local", "torchrun"} <= set(launchers)
    spec = {"script": "/abs/train.py", "args": ["--lr", "3"], "python": "/usr/bin/python3",
            "nproc_per_node": 2}
    argv = launchers["torchrun"](spec, [])["argv"]
    # our own code (torchrun, the bootstrap) starts path-safe: -c code that drops the
    # working folder (the user's project) from sys.path before importing anything
    assert argv[:2] == ["/usr/bin/python3", "-c"] and "from torch.distributed.run import main" in argv[2]
    assert argv[3:7] == ["--standalone", "--nproc-per-node", "2", "--no-python"]
    assert argv[7:9] == ["/usr/bin/python3", "-c"] and "ml_lsp.telemetry.bootstrap" in argv[9]
    assert argv[-3:] == ["/abs/train.py", "--lr", "3"]


def test_unknown_launcher_fails_the_run_with_the_installed_ones_named(tmp_path, runs_dir, runner):
    runner.start()
    script = write_script(tmp_path, "ok.py", "print(1)\n")
    out = cli("run", str(script), "--launcher", "slurm", "--wait", runs_dir=runs_dir)
    assert out.returncode == 1
    [record] = runs_json(runs_dir)
    assert record["state"] == "failed" and "unknown launcher 'slurm'" in record["error"]
    assert "torchrun" in record["error"] and "unknown launcher 'slurm'" in out.stderr


def test_torchrun_on_cpu_records_frames_from_every_rank(tmp_path, runs_dir, runner):
    runner.start()
    script = write_script(tmp_path, "ddp.py", """
        import os
        import ml_lsp
        rank = int(os.environ["RANK"])
        for step in range(5):
            ml_lsp.log(loss=float(rank * 10 + step), step=step)
    """)
    out = cli("run", str(script), "--launcher", "torchrun", "--nproc-per-node", "2", "--devices", "cpu",
              "--wait", runs_dir=runs_dir, timeout=180)
    assert out.returncode == 0, out.stderr
    run = RunFolder(runs_dir / out.stdout.strip().splitlines()[-1])
    metrics = [f for f in read_frames(run.frames_path) if f["kind"] == "metric" and f["name"] == "loss"]
    assert sorted({f["rank"] for f in metrics}) == [0, 1]
    assert [f["value"] for f in metrics if f["rank"] == 1] == [10.0, 11.0, 12.0, 13.0, 14.0]
    # rank 0's metrics are the ones shown by default; --rank picks another
    details = json.loads(cli("runs", "show", run.id, "--json", runs_dir=runs_dir).stdout)
    assert [m["last"] for m in details["metrics"] if m["name"] == "loss"] == [4.0]
    rank1 = json.loads(cli("runs", "show", run.id, "--json", "--rank", "1", runs_dir=runs_dir).stdout)
    assert [m["last"] for m in rank1["metrics"] if m["name"] == "loss"] == [14.0]
