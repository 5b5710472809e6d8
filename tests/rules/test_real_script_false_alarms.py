"""False alarms users met on public training scripts (issue 16), checked as a user runs
`ml-lsp check`: a real process on a file in a project folder."""

import json
import subprocess
import sys
import textwrap

import pytest


def check(project, source: str, *args: str, name: str = "train.py") -> list[tuple[str, int]]:
    (project / name).write_text(textwrap.dedent(source))
    out = subprocess.run([sys.executable, "-m", "ml_lsp", "check", name, "--format", "json", *args],
                         cwd=project, capture_output=True, text=True, timeout=120)
    assert out.returncode in (0, 1), out.stderr
    return [(d["code"], d["line"]) for d in json.loads(out.stdout)["diagnostics"]]


@pytest.fixture
def project(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    return tmp_path


def test_float_tensor_of_a_numpy_array_keeps_its_rank(project):
    # pytorch/examples: torch.sum(torch.FloatTensor(<2-D numpy array>), dim=1)
    src = """\
        import numpy as np
        import torch

        features = np.zeros((10, 3))
        total = torch.sum(torch.FloatTensor(features), dim=1)
        sized = torch.FloatTensor(4, 3)
        wrong = torch.sum(sized, dim=2)
        """
    assert check(project, src, "--select", "SH012") == [("SH012", 7)]


def test_train_through_a_device_chain_restores_train_mode(project):
    src = """\
        import torch
        import torch.nn as nn

        class TransformerModel(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)
                self.drop = nn.Dropout(0.1)

            def forward(self, x):
                return self.fc(self.drop(x))

        transformer = TransformerModel()
        optimizer = torch.optim.SGD(transformer.parameters(), lr=0.1)

        for epoch in range(3):
            transformer.to(device).train()
            for x, y in train_loader:
                optimizer.zero_grad()
                loss = (transformer(x) - y).pow(2).mean()
                loss.backward()
                optimizer.step()
            transformer.eval()
        """
    assert check(project, src, "--select", "TR007") == []
    # without the chained train() the finding is still there
    assert check(project, src.replace("transformer.to(device).train()", "transformer.to(device)"),
                 "--select", "TR007") == [("TR007", 23)]


MODEL_FILE = """\
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 64, 5)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv(x))
"""

EVAL_SCRIPT = """\
import torch
from model import Net

model = Net().to(device)

def test():
    with torch.no_grad():
        for batch in testing_data_loader:
            prediction = model(batch[0])
"""


def test_imported_model_without_dropout_or_batch_norm_needs_no_eval(project):
    # pytorch/examples super_resolution: the model class lives in model.py
    (project / "model.py").write_text(MODEL_FILE)
    assert check(project, EVAL_SCRIPT, "--select", "TR006") == []
    (project / "model.py").write_text(MODEL_FILE.replace("nn.ReLU()", "nn.Dropout(0.5)"))
    assert check(project, EVAL_SCRIPT, "--select", "TR006") == [("TR006", 8)]


def test_unknown_model_class_stays_silent(project):
    src = EVAL_SCRIPT.replace("from model import Net", "from somewhere_else import Net")
    assert check(project, src, "--select", "TR006") == []


def test_model_passed_to_an_evaluate_function_is_followed_to_its_class(project):
    src = """\
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)
                self.bn = nn.BatchNorm1d(4)

            def forward(self, x):
                return self.fc(self.bn(x))

        def evaluate(model, loader):
            with torch.no_grad():
                for x, y in loader:
                    out = model(x)

        net = Net()
        evaluate(net, val_loader)
        """
    assert check(project, src, "--select", "TR006") == [("TR006", 15)]
    assert check(project, src.replace("nn.BatchNorm1d(4)", "nn.ReLU()"), "--select", "TR006") == []


LOAD = """\
import torch

state = torch.load("model.pt")
unsafe = torch.load("model.pt", weights_only=False)
"""


def _fake_venv(project, version: str):
    site = project / ".venv" / "lib" / "python3.11" / "site-packages" / f"torch-{version}.dist-info"
    site.mkdir(parents=True)
    (project / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (site / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")


def test_torch_load_default_is_safe_from_torch_2_6_in_the_workspace_venv(project):
    _fake_venv(project, "2.6.0+cu124")
    # the explicit weights_only=False is still flagged
    assert check(project, LOAD, "--select", "DA003") == [("DA003", 4)]


def test_torch_load_default_is_flagged_before_torch_2_6(project):
    _fake_venv(project, "2.5.1")
    (project / "load.py").write_text(LOAD)
    out = subprocess.run([sys.executable, "-m", "ml_lsp", "check", "load.py", "--select", "DA003"],
                         cwd=project, capture_output=True, text=True, timeout=120)
    first = out.stdout.splitlines()[0]
    assert first.startswith("load.py:3:9: DA003") and "this workspace has torch 2.5.1" in first


def test_training_stream_named_iterator_is_not_asked_to_shuffle(project):
    # pytorch/examples language_translation: torchtext's Multi30k is an IterableDataset
    src = """\
        from torch.utils.data import DataLoader

        train_iterator = Multi30k(split="train")
        train_dataloader = DataLoader(train_iterator, batch_size=32)
        train_set = load_images("train")
        train_loader = DataLoader(train_set, batch_size=32)
        """
    assert check(project, src, "--select", "DA002") == [("DA002", 6)]


def test_batches_from_an_iterator_built_on_the_device_need_no_move(project):
    # pytorch/examples legacy/snli: BucketIterator.splits(..., device=device)
    src = """\
        import torch

        model = SNLIClassifier(config)
        model.to(device)
        train_iter, dev_iter = data.BucketIterator.splits((train, dev), batch_size=64, device=device)
        for batch in train_iter:
            answer = model(batch)
        for batch in other_loader:
            answer = model(batch)
        """
    assert check(project, src, "--select", "TR011") == [("TR011", 9)]


def test_walking_a_models_layers_is_not_an_evaluation_loop(project):
    # pytorch/examples mnist_forward_forward: predict() runs each layer in turn; the layer's
    # own train(x_pos, x_neg) is a training method, not a mode switch
    src = """\
        import torch

        class Net(torch.nn.Module):
            def predict(self, x):
                for layer in self.layers:
                    h = layer(x)
                return h

            def train(self, x_pos, x_neg):
                for layer in self.layers:
                    layer.train(x_pos, x_neg)
        """
    assert check(project, src, "--select", "TR005,TR006") == []


def test_batches_moved_with_type_are_on_the_device(project):
    # PyTorch-GAN cogan: imgs = Variable(imgs.type(Tensor)) with Tensor = torch.cuda.FloatTensor
    src = """\
        import torch

        model = Discriminator()
        model.cuda()
        Tensor = torch.cuda.FloatTensor
        for imgs, _ in dataloader:
            imgs = imgs.type(Tensor)
            out = model(imgs)
        """
    assert check(project, src, "--select", "TR011") == []
