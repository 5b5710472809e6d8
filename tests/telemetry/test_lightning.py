"""The Lightning capturer (plugins/ml_lsp_lightning): a small LightningModule on digits,
trained on the CPU under the run bootstrap, for both spellings of the package."""

from __future__ import annotations

import json
import textwrap

import pytest

from ml_lsp.runner.frames import read_frames

from test_capture import bootstrap, line_of

SCRIPT = textwrap.dedent('''\
    import json, sys, time
    import torch
    import {namespace} as L
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16
    y = torch.tensor(digits.target)
    train = DataLoader(TensorDataset(x[:1400], y[:1400]), batch_size=64, shuffle=True)
    val = DataLoader(TensorDataset(x[1400:], y[1400:]), batch_size=128)

    class Net(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

        def training_step(self, batch, batch_idx):
            xb, yb = batch
            logits = self.net(xb)
            loss = nn.functional.cross_entropy(logits, yb)
            if batch_idx == 21:  # an epoch's last batch outlasts a sampler tick, as under load
                time.sleep(0.3)
            self.log("train_loss", loss)
            self.log_dict({{"train_acc": (logits.argmax(1) == yb).float().mean()}}, on_epoch=True)
            return loss

        def validation_step(self, batch, batch_idx):
            xb, yb = batch
            self.log("val_loss", nn.functional.cross_entropy(self.net(xb), yb))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.5)

    trainer = L.Trainer(max_epochs=2, accelerator="cpu", default_root_dir="out",
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Net(), train, val)
    json.dump({{"steps": trainer.global_step,
               "val_loss": float(trainer.callback_metrics["val_loss"]),
               "loggers": [type(logger).__name__ for logger in trainer.loggers],
               "log_dir": trainer.log_dir,
               "callbacks": sorted(type(c).__name__ for c in trainer.callbacks)}},
              open(sys.argv[1], "w"))
    ''')


@pytest.fixture(scope="module", params=["lightning.pytorch", "pytorch_lightning"])
def lightning_run(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lightning")
    source = SCRIPT.format(namespace=request.param)
    script = folder / "fit.py"
    script.write_text(source)
    result = bootstrap(script, str(folder / "out.json"), frames=folder / "frames", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    # The same script in a folder of its own, without a run: what Lightning does alone.
    (folder / "plain").mkdir()
    (folder / "plain" / "fit.py").write_text(source)
    plain = bootstrap(folder / "plain" / "fit.py", str(folder / "plain.json"), frames=None, timeout=300)
    assert plain.returncode == 0, plain.stderr[-3000:]
    return (source, script, read_frames(folder / "frames"), json.loads((folder / "out.json").read_text()),
            json.loads((folder / "plain.json").read_text()))


def metrics(frames, name):
    return [f for f in frames if f["kind"] == "metric" and f["name"] == name]


def test_self_log_values_land_on_the_lines_that_log_them(lightning_run):
    source, script, frames, out, _ = lightning_run
    loss = metrics(frames, "train_loss")
    assert loss and {(f["file"], f["line"]) for f in loss} == {(str(script), line_of(source, 'self.log("train_loss"'))}
    # The step is the Trainer's global step; the last value is the final step's.
    assert loss[-1]["step"] == out["steps"] and loss[-1]["value"] < loss[0]["value"]
    # Per step and per epoch, named as Lightning names them for its loggers.
    acc_line = line_of(source, "self.log_dict(")
    assert {f["line"] for f in metrics(frames, "train_acc_step")} == {acc_line}
    epoch_acc = metrics(frames, "train_acc_epoch")
    assert [f["line"] for f in epoch_acc] == [acc_line, acc_line]  # one per epoch
    assert all(0.0 <= f["value"] <= 1.0 for f in epoch_acc)


def test_validation_values_once_per_epoch_without_the_sanity_check(lightning_run):
    source, _, frames, out, _ = lightning_run
    val = metrics(frames, "val_loss")
    # Reduced over the epoch as Lightning reduces it: two epochs, two values, the last one
    # what the Trainer reports; the sanity check's two batches are not a result.
    assert [f["line"] for f in val] == [line_of(source, 'self.log("val_loss"')] * 2
    assert val[-1]["step"] == out["steps"]
    assert val[-1]["value"] == pytest.approx(out["val_loss"])


def test_fit_progress_on_the_fit_line_without_loader_noise(lightning_run):
    source, _, frames, out, _ = lightning_run
    fit_line = line_of(source, "trainer.fit(")
    epochs = [(f["current"], f["total"]) for f in frames if f["kind"] == "progress" and f["unit"] == "epoch"]
    assert epochs == [(1, 2), (2, 2)]
    steps = [f for f in frames if f["kind"] == "progress" and f["unit"] == "step"]
    assert steps[-1]["current"] == steps[-1]["total"] == out["steps"]
    assert {f["line"] for f in steps} == {fit_line}
    # Lightning's own loops over the training and validation loaders are reported as
    # steps and epochs, not as batches of two loaders mixed on one line; nor is the
    # loss Lightning passes to backward() repeated there.
    assert not [f for f in frames if f["kind"] == "progress" and f["unit"] == "batch"]
    assert not [f for f in metrics(frames, "loss") if f["line"] == fit_line]
    assert {f["line"] for f in metrics(frames, "lr")} == {fit_line}  # the optimizer hook's


def test_the_trainer_is_set_up_exactly_as_without_ml_lsp(lightning_run):
    _, _, _, out, plain = lightning_run
    # No logger added behind the user's back: logs and checkpoints go where they would.
    assert out["loggers"] == plain["loggers"] and out["log_dir"] == plain["log_dir"]
    assert "MlLspCallback" in out["callbacks"] and "MlLspCallback" not in plain["callbacks"]
    assert set(out["callbacks"]) - {"MlLspCallback"} == set(plain["callbacks"])
