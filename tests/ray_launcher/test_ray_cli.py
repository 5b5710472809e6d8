"""`ml-lsp run --launcher ray` against a real Ray head on 127.0.0.1: the run folder of a
Ray run reads like a local one (metrics on the user's lines, logs, final state), stop stops
the Ray job, a crash names the user's line, a killed follower is replaced and neither
loses nor repeats a frame, and the workspace goes to a cluster only as the user says."""

from __future__ import annotations

import json
import os
import signal
import time

from ray_launcher.conftest import CRASH, DIGITS, TRAIN, line_of, ml_lsp, ray_job_status, status, wait_for


def show(ws, run_id) -> dict:
    proc = ml_lsp("runs", "show", run_id, "--json", cwd=ws)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def metric_frames(ws, run_id, name):
    from ml_lsp.runner.frames import read_frames
    return [f for f in read_frames(ws / ".ml-lsp" / "runs" / run_id / "frames.bin")
            if f["kind"] == "metric" and f["name"] == name]


def test_a_run_on_ray_comes_home_as_a_local_run_would(ray_cluster, workspace):
    proc = ml_lsp("run", "train.py", "--launcher", "ray", "--address", ray_cluster.address, "--wait", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip().splitlines()[-1]
    details = show(workspace, run_id)
    assert details["state"] == "succeeded" and details["exit_code"] == 0
    [loss] = [m for m in details["metrics"] if m["name"] == "loss"]
    # The cluster ran its own copy of the workspace; the hint belongs on the user's file.
    assert loss["path"] == str(workspace / "train.py")
    assert loss["line"] == line_of(TRAIN, "ml_lsp.log(loss=loss")
    assert loss["count"] == 20 and loss["last"] == 1.0 / 20
    assert details["remote"]["status"] == "SUCCEEDED"
    assert details["remote"]["address"] == ray_cluster.address
    assert details["remote"]["dashboard"].startswith(ray_cluster.address + "/")
    logs = ml_lsp("logs", run_id, cwd=workspace)
    assert "step 19 loss 0.05" in logs.stdout and "done 20" in logs.stdout
    assert "\x1fmlf:" not in logs.stdout  # the frames left the log for frames.bin
    assert ray_job_status(ray_cluster.address, f"ml-lsp-{run_id}") == "SUCCEEDED"


def test_stop_stops_the_ray_job(ray_cluster, workspace):
    proc = ml_lsp("run", "train.py", "200", "0.2", "--launcher", "ray", "--address", ray_cluster.address,
                  cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    wait_for(lambda: len(metric_frames(workspace, run_id, "loss")) >= 3, timeout=120)
    stopped = ml_lsp("stop", run_id, cwd=workspace)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == f"{run_id} stopped"
    assert ray_job_status(ray_cluster.address, f"ml-lsp-{run_id}") == "STOPPED"
    assert show(workspace, run_id)["remote"]["status"] == "STOPPED"
    assert len(metric_frames(workspace, run_id, "loss")) < 200


def test_a_crash_on_ray_fails_the_run_at_the_users_line(ray_cluster, workspace):
    proc = ml_lsp("run", "crash.py", "--launcher", "ray", "--address", ray_cluster.address, "--wait", cwd=workspace)
    assert proc.returncode == 1
    run_id = proc.stdout.strip().splitlines()[-1]
    details = show(workspace, run_id)
    assert details["state"] == "failed" and details["exit_code"] == 1
    exc = details["exception"]
    assert exc["type"] == "KeyError"
    assert exc["frames"][-1] == {"file": str(workspace / "crash.py"), "line": line_of(CRASH, 'x["missing"]'),
                                 "function": "forward"}
    assert "KeyError" in ml_lsp("logs", run_id, cwd=workspace).stdout


def test_a_killed_follower_is_replaced_and_loses_or_repeats_nothing(ray_cluster, workspace):
    proc = ml_lsp("run", "train.py", "60", "0.15", "--launcher", "ray", "--address", ray_cluster.address,
                  cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    wait_for(lambda: len(metric_frames(workspace, run_id, "loss")) >= 5, timeout=120)
    first = status(workspace, run_id)["pid"]
    os.kill(first, signal.SIGKILL)  # the follower, and with it the connection to the cluster
    wait_for(lambda: status(workspace, run_id).get("pid") not in (None, first), timeout=30)
    assert status(workspace, run_id)["reattached"] == 1
    wait_for(lambda: status(workspace, run_id).get("state") in ("succeeded", "failed"), timeout=180)
    assert status(workspace, run_id)["state"] == "succeeded"
    steps = [f["step"] for f in metric_frames(workspace, run_id, "loss")]
    assert steps == list(range(60))  # every frame once, in order
    out = (workspace / ".ml-lsp" / "runs" / run_id / "stdout.log").read_text()
    printed = [line for line in out.splitlines() if line.startswith("step ")]
    assert printed == [f"step {i} loss {1.0 / (i + 1)}" for i in range(60)]


def test_a_fine_tune_paused_on_ray_resumes_on_ray_from_the_checkpoint_it_brought_home(ray_cluster, workspace,
                                                                                      pretrained):
    import shutil

    import torch

    for name in ("model.py", "data.py"):
        shutil.copy(DIGITS / name, workspace / name)
    shutil.copy(pretrained, workspace / "pretrained.pt")
    flags = ["--model", "model.py:DigitsCNN", "--init", "num_classes=5", "--checkpoint", "pretrained.pt",
             "--data", "data.py:digits_5_9", "--replace-head", "head=5", "--epochs", "2",
             "--checkpoint-every", "7", "--lr", "0.005", "--launcher", "ray", "--address", ray_cluster.address]
    paused = ml_lsp("finetune", *flags, "--stop-after", "17", "--wait", cwd=workspace, timeout=400)
    assert paused.returncode == 0, paused.stderr
    first = paused.stdout.strip().splitlines()[-1]
    home = workspace / ".ml-lsp" / "runs" / first / "checkpoints" / "last.pt"
    assert torch.load(home, weights_only=True)["state"]["step"] == 17  # came home from the cluster

    resumed = ml_lsp("finetune", "--resume", first, "--wait", cwd=workspace, timeout=400)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at step 17" in resumed.stderr
    second = resumed.stdout.strip().splitlines()[-1]
    details = show(workspace, second)
    assert details["state"] == "succeeded" and details["remote"]["status"] == "SUCCEEDED"
    folder = workspace / ".ml-lsp" / "runs" / second
    from ml_lsp.runner.frames import read_frames
    progress = [f["current"] for f in read_frames(folder / "frames.bin") if f["kind"] == "progress"]
    assert progress[0] == 17  # the job on the cluster started from the checkpoint, not from step 0
    assert torch.load(folder / "checkpoints" / "last.pt", weights_only=True)["state"]["step"] == 46
    assert json.loads((folder / "metrics.json").read_text())["steps"] == 46


def test_the_cluster_a_repository_names_needs_the_users_yes(ray_cluster, workspace):
    (workspace / "pyproject.toml").write_text(
        f'[project]\nname = "ws"\n\n[tool.ml-lsp.launchers.ray]\naddress = "{ray_cluster.address}"\n')
    refused = ml_lsp("run", "train.py", "3", "--launcher", "ray", "--wait", cwd=workspace)
    assert refused.returncode == 2
    assert ray_cluster.address in refused.stderr and "pyproject.toml" in refused.stderr
    assert "--yes" in refused.stderr and "Traceback" not in refused.stderr
    runs = workspace / ".ml-lsp" / "runs"
    assert not [p for p in runs.iterdir() if p.name[:1].isdigit()], "a run was made without the user's yes"

    agreed = ml_lsp("run", "train.py", "3", "--launcher", "ray", "--yes", "--wait", cwd=workspace)
    assert agreed.returncode == 0, agreed.stderr
    # Remembered for this workspace and address: the next run needs no --yes.
    again = ml_lsp("run", "train.py", "3", "--launcher", "ray", "--wait", cwd=workspace)
    assert again.returncode == 0, again.stderr
    consents = json.loads((workspace.parent / "state" / "ml-lsp" / "launcher-consents.json").read_text())
    assert [k.split(":", 1)[1].rsplit(":", 1)[0] for k in consents[str(workspace)]] == [ray_cluster.address]

    # The user's own setting wins over the repository's, and needs no consent.
    (workspace / "pyproject.toml").write_text(
        '[project]\nname = "ws"\n\n[tool.ml-lsp.launchers.ray]\naddress = "http://127.0.0.1:9"\n')
    user_file = workspace.parent / "config" / "ml-lsp" / "settings.toml"
    user_file.parent.mkdir(parents=True, exist_ok=True)
    user_file.write_text(f'[launchers.ray]\naddress = "{ray_cluster.address}"\n')
    mine = ml_lsp("run", "train.py", "3", "--launcher", "ray", "--wait", cwd=workspace)
    assert mine.returncode == 0, mine.stderr


def test_a_workspace_too_big_to_send_is_refused_naming_what_to_leave_out(workspace):
    (workspace / "data").mkdir()
    (workspace / "data" / "images.bin").write_bytes(os.urandom(3 * 2**20))
    (workspace / "outputs").mkdir()
    (workspace / "outputs" / "big.ckpt").write_bytes(b"\0" * (8 * 2**20))
    (workspace / ".gitignore").write_text("outputs/\n")  # ignored: not sent, not counted
    user_file = workspace.parent / "config" / "ml-lsp" / "settings.toml"
    user_file.parent.mkdir(parents=True, exist_ok=True)
    user_file.write_text('[launchers.ray]\naddress = "http://127.0.0.1:9"\nmax_upload_mb = 2\n')
    proc = ml_lsp("run", "train.py", "--launcher", "ray", cwd=workspace)
    assert proc.returncode == 2
    assert "3.0 MiB" in proc.stderr and "data/ (3.0 MiB)" in proc.stderr and "outputs/ (" not in proc.stderr
    assert ".gitignore" in proc.stderr and "max_upload_mb" in proc.stderr and "Traceback" not in proc.stderr
    (workspace / ".gitignore").write_text("outputs/\ndata/\n")
    started = time.monotonic()
    ok = ml_lsp("run", "train.py", "--launcher", "ray", "--name", "small", cwd=workspace)
    assert ok.returncode == 0, ok.stderr  # queued (this address has no cluster: the run fails later)
    assert time.monotonic() - started < 60
