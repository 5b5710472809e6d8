"""`ml-lsp run/runs/logs/stop/rerun` end to end: a real runner process running real
(tiny) scripts, as a user at a terminal sees them."""

from __future__ import annotations

import json
import os
import signal

from ml_lsp.runner.run_folder import RunFolder, iter_runs

from .conftest import cli, run_state, runs_json, wait_for, write_script


def test_run_wait_prints_id_last_and_runs_json_lists_it(tmp_path, runs_dir, runner):
    runner.start()
    script = write_script(tmp_path, "ok.py", """
        import sys
        print("args", sys.argv[1:])
    """)
    out = cli("run", str(script), "--lr", "3", "--wait", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip().splitlines()[-1]
    run = RunFolder(runs_dir / run_id)
    assert run.stdout_path.read_text().strip() == "args ['--lr', '3']"
    [record] = runs_json(runs_dir)
    assert record["id"] == run_id and record["state"] == "succeeded" and record["exit_code"] == 0
    assert record["script"] == str(script) and record["started"] <= record["ended"]
    logs = cli("logs", run_id, runs_dir=runs_dir)
    assert "args ['--lr', '3']" in logs.stdout


def test_failing_script_exits_1_with_its_exit_code(tmp_path, runs_dir, runner):
    runner.start()
    script = write_script(tmp_path, "bad.py", """
        import sys
        print("about to fail", file=sys.stderr)
        sys.exit(3)
    """)
    out = cli("run", str(script), "--wait", runs_dir=runs_dir)
    assert out.returncode == 1
    run_id = out.stdout.strip().splitlines()[-1]
    assert "exit code 3" in out.stderr
    [record] = runs_json(runs_dir)
    assert (record["id"], record["state"], record["exit_code"]) == (run_id, "failed", 3)


def test_metrics_show_on_the_line_that_logged_them(tmp_path, runs_dir, runner):
    runner.start()
    script = write_script(tmp_path, "train.py", """
        import ml_lsp
        for step in range(50):
            loss = 1.0 / (step + 1)
            ml_lsp.log(loss=loss, step=step)
    """)
    out = cli("run", str(script), "--wait", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip().splitlines()[-1]
    shown = cli("runs", "show", run_id, "--json", runs_dir=runs_dir)
    details = json.loads(shown.stdout)
    assert details["id"] == run_id and details["state"] == "succeeded"
    [loss] = [m for m in details["metrics"] if m["name"] == "loss"]
    assert loss["path"] == str(script) and loss["line"] == 4
    assert loss["last"] == 1.0 / 50 and loss["step"] == 49 and loss["count"] == 50
    text = cli("runs", "show", run_id, runs_dir=runs_dir).stdout
    assert f"{script}:4" in text and "loss" in text


def test_missing_script_and_syntax_error_leave_no_run(tmp_path, runs_dir):
    out = cli("run", str(tmp_path / "nope.py"), runs_dir=runs_dir)
    assert out.returncode == 2 and "nope.py: no such file" in out.stderr
    assert "Traceback" not in out.stderr
    broken = write_script(tmp_path, "broken.py", """
        x = 1
        def f(:
            pass
    """)
    out = cli("run", str(broken), "--wait", runs_dir=runs_dir)
    assert out.returncode == 2 and f"{broken}:2" in out.stderr and "syntax error" in out.stderr
    assert "Traceback" not in out.stderr
    assert list(iter_runs(runs_dir)) == [] and not any(p.name.startswith(".") for p in runs_dir.iterdir())


def test_kill_9_of_the_job_is_failed_with_the_signal(tmp_path, runs_dir, runner):
    runner.start()
    script = write_script(tmp_path, "sleepy.py", """
        import time
        print("started", flush=True)
        time.sleep(60)
    """)
    run_id = cli("run", str(script), runs_dir=runs_dir).stdout.strip()
    run = RunFolder(runs_dir / run_id)
    wait_for(lambda: "started" in (run.stdout_path.read_text() if run.stdout_path.exists() else ""),
             what="the job to start")
    os.kill(run.status()["pid"], signal.SIGKILL)
    wait_for(lambda: run.state() == "failed", what="state failed")
    status = run.status()
    assert status["signal"] == "SIGKILL" and status["exit_code"] == -9
    assert "SIGKILL" in cli("runs", runs_dir=runs_dir).stdout


def test_kill_9_of_the_runner_makes_the_run_lost_within_the_heartbeat_timeout(tmp_path, runs_dir, runner):
    proc = runner.start(heartbeat_interval=0.2, heartbeat_timeout=1.5)
    script = write_script(tmp_path, "sleepy.py", """
        import time
        time.sleep(60)
    """)
    run_id = cli("run", str(script), runs_dir=runs_dir).stdout.strip()
    wait_for(lambda: run_state(runs_dir, run_id) == "running", what="running")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    states = wait_for(lambda: [r["state"] for r in runs_json(runs_dir)] == ["lost"] and ["lost"],
                      timeout=1.5 + 5, what="state lost")
    assert states == ["lost"]
    # The job itself survives its runner (it has its own session); stop still reaches it.
    pid = RunFolder(runs_dir / run_id).status()["pid"]
    os.kill(pid, 0)
    out = cli("stop", run_id, "--grace", "0.5", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    wait_for(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z",
             what="the orphaned job to die")


def test_two_runs_at_once_on_the_cpu(tmp_path, runs_dir, runner):
    runner.start("--cpu-slots", "2")
    # Each job waits until the other has started: both succeed only if they run together.
    script = write_script(tmp_path, "pair.py", f"""
        import os, sys, time
        me, other = sys.argv[1], sys.argv[2]
        open(os.path.join({str(tmp_path)!r}, me), "w").close()
        deadline = time.time() + 30
        while not os.path.exists(os.path.join({str(tmp_path)!r}, other)):
            if time.time() > deadline:
                sys.exit("the other run never started")
            time.sleep(0.02)
    """)
    a = cli("run", str(script), "a", "b", runs_dir=runs_dir).stdout.strip()
    b = cli("run", str(script), "b", "a", runs_dir=runs_dir).stdout.strip()
    wait_for(lambda: {run_state(runs_dir, a), run_state(runs_dir, b)} <= {"succeeded", "failed"},
             what="both runs to end")
    assert run_state(runs_dir, a) == run_state(runs_dir, b) == "succeeded"


def test_ten_queued_runs_with_one_slot_run_one_at_a_time_in_order(tmp_path, runs_dir, runner):
    from ml_lsp.runner import make_spec, submit

    script = write_script(tmp_path, "step.py", """
        import sys, time
        time.sleep(0.05)
        print(sys.argv[1])
    """)
    runs = [submit(make_spec(script, [str(i)], devices="cpu"), runs_dir, start_runner=False) for i in range(10)]
    runner.start("--cpu-slots", "1")
    wait_for(lambda: all(r.state() == "succeeded" for r in runs), timeout=60, what="ten runs")
    statuses = [r.status() for r in runs]
    for before, after in zip(statuses, statuses[1:]):
        assert after["started"] >= before["ended"], "a run started before the previous one ended"
    assert [r.stdout_path.read_text().strip() for r in runs] == [str(i) for i in range(10)]


def test_stop_escalates_to_sigkill_for_a_script_that_ignores_signals(tmp_path, runs_dir, runner):
    runner.start()
    script = write_script(tmp_path, "stubborn.py", """
        import signal, subprocess, sys, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        print(child.pid, flush=True)
        time.sleep(60)
    """)
    run_id = cli("run", str(script), runs_dir=runs_dir).stdout.strip()
    run = RunFolder(runs_dir / run_id)
    child_pid = int(wait_for(lambda: run.stdout_path.exists() and run.stdout_path.read_text().strip(),
                             what="the child's pid"))
    out = cli("stop", run_id, "--grace", "0.3", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{run_id} stopped"
    assert run.status()["signal"] == "SIGKILL"
    # The whole process group went, the script's own child too.
    wait_for(lambda: not os.path.exists(f"/proc/{child_pid}")
             or open(f"/proc/{child_pid}/stat").read().split()[2] == "Z", what="the child to die")


def test_stop_sends_sigint_first_so_the_script_can_clean_up(tmp_path, runs_dir, runner):
    runner.start()
    script = write_script(tmp_path, "polite.py", """
        import time
        try:
            print("working", flush=True)
            time.sleep(60)
        except KeyboardInterrupt:
            print("saved a checkpoint", flush=True)
    """)
    run_id = cli("run", str(script), runs_dir=runs_dir).stdout.strip()
    run = RunFolder(runs_dir / run_id)
    wait_for(lambda: run.stdout_path.exists() and "working" in run.stdout_path.read_text(), what="working")
    out = cli("stop", run_id, runs_dir=runs_dir)
    assert out.returncode == 0 and run.state() == "stopped"
    assert "saved a checkpoint" in run.stdout_path.read_text()


def test_stopping_a_queued_run_takes_it_out_of_the_queue(tmp_path, runs_dir):
    from ml_lsp.runner import make_spec, submit

    marker = tmp_path / "ran"
    script = write_script(tmp_path, "never.py", f"open({str(marker)!r}, 'w').close()\n")
    run = submit(make_spec(script), runs_dir, start_runner=False)
    out = cli("stop", run.id, runs_dir=runs_dir)
    assert out.returncode == 0 and run.state() == "stopped"
    assert list((runs_dir / "queue").iterdir()) == []


def test_rerun_runs_the_same_script_and_arguments_again(tmp_path, runs_dir, runner):
    runner.start()
    script = write_script(tmp_path, "echo.py", "import sys; print(*sys.argv[1:])\n")
    first = cli("run", str(script), "x", "y", "--wait", runs_dir=runs_dir).stdout.strip().splitlines()[-1]
    out = cli("rerun", first, "--wait", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    second = out.stdout.strip().splitlines()[-1]
    assert second != first
    assert RunFolder(runs_dir / second).stdout_path.read_text().strip() == "x y"
    assert RunFolder(runs_dir / second).spec()["rerun_of"] == first
    assert [r["id"] for r in runs_json(runs_dir)] == [second, first]  # newest first


def test_unknown_run_id_is_a_clear_error(runs_dir):
    for args in (("runs", "show", "nope"), ("logs", "nope"), ("stop", "nope"), ("rerun", "nope")):
        out = cli(*args, runs_dir=runs_dir)
        assert out.returncode == 2 and "no run 'nope'" in out.stderr and "Traceback" not in out.stderr


def test_an_ambiguous_run_id_prefix_lists_the_runs_it_matches(tmp_path, runs_dir):
    script = write_script(tmp_path, "echo.py", "print('hi')\n")
    for run_id in ("20260101-000000-echo-aaaaaa", "20260101-000000-echo-bbbbbb", "20260202-000000-other-cccccc"):
        RunFolder.create(runs_dir, {"script": str(script), "args": []}, run_id=run_id)
    for args in (("runs", "show", "20260101"), ("logs", "20260101"), ("stop", "20260101")):
        out = cli(*args, runs_dir=runs_dir)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert ("run id '20260101' is ambiguous: it matches 2 runs (20260101-000000-echo-aaaaaa, "
                "20260101-000000-echo-bbbbbb); give more of the id") in out.stderr
    shown = cli("runs", "show", "20260202", "--json", runs_dir=runs_dir)  # a unique prefix still works
    assert shown.returncode == 0 and json.loads(shown.stdout)["id"] == "20260202-000000-other-cccccc"


def test_follow_shows_progress_and_a_final_summary(tmp_path, runs_dir, runner):
    runner.start()
    script = write_script(tmp_path, "train.py", """
        import ml_lsp
        for step in range(20):
            ml_lsp.log(acc=step / 20, step=step)
    """)
    out = cli("run", str(script), "--follow", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    assert "succeeded" in out.stderr and "acc" in out.stderr and f"{script}:3" in out.stderr


def test_digits_training_example_runs_with_live_metrics_on_its_lines(runs_dir, runner):
    from pathlib import Path

    runner.start()
    script = Path(__file__).resolve().parents[2] / "examples" / "train_digits.py"
    out = cli("run", str(script), "--epochs=3", "--devices", "cpu", "--wait", runs_dir=runs_dir, timeout=180)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip().splitlines()[-1]
    details = json.loads(cli("runs", "show", run_id, "--json", runs_dir=runs_dir).stdout)
    lines = script.read_text().splitlines()
    backward_line = 1 + next(i for i, text in enumerate(lines) if text.strip() == "loss.backward()")
    [loss] = [m for m in details["metrics"] if m["name"] == "loss"]
    assert loss["path"] == str(script) and loss["line"] == backward_line
    assert 0 < loss["last"] < loss["max"]  # it learned
    assert details["progress"]["current"] == details["progress"]["total"] == 3
    assert "epoch 3/3" in RunFolder(runs_dir / run_id).stdout_path.read_text()


def test_ctrl_c_in_follow_stops_the_run(tmp_path, runs_dir, runner):
    import subprocess
    import sys

    from ml_lsp.runner.run_folder import iter_runs

    runner.start()
    script = write_script(tmp_path, "long.py", """
        import time
        print("working", flush=True)
        time.sleep(60)
    """)
    follower = subprocess.Popen([sys.executable, "-m", "ml_lsp", "run", str(script), "--follow",
                                 "--runs-dir", str(runs_dir)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                # SIGINT as at a terminal, also under a pytest started with `&`
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    run = wait_for(lambda: next(iter(iter_runs(runs_dir)), None), what="the run folder")
    wait_for(lambda: run.stdout_path.exists() and "working" in run.stdout_path.read_text(), what="working")
    follower.send_signal(signal.SIGINT)
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 1 and run.state() == "stopped"
    assert "stopping the run" in err and "stopped" in err.splitlines()[-1] + out


def test_script_arguments_after_double_dash_are_not_ours(tmp_path, runs_dir, runner):
    runner.start()
    script = write_script(tmp_path, "echo.py", "import sys; print(*sys.argv[1:])\n")
    out = cli("run", str(script), "--wait", "--", "--name", "x", "--devices", "7", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    run = RunFolder(runs_dir / out.stdout.strip().splitlines()[-1])
    assert run.stdout_path.read_text().strip() == "--name x --devices 7"


def test_the_runner_never_imports_torch(tmp_path):
    import subprocess
    import sys

    code = ("import sys, ml_lsp.runner.daemon, ml_lsp.runner.jobs, ml_lsp.runner.summary, "
            "ml_lsp.commands.run, ml_lsp.commands.runs, ml_lsp_launchers\n"
            "from ml_lsp.plugins import default_host\n"
            "default_host().merged_mapping('ml_lsp_launchers')\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_runner_leaves_a_summary_of_a_finished_run(tmp_path, runs_dir, runner):
    runner.start()
    script = write_script(tmp_path, "train.py", """
        import ml_lsp
        ml_lsp.log(loss=0.5, step=1)
    """)
    out = cli("run", str(script), "--wait", runs_dir=runs_dir)
    run = RunFolder(runs_dir / out.stdout.strip().splitlines()[-1])
    cached = wait_for(lambda: (run.path / "summary.json").exists() and json.loads((run.path / "summary.json").read_text()),
                      what="summary.json")
    assert [(m["name"], m["last"], m["line"]) for m in cached["metrics"]] == [("loss", 0.5, 2)]


def test_deleting_a_running_runs_folder_does_not_take_the_runner_down(tmp_path, runs_dir, runner):
    import shutil

    proc = runner.start()
    sleepy = write_script(tmp_path, "sleepy.py", "import time; print('up', flush=True); time.sleep(0.5)\n")
    run_id = cli("run", str(sleepy), runs_dir=runs_dir).stdout.strip()
    run = RunFolder(runs_dir / run_id)
    wait_for(lambda: run.stdout_path.exists() and "up" in run.stdout_path.read_text(), what="up")
    shutil.rmtree(run.path)
    ok = write_script(tmp_path, "ok.py", "print('fine')\n")
    out = cli("run", str(ok), "--wait", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    assert proc.poll() is None


def test_logs_follow_prints_everything_until_the_run_ends(tmp_path, runs_dir, runner):
    runner.start()
    script = write_script(tmp_path, "chatty.py", """
        import sys, time
        for i in range(5):
            print("line", i, flush=True)
            time.sleep(0.1)
        print("warned", file=sys.stderr)
    """)
    run_id = cli("run", str(script), runs_dir=runs_dir).stdout.strip()
    out = cli("logs", run_id, "-f", runs_dir=runs_dir, timeout=60)
    assert out.returncode == 0
    assert [l for l in out.stdout.splitlines() if l.startswith("line")] == [f"line {i}" for i in range(5)]
    assert "warned" in out.stderr


def test_queue_is_picked_up_by_watchdog_and_by_the_rescan_when_events_are_lost(tmp_path, runs_dir, runner):
    import shutil
    import time

    # Re-scan once an hour: only the file event can start this run quickly.
    runner.start("--rescan-interval", "3600")
    script = write_script(tmp_path, "ok.py", "print('ok')\n")
    t = time.monotonic()
    out = cli("run", str(script), "--wait", runs_dir=runs_dir)
    assert out.returncode == 0 and time.monotonic() - t < 60
    runner.stop()
    # Now lose the events: the queue folder is replaced under a running runner, so its
    # inotify watch points at a folder that no longer exists. The re-scan still finds the run.
    runner.start("--rescan-interval", "0.5")
    shutil.rmtree(runs_dir / "queue")
    (runs_dir / "queue").mkdir()
    out = cli("run", str(script), "--wait", runs_dir=runs_dir, timeout=60)
    assert out.returncode == 0, out.stderr


def test_default_runs_folder_is_in_the_project_and_out_of_git(tmp_path):
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    script = write_script(project / "scripts", "ok.py", "print('ok')\n")
    env = {"ML_LSP_RUNS_DIR": ""}
    out = cli("run", str(script), "--wait", cwd=project / "scripts", env=env)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip().splitlines()[-1]
    assert (project / ".ml-lsp" / "runs" / run_id / "spec.json").exists()
    assert (project / ".ml-lsp" / ".gitignore").read_text().strip().endswith("*")
    listed = cli("runs", "--json", cwd=project, env=env)
    assert [r["id"] for r in json.loads(listed.stdout)["runs"]] == [run_id]
    # `ml-lsp run` started that folder's runner, detached; end it here.
    runner_pid = json.loads((project / ".ml-lsp" / "runs" / "runner.json").read_text())["pid"]
    os.kill(runner_pid, signal.SIGTERM)


def test_gpu_that_does_not_exist_is_refused_before_anything_is_queued(tmp_path, runs_dir):
    from ml_lsp.runner.devices import probe_gpus

    absent = 1 + max((g.index for g in probe_gpus()), default=-1) + 7
    script = write_script(tmp_path, "ok.py", "print('ok')\n")
    out = cli("run", str(script), "--devices", str(absent), runs_dir=runs_dir)
    assert out.returncode == 2 and f"GPU {absent} not found" in out.stderr
    assert list(iter_runs(runs_dir)) == []


def test_a_stopped_run_shows_no_eta(tmp_path, runs_dir):
    """`batch 23/23, ETA 0s` for a stopped run read as time left; a run that has ended
    has none, and one that runs shows one only once its rate has some history."""
    import time

    from ml_lsp.runner import jobs
    from ml_lsp.runner.frames import FrameWriter

    script = write_script(tmp_path, "tune.py", "pass\n")
    run = RunFolder.create(runs_dir, jobs.make_spec(script, cwd=str(tmp_path)))
    now = time.time()
    run.write_status(state="running", started=now - 30, heartbeat=now, heartbeat_timeout=3600)
    writer = FrameWriter(run.frames_path)
    writer.write("progress", 1, 23, "batch", str(script), 1, t=now - 20)
    writer.flush()
    shown = cli("runs", "show", run.id, runs_dir=runs_dir)
    assert "progress batch 1/23" in shown.stdout and "ETA" not in shown.stdout  # one frame: no rate yet
    for current in range(2, 24):
        writer.write("progress", current, 23, "batch", str(script), 1, t=now - 20 + current * 0.5)
    writer.flush()
    run.write_status(state="stopped", ended=now)
    shown = cli("runs", "show", run.id, runs_dir=runs_dir)
    assert "progress batch 23/23" in shown.stdout and "ETA" not in shown.stdout, shown.stdout
    assert json.loads(cli("runs", "show", run.id, "--json", runs_dir=runs_dir).stdout)["progress"]["eta"] is None
