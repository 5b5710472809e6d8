"""What training changes and how exactly it resumes: LoRA touches only adapters and the
new head; a run paused after k steps and resumed ends bitwise equal to an uninterrupted
one; DDP over 2 CPU processes matches one process with the doubled batch."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from ml_lsp.finetune import loop
from .conftest import DIGITS, digits_spec, ml_lsp


def test_lora_changes_only_adapter_and_head_parameters(pretrained, tmp_path):
    checkpoint, _ = pretrained
    spec = digits_spec(checkpoint, freeze=[], epochs=1, lr=0.01)
    from ml_lsp.finetune.spec import parse_lora
    spec.lora = parse_lora("r=4, alpha=8, targets='features.*'")
    loop.train(spec, tmp_path)

    before = torch.load(checkpoint, weights_only=True)
    after = load_file(tmp_path / "model.safetensors")  # not merged: base weights + adapters
    base = {k.removeprefix("base_model.model."): v for k, v in after.items()}
    adapters = [k for k in base if "lora_" in k]
    assert adapters and all(k.startswith("features.") for k in adapters)
    for key in ("features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias"):
        assert torch.equal(before[key], base[key.replace("weight", "base_layer.weight")
                                             .replace("bias", "base_layer.bias")]), key
    lora_b = [base[k] for k in adapters if "lora_B" in k]
    assert any(t.abs().sum() > 0 for t in lora_b)  # the adapters did train (B starts at zero)
    assert not torch.equal(before["head.weight"], base["head.weight"])


def test_lora_merge_exports_plain_weights_that_differ_only_where_adapted(pretrained, tmp_path):
    checkpoint, _ = pretrained
    from ml_lsp.finetune.spec import parse_lora
    spec = digits_spec(checkpoint, freeze=[], epochs=1, lr=0.01,
                       lora=parse_lora("r=4, alpha=8, targets='features.2', merge=True"))
    loop.train(spec, tmp_path)
    before = torch.load(checkpoint, weights_only=True)
    after = load_file(tmp_path / "model.safetensors")
    assert set(after) == set(before)  # merged: the model's own names, no adapters
    assert torch.equal(before["features.0.weight"], after["features.0.weight"])  # not targeted
    assert not torch.equal(before["features.2.weight"], after["features.2.weight"])  # merged delta


def test_resume_is_bitwise_equal_to_an_uninterrupted_run(pretrained, tmp_path, workspace):
    """Reference in this process; the paused and the resumed run through the CLI and the
    runner, as a user does it."""
    checkpoint, _ = pretrained
    common = dict(freeze=[], epochs=2, checkpoint_every=7, deterministic=True, lr=0.005)
    reference = tmp_path / "reference"
    loop.train(digits_spec(checkpoint, **common), reference)

    flags = ["--model", f"{DIGITS / 'model.py'}:DigitsCNN", "--init", "num_classes=5",
             "--checkpoint", str(checkpoint), "--data", f"{DIGITS / 'data.py'}:digits_5_9",
             "--replace-head", "head=5", "--epochs", "2", "--checkpoint-every", "7",
             "--deterministic", "--lr", "0.005"]
    paused = ml_lsp("finetune", *flags, "--stop-after", "17", "--wait", cwd=workspace)
    assert paused.returncode == 0, paused.stderr
    first = paused.stdout.strip().splitlines()[-1]
    state = torch.load(workspace / ".ml-lsp/runs" / first / "checkpoints/last.pt", weights_only=True)
    assert state["state"]["step"] == 17
    assert not (workspace / ".ml-lsp/runs" / first / "metrics.json").exists()

    resumed = ml_lsp("finetune", "--resume", first, "--wait", cwd=workspace)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at step 17" in resumed.stderr
    second = resumed.stdout.strip().splitlines()[-1]
    assert second != first

    want = torch.load(reference / "checkpoints/last.pt", weights_only=True)
    got = torch.load(workspace / ".ml-lsp/runs" / second / "checkpoints/last.pt", weights_only=True)
    assert got["state"]["step"] == want["state"]["step"] == 46
    for key, value in want["model"].items():
        assert torch.equal(value, got["model"][key]), key
    for index, slots in want["optimizer"]["state"].items():
        for name, value in slots.items():
            assert torch.equal(value, got["optimizer"]["state"][index][name]), (index, name)
    assert want["scheduler"] == got["scheduler"]
    metrics = json.loads((workspace / ".ml-lsp/runs" / second / "metrics.json").read_text())
    assert metrics["steps"] == 46


def test_ddp_two_cpu_processes_with_accumulation_match_one_process_with_the_whole_batch(pretrained, tmp_path, workspace):
    checkpoint, _ = pretrained
    single = loop.train(digits_spec(checkpoint, epochs=1, batch_size=32), tmp_path / "single")
    proc = ml_lsp("finetune", "--model", f"{DIGITS / 'model.py'}:DigitsCNN", "--init", "num_classes=5",
                  "--checkpoint", str(checkpoint), "--data", f"{DIGITS / 'data.py'}:digits_5_9",
                  "--freeze", "features", "--replace-head", "head=5", "--epochs", "1", "--lr", "0.01",
                  "--batch-size", "8", "--grad-accum", "2",  # micro-steps skip the gradient sync
                  "--launcher", "torchrun", "--nproc-per-node", "2", "--wait",
                  cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    run_dir = workspace / ".ml-lsp/runs" / proc.stdout.strip().splitlines()[-1]
    ddp = json.loads((run_dir / "metrics.json").read_text())
    assert ddp["world_size"] == 2 and ddp["steps"] == single["steps"]
    assert abs(ddp["train_loss"] - single["train_loss"]) <= 1e-5
    assert abs(ddp["val_loss"] - single["val_loss"]) <= 1e-5


def test_interrupt_checkpoints_at_a_step_boundary_and_exits_130(pretrained, tmp_path):
    """What `ml-lsp stop` does to a run (SIGINT first): the job finishes its step, writes a
    checkpoint to resume from and exits 130, without exporting a half-trained model."""
    import signal
    import subprocess
    import sys
    import time

    checkpoint, _ = pretrained
    spec = digits_spec(checkpoint, epochs=200, checkpoint_every=5)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec.to_job()))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "ml_lsp.finetune.job", str(spec_file), "--run-dir", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "checkpoints" / "last.pt").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "timeout"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stdout.strip().splitlines()[-1].startswith("stopped: steps ")
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert 5 <= state["state"]["step"] < 200 * 23
    assert not (out / "model.safetensors").exists() and not (out / "metrics.json").exists()
