"""The TensorBoard adapter: what a script writes with ``SummaryWriter.add_scalar`` and
``add_scalars`` reaches the run's frames on the line that wrote it, every value with its
step, and the script's own TensorBoard logs are written exactly as without ml-lsp."""

from __future__ import annotations

import textwrap

from ml_lsp.runner.frames import read_frames

from test_capture import bootstrap, line_of

SCRIPT = textwrap.dedent('''\
    import torch
    from torch import nn
    from torch.utils.tensorboard import SummaryWriter
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16
    y = torch.tensor(digits.target)
    model = nn.Linear(64, 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    writer = SummaryWriter("tb")
    for step in range(30):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        writer.add_scalar("train/loss", loss.item(), step)
        if step % 10 == 9:
            acc = (model(x).argmax(1) == y).float().mean()
            writer.add_scalars("acc", {"train": acc, "chance": 0.1}, global_step=step)
    writer.close()
    ''')


def tensorboard_scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_add_scalar_values_land_on_their_line_and_tensorboard_still_gets_them(tmp_path):
    script = tmp_path / "tb_train.py"
    script.write_text(SCRIPT)
    result = bootstrap(script, frames=tmp_path / "frames")
    assert result.returncode == 0, result.stderr[-2000:]
    frames = [f for f in read_frames(tmp_path / "frames") if f["kind"] == "metric"]

    loss = [f for f in frames if f["name"] == "train/loss"]
    # Every explicit value is kept (not sampled), on the add_scalar line, with its step.
    assert [f["step"] for f in loss] == list(range(30))
    assert {f["line"] for f in loss} == {line_of(SCRIPT, 'writer.add_scalar("train/loss"')}
    assert {f["file"] for f in loss} == {str(script)}
    acc = [f for f in frames if f["name"] == "acc/train"]
    assert [f["step"] for f in acc] == [9, 19, 29]
    assert {f["line"] for f in acc} == {line_of(SCRIPT, 'writer.add_scalars("acc"')}
    assert [f["value"] for f in frames if f["name"] == "acc/chance"] == [0.1, 0.1, 0.1]

    # The script's own TensorBoard log holds the same values as our frames.
    written = tensorboard_scalars(tmp_path / "tb")
    assert [step for step, _ in written["train/loss"]] == list(range(30))
    for (step, value), frame in zip(written["train/loss"], loss):
        assert abs(value - frame["value"]) < 1e-5


def test_tensorboard_logs_identical_without_a_run(tmp_path):
    script = tmp_path / "tb_train.py"
    script.write_text(SCRIPT)
    assert bootstrap(script, frames=tmp_path / "frames").returncode == 0
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "tb_train.py").write_text(SCRIPT)
    assert bootstrap(plain / "tb_train.py", frames=None).returncode == 0
    with_run, without = tensorboard_scalars(tmp_path / "tb"), tensorboard_scalars(plain / "tb")
    assert with_run.keys() == without.keys() == {"train/loss"}
    assert len(with_run["train/loss"]) == len(without["train/loss"]) == 30
