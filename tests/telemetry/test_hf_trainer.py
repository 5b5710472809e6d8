"""The Hugging Face Trainer capturer (plugins/ml_lsp_hf_trainer, loaded through the
``ml_lsp_metric_capturers`` entry point): a tiny Trainer run on digits, on the CPU."""

from __future__ import annotations

import textwrap

from ml_lsp.runner.frames import read_frames

from test_capture import bootstrap, line_of

HF = textwrap.dedent('''\
    import torch
    from torch import nn
    from sklearn.datasets import load_digits
    from transformers import Trainer, TrainingArguments

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

        def forward(self, x, labels=None):
            logits = self.net(x)
            return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}

    digits = load_digits()
    data = [{"x": torch.tensor(row, dtype=torch.float32) / 16, "labels": int(label)}
            for row, label in zip(digits.data[:512], digits.target[:512])]
    args = TrainingArguments(output_dir="out", num_train_epochs=2, per_device_train_batch_size=32,
                             logging_steps=4, learning_rate=0.01, report_to=[], save_strategy="no",
                             use_cpu=True, disable_tqdm=True)
    trainer = Trainer(model=Classifier(), args=args, train_dataset=data)
    trainer.train()
    ''')


def test_trainer_logs_and_progress_land_on_the_train_line(tmp_path):
    script = tmp_path / "hf.py"
    script.write_text(HF)
    result = bootstrap(script, frames=tmp_path / "frames", timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    frames = read_frames(tmp_path / "frames")
    train_line = line_of(HF, "trainer.train()")
    logged = [f for f in frames if f["kind"] == "metric" and f["name"] in ("loss", "learning_rate")
              and f["line"] == train_line]
    names = {f["name"] for f in logged}
    assert names == {"loss", "learning_rate"}, names
    # Every loss on that line is the Trainer's log (every 4 steps), not the backward hook's.
    assert sorted({f["step"] for f in logged if f["name"] == "loss"})[:3] == [4, 8, 12]
    steps = sorted({f["step"] for f in logged if f["name"] == "learning_rate"})
    assert steps[:3] == [4, 8, 12]  # logging_steps=4
    epochs = [(f["current"], f["total"]) for f in frames if f["kind"] == "progress" and f["unit"] == "epoch"]
    assert epochs == [(1, 2), (2, 2)]
    step_progress = [f for f in frames if f["kind"] == "progress" and f["unit"] == "step"]
    assert step_progress[-1]["current"] == step_progress[-1]["total"] == 32  # 512 / 32 * 2
    assert {f["line"] for f in step_progress} == {train_line}
