"""A second `ml-lsp shapes` on a file that imports a big library does not parse that library
again: where each library module's function bodies are is kept on disk under the cache
folder (keyed by the module's text), and a later command parses the modules without them,
each body parsed when the analysis first runs it. The answers are those of a cold run; an
edited library file is parsed whole again; a damaged or foreign cache entry is ignored."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap

import pytest

# A library module of many long functions, of which the model's analysis runs one.
FUNCTION = textwrap.dedent("""\
    def helper_{k}_{j}(values, scale=2):
        total = 0
        for index, value in enumerate(values):
            if index % 3 == 0:
                total = total + value * scale
            elif index % 3 == 1:
                total = total - value // scale
            else:
                total = total + (value ** 2) % (scale + 1)
        result = {{"total": total, "count": len(values), "scale": scale}}
        names = [f"item_{{i}}" for i in range(len(values)) if i % 2 == 0]
        pairs = list(zip(names, values))
        return result, pairs

""")

SIZE = textwrap.dedent("""\
    def size_{k}():
        return {size}

""")

WIDTH = textwrap.dedent("""\
    {imports}

    WIDTH = {sizes}
""")

MODEL = textwrap.dedent("""\
    import torch
    import torch.nn as nn
    from lib.width import WIDTH


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(WIDTH, 2)

        def forward(self, x):
            h = self.fc(x)
            return h
""")

MODULES = 4
FUNCTIONS = 1200  # about 1.6 MB per module, under the 2 MB a module may have


def heavy_module(k: int, size: int) -> str:
    return SIZE.format(k=k, size=size) + "".join(FUNCTION.format(k=k, j=j) for j in range(FUNCTIONS))


@pytest.fixture
def workspace(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "__init__.py").write_text("")
    for k in range(MODULES):
        (lib / f"heavy_{k}.py").write_text(heavy_module(k, 4))
    (lib / "width.py").write_text(WIDTH.format(
        imports="\n".join(f"from lib.heavy_{k} import size_{k}" for k in range(MODULES)),
        sizes=" + ".join(f"size_{k}()" for k in range(MODULES))))
    (tmp_path / "model.py").write_text(MODEL)
    return tmp_path


def shapes(cwd, cache: str):
    env = {**os.environ, "ML_LSP_CACHE_DIR": str(cwd / cache), "XDG_CACHE_HOME": str(cwd / "xdg")}
    env.pop("ML_LSP_OUTLINES", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", "model.py"],
                          cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def x_shape(report) -> list:
    """The input the engine inferred for ``Net.forward(x)``: ``Linear(WIDTH, 2)`` takes (*, WIDTH)."""
    return report["files"][0]["classes"][0]["inputs"]["x"]


def test_a_second_run_parses_the_imported_library_without_its_function_bodies(workspace):
    shapes(workspace, "warm-up")  # jedi's own cache (XDG_CACHE_HOME) is warm for both runs below
    first, first_s = shapes(workspace, "cache")
    second, second_s = shapes(workspace, "cache")
    print(f"\nCPU time, first run: {first_s:.2f} s; second: {second_s:.2f} s")
    assert second == first
    assert x_shape(first) == ["*", 16]  # the width 4 * 4 read from the library
    # both include the same start-up (imports, jedi): parsing the library is the rest
    assert second_s < 0.6 * first_s


def test_an_edited_library_file_is_read_again_and_damaged_entries_are_ignored(workspace):
    before, _ = shapes(workspace, "cache")
    assert x_shape(before) == ["*", 16]
    # one library module edited: the answer follows it, as a run with no cache gives it
    (workspace / "lib" / "heavy_2.py").write_text(heavy_module(2, 10))
    edited, _ = shapes(workspace, "cache")
    fresh, _ = shapes(workspace, "fresh-cache")
    assert edited == fresh
    assert x_shape(edited) == ["*", 22]

    # every stored entry damaged, or swapped for another module's: ignored, the same answers
    entries = sorted((workspace / "cache").glob("outline/*/*/*.json"))
    assert len(entries) >= MODULES
    texts = [entry.read_bytes() for entry in entries]
    for n, entry in enumerate(entries):
        entry.write_bytes(b"\x00{damaged" if n % 2 else texts[(n + 1) % len(entries)])
    damaged, _ = shapes(workspace, "cache")
    assert damaged == fresh
