"""Where the runner puts a run: GPUs by free memory, one run per GPU, CPU slots, and one
runner per runs folder. GPU lists are given to the runner as NVML would report them
(this machine has no GPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from ml_lsp.runner.daemon import Job, Runner, runner_alive
from ml_lsp.runner.devices import Gpu, parse_devices, parse_nvidia_smi

GIB = 1 << 30


def gpus():
    return [Gpu(0, "A", 10 * GIB, 80 * GIB), Gpu(1, "B", 70 * GIB, 80 * GIB), Gpu(2, "C", 40 * GIB, 80 * GIB)]


class FakeProcess:
    pid = 0


def occupy(runner: Runner, name: str, devices: list[int], cpu: bool = False) -> None:
    runner.jobs[name] = Job(run=None, process=FakeProcess(), devices=devices, uses_cpu_slot=cpu)


def test_auto_takes_the_gpu_with_most_free_memory_and_one_run_per_gpu(tmp_path):
    runner = Runner(tmp_path, gpus=gpus)
    assert runner._place({"devices": "auto"}) == ([1], False)
    occupy(runner, "a", [1])
    assert runner._place({"devices": "auto"}) == ([2], False)
    occupy(runner, "b", [2])
    occupy(runner, "c", [0])
    assert runner._place({"devices": "auto"}) is None  # waits in the queue
    runner.gpu_jobs = 2
    assert runner._place({"devices": "auto"}) == ([1], False)


def test_torchrun_auto_takes_nproc_gpus_and_explicit_devices_are_checked(tmp_path):
    runner = Runner(tmp_path, gpus=gpus)
    assert runner._place({"devices": "auto", "launcher": "torchrun", "nproc_per_node": 2}) == ([1, 2], False)
    with pytest.raises(ValueError, match="asks for 4 GPUs; this machine has 3"):
        runner._place({"devices": "auto", "launcher": "torchrun", "nproc_per_node": 4})
    assert runner._place({"devices": [0, 2]}) == ([0, 2], False)
    with pytest.raises(ValueError, match="GPU 5 not found"):
        runner._place({"devices": [5]})
    occupy(runner, "a", [2])
    assert runner._place({"devices": [0, 2]}) is None


def test_cpu_runs_use_slots_and_auto_means_cpu_without_gpus(tmp_path):
    runner = Runner(tmp_path, cpu_slots=2, gpus=lambda: [])
    assert runner._place({"devices": "auto"}) == ([], True)
    occupy(runner, "a", [], cpu=True)
    assert runner._place({"devices": "cpu"}) == ([], True)
    occupy(runner, "b", [], cpu=True)
    assert runner._place({"devices": "cpu"}) is None
    with_gpus = Runner(tmp_path, cpu_slots=1, gpus=gpus)
    assert with_gpus._place({"devices": "cpu"}) == ([], True)  # cpu never takes a GPU


def test_nvidia_smi_output_and_device_flags_parse():
    text = "0, NVIDIA H100, 81000, 81559, 3, GPU-aaa\n1, NVIDIA H100, 1200, 81559, [N/A], GPU-bbb\n"
    a, b = parse_nvidia_smi(text)
    assert (a.index, a.mem_free, a.util, a.uuid) == (0, 81000 << 20, 3, "GPU-aaa")
    assert (b.index, b.mem_free, b.util) == (1, 1200 << 20, None)
    assert parse_devices("0, 1") == [0, 1] and parse_devices("CPU") == "cpu" and parse_devices(None) == "auto"
    with pytest.raises(ValueError, match="expected auto, cpu, or GPU indices"):
        parse_devices("gpu0")


def test_one_runner_per_runs_folder(tmp_path, runs_dir, runner):
    first = runner.start()
    assert runner_alive(runs_dir)
    second = subprocess.run([sys.executable, "-m", "ml_lsp.runner", "--runs-dir", str(runs_dir)],
                            capture_output=True, text=True, timeout=30)
    assert second.returncode == 0 and first.poll() is None
    from ml_lsp.runner.jobs import ensure_runner
    assert ensure_runner(runs_dir) is False  # attaches instead of starting another
    runner.stop()
    assert not runner_alive(runs_dir)


def test_an_idle_runner_exits_and_the_next_run_starts_a_new_one(tmp_path, runs_dir, runner):
    from ml_lsp.runner import make_spec, submit, wait

    from .conftest import wait_for, write_script

    proc = runner.start("--idle-exit", "0.5")
    wait_for(lambda: proc.poll() is not None, timeout=30, what="the idle runner to exit")
    assert proc.returncode == 0 and not runner_alive(runs_dir)
    script = write_script(tmp_path, "ok.py", "print('ok')\n")
    run = submit(make_spec(script), runs_dir)  # starts a runner on demand
    assert wait(run, timeout=60) == "succeeded"
    os.kill(json.loads((runs_dir / "runner.json").read_text())["pid"], signal.SIGTERM)  # ours to end


FAKE_NVIDIA_SMI = """#!/bin/sh
# Two GPUs, as nvidia-smi --query-gpu ... --format=csv,noheader,nounits prints them.
echo "0, Fake GPU, 1000, 81559, 97, GPU-aaa"
echo "1, Fake GPU, 70000, 81559, 0, GPU-bbb"
"""


def test_runs_get_the_freest_gpu_from_nvidia_smi_one_per_gpu(tmp_path, runs_dir, runner, monkeypatch):
    """Real processes end to end: the runner finds GPUs through an nvidia-smi on PATH (this
    machine has none, so a script prints what a real one prints), and each job sees only its
    GPU through CUDA_VISIBLE_DEVICES, numbered in PCI bus order."""
    from .conftest import cli, wait_for, write_script
    from ml_lsp.runner.run_folder import RunFolder

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").write_text(FAKE_NVIDIA_SMI)
    (bin_dir / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    runner.start()
    script = write_script(tmp_path, "where.py", """
        import json, os, sys, time
        json.dump({k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER")},
                  open(sys.argv[1], "w"))
        time.sleep(float(sys.argv[2]))
    """)
    first = cli("run", str(script), str(tmp_path / "first.json"), "5", runs_dir=runs_dir)
    assert first.returncode == 0, first.stderr
    wait_for(lambda: (tmp_path / "first.json").exists(), what="the first run to start")
    second = cli("run", str(script), str(tmp_path / "second.json"), "0", "--wait", runs_dir=runs_dir)
    assert second.returncode == 0, second.stderr
    # The freest GPU first; the second run, while the first holds it, the other one.
    assert json.loads((tmp_path / "first.json").read_text()) == \
        {"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert json.loads((tmp_path / "second.json").read_text())["CUDA_VISIBLE_DEVICES"] == "0"
    spec = RunFolder(runs_dir / first.stdout.strip().splitlines()[-1]).spec()
    assert spec.get("devices") == "auto"
    refused = cli("run", str(script), "x", "0", "--devices", "2", runs_dir=runs_dir)
    assert refused.returncode == 2 and "GPU 2 not found" in refused.stderr
