"""`ml-lsp check` interprets the library modules that many files import once, and gives
each file its own copy: the answers are those of a run where every file interprets its
imports itself (one file changing a library class does not change another's answer), in
one worker or several, and the run takes less time."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap

import pytest

# A library whose modules do work when imported (a loop at module level), as a big
# package's utilities do: twenty of them, each importing the one before.
HEAVY = textwrap.dedent("""\
    {previous}
    import torch.nn as nn


    def _size_{k}():
        total = 0
        for i in range(64):
            for j in range(64):
                total = total + i * j % 7
        return total


    SIZE_{k} = _size_{k}()
""")

LAYERS = textwrap.dedent("""\
    import torch.nn as nn

    WIDTH = 16


    class Block(nn.Module):
        scale = 1

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(WIDTH, WIDTH * self.scale)

        def forward(self, x):
            return self.fc(x)
""")

MODEL = textwrap.dedent("""\
    from ..lib.heavy_19 import *
    from ..lib.layers import Block, WIDTH
    import torch
    import torch.nn as nn

    {change}


    class Net{i}(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
            self.head = nn.Linear(WIDTH + {extra}, 2)

        def forward(self, x):
            return self.head(self.block(x))


    out = Net{i}()(torch.randn(4, WIDTH))
""")


@pytest.fixture
def package(tmp_path):
    pkg = tmp_path / "pkg"
    for folder in (pkg, pkg / "lib", pkg / "models"):
        folder.mkdir()
        (folder / "__init__.py").write_text("")
    for k in range(20):
        previous = f"from .heavy_{k - 1} import *" if k else ""
        (pkg / "lib" / f"heavy_{k}.py").write_text(HEAVY.format(previous=previous, k=k))
    (pkg / "lib" / "layers.py").write_text(LAYERS)
    for i in range(16):
        # odd files feed the head one feature too few; m04 doubles the library block's
        # output for itself, which no other file may see
        change = "Block.scale = 2" if i == 4 else ""
        (pkg / "models" / f"m{i:02}.py").write_text(MODEL.format(i=i, extra=i % 2, change=change))
    return tmp_path


def check(cwd, share: bool, jobs: int):
    env = {**os.environ, "ML_LSP_SHARE_MODULES": "1" if share else "0"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "check", "pkg/models", "-j", str(jobs), "--no-cache",
                           "--format", "json"], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 1, done.stderr
    return json.loads(done.stdout), (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def test_shared_library_modules_give_the_same_answers_in_less_time(package):
    alone, alone_s = check(package, share=False, jobs=1)
    shared, shared_s = check(package, share=True, jobs=1)
    print(f"\nCPU time, each file interpreting its imports: {alone_s:.2f} s; sharing them: {shared_s:.2f} s")
    assert shared == alone
    with_errors = sorted({d["path"].rsplit("/", 1)[-1] for d in shared["diagnostics"] if d["code"] == "SH001"})
    assert with_errors == sorted(["m04.py"] + [f"m{i:02}.py" for i in range(1, 16, 2)])
    # both include the same start-up (imports, jedi): a quarter off the whole is the library work saved
    assert shared_s < 0.75 * alone_s
    # two worker processes, each with its own copies: the same answers again
    workers, _ = check(package, share=True, jobs=2)
    assert workers == alone
