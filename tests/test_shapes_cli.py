"""`ml-lsp shapes` as a terminal or CI user runs it: the JSON contract, text output,
--entry/--init/--input, workspace imports, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

MODEL = textwrap.dedent("""\
    import torch
    import torch.nn as nn
    import torch.nn.functional as F


    class Net(nn.Module):
        def __init__(self, n_in=784, n_hidden=128):
            super().__init__()
            self.fc1 = nn.Linear(n_in, n_hidden)
            self.fc2 = nn.Linear(n_hidden, 10)

        def forward(self, x):
            x = x.view(x.size(0), -1)
            h = F.relu(self.fc1(x))
            logits, extra = self.fc2(h), h.sum(-1)
            return logits
    """)


def run(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(MODEL)
    return path


def test_json_contract_with_inputs(model):
    rc, out, err = run(str(model), "--entry", "Net", "--input", "x=4,1,28,28", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert list(data) == ["files"] and data["files"][0]["path"] == str(model)
    shapes = data["files"][0]["shapes"]
    assert shapes == [
        {"scope": "Net.forward", "line": 13, "name": "x", "shape": [4, 784], "dtype": "float"},
        {"scope": "Net.forward", "line": 14, "name": "h", "shape": [4, 128], "dtype": "float"},
        {"scope": "Net.forward", "line": 15, "name": "logits", "shape": [4, 10], "dtype": "float"},
        {"scope": "Net.forward", "line": 15, "name": "extra", "shape": [4], "dtype": "float"},
    ]


def test_json_lists_each_class_with_the_inputs_it_was_analysed_with(model):
    # the inputs a plain `ml-lsp shapes FILE` inferred are the question its shapes answer
    # (the real-code benchmark runs the default-built class on them)
    rc, out, err = run(str(model), "--entry", "Net", "--input", "x=4,1,28,28", "--json")
    assert rc == 0, err
    assert json.loads(out)["files"][0]["classes"] == [{"name": "Net", "line": 6, "inputs": {"x": [4, 1, 28, 28]}}]
    rc, out, err = run(str(model), "--json")
    assert rc == 0, err
    (net,) = json.loads(out)["files"][0]["classes"]
    assert net["name"] == "Net" and list(net["inputs"]) == ["x"]


def test_json_names_the_files_own_constructor_call_its_inputs_ran(tmp_path):
    # a `__main__` demo builds the model with arguments and calls it: the shapes a plain
    # `ml-lsp shapes FILE` shows are that model's, and "built_at" says which call built it
    path = tmp_path / "vq.py"
    path.write_text(textwrap.dedent("""\
        import torch
        import torch.nn as nn


        class VQ(nn.Module):
            def __init__(self, dim, channel_first=False):
                super().__init__()
                self.proj = nn.Linear(dim, dim)
                self.channel_first = channel_first

            def forward(self, x):
                if self.channel_first:
                    x = x.flatten(2).transpose(1, 2)
                return self.proj(x)


        if __name__ == "__main__":
            vq = VQ(dim=512,
                    channel_first=True)
            out = vq(torch.randn(1, 512, 8, 8))
        """))
    rc, out, err = run(str(path), "--json")
    assert rc == 0, err
    (vq,) = json.loads(out)["files"][0]["classes"]
    assert vq == {"name": "VQ", "line": 5, "inputs": {"x": [1, 512, 8, 8]}, "built_at": 18}
    # given inputs, the engine's model is the --init one, not the demo's: no "built_at"
    rc, out, err = run(str(path), "--json", "--entry", "VQ", "--init", "dim=64", "--input", "x=2,16,64")
    assert rc == 0, err
    assert "built_at" not in json.loads(out)["files"][0]["classes"][0]


def test_an_input_of_unknown_rank_is_a_star_prefix_in_json_and_text(tmp_path):
    # Linear(256, 64) takes any leading dims: without --input, x is (*, 256), never a made-up
    # (B, 256); in JSON the prefix is the string "*" at the front of the dims
    path = tmp_path / "mlp.py"
    path.write_text(textwrap.dedent("""\
        import torch
        import torch.nn as nn


        class MLP(nn.Module):
            def __init__(self, dim=256, hidden=64):
                super().__init__()
                self.fc1 = nn.Linear(dim, hidden)
                self.fc2 = nn.Linear(hidden, 10)

            def forward(self, x):
                h = torch.relu(self.fc1(x))
                out = self.fc2(h)
                return out
        """))
    rc, out, err = run(str(path), "--json")
    assert rc == 0, err
    data = json.loads(out)["files"][0]
    assert data["classes"] == [{"name": "MLP", "line": 5, "inputs": {"x": ["*", 256]}}]
    assert {e["name"]: e["shape"] for e in data["shapes"]} == {"h": ["*", 64], "out": ["*", 10]}
    rc, out, err = run(str(path))
    assert rc == 0, err
    assert "h = (*, 64) float" in out and "out = (*, 10) float" in out


def test_symbolic_input_dims_and_init(model):
    rc, out, err = run(str(model), "--entry", "Net", "--init", "n_in=32, n_hidden=16", "--input", "x=B,32",
                       "--json")
    assert rc == 0, err
    shapes = {e["name"]: e["shape"] for e in json.loads(out)["files"][0]["shapes"]}
    assert shapes["h"] == ["B", 16] and shapes["logits"] == ["B", 10]


def test_text_output_is_readable(model):
    rc, out, err = run(str(model), "--entry", "Net", "--input", "x=4,784")
    assert rc == 0, err
    assert "Net.forward" in out
    assert "h = (4, 128) float" in out and "logits = (4, 10) float  <- Linear(n_hidden, 10), line 10" in out


def test_several_files_and_workspace_imports(tmp_path):
    (tmp_path / "blocks.py").write_text(textwrap.dedent("""\
        import torch.nn as nn

        class Block(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.fc = nn.Linear(d, 2 * d)

            def forward(self, x):
                y = self.fc(x)
                return y
        """))
    (tmp_path / "main.py").write_text(textwrap.dedent("""\
        import torch
        from blocks import Block

        model = Block(8)
        out = model(torch.randn(3, 8))
        """))
    rc, out, err = run(str(tmp_path / "main.py"), str(tmp_path / "blocks.py"), "--json", cwd=tmp_path)
    assert rc == 0, err
    files = json.loads(out)["files"]
    main = {e["name"]: e["shape"] for e in files[0]["shapes"]}
    assert main["out"] == [3, 16]
    # main.py's call site (Block(8) on a (3, 8) input) gives blocks.py its shapes
    assert [e["shape"] for e in files[1]["shapes"] if e["name"] == "y"] == [[3, 16]]
    rc, out, err = run(str(tmp_path / "blocks.py"), "--json", cwd=tmp_path)
    # analysed on its own, the block's width is the constructor parameter's name, and the
    # input's rank is unknown (Linear takes any leading dims): "*" in JSON
    assert [e["shape"] for e in json.loads(out)["files"][0]["shapes"] if e["name"] == "y"] == [["*", "2*d"]]


@pytest.mark.parametrize("args,message", [
    (["missing.py"], "missing.py: no such file"),
    (["{model}", "--input", "x"], "expected NAME=D1,D2"),
    (["{model}", "--input", "x=4,a+"], "'a+' is not a dimension"),
    (["{model}", "--entry", "Nope"], "no class or function named 'Nope'"),
    (["{model}", "--entry", "Net", "--input", "y=4,784"], "has no parameter 'y'"),
    (["{model}", "--entry", "Net", "--init", "n_in=("], "--init"),
    # each argument checked against the form it accepts, the message naming both
    (["{model}", "--entry", "Net", "--input", "x=B,,784"],
     "--input 'x=B,,784': dimension 2 is empty; expected NAME=D1,D2,..."),
    (["{model}", "--entry", "Net", "--init", "bogus_kw=3", "--input", "x=B,784"],
     "--init 'bogus_kw=3': Net takes no argument 'bogus_kw'; its parameters: Net(n_in, n_hidden)"),
    (["{model}", "--entry", "Net", "--init", "784, 128, 10", "--input", "x=B,784"],
     "--init '784, 128, 10': Net takes 2 positional arguments, 3 given"),
    (["{folder}"], "FILE {folder}: is a folder; `ml-lsp shapes` takes Python files"),
    (["{model}", "--compare", "--entry", "Net", "--input", "y=4,784"], "has no parameter 'y'"),
])
def test_bad_input_is_one_line_exit_2(model, args, message):
    folder = model.parent
    rc, out, err = run(*[a.format(model=model, folder=folder) for a in args])
    message = message.format(folder=folder)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err


def test_init_for_a_class_without_a_constructor_of_its_own_is_bad_usage(tmp_path):
    # nn.Module.__init__ takes no arguments: torch raises on N(bogus_kw=3), so must we
    path = tmp_path / "head.py"
    path.write_text("import torch.nn as nn\n\n\nclass Head(nn.Module):\n"
                    "    def forward(self, x):\n        y = x.flatten(1)\n        return y\n")
    rc, out, err = run(str(path), "--entry", "Head", "--init", "bogus_kw=3", "--input", "x=2,3,4")
    assert rc == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        f"ml-lsp shapes: error: {path}: --init 'bogus_kw=3': Head takes no arguments (it has no __init__ "
        "of its own, and nn.Module's takes none), bogus_kw given; leave out --init"]
    rc, out, err = run(str(path), "--entry", "Head", "--input", "x=2,3,4", "--json")
    assert rc == 0, err
    assert [e["shape"] for e in json.loads(out)["files"][0]["shapes"] if e["name"] == "y"] == [[2, 12]]
    # a subclass of a library layer takes that layer's arguments
    path.write_text("import torch.nn as nn\n\n\nclass Proj(nn.Linear):\n    pass\n")
    rc, out, err = run(str(path), "--entry", "Proj", "--init", "3, 4", "--input", "input=2,3")
    assert rc == 0, err


def test_file_with_a_syntax_error_still_gets_shapes(tmp_path):
    path = tmp_path / "half.py"
    path.write_text(MODEL + "\n\ndef broken(x):\n    y = x.view(\n")
    rc, out, err = run(str(path), "--entry", "Net", "--input", "x=2,784", "--json")
    assert rc == 0, err
    assert any(e["name"] == "h" and e["shape"] == [2, 128] for e in json.loads(out)["files"][0]["shapes"])


def test_entry_may_be_a_factory_function(tmp_path):
    path = tmp_path / "mixer.py"
    path.write_text(textwrap.dedent("""\
        import torch.nn as nn


        class Residual(nn.Module):
            def __init__(self, fn):
                super().__init__()
                self.fn = fn

            def forward(self, x):
                y = self.fn(x) + x
                return y


        def ConvMixer(dim, depth, kernel_size=9, patch_size=7, n_classes=1000):
            return nn.Sequential(
                nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size),
                *[Residual(nn.Conv2d(dim, dim, kernel_size, groups=dim, padding="same")) for _ in range(depth)],
                nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(dim, n_classes))
        """))
    rc, out, err = run(str(path), "--entry", "ConvMixer", "--init", "dim=24, depth=2, kernel_size=5, patch_size=4",
                       "--input", "x=2,3,32,32", "--json")
    assert rc == 0, err
    assert json.loads(out)["files"][0]["shapes"] == [
        {"scope": "Residual.forward", "line": 10, "name": "y", "shape": [2, 24, 8, 8], "dtype": "float"}]


def test_entry_shows_what_the_entry_reaches_and_not_the_files_other_models(tmp_path):
    # `--entry Classifier` asks about one model: its forward and the Encoder it calls are
    # shown on the given inputs; Decoder, which it never calls, is not run on guessed inputs
    # (a plain `ml-lsp shapes FILE` still shows every class)
    path = tmp_path / "models.py"
    path.write_text(textwrap.dedent("""\
        import torch.nn as nn


        class Encoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(32, 16)

            def forward(self, x):
                h = self.fc(x)
                return h


        class Decoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(16, 32)

            def forward(self, z):
                y = self.fc(z)
                return y


        class Classifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = Encoder()
                self.head = nn.Linear(16, 3)

            def forward(self, x):
                logits = self.head(self.encoder(x))
                return logits
        """))

    def scopes(*args):
        rc, out, err = run(str(path), "--json", *args)
        assert rc == 0, err
        return {(s["scope"], s["name"]): s["shape"] for s in json.loads(out)["files"][0]["shapes"]}

    entry = scopes("--entry", "Classifier", "--input", "x=8,32")
    assert entry == {("Encoder.forward", "h"): [8, 16], ("Classifier.forward", "logits"): [8, 3]}
    plain = scopes()
    assert ("Decoder.forward", "y") in plain and ("Classifier.forward", "logits") in plain
