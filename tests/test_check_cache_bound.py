"""`ml-lsp check`'s result cache stays bounded: past its size the least recently used
entries go, and an entry unused for a month goes, both when the command writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

MODEL = textwrap.dedent("""\
    import torch
    import torch.nn as nn


    class Net{i}(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear({i} + 8, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, x):
            return self.fc2(self.fc1(x))


    out = Net{i}()(torch.randn(4, {i} + 8))
""")


def check(*args, cwd, env):
    return subprocess.run([sys.executable, "-m", "ml_lsp", "check", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


def cache_files(cache):
    return [p for p in (cache / "check").rglob("*") if p.is_file()]


def test_the_result_cache_is_pruned_to_its_size_keeping_the_recently_used(tmp_path):
    cache = tmp_path / "user-cache"
    project = tmp_path / "project"
    project.mkdir()
    for i in range(40):
        (project / f"m{i:02}.py").write_text(MODEL.format(i=i))
    env = {**os.environ, "ML_LSP_CACHE_DIR": str(cache), "ML_LSP_CHECK_CACHE_MB": "0.005"}  # 5 KB
    first = check(".", "-j", "1", "--format", "json", cwd=project, env=env)
    assert first.returncode == 0, first.stderr
    entries = cache_files(cache)
    sizes = [p.stat().st_size for p in entries]
    print(f"\n{len(entries)} entries, {sum(sizes)} bytes, largest {max(sizes)}")
    assert entries and sum(sizes) <= 5 * 1024 + max(sizes)
    assert len(entries) < 40  # 40 entries do not fit: the oldest went
    # the answers do not depend on what was pruned
    again = check(".", "-j", "1", "--format", "json", cwd=project, env=env)
    assert json.loads(again.stdout) == json.loads(first.stdout)


def test_an_entry_unused_for_a_month_is_removed_when_the_cache_is_written(tmp_path):
    cache = tmp_path / "user-cache"
    project = tmp_path / "project"
    project.mkdir()
    env = {**os.environ, "ML_LSP_CACHE_DIR": str(cache)}
    (project / "a.py").write_text(MODEL.format(i=1))
    assert check("a.py", cwd=project, env=env).returncode == 0
    (recent,) = cache_files(cache)
    stale = recent.parent.parent / "00" / ("0" * 64)
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"an entry of an older version")
    month_ago = time.time() - 40 * 86400
    os.utime(stale, (month_ago, month_ago))
    (project / "b.py").write_text(MODEL.format(i=2))
    assert check("b.py", cwd=project, env=env).returncode == 0
    left = cache_files(cache)
    assert stale not in left and recent in left and len(left) == 2
