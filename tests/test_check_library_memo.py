"""A second `ml-lsp check` after the user edits their files does not work out the library's
answers again: what library functions computed (a big package's utilities run thousands of
them when imported) is kept on disk under the cache folder, keyed by the library file's
text, and a later check reads it. The answers are those of a cold check, and an edited
library file is worked out again."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap

import pytest

# A library whose modules compute tables when imported, as a big package's utilities do.
HEAVY = textwrap.dedent("""\
    def _size_{k}(n):
        total = 0
        for i in range(n):
            for j in range(64):
                total = total + i * j % 7
        return total


    SIZE_{k} = _size_{k}(64)
""")

WIDTH = textwrap.dedent("""\
    {imports}


    def _width(size):
        return {width} if size > 0 else 8


    WIDTH = _width({sizes})
""")


def width_module(width: int, modules: int = 20) -> str:
    return WIDTH.format(imports="\n".join(f"from .heavy_{k} import SIZE_{k}" for k in range(modules)),
                        sizes=" + ".join(f"SIZE_{k}" for k in range(modules)), width=width)

MODEL = textwrap.dedent("""\
    from ..lib.width import WIDTH
    import torch
    import torch.nn as nn
    {edit}

    class Net{i}(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(WIDTH, 2)

        def forward(self, x):
            return self.fc(x)


    out = Net{i}()(torch.randn(4, 16))
""")


def write_models(root, edit: str = "") -> None:
    for i in range(6):
        (root / "pkg" / "models" / f"m{i}.py").write_text(MODEL.format(i=i, edit=edit))


def make_workspace(root, modules: int = 20):
    """A package whose six model files import a library of ``modules`` heavy modules."""
    pkg = root / "pkg"
    for folder in (pkg, pkg / "lib", pkg / "models"):
        folder.mkdir(parents=True)
        (folder / "__init__.py").write_text("")
    for k in range(modules):
        (pkg / "lib" / f"heavy_{k}.py").write_text(HEAVY.format(k=k))
    (pkg / "lib" / "width.py").write_text(width_module(16, modules))
    write_models(root)
    return root


@pytest.fixture
def workspace(tmp_path):
    return make_workspace(tmp_path)


def check(cwd, cache: str):
    env = {**os.environ, "ML_LSP_CACHE_DIR": str(cwd / cache)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "check", "pkg/models", "-j", "1", "--format", "json"],
                          cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout), (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def errors(report) -> list:
    return sorted((d["path"].rsplit("/", 1)[-1], d["code"]) for d in report["diagnostics"] if d["severity"] == "error")


def test_a_check_after_editing_the_models_reuses_the_library_answers(workspace):
    first, first_s = check(workspace, "cache")
    assert errors(first) == []
    # every model file edited: none of their results can come from the result cache
    write_models(workspace, edit="# edited")
    second, second_s = check(workspace, "cache")
    print(f"\nCPU time, first check: {first_s:.2f} s; after editing every model file: {second_s:.2f} s")
    assert second == first
    # both include the same start-up (imports, jedi): the library's work is the rest
    assert second_s < 0.7 * first_s

    # the library changes: its answers are worked out again, as a check with no cache gives them
    (workspace / "pkg" / "lib" / "width.py").write_text(width_module(12))
    third, _ = check(workspace, "cache")
    fresh, _ = check(workspace, "fresh-cache")
    assert third == fresh
    assert errors(third) == [(f"m{i}.py", "SH001") for i in range(6)]
