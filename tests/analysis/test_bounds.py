"""The engine's bounds: the time budget leaves what it did not reach unknown, a cancel
abandons the analysis, a batch parses each file once and gets the same answers as the
files analysed one by one, and bytes decode as Python decodes them."""

from __future__ import annotations

import time

import pytest

from ml_lsp.analysis import (AnalysisCancelled, BatchCache, SourceDecodeError, analyze_source, decode_source,
                             too_large)
from ml_lsp.resolve import make_resolver


def slow_model(classes: int) -> str:
    """Classes whose forward unrolls 3,600 layer calls each: slow to interpret, quick to parse."""
    out = ["import torch", "import torch.nn as nn", ""]
    for i in range(classes):
        out += [f"class Slow{i}(nn.Module):", "    def __init__(self):", "        super().__init__()",
                f"        self.fc = nn.Linear({16 + i}, {16 + i})", "", "    def forward(self, x):",
                "        for a in range(60):", "            for b in range(60):", "                y = self.fc(x)",
                "        return y", "", ""]
    return "\n".join(out)


def test_time_budget_leaves_the_rest_unknown():
    text = slow_model(8)
    start = time.perf_counter()
    full = analyze_source(text, "slow.py")
    full_s = time.perf_counter() - start
    start = time.perf_counter()
    cut = analyze_source(text, "slow.py", time_budget_s=full_s / 6)
    cut_s = time.perf_counter() - start
    assert cut_s < full_s / 2
    assert cut.problems[-1].startswith(f"time budget of {full_s / 6:g} s spent")
    assert 0 < len(cut.bindings) < len(full.bindings)  # the units it reached keep their shapes
    known = {(b.scope, b.name): b.shape for b in full.bindings}
    assert all(known[(b.scope, b.name)] == b.shape for b in cut.bindings)


def test_cancel_abandons_the_analysis_at_once():
    text = slow_model(8)
    asked = []

    def cancelled():  # the caller gives up at its third look
        asked.append(time.perf_counter())
        return len(asked) >= 3

    start = time.perf_counter()
    with pytest.raises(AnalysisCancelled):
        analyze_source(text, "slow.py", cancelled=cancelled)
    assert len(asked) == 3  # not looked at again: it stopped there
    full = time.perf_counter()
    analyze_source(text, "slow.py")
    assert asked[-1] - start < (time.perf_counter() - full) / 4


def test_a_batch_parses_each_file_once_and_answers_as_file_by_file(tmp_path):
    for i in range(12):
        deps = sorted({j for j in (i - 1, i // 2) if 0 <= j < i})
        lines = ["import torch", "import torch.nn as nn", *[f"from m{j} import Block{j}" for j in deps], "",
                 f"class Block{i}(nn.Module):", "    def __init__(self, dim=32):", "        super().__init__()",
                 *[f"        self.sub{j} = Block{j}(dim)" for j in deps], "        self.fc = nn.Linear(dim, dim)",
                 "", "    def forward(self, x):", "        h = x", *[f"        h = self.sub{j}(h)" for j in deps],
                 "        out = self.fc(h)", "        return out", "", "",
                 "def main():", f"    y = Block{i}()(torch.randn(4, 32))", "    return y", ""]
        (tmp_path / f"m{i}.py").write_text("\n".join(lines))
    files = [(str(tmp_path / f"m{i}.py"), (tmp_path / f"m{i}.py").read_text()) for i in range(12)]
    resolve = make_resolver(str(tmp_path))

    def run(batch):
        return [analyze_source(text, path, resolve_module=resolve, callers=[f for f in files if f[0] != path],
                               batch=batch) for path, text in files]

    alone = run(None)
    batch = BatchCache()
    shared = run(batch)
    assert batch.parses == len(files)  # each imported by up to 14 analyses, parsed once
    for a, b in zip(alone, shared):
        assert [(x.scope, x.name, x.line, x.shape) for x in a.bindings] == \
               [(x.scope, x.name, x.line, x.shape) for x in b.bindings]
        assert a.problems == b.problems
    assert any(x.shape == (4, 32) for x in shared[5].bindings)


def test_source_bytes_decode_as_python_reads_them():
    assert decode_source("# -*- coding: latin-1 -*-\nname = 'é'\n".encode("latin-1")).endswith("'é'\n")
    assert decode_source(b"\xef\xbb\xbfx = 1\n") == "x = 1\n"
    with pytest.raises(SourceDecodeError, match=r"^unknown encoding 'foo' on line 2$"):
        decode_source(b"#!/usr/bin/env python\n# coding: foo\n")
    with pytest.raises(SourceDecodeError, match=r"^byte 0xff on line 3 is not valid utf-8"):
        decode_source(b"a = 1\nb = 2\nc = '\xff'\n")


def test_size_limit():
    assert too_large("x = 1\n" * 1000) is None
    assert too_large("x = 'é'\n" * 300_000) == "too large for shape analysis (2.6 MB > 2 MB)"
    facts = analyze_source("import torch\n" + "x = torch.zeros(2, 3)\n" * 120_000, "big.py")
    assert facts.bindings == [] and facts.problems == ["too large for shape analysis (2.5 MB > 2 MB)"]
