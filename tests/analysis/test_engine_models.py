"""End-to-end engine behaviour on small whole models: what hover/inlay/CLI users see."""

from ml_lsp.analysis import analyze_source, format_shape
from engine_helpers import analyze, last, shapes

MLP = """
class MLP(nn.Module):
    def __init__(self, n_in=784, n_hidden=128, n_out=10):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        out = self.fc2(h)
        return out
"""

CNN = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        x = self.fc2(F.relu(self.fc1(x)))
        return F.log_softmax(x, dim=1)
"""


def test_mlp_input_inferred_from_first_linear():
    f = analyze(MLP)
    # Linear takes any leading dims: the input's rank is unknown, not a made-up (B, 784)
    assert last(f, "h") == ["*", 128]
    assert last(f, "out") == ["*", 10]
    cls = f.class_named("MLP")
    assert cls.param_count == 784 * 128 + 128 + 128 * 10 + 10
    assert [d for d in cls.input_shapes["x"]] and format_shape(cls.input_shapes["x"]) == "(*, 784)"


def test_mlp_explicit_input():
    f = analyze(MLP, inputs={"x": [32, 784]}, entry="MLP")
    assert last(f, "h") == [32, 128]
    assert f.to_json_entries()[-1] == {"scope": "MLP.forward", "line": 13, "name": "out", "shape": [32, 10],
                                       "dtype": "float"}


def test_cnn_from_explicit_input_and_symbolic_input():
    f = analyze(CNN, inputs={"x": [4, 1, 28, 28]}, entry="Net")
    assert shapes(f, "x") == [[4, 32, 26, 26], [4, 64, 24, 24], [4, 64, 12, 12], [4, 9216], [4, 10]]
    g = analyze(CNN)
    # without inputs the conv implies (B, 1, H, W): spatial sizes stay symbolic, channels exact
    assert shapes(g, "x")[0] == ["B", 32, "H-2", "W-2"]
    assert shapes(g, "x")[-1] == ["B", 10]


def test_call_site_gives_the_input():
    f = analyze(CNN + "\nmodel = Net()\ny = model(torch.randn(8, 1, 28, 28))\n")
    assert shapes(f, "x", "Net.forward")[-1] == [8, 10]
    assert last(f, "y") == [8, 10]


def test_layer_facts_signature_and_params():
    f = analyze(MLP)
    fc1 = next(l for l in f.layers if l.attr == "fc1")
    assert fc1.signature == "(*, 784) -> (*, 128)"
    assert fc1.param_count == 784 * 128 + 128
    assert fc1.call == "Linear(n_in, n_hidden)"


def test_syntax_error_in_one_function_keeps_the_others():
    src = MLP + """
class Broken(nn.Module):
    def forward(self, x):
        y = x.view(
"""
    f = analyze(src)
    assert last(f, "out") == ["*", 10]
    assert f.problems and "syntax error" in f.problems[0]


def test_shape_at_finds_innermost_expression():
    f = analyze(MLP, inputs={"x": [2, 784]}, entry="MLP")
    line = 12  # h = F.relu(self.fc1(x))
    hover = f.shape_at(line, 19)  # inside self.fc1(x)
    assert hover is not None and hover.text in ("self.fc1(x)", "x")
    assert f.shape_at(line, 8).shape == (2, 128)


def test_empty_and_garbage_input_do_not_crash():
    assert analyze_source("").bindings == []
    assert analyze_source("def f(:\n  pass\n)))").bindings == []
