"""Pure parts of the tracer: symbolic dims fitted from runs at several symbol values, and
the static/trace comparison's verdicts."""

from __future__ import annotations

from ml_lsp.trace.compare import compare_entries
from ml_lsp.trace.symbolic import eval_dim, fit_dim, symbol_values


def observe(expr, symbols):
    """The values a dim ``expr`` takes in the tracer's runs, then the fitted dim."""
    runs = symbol_values(symbols)
    return fit_dim([expr(**run) for run in runs], runs, symbols)


def test_dims_that_follow_the_inputs_are_written_with_their_symbol():
    assert observe(lambda B, T: 128, ["B", "T"]) == 128
    assert observe(lambda B, T: B, ["B", "T"]) == "B"
    assert observe(lambda B, T: T + 1, ["B", "T"]) == "T+1"
    assert observe(lambda B, T: T - 1, ["B", "T"]) == "T-1"
    assert observe(lambda B, T: 3 * B, ["B", "T"]) == "3*B"
    assert observe(lambda B, T: B * T, ["B", "T"]) == "B*T"
    assert observe(lambda B, T: 4 * B * T, ["B", "T"]) == "4*B*T"


def test_no_simple_form_is_unknown_never_a_guess():
    assert observe(lambda B, T: (T - 3) // 2 + 1, ["B", "T"]) is None
    assert observe(lambda B, T: B + T, ["B", "T"]) is None
    assert observe(lambda B: B * B, ["B"]) is None


def test_eval_dim_reads_the_static_engines_renderings():
    env = {"B": 4, "T": 7, "H": 28}
    assert eval_dim("T+1", env) == 8
    assert eval_dim("B*T", env) == 28
    assert eval_dim("(H-3)//2+1", env) == 13
    assert eval_dim(64, env) == 64
    assert eval_dim("n_embd", env) is None
    assert eval_dim(None, env) is None


def entry(name, shape, dtype="float", line=3):
    return {"scope": "Net.forward", "line": line, "name": name, "shape": shape, "dtype": dtype}


def test_compare_verdicts():
    traced = [entry("a", ["B", 128]), entry("b", ["B", 128]), entry("c", ["B", 128]),
              entry("d", ["B", 128]), entry("e", ["B", 128], "long"), entry("f", ["T+1"]),
              entry("g", ["B", 4]), entry("h", [2, 3])]
    static = [entry("a", ["B", 128]),            # agrees
              entry("b", [2, 128]),              # a constant where the dim follows B
              entry("c", ["B", 128, 1]),         # wrong rank
              entry("d", ["B", None]),           # unknown: imprecise, not wrong
              entry("e", ["B", 128], "float"),   # wrong dtype
              entry("f", ["1+T"]),               # same dim, other spelling
              entry("g", ["B", "n_heads"]),      # a name the trace did not vary: imprecise
              entry("x", [1])]                   # never ran in the trace
    result = compare_entries(static, traced, ["B", "T"])
    wrong = {d.name: d.reason for d in result.disagreements}
    assert set(wrong) == {"b", "c", "e"}
    assert wrong["c"] == "rank 3 vs 2" and "dtype" in wrong["e"] and wrong["b"].startswith("dim 0")
    assert result.agree == 2 and result.imprecise == 2
    assert result.static_missing == 1 and result.trace_missing == 1
    assert "3 disagree" in result.summary()


def test_the_server_side_of_tracing_never_imports_torch():
    import subprocess
    import sys

    code = ("import sys\n"
            "import ml_lsp.server.trace, ml_lsp.trace.command, ml_lsp.trace.session, ml_lsp.trace.compare\n"
            "from ml_lsp.trace.command import static_facts\n"
            "static_facts('import torch.nn as nn\\nclass N(nn.Module):\\n    def forward(self, x):\\n"
            "        return x\\n', 'n.py')\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
