"""Zero set-up (issue 14): a model file gets its input shapes from the workspace's training
scripts (datasets, loaders, transforms, arrays, tokenizers), through the CLI and the editor,
with no setting; the hint moves when the training script changes, on disk and unsaved."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest
from lsprotocol import types

from lsp_helpers import LspSession, server_env

MLP = textwrap.dedent("""\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(20, 64)

        def forward(self, x):
            h = self.fc(x)
            return h
    """)

# each kind of data source, in a training script next to the model: the shape the model's
# ``h`` gets from it
SOURCES = {
    "tensor_dataset": ("""\
        import torch
        from torch.utils.data import DataLoader, TensorDataset
        from model import Net
        X = torch.randn(100, 20)
        y = torch.randint(0, 2, (100,))
        loader = DataLoader(TensorDataset(X, y), batch_size=10, shuffle=True)
        model = Net()
        for xb, yb in loader:
            out = model(xb)
        """, "(10, 64)", "TensorDataset batches of 10"),
    "loader_last_batch_varies": ("""\
        import torch
        from torch.utils.data import DataLoader, TensorDataset
        from model import Net

        def train(model, loader):
            for i, (xb, yb) in enumerate(loader):
                model(xb.to("cpu"))

        def main():
            ds = TensorDataset(torch.randn(105, 20), torch.zeros(105))
            train(Net(), DataLoader(ds, batch_size=10))

        if __name__ == "__main__":
            main()
        """, "(B, 64)", "TensorDataset batches of 10"),
    "numpy": ("""\
        import numpy as np
        import torch
        from model import Net
        a = np.random.randn(50, 20)
        out = Net()(torch.from_numpy(a).float())
        """, "(50, 64)", None),
    "sklearn": ("""\
        import torch
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
        from model import Net
        X, y = load_digits(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
        out = Net()(torch.tensor(X_train[:, :20], dtype=torch.float32))
        """, "(1437, 64)", None),
    "tokenizer": ("""\
        from transformers import AutoTokenizer
        from model import Net
        tok = AutoTokenizer.from_pretrained("bert-base-uncased")
        enc = tok(["a b", "c"], padding="max_length", max_length=20, truncation=True, return_tensors="pt")
        out = Net()(enc["input_ids"].float())
        """, "(2, 64)", "bert-base-uncased tokens"),
}


def workspace(tmp_path, model: str, train: str):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'ws'\n")
    (tmp_path / "model.py").write_text(model)
    (tmp_path / "train.py").write_text(textwrap.dedent(train))
    return tmp_path


def ml_lsp(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "ml_lsp", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env=server_env(tmp_path))


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_shapes_of_a_model_file_come_from_the_training_script_next_to_it(tmp_path, kind):
    train, shape, source = SOURCES[kind]
    workspace(tmp_path, MLP, train)
    out = ml_lsp(tmp_path, "shapes", "model.py")
    assert out.returncode == 0, out.stderr
    assert f"h = {shape} float" in out.stdout, out.stdout
    assert "inputs from train.py:" in out.stdout, out.stdout
    if source:
        assert source in out.stdout, out.stdout
    off = ml_lsp(tmp_path, "shapes", "model.py", "--no-workspace")
    assert "inputs from" not in off.stdout, off.stdout
    if "B" not in shape:  # (B, 64) is also the inferred answer
        assert f"h = {shape}" not in off.stdout, off.stdout


CNN = textwrap.dedent("""\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            self.head = nn.Linear(8, 10)

        def forward(self, x):
            h = self.conv(x)
            return self.head(h.mean(dim=(2, 3)))
    """)

CIFAR_TRAIN = """\
    import argparse
    import torch
    from torchvision import datasets, transforms
    from model import Net


    def train(args, model, device, train_loader):
        for batch_idx, (data, target) in enumerate(train_loader):
            data, target = data.to(device), target.to(device)
            output = model(data)


    def main():
        parser = argparse.ArgumentParser()
        parser.add_argument("--batch-size", type=int, default=BATCH)
        args = parser.parse_args()
        transform = TRANSFORM
        ds = datasets.CIFAR10("data", train=True, download=True, transform=transform)
        loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, drop_last=True)
        train(args, Net(), torch.device("cpu"), loader)


    if __name__ == "__main__":
        main()
    """


def cifar(batch=32, transform="transforms.ToTensor()"):
    return textwrap.dedent(CIFAR_TRAIN).replace("BATCH", str(batch)).replace("TRANSFORM", transform)


def test_check_finds_a_bug_only_the_training_scripts_data_proves(tmp_path):
    workspace(tmp_path, CNN.replace("nn.Conv2d(3, 8, 3)", "nn.Conv2d(1, 8, 3)"), cifar())
    out = ml_lsp(tmp_path, "check", "model.py", "--no-cache")
    assert "SH002" in out.stdout and "got (32, 3, 32, 32)" in out.stdout, out.stdout
    off = ml_lsp(tmp_path, "check", "model.py", "--no-cache", "--no-workspace")
    assert "SH002" not in off.stdout, off.stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.py").write_text((tmp_path / "model.py").read_text())
    given = ml_lsp(tmp_path, "check", "elsewhere/model.py", "--no-cache", "--workspace", str(elsewhere))
    assert "SH002" not in given.stdout, given.stdout


def test_two_call_sites_give_one_answer_a_differing_dim_a_symbol(tmp_path):
    workspace(tmp_path, CNN, cifar(batch=32))
    (tmp_path / "evaluate.py").write_text(cifar(batch=16).replace("train=True", "train=False"))
    out = ml_lsp(tmp_path, "shapes", "model.py")
    assert "h = (B, 8, 30, 30) float" in out.stdout, out.stdout
    assert out.stdout.count("inputs from") == 2, out.stdout


async def hint_on(client, uri, line, want, timeout=30.0):
    labels = []
    deadline = asyncio.get_event_loop().time() + timeout
    while asyncio.get_event_loop().time() < deadline:
        hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(0, 0), types.Position(10_000, 0)))) or []
        labels = [h.label for h in hints if h.position.line == line]
        if labels == [want]:
            return labels
        await asyncio.sleep(0.2)
    return labels


async def test_the_editor_hint_comes_from_the_workspace_and_moves_with_the_training_script(tmp_path):
    root = workspace(tmp_path, CNN, cifar(batch=32))
    model = root / "model.py"
    h_line = CNN.splitlines().index("        h = self.conv(x)")
    async with LspSession(tmp_path, root) as client:
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=model.as_uri(), language_id="python", version=1, text=CNN)))
        # no setting, only model.py open: the training script's CIFAR batches
        assert await hint_on(client, model.as_uri(), h_line, "h: (32, 8, 30, 30)") == ["h: (32, 8, 30, 30)"]
        # train.py changed on disk (watchdog): the batch size
        (root / "train.py").write_text(cifar(batch=16))
        assert await hint_on(client, model.as_uri(), h_line, "h: (16, 8, 30, 30)") == ["h: (16, 8, 30, 30)"]
        # train.py open in the editor, its transform changed and not saved
        train_uri = (root / "train.py").as_uri()
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=train_uri, language_id="python", version=1, text=cifar(batch=16))))
        unsaved = cifar(batch=16, transform="transforms.Compose([transforms.Resize(64), transforms.ToTensor()])")
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=train_uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=unsaved)]))
        assert await hint_on(client, model.as_uri(), h_line, "h: (16, 8, 62, 62)") == ["h: (16, 8, 62, 62)"]
        # a new folder with another script that calls the model (batch 8): one answer for both
        (root / "scripts").mkdir()
        (root / "scripts" / "evaluate.py").write_text(cifar(batch=8, transform=(
            "transforms.Compose([transforms.Resize(64), transforms.ToTensor()])")))
        assert await hint_on(client, model.as_uri(), h_line, "h: (B, 8, 62, 62)") == ["h: (B, 8, 62, 62)"]
        (root / "scripts" / "evaluate.py").unlink()
        assert await hint_on(client, model.as_uri(), h_line, "h: (16, 8, 62, 62)") == ["h: (16, 8, 62, 62)"]
        # the command lists the call site used, with where its data came from
        listed = await client.workspace_execute_command_async(types.ExecuteCommandParams(
            command="ml-lsp.callSites", arguments=[model.as_uri()]))
        texts = [s["text"] for s in listed["callSites"]]
        assert len(texts) == 1 and texts[0].startswith("train.py:") and "CIFAR10 batches of 16" in texts[0], listed
        # and the hover on the model's input says where its shape came from
        x_line = CNN.splitlines().index("    def forward(self, x):")
        hover = await client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=model.as_uri()),
            position=types.Position(x_line, len("    def forward(self, x"))))
        assert hover is not None and "(16, 3, 64, 64)" in hover.contents.value, hover
        assert "CIFAR10 batches of 16, train.py:" in hover.contents.value, hover.contents.value


IMAGE_TRAIN = """\
    import torch
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms as T
    from model import Net

    ds = DATASET
    loader = DataLoader(ds, batch_size=8, shuffle=True, drop_last=True, COLLATE)
    model = Net()
    images, labels = next(iter(loader))
    model(images)
    """

IMAGE_SOURCES = {
    "cifar100": ('datasets.CIFAR100("data", download=True, transform=T.ToTensor())', "(8, 8, 30, 30)"),
    "imagefolder_resize_crop": (
        'datasets.ImageFolder("imgs", transform=T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), '
        'T.Normalize([0.5] * 3, [0.5] * 3)]))', "(8, 8, 222, 222)"),
    "imagefolder_random_resized_crop": (
        'datasets.ImageFolder("imgs", T.Compose([T.RandomResizedCrop(160), T.RandomHorizontalFlip(), T.ToTensor()]))',
        "(8, 8, 158, 158)"),
}


@pytest.mark.parametrize("kind", sorted(IMAGE_SOURCES))
def test_torchvision_datasets_and_transforms_give_the_image_batches(tmp_path, kind):
    dataset, shape = IMAGE_SOURCES[kind]
    workspace(tmp_path, CNN, IMAGE_TRAIN.replace("DATASET", dataset).replace(", COLLATE", ""))
    out = ml_lsp(tmp_path, "shapes", "model.py")
    assert f"h = {shape} float" in out.stdout, out.stdout
    assert "inputs from train.py:10" in out.stdout, out.stdout


# sources whose shape cannot be known statically, each beside the same script with a source
# that can: the first gives the model its input, the second none (quiet, no false conflict)
CIFAR = 'datasets.CIFAR10("data", transform=T.ToTensor())'
UNKNOWABLE = {
    "custom_collate_fn": (CNN, IMAGE_TRAIN.replace("DATASET", CIFAR).replace(", COLLATE", ""),
                          IMAGE_TRAIN.replace("DATASET", CIFAR).replace("COLLATE", "collate_fn=lambda b: b")),
    "unknown_transform": (CNN, IMAGE_TRAIN.replace("DATASET", CIFAR).replace(", COLLATE", ""), IMAGE_TRAIN.replace(
        "DATASET", 'datasets.CIFAR10("data", transform=T.Compose([T.Lambda(lambda x: x), T.ToTensor()]))')
        .replace(", COLLATE", "")),
    "loader_kwargs_not_known": (MLP.replace("nn.Linear(20, 64)", "nn.Linear(64, 64)"), """\
        import torch
        from torch.utils.data import DataLoader, TensorDataset
        from model import Net
        kwargs = {"batch_size": 10}
        for (xb,) in DataLoader(TensorDataset(torch.randn(100, 20)), **kwargs):
            Net()(xb)
        """, """\
        import torch
        from torch.utils.data import DataLoader, TensorDataset
        from model import Net
        from settings import loader_kwargs
        for (xb,) in DataLoader(TensorDataset(torch.randn(100, 20)), **loader_kwargs()):
            Net()(xb)
        """),
    "fetch_openml": (MLP.replace("nn.Linear(20, 64)", "nn.Linear(64, 64)"), """\
        import torch
        from sklearn.datasets import load_digits
        from model import Net
        X, y = load_digits(return_X_y=True)
        Net()(torch.tensor(X, dtype=torch.float32))
        """, """\
        import torch
        from sklearn.datasets import fetch_openml
        from model import Net
        X, y = fetch_openml("mnist_784", return_X_y=True)
        Net()(torch.tensor(X, dtype=torch.float32))
        """),
}


@pytest.mark.parametrize("kind", sorted(UNKNOWABLE))
def test_a_source_whose_shape_depends_on_the_data_gives_no_input(tmp_path, kind):
    model, known, unknown = UNKNOWABLE[kind]
    # with a wrong first layer: the known source proves the bug, the unknown one says nothing
    model = model.replace("nn.Conv2d(3, 8, 3)", "nn.Conv2d(1, 8, 3)").replace("nn.Linear(64, 64)", "nn.Linear(32, 64)")
    workspace(tmp_path, model, known)
    out = ml_lsp(tmp_path, "shapes", "model.py")
    assert "inputs from train.py" in out.stdout and "conflict" in out.stdout, out.stdout
    (tmp_path / "train.py").write_text(textwrap.dedent(unknown))
    out = ml_lsp(tmp_path, "shapes", "model.py")
    assert "inputs from" not in out.stdout and "conflict" not in out.stdout, out.stdout
    assert ml_lsp(tmp_path, "check", "model.py", "--no-cache").returncode == 0


def test_a_conflict_one_call_site_proves_is_reported_with_that_call(tmp_path):
    # the head is sized for 28x28 inputs: train.py feeds 28x28, evaluate.py 32x32. The joined
    # input is (B, 1, d2, d3), which proves nothing; evaluate.py's own inputs prove the bug.
    model = textwrap.dedent("""\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 8, 3)
                self.head = nn.Linear(8 * 26 * 26, 10)

            def forward(self, x):
                h = self.conv(x).flatten(1)
                return self.head(h)
        """)
    script = textwrap.dedent("""\
        import torch
        from torch.utils.data import DataLoader
        from torchvision import datasets, transforms
        from model import Net
        ds = datasets.DATASET("data", transform=transforms.Compose([transforms.Grayscale(), transforms.ToTensor()]))
        for x, y in DataLoader(ds, batch_size=16, drop_last=True):
            Net()(x)
        """)
    workspace(tmp_path, model, script.replace("DATASET", "MNIST"))
    (tmp_path / "evaluate.py").write_text(script.replace("DATASET", "CIFAR10"))
    out = ml_lsp(tmp_path, "check", "model.py", "--no-cache")
    assert "SH001" in out.stdout and "with the inputs of the call at evaluate.py:7" in out.stdout, out.stdout
    # each script alone: only evaluate.py's inputs contradict the model
    (tmp_path / "evaluate.py").unlink()
    assert "SH001" not in ml_lsp(tmp_path, "check", "model.py", "--no-cache").stdout


def test_a_users_dataset_class_gives_its_samples_to_the_loader(tmp_path):
    workspace(tmp_path, CNN, """\
        import torch
        from torch.utils.data import Dataset, DataLoader
        from model import Net


        class Synthetic(Dataset):
            def __len__(self):
                return 640

            def __getitem__(self, i):
                image = torch.randn(3, 32, 32)
                return image, i % 10


        def main():
            for images, labels in DataLoader(Synthetic(), batch_size=64, shuffle=True):
                Net()(images)


        main()
        """)
    out = ml_lsp(tmp_path, "shapes", "model.py")
    assert "h = (B, 8, 30, 30) float" in out.stdout, out.stdout
    assert "Synthetic batches of 64, train.py:16" in out.stdout, out.stdout


def test_images_read_with_pil_take_the_shape_their_transforms_give(tmp_path):
    workspace(tmp_path, CNN, """\
        from PIL import Image
        from torch.utils.data import Dataset, DataLoader
        from torchvision import transforms
        from model import Net


        class Folder(Dataset):
            def __init__(self, files):
                self.files = files
                self.tf = transforms.Compose([transforms.Resize((64, 48)), transforms.ToTensor()])

            def __len__(self):
                return len(self.files)

            def __getitem__(self, i):
                img = Image.open(self.files[i]).convert("RGB")
                return {"image": self.tf(img), "label": 0}


        for batch in DataLoader(Folder(["a.png", "b.png"]), batch_size=4):
            Net()(batch["image"])
        """)
    out = ml_lsp(tmp_path, "shapes", "model.py")
    assert "h = (B, 8, 62, 46) float" in out.stdout, out.stdout
    assert "Folder batches of 4, train.py:20" in out.stdout, out.stdout
