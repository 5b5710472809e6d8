"""Zero set-up (issue 14), the last two sources: a Hugging Face ``datasets`` pipeline in the
training script (``load_dataset`` → batched ``map`` of a tokenizer → ``with_format``/
``set_format("torch")`` → ``DataLoader``), and Lightning's ``example_input_array``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

MODEL = textwrap.dedent("""\
    from torch import nn


    class TextClassifier(nn.Module):
        def __init__(self, vocab=30522, dim=64, classes=2):
            super().__init__()
            self.emb = nn.Embedding(vocab, dim)
            self.head = nn.Linear(dim, classes)

        def forward(self, input_ids, attention_mask):
            h = self.emb(input_ids)
            return self.head(h.mean(dim=1))
    """)

SET_FORMAT = textwrap.dedent("""\
    from datasets import load_dataset
    from torch.utils.data import DataLoader
    from transformers import AutoTokenizer
    from model import TextClassifier

    tokenizer = AutoTokenizer.from_pretrained("bert-base-uncased")
    raw = load_dataset("imdb")


    def tokenize(batch):
        return tokenizer(batch["text"], padding="max_length", truncation=True, max_length=256)


    tokenized = raw.map(tokenize, batched=True)
    tokenized.set_format("torch", columns=["input_ids", "attention_mask", "label"])
    loader = DataLoader(tokenized["train"], batch_size=16, shuffle=True)
    model = TextClassifier()
    for batch in loader:
        logits = model(batch["input_ids"], batch["attention_mask"])
    """)

WITH_FORMAT = textwrap.dedent("""\
    from datasets import load_dataset
    from torch.utils.data import DataLoader
    from transformers import AutoTokenizer
    from model import TextClassifier

    tokenizer = AutoTokenizer.from_pretrained("bert-base-uncased")
    train = load_dataset("imdb", split="train")
    train = train.map(lambda b: tokenizer(b["text"], padding="max_length", truncation=True, max_length=128),
                      batched=True, remove_columns=["text"])
    train = train.with_format("torch", columns=["input_ids", "attention_mask"])
    loader = DataLoader(train, batch_size=8, drop_last=True)
    model = TextClassifier()
    for batch in loader:
        logits = model(**batch)
    """)


def shapes(tmp_path, *args) -> dict:
    proc = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "model.py", "--json", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    [entry] = json.loads(proc.stdout)["files"]
    return {b["name"]: b["shape"] for b in entry["shapes"]}


def workspace(tmp_path, train: str):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "ws"\n')
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "train.py").write_text(train)


def test_a_tokenized_dataset_set_to_torch_format_feeds_the_model_its_padded_length(tmp_path):
    workspace(tmp_path, SET_FORMAT)
    assert shapes(tmp_path)["h"] == ["B", 256, 64]  # the last batch may be shorter: B
    assert shapes(tmp_path, "--no-workspace")["h"] != ["B", 256, 64]


def test_a_lambda_map_with_format_and_drop_last_give_an_exact_batch(tmp_path):
    workspace(tmp_path, WITH_FORMAT)
    assert shapes(tmp_path)["h"] == [8, 128, 64]


def test_a_map_the_engine_cannot_see_through_gives_no_input(tmp_path):
    # without batched=True, each example is mapped alone: the rows' lengths are not known
    workspace(tmp_path, WITH_FORMAT.replace("batched=True, ", ""))
    assert shapes(tmp_path)["h"] != [8, 128, 64]


LIGHTNING = textwrap.dedent("""\
    import torch
    from torch import nn
    import lightning as L


    class LitMNIST(L.LightningModule):
        def __init__(self, hidden=128):
            super().__init__()
            self.example_input_array = torch.randn(32, 1, 28, 28)
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Linear(hidden, 10))

        def forward(self, x):
            h = self.net(x)
            return h
    """)


def test_lightnings_example_input_array_is_the_forward_input(tmp_path):
    (tmp_path / "model.py").write_text(LIGHTNING)
    assert shapes(tmp_path)["h"] == [32, 10]


def test_an_example_input_array_the_model_cannot_take_is_an_error_on_its_line(tmp_path):
    (tmp_path / "model.py").write_text(LIGHTNING.replace("torch.randn(32, 1, 28, 28)", "torch.randn(32, 1, 28, 27)"))
    proc = subprocess.run([sys.executable, "-m", "ml_lsp", "check", "model.py", "--no-cache"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "756" in proc.stdout and "784" in proc.stdout  # 28 * 27 features into Linear(784, ...)


TWO_LOADERS = textwrap.dedent("""\
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(20, 4)

        def forward(self, x):
            h = self.fc(x)
            return h


    def main():
        model = Net()
        train = DataLoader(TensorDataset(torch.randn(1000, 20)), batch_size=64, shuffle=True)
        test = DataLoader(TensorDataset(torch.randn(500, 20)), batch_size=500)
        for (x,) in train:
            model(x)
        for (x,) in test:
            model(x)
    """)


def test_a_varying_training_batch_and_a_fixed_test_batch_in_one_script_stay_the_batch_symbol(tmp_path):
    # the training loader's last batch is shorter (B); the test loader's only batch is 500:
    # the forward sees "a batch", not an unknown dim
    (tmp_path / "model.py").write_text(TWO_LOADERS)
    assert shapes(tmp_path)["h"] == ["B", 4]
