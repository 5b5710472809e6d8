"""`ml-lsp check` on a run long enough to watch: a progress display on a terminal, plain
progress lines in a log, nothing beside JSON; and Ctrl-C, which stops the check at once,
prints what was found so far, exits 130 and leaves no worker process behind."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
WARN_ONLY = textwrap.dedent("""\
    import torch

    state = torch.load("model.pt")
""")


@pytest.fixture(scope="module")
def slow_tree(tmp_path_factory):
    """A few quick files (a*.py, one warning each) and many slow ones (b*.py: generated
    3,000-line model files, about a second of analysis each)."""
    root = tmp_path_factory.mktemp("slow")
    big = root / "big.txt"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "gen_big_model.py"), "--lines", "3000",
                    "-o", str(big)], check=True, timeout=120)
    text = big.read_text()
    big.unlink()
    for i in range(4):
        (root / f"a{i}.py").write_text(WARN_ONLY)
    for i in range(30):
        (root / f"b{i:02}.py").write_text(text)
    return root


def ctrl_c_as_at_a_terminal() -> None:
    """In the child: SIGINT does what it does at a terminal. pytest started in the background
    by a shell without job control (``nohup pytest &``) passes SIGINT on as ignored, and an
    ignored SIGINT is not what these tests are about."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def check_in_progress(tree, low: int, high: int, *extra, stdout=subprocess.PIPE) -> subprocess.Popen:
    """``ml-lsp check . -j 2`` on ``tree`` (34 files), returned once its plain progress lines
    (not a terminal) say at least ``low`` and fewer than ``high`` files are done."""
    proc = subprocess.Popen([sys.executable, "-m", "ml_lsp", "check", ".", "-j", "2", *extra], cwd=tree,
                            stdout=stdout, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_as_at_a_terminal)
    seen, deadline = "", time.monotonic() + 240
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        assert line, f"the check ended before it could be interrupted: {seen}"
        match = re.match(r"ml-lsp check: (\d+)/34 files checked", line)
        if match and low <= int(match.group(1)) < high:
            return proc
    raise AssertionError(f"no progress line in 240 s: {seen}")


def test_ctrl_c_stops_at_once_prints_what_was_found_and_leaves_no_process(slow_tree):
    # interrupted once some files are done and others not
    proc = check_in_progress(slow_tree, 4, 30)
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert len([w for w in workers if "python" in w.name()]) >= 2
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    latency = time.monotonic() - sent
    print(f"\nCtrl-C to exit: {latency:.2f} s; {len(workers)} worker processes before it")
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    done = int(re.search(r"interrupted: (\d+) of 34 files checked", err).group(1))
    assert 4 <= done < 34
    # the findings of the files that were finished, and the summary of those
    assert out.count("DA003") == 4 and f"{done} files checked" in out
    time.sleep(0.5)
    left = [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    assert not left, [w.cmdline() for w in left]


def test_a_terminal_gets_a_progress_bar_and_json_gets_nothing(slow_tree, tmp_path):
    # enough slow files that the bar (shown after a second) has files still to do on a fast machine
    for name in ["a0.py"] + [f"b{i:02}.py" for i in range(10)]:
        (tmp_path / name).write_text((slow_tree / name).read_text())
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ml_lsp", "check", ".", "-j", "1"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=child, text=True)
    os.close(child)
    shown = b""
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(main)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode("utf-8", "replace"))  # colours, cursor moves
    assert proc.returncode == 0
    # the bar: files done / total, the rate, the file being worked on
    assert re.search(r"\b(\d|10)/11 files +\d+\.\d files/s .*b\d\d\.py", screen), screen
    assert "11 files checked" in out

    as_json = subprocess.run([sys.executable, "-m", "ml_lsp", "check", ".", "-j", "1", "--format", "json"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert as_json.returncode == 0 and as_json.stderr == ""
    assert len(json.loads(as_json.stdout)["diagnostics"]) == 1


RECYCLING = ("import sys\n"
             "import ml_lsp.commands.check as check\n"
             "check.FILES_PER_WORKER = 2  # workers replaced often, as on a large tree\n"
             "from ml_lsp.cli import main\n"
             "sys.exit(main(['check', '.', '-j', '2', '--no-cache']))\n")


def test_a_check_whose_workers_were_replaced_ends(tmp_path):
    # multiprocessing.Pool forked a replacement worker from a thread that ends at close();
    # a worker set to die with that thread was killed holding the task queue's lock, and
    # the command hung in join() after printing nothing more (2 runs of 3 hung then).
    for i in range(24):
        (tmp_path / f"m{i:02}.py").write_text('import torch\n\nstate = torch.load("m.pt", weights_only=False)\n')
    for attempt in range(3):
        done = subprocess.run([sys.executable, "-c", RECYCLING], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr  # warnings only
        assert "24 files checked" in done.stdout and done.stdout.count("DA003") == 24


def test_workers_end_when_the_command_is_killed(slow_tree):
    proc = check_in_progress(slow_tree, 1, 34, "--no-cache", stdout=subprocess.DEVNULL)
    workers = [w for w in psutil.Process(proc.pid).children(recursive=True) if "python" in w.name()]
    assert len(workers) >= 2
    proc.kill()  # no tear-down: the workers must notice on their own
    proc.wait(timeout=10)
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not [w for w in alive if w.status() != psutil.STATUS_ZOMBIE], [w.cmdline() for w in alive]


def test_a_worker_killed_from_outside_costs_its_own_file_only(slow_tree):
    # The kernel's out-of-memory killer ends a worker mid-file: the check goes on with a new
    # worker, reports that file as not checked (an error) and ends. multiprocessing.Pool
    # waited for the lost file's result for ever, and Ctrl-C then hung on a queue lock.
    proc = check_in_progress(slow_tree, 4, 30, "--no-cache")
    worker = next(w for w in psutil.Process(proc.pid).children() if "python" in w.name())
    worker.kill()
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, err
    lost = [line for line in out.splitlines() if " E903 " in line]
    assert len(lost) == 1 and re.match(r"b\d\d\.py:1:1: E903 not checked: its worker process was killed by "
                                       r"SIGKILL \(out of memory\?\)", lost[0]), out
    assert out.count("DA003") == 4 and "34 files checked" in out
    assert "Traceback" not in err


STUCK = ("import sys, time\n"
         "import ml_lsp.commands.check as check\n"
         "import ml_lsp.commands.check_workers as workers\n"
         "workers.GRACE_S = 8  # beyond the file budget, a worker gets this long\n"
         "real = check.check_file\n"
         "def check_file(path, options):\n"
         "    if path.endswith('stuck.py'):\n"
         "        time.sleep(3600)  # as a library call that never returns, outside the analysis' budget\n"
         "    return real(path, options)\n"
         "check.check_file = check_file\n"
         "from ml_lsp.cli import main\n"
         "sys.exit(main(['check', '.', '-j', '2', '--no-cache', '--file-budget', '1']))\n")


def test_a_file_that_never_finishes_does_not_stall_the_check(tmp_path):
    for i in range(9):
        (tmp_path / f"m{i}.py").write_text(WARN_ONLY)
    (tmp_path / "stuck.py").write_text("x = 1\n")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", STUCK], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "stuck.py:1:1: E903 not checked: stopped after 9 s" in done.stdout
    assert done.stdout.count("DA003") == 9 and "10 files checked" in done.stdout
    assert time.monotonic() - started < 60
