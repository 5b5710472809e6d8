"""The capture inside a real training process: a small digits script run under
``python -m ml_lsp.telemetry.bootstrap`` writes frames that a FrameReader reads back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ml_lsp.runner.frames import read_frames

TRAIN = textwrap.dedent('''\
    import json, sys
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    from sklearn.datasets import load_digits
    import ml_lsp

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16
    y = torch.tensor(digits.target)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    epochs = int(sys.argv[1])
    for epoch in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            out = model(xb)
            train_loss = nn.functional.cross_entropy(out, yb)
            train_loss.backward()
            opt.step()
        sched.step()
        ml_lsp.log(epoch_loss=train_loss.detach(), step=epoch)
    json.dump({"steps": epochs * len(loader), "batches": len(loader)}, open(sys.argv[2], "w"))
    ''')


def line_of(source: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    return next(i for i, text in enumerate(source.splitlines(), 1) if needle in text)


def bootstrap(script: Path, *args: str, frames: Path | None, timeout: float = 120,
              env_extra: dict | None = None, **kw):
    env = {**os.environ, **(env_extra or {})}
    env.pop("ML_LSP_FRAMES", None)
    if frames is not None:
        env["ML_LSP_FRAMES"] = str(frames)
    return subprocess.run([sys.executable, "-m", "ml_lsp.telemetry.bootstrap", str(script), *args],
                          cwd=script.parent, env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train")
    script = folder / "train.py"
    script.write_text(TRAIN)
    frames = folder / "frames"
    result = bootstrap(script, "3", str(folder / "out.json"), frames=frames)
    assert result.returncode == 0, result.stderr
    return script, read_frames(frames), json.loads((folder / "out.json").read_text())


def metrics(frames, name):
    return [f for f in frames if f["kind"] == "metric" and f["name"] == name]


def test_backward_value_named_and_attributed_to_the_backward_line(training):
    script, frames, out = training
    losses = metrics(frames, "train_loss")
    assert losses, "no loss captured from train_loss.backward()"
    assert {(f["file"], f["line"]) for f in losses} == {(str(script), line_of(TRAIN, "train_loss.backward()"))}
    # The last frame is the final step's value, with the step count of every backward().
    assert losses[-1]["step"] == out["steps"]
    assert all(0.0 < f["value"] < 5.0 for f in losses)
    assert losses[-1]["value"] < losses[0]["value"]  # it trains


def test_optimizer_learning_rate_follows_the_scheduler(training):
    script, frames, out = training
    lrs = metrics(frames, "lr")
    assert {f["line"] for f in lrs} == {line_of(TRAIN, "opt.step()")}
    assert lrs[0]["value"] == pytest.approx(0.5)
    assert lrs[-1]["value"] == pytest.approx(0.05)  # StepLR after two epochs
    assert max(f["step"] for f in lrs) <= out["steps"]


def test_dataloader_and_epoch_progress(training):
    script, frames, out = training
    batches = [f for f in frames if f["kind"] == "progress" and f["unit"] == "batch"]
    assert {f["line"] for f in batches} == {line_of(TRAIN, "for xb, yb in loader")}
    assert {f["total"] for f in batches} == {out["batches"]}
    assert batches[-1]["current"] == out["batches"]
    epochs = [f for f in frames if f["kind"] == "progress" and f["unit"] == "epoch"]
    assert {f["line"] for f in epochs} == {line_of(TRAIN, "for epoch in range")}
    # An epoch of this script is shorter than a sampling tick, so a middle one may be
    # skipped; the first and the last one are always there, in order.
    positions = [(f["current"], f["total"]) for f in epochs]
    assert positions[0] == (1, 3) and positions[-1] == (3, 3)
    assert positions == sorted(set(positions))
    # The loader's batch size rides on its progress: a reader's samples/s is its batch/s
    # times that, not a second rate of its own that disagrees with the first.
    assert {f.get("batch_size") for f in batches} == {64}
    assert not metrics(frames, "samples/s")


def test_explicit_log_is_attributed_to_its_line_with_its_step(training):
    script, frames, out = training
    logged = metrics(frames, "epoch_loss")
    assert [f["step"] for f in logged] == [0, 1, 2]
    assert {f["line"] for f in logged} == {line_of(TRAIN, "ml_lsp.log(")}


MAIN_FACTS = textwrap.dedent('''\
    import json, os, sys
    json.dump({"argv": sys.argv, "file": __file__, "name": __name__, "path0": sys.path[0],
               "main_file": sys.modules["__main__"].__file__}, open(os.environ["FACTS_OUT"], "w"))
    ''')


def test_script_runs_as_main_exactly_as_python_would(tmp_path):
    sub = tmp_path / "proj"
    sub.mkdir()
    (sub / "facts.py").write_text(MAIN_FACTS)
    direct = tmp_path / "direct.json"
    captured = tmp_path / "captured.json"
    env = {k: v for k, v in os.environ.items() if k != "ML_LSP_FRAMES"}
    subprocess.run([sys.executable, "proj/facts.py", "--lr", "3"], cwd=tmp_path,
                   check=True, env={**env, "FACTS_OUT": str(direct)})
    result = subprocess.run(
        [sys.executable, "-m", "ml_lsp.telemetry.bootstrap", "proj/facts.py", "--lr", "3"],
        cwd=tmp_path, env={**env, "FACTS_OUT": str(captured), "ML_LSP_FRAMES": str(tmp_path / "frames")},
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(captured.read_text()) == json.loads(direct.read_text())


CRASH = textwrap.dedent('''\
    import torch

    def forward(x):
        w = torch.ones(3, 4)
        return x @ w

    def main():
        return forward(torch.ones(2, 5))

    main()
    ''')


def test_exception_frame_names_the_users_line_and_exit_code_is_1(tmp_path):
    script = tmp_path / "crash.py"
    script.write_text(CRASH)
    result = bootstrap(script, frames=tmp_path / "frames")
    assert result.returncode == 1
    # The traceback the user sees starts at their script, not at the bootstrap or runpy.
    assert "bootstrap.py" not in result.stderr and "runpy" not in result.stderr
    assert "crash.py\", line 5, in forward" in result.stderr
    [exc] = [f for f in read_frames(tmp_path / "frames") if f["kind"] == "exception"]
    assert exc["type"] == "RuntimeError"
    assert "cannot be multiplied" in exc["message"]
    assert [(fr["line"], fr["function"]) for fr in exc["frames"]] == [(10, "<module>"), (8, "main"), (5, "forward")]
    assert exc["frames"][-1]["file"] == str(script)
    assert exc["oom"] is False


def test_sys_exit_code_passes_through(tmp_path):
    script = tmp_path / "exit.py"
    script.write_text("import sys\nsys.exit(3)\n")
    assert bootstrap(script, frames=tmp_path / "frames").returncode == 3


def test_sigterm_flushes_what_was_logged(tmp_path):
    # The value is logged and the process is terminated at once, before any periodic flush
    # could run: only the SIGTERM handler can have written it.
    script = tmp_path / "term.py"
    script.write_text("import os, signal, ml_lsp\nml_lsp.log(acc=0.75)\nos.kill(os.getpid(), signal.SIGTERM)\n"
                      "import time\ntime.sleep(30)\n")
    result = bootstrap(script, frames=tmp_path / "frames")
    assert result.returncode == -signal.SIGTERM
    [acc] = metrics(read_frames(tmp_path / "frames"), "acc")
    assert (acc["value"], acc["line"]) == (0.75, 2)


def test_log_outside_a_run_is_a_no_op_and_import_stays_torch_free(tmp_path):
    code = ("import sys, ml_lsp\nml_lsp.log(loss=1.0, step=3)\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('ml_lsp.telemetry.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={k: v for k, v in os.environ.items() if k != "ML_LSP_FRAMES"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert list(tmp_path.iterdir()) == []


NAMES = textwrap.dedent('''\
    import json, sys, types
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Linear(8, 1)
    x, y = torch.randn(32, 8), torch.randn(32, 1)
    scaler = torch.amp.GradScaler("cpu")
    seen = {}
    for step in range(5):
        mse = nn.functional.mse_loss(model(x), y)
        (mse / 2).backward()
        seen["mse"] = mse.item()
        scaled_loss = nn.functional.l1_loss(model(x), y)
        scaler.scale(scaled_loss).backward()
        seen["scaled_loss"] = scaled_loss.item()
        out = types.SimpleNamespace(loss=nn.functional.smooth_l1_loss(model(x), y))
        out.loss.backward()
        seen["out.loss"] = out.loss.item()
    json.dump(seen, open(sys.argv[1], "w"))
    ''')


def test_backward_names_and_values_in_common_spellings(tmp_path):
    script = tmp_path / "names.py"
    script.write_text(NAMES)
    result = bootstrap(script, str(tmp_path / "seen.json"), frames=tmp_path / "frames")
    assert result.returncode == 0, result.stderr
    seen = json.loads((tmp_path / "seen.json").read_text())
    frames = read_frames(tmp_path / "frames")
    last = {}
    for f in frames:
        if f["kind"] == "metric":
            last[(f["name"], f["line"])] = f
    # (mse / 2).backward() is named after mse; its value is what was backpropagated.
    mse = last[("mse", line_of(NAMES, "(mse / 2).backward()"))]
    assert mse["value"] == pytest.approx(seen["mse"] / 2) and mse["step"] == 5
    # Mixed precision: the loss itself, not the loss times the scaler's 65536.
    scaled = last[("scaled_loss", line_of(NAMES, "scaler.scale(scaled_loss).backward()"))]
    assert scaled["value"] == pytest.approx(seen["scaled_loss"])
    assert last[("loss", line_of(NAMES, "out.loss.backward()"))]["value"] == pytest.approx(seen["out.loss"])


OOM = "import torch\nbuffer = torch.empty(2 ** 48)  # 1 PiB of float32\n"


def test_out_of_memory_is_flagged(tmp_path):
    script = tmp_path / "oom.py"
    script.write_text(OOM)
    assert bootstrap(script, frames=tmp_path / "frames").returncode == 1
    [exc] = [f for f in read_frames(tmp_path / "frames") if f["kind"] == "exception"]
    assert exc["oom"] is True and exc["frames"][-1]["line"] == 2


SHORT_EPOCHS = textwrap.dedent('''\
    import json, sys, time, weakref
    import torch
    from torch import nn

    class Marker:
        pass

    def train(epochs):
        marker = Marker()  # a stand-in for the model and data a training function holds
        model = nn.Linear(8, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = torch.randn(64, 8), torch.randn(64, 1)
        for epoch in range(epochs):
            for i in range(0, 64, 16):
                loss = nn.functional.mse_loss(model(x[i:i + 16]), y[i:i + 16])
                opt.zero_grad()
                loss.backward()
                opt.step()
        return weakref.ref(marker)

    ref = train(int(sys.argv[1]))
    time.sleep(1.0)  # four sampling ticks after train() returned
    json.dump({"freed": ref() is None}, open(sys.argv[2], "w"))
    ''')


def test_epochs_shorter_than_a_tick_end_on_the_last_one_and_the_frame_is_let_go(tmp_path):
    script = tmp_path / "short.py"
    script.write_text(SHORT_EPOCHS)
    result = bootstrap(script, "7", str(tmp_path / "out.json"), frames=tmp_path / "frames")
    assert result.returncode == 0, result.stderr[-2000:]
    frames = read_frames(tmp_path / "frames")
    epochs = [(f["current"], f["total"]) for f in frames if f["kind"] == "progress" and f["unit"] == "epoch"]
    steps = [(f["current"], f["total"]) for f in frames if f["kind"] == "progress" and f["unit"] == "step"]
    # All seven epochs take a few milliseconds, far less than a tick: the last position is
    # still the real end of the loops, read from train()'s frame once it had returned...
    assert epochs[-1] == (7, 7) and steps[-1] == (4, 4)
    assert {f["line"] for f in frames if f["kind"] == "progress" and f["unit"] == "epoch"} == \
        {line_of(SHORT_EPOCHS, "for epoch in range")}
    # ...and that frame, with the locals it held, was let go while the script went on.
    assert json.loads((tmp_path / "out.json").read_text()) == {"freed": True}


def test_an_exception_that_ends_a_worker_thread_is_recorded(tmp_path):
    script = tmp_path / "worker.py"
    source = textwrap.dedent('''\
        import sys, threading

        def load_shard(name):
            raise FileNotFoundError(f"shard {name} is missing")

        worker = threading.Thread(target=load_shard, args=("train-00003",), name="loader")
        worker.start()
        worker.join()
        sys.exit(1)  # the main thread gives up without an exception of its own
        ''')
    script.write_text(source)
    result = bootstrap(script, frames=tmp_path / "frames")
    assert result.returncode == 1
    assert "FileNotFoundError" in result.stderr  # Python's own report is still printed
    [exc] = [f for f in read_frames(tmp_path / "frames") if f["kind"] == "exception"]
    assert exc["type"] == "FileNotFoundError" and "train-00003" in exc["message"]
    assert exc["thread"] == "loader"
    assert exc["frames"][-1]["line"] == line_of(source, "raise FileNotFoundError")


PAUSE = textwrap.dedent('''\
    import json, os, sys, time
    import torch
    from ml_lsp.runner.frames import read_frames

    w = torch.ones(1, requires_grad=True)
    for step in range(5):
        loss = (w * (step + 1)).sum()
        loss.backward()
    time.sleep(1.5)  # an evaluation: no backward() for several ticks
    seen = [f["value"] for f in read_frames(os.environ["ML_LSP_FRAMES"]) if f["kind"] == "metric"]
    json.dump(seen, open(sys.argv[1], "w"))
    ''')


def test_a_pause_after_a_burst_of_steps_shows_the_latest_loss_while_it_lasts(tmp_path):
    # Five steps take far less than a tick: only the first is sampled as it happens. While
    # the training pauses (before the end of the run writes final values), the frames must
    # already hold the last loss, not the one from the start of the burst.
    script = tmp_path / "pause.py"
    script.write_text(PAUSE)
    result = bootstrap(script, str(tmp_path / "seen.json"), frames=tmp_path / "frames")
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen and seen[-1] == 5.0, seen
