"""`ml-lsp shapes` and `ml-lsp check` against hostile and pathological input, as a terminal
or CI user runs them: class hierarchies resolved as Python resolves them (C3) and at a
cost that grows with the hierarchy, not faster; a file that cannot be decoded or is too
large reported for that file while the rest of the batch is analysed."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap
import time


DIAMOND = textwrap.dedent("""\
    import torch
    import torch.nn as nn


    class Base(nn.Module):
        width = 16

        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, self.width)

        def forward(self, x):
            return self.proj(x)


    class Left(Base):
        def forward(self, x):
            return super().forward(x)


    class Right(Base):
        width = 32

        def forward(self, x):
            y = super().forward(x)
            return torch.cat([y, y], dim=-1)


    class Joined(Left, Right):
        pass


    model = Joined()
    out = model(torch.randn(4, 8))
    """)

GOOD = textwrap.dedent("""\
    import torch

    state = torch.load("model.pt")
    y = torch.zeros(4, 5)
    """)


def ml_lsp(*args, cwd):
    return subprocess.run([sys.executable, "-m", "ml_lsp", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def shapes_json(path, cwd) -> dict:
    out = ml_lsp("shapes", "--json", str(path), cwd=cwd)
    assert out.returncode == 0, out.stderr
    (entry,) = json.loads(out.stdout)["files"]
    return {(s["scope"], s["name"]): s["shape"] for s in entry["shapes"]}


def test_a_name_resolved_through_a_diamond_gets_pythons_answer(tmp_path):
    (tmp_path / "diamond.py").write_text(DIAMOND)
    # Python's own answer: Joined's MRO is Joined, Left, Right, Base, so width is Right's
    # 32 and Left's super().forward goes to Right before Base
    runtime = subprocess.run(
        [sys.executable, "-c", "import runpy; print(list(runpy.run_path('diamond.py')['out'].shape))"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert runtime.returncode == 0, runtime.stderr
    static = shapes_json(tmp_path / "diamond.py", tmp_path)
    assert static[("<module>", "out")] == json.loads(runtime.stdout)


def test_an_inconsistent_hierarchy_is_a_note_not_a_hang(tmp_path):
    (tmp_path / "bad_mro.py").write_text(textwrap.dedent("""\
        import torch
        import torch.nn as nn


        class A(nn.Module):
            pass


        class B(nn.Module):
            pass


        class X(A, B):
            pass


        class Y(B, A):
            pass


        class Z(X, Y):
            def forward(self, x):
                return x


        class Fine(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 4)

            def forward(self, x):
                h = self.fc(x)
                return h
        """))
    out = ml_lsp("shapes", "bad_mro.py", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "note: line 21: class Z: cannot create a consistent method resolution order for bases X, Y" in out.stdout
    assert "h = (*, 4) float" in out.stdout


def _chain(n: int) -> str:
    """Block0 ... Block{n-1}, each deriving from the one before, its forward calling
    super().forward and widening the features by one: Block{k} maps (B, 8) to (B, 9 + k)."""
    out = ["import torch", "import torch.nn as nn", "", "",
           "class Block0(nn.Module):", "    def __init__(self):", "        super().__init__()",
           "        self.fc0 = nn.Linear(8, 9)", "", "    def forward(self, x):", "        out0 = self.fc0(x)",
           "        return out0", "", ""]
    for k in range(1, n):
        out += [f"class Block{k}(Block{k - 1}):", "    def __init__(self):", "        super().__init__()",
                f"        self.fc{k} = nn.Linear({8 + k}, {9 + k})", "", "    def forward(self, x):",
                f"        h{k} = super().forward(x)", f"        out{k} = self.fc{k}(h{k})", f"        return out{k}",
                "", ""]
    out += [f"model = Block{n - 1}()", "y = model(torch.randn(4, 8))", ""]
    return "\n".join(out)


def _analysis_seconds(*sources: str, runs=5) -> list[float]:
    """CPU time of the analysis alone of each source (the best of ``runs``): without the
    command's start, whose cost and noise hid the chain's in a difference of two commands'
    times. The sources take turns, so that a busy spell of the machine (the other test
    worker) slows each of them alike rather than one of them only."""
    from ml_lsp.analysis.engine import analyze_source
    best = [float("inf")] * len(sources)
    for _ in range(runs):
        for i, source in enumerate(sources):
            gc.collect()  # the last run's garbage is not this one's cost
            start = time.process_time()
            analyze_source(source, "chain.py")
            best[i] = min(best[i], time.process_time() - start)
    return best


def test_a_super_forward_chain_costs_in_proportion_to_its_length(tmp_path):
    _analysis_seconds(_chain(24), runs=1)  # the rule tables and plug-ins load once
    t120, t240 = _analysis_seconds(_chain(120), _chain(240))
    growth = t240 / t120
    print(f"\nanalysis, CPU seconds: 120 classes {t120:.2f}, 240 classes {t240:.2f}; "
          f"doubling the chain costs x{growth:.2f}")
    assert growth < 3.0  # linear is 2, quadratic 4 (the old mro() was about 8)

    (tmp_path / "chain120.py").write_text(_chain(120))
    shapes = shapes_json(tmp_path / "chain120.py", tmp_path)
    # the calls the depth bound (24 frames) lets through are exact; beyond it, unknown,
    # never a wrong size
    for k in range(1, 23):
        assert shapes[(f"Block{k}.forward", f"out{k}")] == ["*", 9 + k]
    for (scope, name), shape in shapes.items():
        if name.startswith("out"):
            k = int(name[3:])
            assert shape is None or shape[-1] in (None, 9 + k), (scope, name, shape)


def _write_bad_batch(folder):
    (folder / "bad_coding.py").write_bytes(b"# -*- coding: foo -*-\nimport torch\nx = torch.zeros(2, 3)\n")
    (folder / "not_utf8.py").write_bytes(b"import torch\nname = '\xff\xfe'\n")
    (folder / "good.py").write_text(GOOD)


def test_shapes_reports_an_undecodable_file_and_analyses_the_others(tmp_path):
    _write_bad_batch(tmp_path)
    out = ml_lsp("shapes", "bad_coding.py", "not_utf8.py", "good.py", cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "bad_coding.py: cannot decode: unknown encoding 'foo' on line 1" in out.stderr
    assert "not_utf8.py: cannot decode: byte 0xff on line 2 is not valid utf-8" in out.stderr
    assert "good.py:" in out.stdout and "y = (4, 5) float" in out.stdout

    out = ml_lsp("shapes", "--json", "bad_coding.py", "good.py", cwd=tmp_path)
    assert out.returncode == 1
    bad, good = json.loads(out.stdout)["files"]
    assert bad == {"path": "bad_coding.py", "shapes": [],
                   "error": "cannot decode: unknown encoding 'foo' on line 1"}
    assert good["path"] == "good.py" and {"scope": "<module>", "line": 4, "name": "y", "shape": [4, 5],
                                          "dtype": "float"} in good["shapes"]


def test_check_reports_an_undecodable_file_as_e902_and_checks_the_others(tmp_path):
    _write_bad_batch(tmp_path)
    out = ml_lsp("check", ".", "--format", "json", cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    diagnostics = json.loads(out.stdout)["diagnostics"]
    by_path = {}
    for d in diagnostics:
        by_path.setdefault(d["path"], []).append((d["code"], d["line"], d["message"]))
    assert by_path["bad_coding.py"] == [("E902", 1, "cannot decode: unknown encoding 'foo' on line 1")]
    assert by_path["not_utf8.py"][0][:2] == ("E902", 1)
    assert [code for code, _, _ in by_path["good.py"]] == ["DA003"]  # the rest was checked


def test_a_file_over_the_size_limit_gets_a_note_and_the_others_are_analysed(tmp_path):
    block = "\n".join(f"x{i} = torch.zeros({i % 7 + 1}, 3)" for i in range(1000)) + "\n"
    huge = "import torch\n" + block * 110
    (tmp_path / "huge.py").write_text(huge)
    note = f"too large for shape analysis ({len(huge.encode()) / 2**20:.1f} MB > 2 MB)"  # 2.6 MB
    (tmp_path / "good.py").write_text(GOOD)
    out = ml_lsp("shapes", "huge.py", "good.py", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"huge.py:\n  note: {note}\n" in out.stdout
    assert "y = (4, 5) float" in out.stdout
    out = ml_lsp("check", "huge.py", "good.py", cwd=tmp_path)
    assert f"huge.py: note: {note}" in out.stderr
    assert "good.py:3:" in out.stdout and "huge.py:" not in out.stdout
