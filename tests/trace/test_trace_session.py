"""The tracer child as the server and the CLI use it: results cached by the content of
every file involved, an edit of a helper file seen by the warm child, a cancel that kills
the whole process group, bounded memory, scripts whose training code is not run."""

from __future__ import annotations

import threading
import time

import psutil
import pytest

from ml_lsp.trace.session import TraceCancelled, TraceRequest, TraceSession

MODEL = '''\
import torch.nn as nn

from blocks import WIDTH, Block


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Linear(WIDTH, 3)

    def forward(self, x):
        h = self.block(x)
        y = self.head(h)
        return y
'''

BLOCKS = '''\
import torch.nn as nn

WIDTH = {width}


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, WIDTH)

    def forward(self, x):
        out = self.fc(x)
        return out
'''


@pytest.fixture(scope="module")
def tracer():
    session = TraceSession()
    yield session
    session.close()


def request(path, **kw) -> TraceRequest:
    return TraceRequest(str(path), entry="Net", inputs={"Net": {"x": {"dims": ["B", 8], "dtype": None}}},
                        roots=[str(path.parent)], **kw)


def shapes(response) -> dict:
    return {(e["path"].rsplit("/", 1)[-1], e["line"], e["name"]): e["shape"] for e in response["entries"]}


def test_results_are_cached_by_the_content_of_every_file_involved(tmp_path, tracer):
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "blocks.py").write_text(BLOCKS.format(width=16))
    first = tracer.trace(request(tmp_path / "model.py"))
    assert first["cached"] is False and first["problems"] == []
    assert shapes(first)[("model.py", 13, "h")] == ["B", 16]
    assert shapes(first)[("blocks.py", 12, "out")] == ["B", 16]   # the helper file is traced too
    assert tracer.trace(request(tmp_path / "model.py"))["cached"] is True

    # Editing the imported file (not the one traced) invalidates the result, and the warm
    # child reads the new helper instead of its stale module.
    pid = tracer.child_pid
    (tmp_path / "blocks.py").write_text(BLOCKS.format(width=32))
    again = tracer.trace(request(tmp_path / "model.py"))
    assert again["cached"] is False
    assert shapes(again)[("model.py", 14, "y")] == ["B", 3]
    assert shapes(again)[("model.py", 13, "h")] == ["B", 32]
    assert tracer.child_pid == pid  # same warm child

    # Unsaved editor text of the traced file is what runs, with its own line numbers.
    edited = MODEL.replace("        y = self.head(h)\n", "        h = h * 2\n        y = self.head(h)\n")
    unsaved = tracer.trace(request(tmp_path / "model.py", sources={str(tmp_path / "model.py"): edited}))
    assert shapes(unsaved)[("model.py", 14, "h")] == ["B", 32]
    assert shapes(unsaved)[("model.py", 15, "y")] == ["B", 3]


def test_cancel_kills_the_child_and_what_it_started(tmp_path, tracer):
    (tmp_path / "model.py").write_text(
        "import subprocess, sys\nimport torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def forward(self, x):\n"
        f"        p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"        open({str(tmp_path / 'pid')!r}, 'w').write(str(p.pid))\n"
        "        while True:\n"
        "            x = x + 1\n")
    outcome = {}

    def run():
        try:
            outcome["response"] = tracer.trace(request(tmp_path / "model.py", timeout=60))
        except TraceCancelled as exc:
            outcome["cancelled"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while not (tmp_path / "pid").exists() or not (tmp_path / "pid").read_text():
        assert time.monotonic() < deadline, "the forward never started"
        time.sleep(0.05)
    child_pid = tracer.child_pid
    helper = psutil.Process(int((tmp_path / "pid").read_text()))
    assert tracer.cancel() is True
    thread.join(10)
    assert "cancelled" in outcome
    helper.wait(5)  # gone with the process group (raises TimeoutExpired otherwise)
    assert not psutil.pid_exists(child_pid) or psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE
    # The next request starts a fresh child.
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "blocks.py").write_text(BLOCKS.format(width=4))
    assert shapes(tracer.trace(request(tmp_path / "model.py")))[("model.py", 13, "h")] == ["B", 4]
    assert tracer.child_pid != child_pid


def test_memory_limit_gives_a_clear_error_and_the_child_lives_on(tmp_path):
    (tmp_path / "model.py").write_text(
        "import torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.table = bytearray(3 * 1024 ** 3)\n\n"
        "    def forward(self, x):\n"
        "        return x\n")
    session = TraceSession(memory_mb=1536)
    try:
        response = session.trace(request(tmp_path / "model.py"))
        (problem,) = response["problems"]
        assert problem["kind"] == "constructor" and problem["line"] == 7
        assert "MemoryError" in problem["message"]
        assert session.child_pid is not None
    finally:
        session.close()


def test_a_scripts_training_code_is_not_run(tmp_path, tracer):
    (tmp_path / "train.py").write_text(
        "import torch\nimport torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(8, 2)\n\n"
        "    def forward(self, x):\n"
        "        out = self.fc(x)\n"
        "        return out\n\n\n"
        "def train():\n"
        f"    open({str(tmp_path / 'trained')!r}, 'w').write('yes')\n\n\n"
        "data = torch.load('absent.pt')\n"
        "for epoch in range(10 ** 9):\n"
        "    pass\n"
        "train()\n")
    response = tracer.trace(request(tmp_path / "train.py"))
    assert shapes(response)[("train.py", 11, "out")] == ["B", 2]
    assert not (tmp_path / "trained").exists()
    load_line = (tmp_path / "train.py").read_text().splitlines().index("data = torch.load('absent.pt')") + 1
    assert any(f"line {load_line}: `data = torch.load('absent.pt')` did not run" in note and "absent.pt" in note
               for note in response["notes"]), response["notes"]
