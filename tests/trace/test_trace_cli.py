"""``ml-lsp shapes --trace`` and ``--compare`` as a terminal user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINYLM = REPO / "tests" / "trace" / "fixtures" / "tinylm" / "modeling.py"


def ml_lsp(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def test_trace_json_has_the_static_contract_keys_and_symbolic_dims():
    done = ml_lsp(str(TINYLM), "--trace", "--json", "--entry", "TinyLMForCausalLM", "--input", "input_ids=B,T")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    own = next(f for f in data["files"] if Path(f["path"]).resolve() == TINYLM.resolve())
    by_line = {(e["line"], e["name"]): e for e in own["shapes"]}
    for e in own["shapes"]:
        assert set(e) == {"scope", "line", "name", "shape", "dtype", "source"}
        assert e["source"] == "trace"
    logits_line = next(i for i, line in enumerate(TINYLM.read_text().splitlines(), 1) if "logits = " in line)
    assert by_line[(logits_line, "logits")] == {
        "scope": "TinyLMForCausalLM.forward", "line": logits_line, "name": "logits",
        "shape": ["B", "T", 97], "dtype": "float", "source": "trace"}
    assert data["problems"] == []


def test_trace_text_output_and_a_forward_error_on_the_users_line(tmp_path):
    model = tmp_path / "net.py"
    model.write_text(
        "import torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc1 = nn.Linear(784, 100)\n"
        "        self.fc2 = nn.Linear(128, 10)\n\n"
        "    def forward(self, x):\n"
        "        h = self.fc1(x)\n"
        "        return self.fc2(h)\n")
    done = ml_lsp(str(model), "--trace", "--entry", "Net", "--input", "x=B,784")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (line,) = [l for l in done.stderr.splitlines() if "trace:" in l]
    assert line.startswith(f"{model}:12:16: trace: forward failed")
    assert "(2, 100)" in line and "weight (10, 128)" in line
    assert "h                (B, 100) float" in done.stdout


def test_compare_reports_agreement_on_an_example_and_exit_status():
    gpt = REPO / "examples" / "models" / "gpt.py"
    done = ml_lsp(str(gpt), "--compare", "--entry", "GPT", "--input", "idx=B,T")
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert "0 disagree" in summary and " agree" in summary
    agreed = int(summary.split(" agree")[0].rsplit(" ", 1)[-1])
    assert agreed >= 20


def test_timeout_is_a_clear_message_not_a_hang(tmp_path):
    model = tmp_path / "spin.py"
    model.write_text(
        "import torch.nn as nn\n\n\n"
        "class Spin(nn.Module):\n"
        "    def forward(self, x):\n"
        "        while True:\n"
        "            x = x + 1\n")
    done = ml_lsp(str(model), "--trace", "--entry", "Spin", "--input", "x=2,3", "--timeout", "2")
    assert done.returncode == 1
    assert "timed out after 2 s" in done.stderr
    assert "line 7" in done.stderr or ":7:" in done.stderr or ":6:" in done.stderr, done.stderr


def test_trace_without_input_runs_an_input_of_unknown_rank_with_one_batch_dim(tmp_path):
    # statically x is (*, 784) (Linear takes any leading dims); a run needs a rank
    model = tmp_path / "mlp.py"
    model.write_text(
        "import torch.nn as nn\n\n\n"
        "class MLP(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc1 = nn.Linear(784, 100)\n\n"
        "    def forward(self, x):\n"
        "        h = self.fc1(x)\n"
        "        return h\n")
    static = ml_lsp(str(model), "--json")
    assert json.loads(static.stdout)["files"][0]["classes"][0]["inputs"] == {"x": ["*", 784]}
    done = ml_lsp(str(model), "--trace", "--json", "--entry", "MLP")
    assert done.returncode == 0, done.stderr
    shapes = {e["name"]: e["shape"] for e in json.loads(done.stdout)["files"][0]["shapes"]}
    assert shapes["h"] == ["B", 100]
