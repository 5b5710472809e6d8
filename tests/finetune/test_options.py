"""The spec's other options on small synthetic problems, in this process: the built-in
data loaders, module:factory models, training-checkpoint layouts and .safetensors,
gradient accumulation, early stopping and bf16 on the CPU."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ml_lsp.finetune import data as data_mod
from ml_lsp.finetune import loop, model as model_mod
from ml_lsp.finetune.spec import FinetuneError, FinetuneSpec, parse_call_args, parse_lora


def make_models(folder):
    (folder / "mlp.py").write_text(textwrap.dedent("""
        from torch import nn

        def build(width=16, classes=3):
            return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, classes))
    """))


def make_npz(path, n=120, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1).astype(np.int64)
    np.savez(path, x=x, y=np.minimum(y, classes - 1))
    return x, y


def spec_for(tmp_path, **kw):
    make_models(tmp_path)
    if not (tmp_path / "d.npz").exists():
        make_npz(tmp_path / "d.npz")
    values = dict(model="mlp:build", data="d.npz", root=str(tmp_path), epochs=2, batch_size=8, lr=0.01,
                  deterministic=True)
    values.update(kw)
    return FinetuneSpec(**values)


def test_builtin_loaders_npz_csv_and_npy_folders(tmp_path):
    x, y = make_npz(tmp_path / "d.npz", n=100)
    train, val = data_mod.load_datasets(spec_for(tmp_path, data="d.npz"))
    assert (len(train), len(val)) == (80, 20) and train[0][0].shape == (4,)

    rows = ["f0,f1,f2,f3,label"] + [",".join(map(str, [*r, int(t)])) for r, t in zip(x, y)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    train, val = data_mod.load_datasets(spec_for(tmp_path, data="d.csv"))
    assert (len(train), len(val)) == (80, 20) and train[0][1].dtype == torch.int64

    for label in ("cat", "dog"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(5):
            np.save(tmp_path / "imgs" / label / f"{i}.npy", np.full((2, 2), i, dtype=np.float32))
    train, val = data_mod.load_datasets(spec_for(tmp_path, data="imgs"))
    assert len(train) + len(val) == 10 and {int(train[i][1]) for i in range(len(train))} <= {0, 1}


def test_module_factory_model_trains_from_npz(tmp_path):
    metrics = loop.train(spec_for(tmp_path, init="width=8"), tmp_path / "out")
    assert metrics["steps"] == 2 * 12 and 0.0 <= metrics["val_accuracy"] <= 1.0
    saved = load_file(tmp_path / "out" / "model.safetensors")
    assert saved["0.weight"].shape == (8, 4)  # the --init reached the factory
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["val_loss"] == metrics["val_loss"]


@pytest.mark.parametrize("layout", ["training-checkpoint", "ddp-prefix", "safetensors"])
def test_checkpoint_layouts(tmp_path, layout):
    make_models(tmp_path)
    import sys
    sys.path.insert(0, str(tmp_path))
    try:
        import mlp
        weights = mlp.build().state_dict()
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mlp", None)
    if layout == "training-checkpoint":
        path = tmp_path / "ck.pt"
        torch.save({"model_state_dict": weights, "epoch": 7, "optimizer": {"state": {}}}, path)
    elif layout == "ddp-prefix":
        path = tmp_path / "ck.pth"
        torch.save({f"module.{k}": v for k, v in weights.items()}, path)
    else:
        path = tmp_path / "ck.safetensors"
        save_file(weights, path)
    spec = spec_for(tmp_path, checkpoint=str(path))
    model = model_mod.build_model(spec)
    report = model_mod.load_checkpoint(model, spec)
    assert report.loaded == 4 and not report.missing and not report.unexpected
    for key, value in weights.items():
        assert torch.equal(model.state_dict()[key], value)
    if layout == "training-checkpoint":
        assert report.container_key == "model_state_dict"
    if layout == "ddp-prefix":
        assert report.stripped_prefix == "module."


def test_gradient_accumulation_matches_the_larger_batch(tmp_path):
    big = loop.train(spec_for(tmp_path, batch_size=16, grad_accum=1), tmp_path / "big")
    accumulated = loop.train(spec_for(tmp_path, batch_size=8, grad_accum=2), tmp_path / "acc")
    assert big["steps"] == accumulated["steps"]
    a, b = load_file(tmp_path / "big" / "model.safetensors"), load_file(tmp_path / "acc" / "model.safetensors")
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key


def test_early_stopping_keeps_the_best_weights(tmp_path):
    metrics = loop.train(spec_for(tmp_path, lr=5.0, epochs=20, eval_every=1, patience=2), tmp_path / "out")
    assert metrics["stopped_early"] and metrics["steps"] < metrics["total_steps"]
    assert metrics["best_val_loss"] <= metrics["val_loss"]
    assert (tmp_path / "out" / "best.safetensors").is_file()


def test_bf16_autocast_on_cpu_when_asked(tmp_path):
    metrics = loop.train(spec_for(tmp_path, precision="bf16", deterministic=False), tmp_path / "out")
    assert metrics["precision"] == "bfloat16" and metrics["val_loss"] == metrics["val_loss"]  # not NaN
    assert loop.train(spec_for(tmp_path), tmp_path / "fp32")["precision"] == "fp32"  # auto on CPU


def test_spec_value_parsers():
    assert parse_call_args("3, num_classes=5, dims=(64, 32)") == ([3], {"num_classes": 5, "dims": (64, 32)})
    lora = parse_lora("r=8,alpha=16,targets='attn.*|mlp.fc'")
    assert (lora.r, lora.alpha, lora.targets) == (8, 16.0, ["attn.*", "mlp.fc"])
    with pytest.raises(FinetuneError, match="needs targets"):
        parse_lora("r=8")
    with pytest.raises(FinetuneError, match="unknown key"):
        parse_lora("rank=8,targets='x'")


def test_train_only_trains_just_the_matching_layers(tmp_path):
    spec = spec_for(tmp_path, train_only=["2"])
    loop.seed_everything(spec.seed)  # what train() does before building the model
    initial = model_mod.build_model(spec).state_dict()
    metrics = loop.train(spec, tmp_path / "out")
    after = load_file(tmp_path / "out" / "model.safetensors")
    assert metrics["frozen_params"] == 4 * 16 + 16
    assert torch.equal(initial["0.weight"], after["0.weight"]) and torch.equal(initial["0.bias"], after["0.bias"])
    assert not torch.equal(initial["2.weight"], after["2.weight"])
