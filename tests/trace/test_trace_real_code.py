"""``ml-lsp shapes --trace`` on code written the way public model code is (issue 15): a model
inside a package with relative imports, a script whose module level imports absent packages,
parses ``sys.argv`` and downloads data, hyper-parameters set under ``__main__``, a
data-dependent op, a CNN whose input sizes are constrained; in the interpreter the user names.
Each through the CLI as a terminal user runs it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "examples" / "digits" / "model.py"


def ml_lsp(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--trace", *args], capture_output=True,
                          text=True, timeout=180, cwd=cwd)


def traced_json(*args: str) -> dict:
    done = ml_lsp("--json", *args)
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def shapes_by_name(data: dict, path: Path) -> dict[tuple[str, str], list]:
    own = [f for f in data["files"] if Path(f["path"]).resolve() == path.resolve()]
    return {(e["scope"], e["name"]): e["shape"] for f in own for e in f["shapes"]}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


BLOCK = (
    "import torch.nn as nn\n\n\n"
    "class Block(nn.Module):\n"
    "    def __init__(self, dim):\n"
    "        super().__init__()\n"
    "        self.fc = nn.Linear(dim, dim * 2)\n\n"
    "    def forward(self, x):\n"
    "        y = self.fc(x)\n"
    "        return y\n")


def test_a_model_in_a_package_is_imported_as_the_package_does(tmp_path):
    # models/ has no __init__.py (a namespace package, as in ConvNeXt's repository) and
    # net.py imports its sibling relatively; lib/lib.py imports its own package by name
    # (x-transformers' layout), which a folder on sys.path named like the package shadows.
    write(tmp_path, {
        "models/blocks.py": BLOCK,
        "models/net.py": "import torch.nn as nn\nfrom .blocks import Block\n\n\n"
                         "class Net(nn.Module):\n"
                         "    def __init__(self):\n"
                         "        super().__init__()\n"
                         "        self.block = Block(8)\n\n"
                         "    def forward(self, x):\n"
                         "        h = self.block(x)\n"
                         "        return h\n",
        "lib/__init__.py": "",
        "lib/attend.py": BLOCK,
        "lib/lib.py": "import torch.nn as nn\nfrom lib.attend import Block\n\n\n"
                      "class Wrapper(nn.Module):\n"
                      "    def __init__(self):\n"
                      "        super().__init__()\n"
                      "        self.block = Block(4)\n\n"
                      "    def forward(self, x):\n"
                      "        out = self.block(x)\n"
                      "        return out\n",
    })
    net, wrapper = tmp_path / "models" / "net.py", tmp_path / "lib" / "lib.py"
    data = traced_json("--entry", "Net", "--input", "x=B,8", str(net))
    assert data["problems"] == []
    assert shapes_by_name(data, net)[("Net.forward", "h")] == ["B", 16]
    data = traced_json("--entry", "Wrapper", "--input", "x=B,4", str(wrapper))
    assert data["problems"] == []
    assert shapes_by_name(data, wrapper)[("Wrapper.forward", "out")] == ["B", 8]


SCRIPT = """\
import argparse
import urllib.request

import torch
import torch.nn as nn
import tiktoken_not_installed_xyz
from torchvision_not_installed_xyz import datasets

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--width", type=int, default=32)
args = parser.parse_args()
urllib.request.urlretrieve("https://example.com/data.bin", "data.bin")
train_set = datasets.MNIST(args.data, download=True)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(args.width, hidden)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x):
        h = torch.relu(self.fc(x))
        return self.head(h)


if __name__ == "__main__":
    hidden = 64
    n_classes = 10
    model = Net()
    for batch in torch.utils.data.DataLoader(train_set):
        model(batch)
