"""Where "Fine-tune from checkpoint…" is offered and what it proposes (pure functions of
the source text and the workspace's file names)."""

from __future__ import annotations

import textwrap

from ml_lsp.finetune.targets import checkpoint_candidates, data_candidates, find_target

SCRIPT = textwrap.dedent("""\
    import torch
    from torch import nn
    from models.vision import ResNetish

    class Head(nn.Module):
        def forward(self, x):
            return x

    class Tiny(Head):
        pass

    model = ResNetish(num_classes=10, width=64)
    state = torch.load("weights/pretrained.pth", map_location="cpu")
    model.load_state_dict(state)
    other = ResNetish(depth=compute())
""")


def line(needle: str) -> int:
    return next(i for i, text in enumerate(SCRIPT.splitlines()) if needle in text)


def test_module_class_headers_including_subclasses_of_module_subclasses():
    head = find_target(SCRIPT, line("class Head"))
    assert (head.class_name, head.module) == ("Head", None)
    assert find_target(SCRIPT, line("class Tiny")).class_name == "Tiny"
    assert find_target(SCRIPT, line("def forward")) is None
    assert find_target(SCRIPT, line("import torch")) is None


def test_load_lines_name_the_model_its_arguments_and_the_checkpoint():
    on_load_state_dict = find_target(SCRIPT, line("load_state_dict"))
    assert on_load_state_dict.class_name == "ResNetish" and on_load_state_dict.module == "models.vision"
    assert on_load_state_dict.init == "num_classes=10, width=64"
    on_torch_load = find_target(SCRIPT, line("torch.load"))
    assert on_torch_load.checkpoint == "weights/pretrained.pth"


def test_quiet_on_text_being_typed():
    assert find_target("class Net(nn.Module):\n    def forward(self, x\n", 0) is None


def test_workspace_candidates(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "a.pt").write_bytes(b"")
    (tmp_path / "b.safetensors").write_bytes(b"")
    (tmp_path / ".ml-lsp" / "runs" / "r1").mkdir(parents=True)
    (tmp_path / ".ml-lsp" / "runs" / "r1" / "model.safetensors").write_bytes(b"")
    (tmp_path / "train.csv").write_text("a,b\n1,2\n")
    (tmp_path / "npy").mkdir()
    (tmp_path / "npy" / "x.npy").write_bytes(b"")
    (tmp_path / "loaders.py").write_text("def load_data():\n    pass\n\ndef needs_arg(x):\n    pass\n")
    assert checkpoint_candidates(tmp_path) == ["b.safetensors", "ckpt/a.pt"]  # run outputs are skipped
    assert data_candidates(tmp_path) == ["train.csv", "npy", "loaders.py:load_data"]
