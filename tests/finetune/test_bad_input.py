"""Bad input to `ml-lsp finetune` gets one clear line naming what is wrong (exit 2), and
no run folder, queue entry or output file is left behind."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn
from ml_lsp.cli import main
from .conftest import DIGITS

MODEL = f"{DIGITS / 'model.py'}:DigitsCNN"
DATA = f"{DIGITS / 'data.py'}:digits_5_9"


def finetune(tmp_path, capsys, *flags):
    runs = tmp_path / "runs"
    code = main(["finetune", "--runs-dir", str(runs), *flags])
    err = capsys.readouterr().err
    leftovers = sorted(p.relative_to(tmp_path).as_posix() for p in runs.rglob("*")) if runs.exists() else []
    return code, err, leftovers


def flags(checkpoint, *extra, model=MODEL, data=DATA):
    return ["--model", model, "--init", "num_classes=5", "--checkpoint", str(checkpoint),
            "--data", data, "--replace-head", "head=5", *extra]


def test_checkpoint_of_another_architecture(tmp_path, capsys):
    other = tmp_path / "mlp.pt"
    torch.save(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)).state_dict(), other)
    code, err, left = finetune(tmp_path, capsys, *flags(other))
    assert code == 2 and not left
    assert f"--checkpoint {other} does not fit --model {MODEL}" in err
    assert "no tensor in the checkpoint matches the model" in err
    assert "0.weight" in err  # the unexpected keys are listed


def test_checkpoint_with_mismatched_shapes_lists_them(pretrained, tmp_path, capsys):
    checkpoint, _ = pretrained
    code, err, left = finetune(tmp_path, capsys, "--model", MODEL, "--init", "num_classes=5, width=64",
                               "--checkpoint", str(checkpoint), "--data", DATA)
    assert code == 2 and not left
    assert "shape mismatch features.0.weight: checkpoint [16, 1, 3, 3] vs model [32, 1, 3, 3]" in err


def test_truncated_checkpoint(pretrained, tmp_path, capsys):
    checkpoint, _ = pretrained
    cut = tmp_path / "cut.pt"
    data = checkpoint.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    code, err, left = finetune(tmp_path, capsys, *flags(cut))
    assert code == 2 and not left
    assert f"{cut}: corrupt or truncated checkpoint file" in err


@pytest.mark.parametrize("name,content,what", [
    ("notes.pt", b"epoch 3: loss 0.41\nsaved by hand\n", "it is a text file (it starts 'epoch 3: loss 0.41')"),
    # random bytes (fixed, so they start neither like a zip archive nor like a pickle)
    ("random.pt", bytes((i * 167 + 13) % 256 for i in range(4096)), "it is binary data of an unknown kind (it starts 0d b4"),
    ("zeros.pt", bytes(8192), "the file holds only zero bytes"),
    ("zeros.safetensors", bytes(8192), "the file holds only zero bytes"),
], ids=["text", "random-bytes", "zeros", "zeros-safetensors"])
def test_a_file_that_is_not_a_checkpoint_gets_one_line_saying_what_it_is(tmp_path, capsys, name, content, what):
    bad = tmp_path / name
    bad.write_bytes(content)
    code, err, left = finetune(tmp_path, capsys, *flags(bad))
    assert code == 2 and not left
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"{bad}: not a checkpoint: {what}" in lines[0], err
    assert "expected" in lines[0]
    # never torch's advice to load with weights_only=False, nor to trust the file
    assert "weights_only" not in err and "trust" not in err and "Traceback" not in err


def test_corrupt_safetensors(tmp_path, capsys):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    code, err, left = finetune(tmp_path, capsys, *flags(bad))
    assert code == 2 and not left
    assert f"{bad}: corrupt or truncated safetensors file" in err


def test_pickled_module_needs_weights_only_false(tmp_path, capsys):
    pickled = tmp_path / "whole_model.pt"
    torch.save({"model": nn.Linear(3, 2), "epoch": 3}, pickled)  # the whole module, pickled
    code, err, left = finetune(tmp_path, capsys, *flags(pickled))
    assert code == 2 and not left
    assert "pickles Python objects" in err and "weights_only=True" in err
    assert "torch.nn.modules.linear.Linear" in err
    assert "torch.save(model.state_dict()" in err


def test_factory_that_raises_names_its_line(pretrained, tmp_path, capsys):
    checkpoint, _ = pretrained
    factory = tmp_path / "factory.py"
    factory.write_text(textwrap.dedent("""
        def build(num_classes):
            raise ValueError("unsupported num_classes")
    """))
    code, err, left = finetune(tmp_path, capsys, *flags(checkpoint, model=f"{factory}:build"))
    assert code == 2 and not left
    assert "ValueError: unsupported num_classes" in err and f"{factory}:3" in err


def test_dataset_with_zero_items(pretrained, tmp_path, capsys):
    checkpoint, _ = pretrained
    loader = tmp_path / "empty_data.py"
    loader.write_text(textwrap.dedent("""
        import torch
        from torch.utils.data import TensorDataset

        def load():
            empty = TensorDataset(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long))
            return empty, empty
    """))
    code, err, left = finetune(tmp_path, capsys, *flags(checkpoint, data=f"{loader}:load"))
    assert code == 2 and not left
    assert "the train dataset has 0 items" in err


def test_freeze_pattern_matching_nothing(pretrained, tmp_path, capsys):
    checkpoint, _ = pretrained
    code, err, left = finetune(tmp_path, capsys, *flags(checkpoint, "--freeze", "featurez.*"))
    assert code == 2 and not left
    assert "--freeze 'featurez.*' matches no parameter" in err and "features.0" in err


def test_strict_makes_missing_keys_fatal(pretrained, tmp_path, capsys):
    checkpoint, _ = pretrained
    partial = tmp_path / "partial.pt"
    weights = torch.load(checkpoint, weights_only=True)
    del weights["features.2.bias"]
    torch.save(weights, partial)
    code, err, left = finetune(tmp_path, capsys, *flags(partial), "--strict")
    assert code == 2 and not left
    assert "--strict: missing or unexpected keys" in err
    assert "missing in checkpoint (1): features.2.bias" in err


@pytest.mark.parametrize("extra, message", [
    (["--lora", "r=4,targets='nothing.*'"], "matches no Linear/Conv/Embedding layer"),
    (["--init", "num_classes=five"], "only literal values"),
    (["--replace-head", "tail=3"], "the model has no module 'tail'"),
    (["--precision", "fp8"], "--precision 'fp8': choose one of auto, fp32, bf16, fp16"),
])
def test_more_flags_checked_before_submitting(pretrained, tmp_path, capsys, extra, message):
    checkpoint, _ = pretrained
    code, err, left = finetune(tmp_path, capsys, *flags(checkpoint), *extra)
    assert code == 2 and not left
    assert message in err


def test_no_traceback_reaches_the_terminal(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ml_lsp", "finetune", "--runs-dir", str(tmp_path / "runs"),
                           "--model", MODEL, "--data", DATA, "--checkpoint", str(tmp_path / "missing.pt")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("ml-lsp finetune: error: --checkpoint") and "no such file" in proc.stderr
    assert not (tmp_path / "runs").exists()