"""


def test_module_level_code_that_is_not_about_the_model_does_not_stop_the_trace(tmp_path):
    # Absent packages, argparse on a command line that is not the script's, a download:
    # none of it is about Net, whose hyper-parameters come from argparse's defaults and
    # the __main__ block.
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    done = ml_lsp("--entry", "Net", "--input", "x=B,32", str(script))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "trace:" not in done.stderr, done.stderr  # no problem reported
    notes = [line for line in done.stderr.splitlines() if ": note: " in line]
    assert any("tiktoken_not_installed_xyz" in n and "line 6" in n for n in notes), notes
    assert any("hidden" in n and "n_classes" in n and "__main__" in n for n in notes), notes
    forward = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("24 ")]
    assert forward == [["24", "h", "(B,", "64)", "float"]], done.stdout
    assert not (tmp_path / "data.bin").exists()


def test_a_package_the_model_needs_is_reported_once_with_the_install_command(tmp_path):
    uses = ("import torch.nn as nn\nfrom einops_not_installed_xyz import rearrange\n\n\n"
            "class {name}(nn.Module):\n"
            "    def forward(self, x):\n"
            "        return rearrange(x, 'b c -> c b')\n")
    write(tmp_path, {"a.py": uses.format(name="A"), "b.py": uses.format(name="B")})
    data = traced_json("--input", "x=B,4", str(tmp_path / "a.py"), str(tmp_path / "b.py"))
    (problem,) = data["problems"]
    assert problem["kind"] == "missing-package" and problem["line"] == 2
    assert problem["package"] == "einops-not-installed-xyz"
    assert problem["install"].endswith(" -m pip install einops-not-installed-xyz")
    assert data["interpreter"]["python"] in problem["install"] or sys.executable in problem["install"]


def test_a_data_dependent_op_falls_back_to_a_cpu_run_by_itself(tmp_path):
    model = tmp_path / "select.py"
    model.write_text(
        "import torch\nimport torch.nn as nn\n\n\n"
        "class Select(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.score = nn.Linear(6, 1)\n\n"
        "    def forward(self, x):\n"
        "        keep = self.score(x).squeeze(-1) > 0\n"
        "        kept = x[keep]\n"
        "        return kept\n")
    data = traced_json("--entry", "Select", "--input", "x=B,6", str(model))
    assert data["problems"] == []
    (trace,) = data["traces"]
    assert trace["mode"] == "cpu"
    # How many rows survive depends on the values: unknown, not one draw's count.
    assert shapes_by_name(data, model)[("Select.forward", "kept")] == [None, 6]


def test_sizes_come_from_what_the_model_can_take_not_a_false_error():
    # DigitsCNN's Linear(32 * 4 * 4) after two 2x pools takes only 16x16 images: the
    # tracer's first guess (H=3, W=5) is its own mistake, not the user's.
    data = traced_json(str(DIGITS))
    assert data["problems"] == []
    (trace,) = data["traces"]
    assert trace["sizes"]["H"] == trace["sizes"]["W"] and trace["sizes"]["H"] != 3
    assert any(e["name"] == "x" and e["shape"][-1] == 512 for f in data["files"] for e in f["shapes"])


def test_a_real_bug_is_still_reported_on_the_users_line_naming_the_sizes_tried(tmp_path):
    # conv2 takes 16 channels where conv1 gives 8: wrong at every image size.
    model = tmp_path / "cnn.py"
    model.write_text(
        "import torch.nn as nn\n\n\n"
        "class CNN(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)\n"
        "        self.conv2 = nn.Conv2d(16, 8, 3, padding=1)\n"
        "        self.fc = nn.Linear(8 * 7 * 7, 10)\n\n"
        "    def forward(self, x):\n"
        "        x = self.conv1(x)\n"
        "        x = self.conv2(x)\n"
        "        return self.fc(x.flatten(1))\n")
    done = ml_lsp("--entry", "CNN", "--input", "x=B,1,H,W", str(model))
    assert done.returncode == 1
    (line,) = [l for l in done.stderr.splitlines() if "trace:" in l]
    assert line.startswith(f"{model}:13:"), line
    assert "Conv2d(16 -> 8) expects (B, 16, H, W)" in line and "every input size tried" in line, line


def fake_interpreter(folder: Path, python: str) -> Path:
    """An executable named like a project's venv interpreter that runs ``python``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "python"
    path.write_text(f"#!/bin/sh\nexec {python} \"$@\"\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_the_interpreter_is_the_users_and_is_named(tmp_path):
    venv_python = fake_interpreter(tmp_path / "venv" / "bin", sys.executable)
    done = ml_lsp("--python", str(venv_python), str(DIGITS))
    assert done.returncode == 0, done.stderr
    assert f"tracing in {venv_python} (Python " in done.stderr and "torch " in done.stderr
    data = traced_json("--python", str(venv_python), str(DIGITS))
    assert data["interpreter"]["python"] == str(venv_python)


def test_an_interpreter_without_torch_is_a_clear_error(tmp_path):
    bare = None
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.exists(candidate) and subprocess.run([candidate, "-c", "import torch"],
                                                        capture_output=True).returncode != 0:
            bare = candidate
            break
    if bare is None:  # every interpreter here has torch: make one that cannot import it
        bare = str(fake_interpreter(tmp_path / "bare", f"{sys.executable} -I -S"))
    done = ml_lsp("--python", bare, str(DIGITS))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "has no torch" in done.stderr and "-m pip install torch" in done.stderr, done.stderr


def test_sizes_the_tracer_could_not_find_are_its_own_failure_not_the_users(tmp_path):
    # Net takes only 17x19 images, which nothing in the code or the errors tells: every
    # size tried fails, at different lines. That is the tracer's guess failing, said on the
    # class, not an error on the user's line.
    model = tmp_path / "odd.py"
    model.write_text(
        "import torch.nn as nn\n\n\n"
        "class Odd(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(3 * 17 * 19, 10)\n\n"
        "    def forward(self, x):\n"
        "        if x.shape[-1] < 12:\n"
        "            raise ValueError('image too small')\n"
        "        return self.fc(x.flatten(1))\n")
    data = traced_json("--entry", "Odd", "--input", "x=B,3,H,W", str(model))
    (problem,) = data["problems"]
    assert problem["kind"] == "sizes" and problem["line"] == 4, problem
    assert problem["message"].startswith("could not find input sizes Odd takes (tried H=3, W=5;"), problem


def test_imports_resolve_from_the_folders_the_workspace_puts_on_sys_path(tmp_path):
    # A src/ layout and pyright's extraPaths: scripts/train.py imports its project's
    # package and a vendored library by name, as they do under pytest and in the editor.
    write(tmp_path, {
        "pyproject.toml": "[project]\nname = 'proj'\n\n[tool.pyright]\nextraPaths = ['vendor']\n",
        "src/proj/__init__.py": "",
        "src/proj/blocks.py": BLOCK,
        "vendor/heads.py": "import torch.nn as nn\n\n\ndef head(dim):\n    return nn.Linear(dim, 3)\n",
        "scripts/train.py": "import torch.nn as nn\nfrom proj.blocks import Block\nfrom heads import head\n\n\n"
                            "class Net(nn.Module):\n"
                            "    def __init__(self):\n"
                            "        super().__init__()\n"
                            "        self.block = Block(4)\n"
                            "        self.head = head(8)\n\n"
                            "    def forward(self, x):\n"
                            "        out = self.head(self.block(x))\n"
                            "        return out\n",
    })
    script = tmp_path / "scripts" / "train.py"
    data = traced_json("--entry", "Net", "--input", "x=B,4", str(script))
    assert data["problems"] == []
    assert shapes_by_name(data, script)[("Net.forward", "out")] == ["B", 3]


DCGAN_LIKE = """\
import argparse

import torch.nn as nn

parser = argparse.ArgumentParser()
parser.add_argument("--dataset", required=True)
opt = parser.parse_args()
if opt.dataset == "mnist":
    nc = 1
elif opt.dataset == "fake":
    nc = 3


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, nc)

    def forward(self, z):
        out = self.fc(z)
        return out
"""


def test_a_global_only_the_command_line_decides_is_said_as_that_or_given(tmp_path):
    # nc is set by a branch chosen by --dataset: without that command line the tracer
    # cannot build the model, which is not an error in the user's code; with it, it can.
    script = tmp_path / "main.py"
    script.write_text(DCGAN_LIKE)
    data = traced_json("--entry", "Generator", "--input", "z=B,4", str(script))
    (problem,) = data["problems"]
    assert problem["kind"] == "module-level" and problem["line"] == 8, problem
    assert "nc" in problem["message"] and "no branch that ran assigned it" in problem["message"], problem
    data = traced_json("--script-args", "--dataset fake", "--entry", "Generator", "--input", "z=B,4", str(script))
    assert data["problems"] == []
    assert shapes_by_name(data, script)[("Generator.forward", "out")] == ["B", 3]


def test_inputs_given_by_name_reach_forward_kwargs(tmp_path):
    # PyTorch-VAE's conditional VAE: forward(self, input, **kwargs) reads kwargs['labels'].
    model = tmp_path / "cvae.py"
    model.write_text(
        "import torch\nimport torch.nn as nn\n\n\n"
        "class CVAE(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(6 + 10, 4)\n\n"
        "    def forward(self, input, **kwargs):\n"
        "        y = kwargs['labels']\n"
        "        h = self.fc(torch.cat([input, y], dim=1))\n"
        "        return h\n")
    data = traced_json("--entry", "CVAE", "--input", "input=B,6", "--input", "labels=B,10", str(model))
    assert data["problems"] == []
    assert shapes_by_name(data, model)[("CVAE.forward", "h")] == ["B", 4]


def test_an_input_whose_name_is_rebound_still_goes_in_as_indices(tmp_path):
    # word_language_model's TransformerModel: `src = self.input_emb(src)` rebinds the input's
    # name to a float; the input itself still takes token ids.
    model = tmp_path / "lm.py"
    model.write_text(
        "import torch.nn as nn\n\n\n"
        "class LM(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.input_emb = nn.Embedding(100, 8)\n\n"
        "    def forward(self, src):\n"
        "        src = self.input_emb(src)\n"
        "        return src\n")
    data = traced_json("--entry", "LM", "--input", "src=T,B", str(model))
    assert data["problems"] == []
    assert shapes_by_name(data, model)[("LM.forward", "src")] == ["T", "B", 8]


def test_the_first_sizes_tried_satisfy_what_the_static_engine_says_the_layers_need(tmp_path):
    # Linear(16 * 7 * 7) after two 2x pools: the static engine says the flattened dim is
    # 16*((H//2)//2)*((W//2)//2), so only H=W=28 (or 29..31) fit. The first sizes the tracer
    # runs must already fit: one attempt, no "did not fit" note.
    model = tmp_path / "pooled.py"
    model.write_text(
        "import torch\nimport torch.nn as nn\n\n\n"
        "class Pooled(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)\n"
        "        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)\n"
        "        self.pool = nn.MaxPool2d(2)\n"
        "        self.fc = nn.Linear(16 * 7 * 7, 10)\n\n"
        "    def forward(self, x):\n"
        "        x = self.pool(self.conv1(x))\n"
        "        x = self.pool(self.conv2(x))\n"
        "        x = torch.flatten(x, 1)\n"
        "        logits = self.fc(x)\n"
        "        return logits\n")
    data = traced_json("--entry", "Pooled", "--input", "x=B,1,H,W", str(model))
    assert data["problems"] == []
    (trace,) = data["traces"]
    assert [t["ok"] for t in trace["tried"]] == [True], trace["tried"]
    assert trace["sizes"]["H"] == trace["sizes"]["W"] == 28, trace
    assert shapes_by_name(data, model)[("Pooled.forward", "logits")] == ["B", 10]
    done = ml_lsp("--entry", "Pooled", "--input", "x=B,1,H,W", str(model))
    assert done.returncode == 0 and "did not fit" not in done.stderr, done.stderr


DENOISER = '''
import math

import torch
import torch.nn as nn


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


class Denoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(100, 16)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)

    def forward(self, tokens, timesteps, pad_mask, keep):
        t = timesteps * torch.ones(tokens.shape[0], dtype=timesteps.dtype)
        temb = timestep_embedding(t, 16)
        h = self.tok(tokens) + temb[:, None]
        pad = pad_mask.flatten(1)
        h, _ = self.attn(h, h, h, key_padding_mask=pad)
        valid = keep
        out = h.masked_fill(valid[..., None], 0.0)
        return out
'''


def test_inputs_of_unknown_dtype_go_in_as_the_code_uses_them(tmp_path):
    # Only shapes are given. Token ids feed an Embedding (long); the timesteps are converted
    # to float by the code itself, as a timestep embedding does (long); one mask goes to
    # attention's key_padding_mask, which also takes a float mask without a word (bool); the
    # other to masked_fill (bool). The traced dtypes are the ones the code takes.
    model = tmp_path / "denoiser.py"
    model.write_text(DENOISER)
    data = traced_json("--entry", "Denoiser", "--input", "tokens=B,T", "--input", "timesteps=B",
                       "--input", "pad_mask=B,T", "--input", "keep=B,T", str(model))
    assert data["problems"] == []
    dtypes = {(e["scope"], e["name"]): e["dtype"] for f in data["files"] for e in f["shapes"]}
    assert dtypes[("Denoiser.forward", "t")] == "long"
    assert dtypes[("Denoiser.forward", "pad")] == "bool"
    assert dtypes[("Denoiser.forward", "valid")] == "bool"
    assert dtypes[("Denoiser.forward", "out")] == "float"
    assert dtypes[("timestep_embedding", "args")] == "float"


def test_code_under_library_decorators_is_traced(tmp_path):
    # A library's decorators (here a folder named site-packages, which is never the user's):
    # torch.autocast, a functools.wraps wrapper, and one that turns a function into an
    # nn.Module (what transformers' use_kernel_forward_from_hub does). The user's code
    # under each is recorded as any other.
    write(tmp_path, {
        "site-packages/kernlib.py":
            "import functools\nimport torch.nn as nn\n\n\n"
            "def logged(fn):\n"
            "    @functools.wraps(fn)\n"
            "    def inner(*args, **kwargs):\n"
            "        return fn(*args, **kwargs)\n"
            "    return inner\n\n\n"
            "def as_module(fn):\n"
            "    class Func(nn.Module):\n"
            "        def forward(self, *args, **kwargs):\n"
            "            return fn(*args, **kwargs)\n"
            "    return Func()\n",
        "rot.py":
            "import os\nimport sys\n\nimport torch\nimport torch.nn as nn\n\n"
            "sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'site-packages'))\n"
            "from kernlib import as_module, logged  # noqa: E402\n\n\n"
            "@as_module\n"
            "def rotate(q, freqs):\n"
            "    rotated = q * freqs.cos()\n"
            "    return rotated\n\n\n"
            "class Rotary(nn.Module):\n"
            "    @torch.autocast('cpu', enabled=False)\n"
            "    def forward(self, x):\n"
            "        freqs = x.float() * 2\n"
            "        return freqs\n\n\n"
            "class Attention(nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.rotary = Rotary()\n"
            "        self.proj = nn.Linear(8, 8)\n\n"
            "    @logged\n"
            "    def forward(self, x):\n"
            "        q = self.proj(x)\n"
            "        freqs = self.rotary(q)\n"
            "        q = rotate(q, freqs)\n"
            "        return q\n",
    })
    model = tmp_path / "rot.py"
    data = traced_json("--entry", "Attention", "--input", "x=B,T,8", str(model))
    assert data["problems"] == []
    shapes = shapes_by_name(data, model)
    assert shapes[("Attention.forward", "q")] == ["B", "T", 8]
    assert shapes[("Rotary.forward", "freqs")] == ["B", "T", 8]
    assert shapes[("rotate", "rotated")] == ["B", "T", 8]
