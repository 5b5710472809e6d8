"""The engine's handling of the ways people write models: configs, helpers, containers,
loops, input sources, imports, budgets. Each test is a behaviour a hover/CLI user sees."""

import time

from ml_lsp.analysis import analyze_source, format_shape
from engine_helpers import analyze, last, shapes


def test_config_dataclass_and_attribute_access():
    f = analyze("""
    from dataclasses import dataclass

    @dataclass
    class Config:
        vocab: int = 100
        n_embd: int = 32
        n_head: int = 4

    class Attn(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
            self.n_head = config.n_head
            self.n_embd = config.n_embd

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            att = q @ q.transpose(-2, -1)
            return att
    """, inputs={"x": [2, 8, 32]}, entry="Attn")
    assert last(f, "q") == [2, 4, 8, 8]
    assert last(f, "att") == [2, 4, 8, 8]
    assert last(f, "k") == [2, 8, 32]


def test_init_argument_evaluated_in_the_file_scope():
    src = """
    from dataclasses import dataclass

    @dataclass
    class Config:
        n_embd: int = 32

    class M(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.fc = nn.Linear(config.n_embd, 10)

        def forward(self, x):
            y = self.fc(x)
            return y
    """
    f = analyze(src, init="Config(n_embd=64)", entry="M", inputs={"x": ["B", 64]})
    assert last(f, "y") == ["B", 10]
    assert not f.conflicts


def test_symbolic_constructor_arguments_become_named_dims():
    f = analyze("""
    class M(nn.Module):
        def __init__(self, d_in, d_out):
            super().__init__()
            self.fc = nn.Linear(d_in, d_out)

        def forward(self, x):
            y = self.fc(x)
            return y
    """)
    assert last(f, "y") == ["*", "d_out"]


def test_argparse_defaults_in_scripts():
    f = analyze("""
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--nz", type=int, default=100)
    parser.add_argument("--ngf", default="64", type=int)
    opt = parser.parse_args()
    nz = int(opt.nz)

    class G(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(nz, opt.ngf)

        def forward(self, z):
            h = self.fc(z)
            return h
    """)
    assert last(f, "h") == ["*", 64]
    layer = next(l for l in f.layers if l.attr == "fc")
    assert layer.signature == "(*, 100) -> (*, 64)"


def test_helper_functions_partial_and_ordered_dict():
    f = analyze("""
    import functools
    from collections import OrderedDict

    def conv_bn(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

    Conv1x1 = functools.partial(nn.Conv2d, kernel_size=1)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = conv_bn(3, 16)
            self.proj = Conv1x1(16, 8)
            self.head = nn.Sequential(OrderedDict([
                ("pool", nn.AdaptiveAvgPool2d(1)),
                ("flat", nn.Flatten()),
                ("fc", nn.Linear(8, 10)),
            ]))

        def forward(self, x):
            x = self.stem(x)
            x = self.proj(x)
            out = self.head(x)
            return out
    """, inputs={"x": [2, 3, 32, 32]}, entry="M")
    assert shapes(f, "x") == [[2, 16, 32, 32], [2, 8, 32, 32]]
    assert last(f, "out") == [2, 10]
    assert f.class_named("M").param_count == (3 * 16 * 9 + 16) + 2 * 16 + (16 * 8 + 8) + (8 * 10 + 10)


def test_module_list_loop_applies_each_layer_and_joins_differing_shapes():
    f = analyze("""
    class M(nn.Module):
        def __init__(self, widths=(8, 16, 32)):
            super().__init__()
            self.layers = nn.ModuleList()
            prev = 4
            for w in widths:
                self.layers.append(nn.Linear(prev, w))
                prev = w
            self.same = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

        def forward(self, x):
            y = x
            for layer in self.same:
                y = layer(y)
            for layer in self.layers:
                x = layer(x)
            return x
    """, inputs={"x": [2, 4]}, entry="M")
    # the same statement binds (2, 8), (2, 16), (2, 32): the joined record keeps only what holds
    assert shapes(f, "x") == [[2, None]]
    assert shapes(f, "y")[-1] == [2, 4]
    # after the loop the value is the last iteration's
    assert f.class_named("M").output_shape == (2, 32)


def test_module_dict_and_submodule_classes():
    f = analyze("""
    class Block(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.fc = nn.Linear(dim, dim * 2)

        def forward(self, x):
            h = self.fc(x)
            return h

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.parts = nn.ModuleDict({"a": Block(4), "b": nn.Linear(8, 3)})

        def forward(self, x):
            x = self.parts["a"](x)
            x = self.parts["b"](x)
            return x
    """, inputs={"x": [5, 4]}, entry="M")
    assert shapes(f, "x") == [[5, 8], [5, 3]]
    assert last(f, "h", "Block.forward") == [5, 8]


def test_if_branches_join_and_known_conditions_pick_one():
    f = analyze("""
    class M(nn.Module):
        def __init__(self, use_proj=True):
            super().__init__()
            self.use_proj = use_proj
            self.proj = nn.Linear(4, 6)

        def forward(self, x, flag):
            if self.use_proj:
                a = self.proj(x)
            else:
                a = x
            if flag:
                b = self.proj(x)
            else:
                b = x.sum(-1, keepdim=True)
            c = b
            return a
    """, inputs={"x": [2, 4]}, entry="M")
    assert last(f, "a") == [2, 6]
    assert last(f, "c") == [2, None]


def test_input_from_shape_comment_and_jaxtyping():
    f = analyze("""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(784, 10)

        def forward(self, x):  # shape: x=(B, 784)
            y = self.fc(x)
            return y

    def g(x: Float[Tensor, "batch 3 32 32"]):
        y = x.flatten(1)
        return y
    """)
    assert last(f, "y", "M.forward") == ["B", 10]
    assert last(f, "y", "g") == ["batch", 3072]


def test_call_site_and_view_before_the_call():
    f = analyze("""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(784, 10)

        def forward(self, x):
            y = self.fc(x)
            return y

    def main():
        model = M()
        data = torch.randn(64, 1, 28, 28)
        out = model(data.view(-1, 784))
        return out
    """)
    assert last(f, "y", "M.forward") == [64, 10]
    assert last(f, "out", "main") == [64, 10]


def test_embedding_input_inferred_as_long_tokens():
    f = analyze("""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(100, 16)

        def forward(self, idx):
            e = self.emb(idx)
            return e
    """)
    assert last(f, "e") == ["B", "T", 16]
    assert f.class_named("M").input_shapes["idx"] == (format_shape.__globals__["Sym"].named("B"),
                                                      format_shape.__globals__["Sym"].named("T"))


def test_import_from_another_workspace_file_through_the_callback():
    blocks = HEADER_BLOCKS = (
        "import torch.nn as nn\n"
        "class Block(nn.Module):\n"
        "    def __init__(self, d):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(d, 2 * d)\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n")
    seen = []

    def resolve(name, from_path):
        seen.append((name, from_path))
        return ("/ws/blocks.py", blocks) if name == "blocks" else None

    src = ("import torch\nimport torch.nn as nn\nfrom blocks import Block\n"
           "class M(nn.Module):\n"
           "    def __init__(self):\n"
           "        super().__init__()\n"
           "        self.b = Block(8)\n"
           "    def forward(self, x):\n"
           "        y = self.b(x)\n"
           "        return y\n")
    f = analyze_source(src, "/ws/model.py", resolve_module=resolve, inputs={"x": [3, 8]}, entry="M")
    assert seen[0] == ("blocks", "/ws/model.py")
    assert last(f, "y") == [3, 16]
    assert f.class_named("M").param_count == 8 * 16 + 16
    assert HEADER_BLOCKS


def test_recursion_and_huge_loops_end_in_unknown_quickly():
    src = """
    def r(x):
        return r(x) + 1

    class M(nn.Module):
        def forward(self, x):
            y = r(x)
            while True:
                x = torch.cat([x, x], dim=0)
            for i in range(10 ** 9):
                x = x.unsqueeze(0)
            z = x
            return z
    """
    t = time.perf_counter()
    f = analyze(src, inputs={"x": [2, 3]}, entry="M")
    assert time.perf_counter() - t < 10
    assert last(f, "z") is None or None in last(f, "z") or last(f, "z") == [2, 3]


def test_pathological_expression_depth_does_not_crash():
    src = "import torch\ndef f(x):\n    y = " + "(" * 150 + "x" + ")" * 150 + "\n    return y\n"
    analyze_source(src)  # no exception, whatever it can say
    deep = "import torch\ndef f(x):\n    y = x" + " + x" * 3000 + "\n    return y\n"
    facts = analyze_source(deep)
    assert facts.problems or facts.bindings  # either analysed or told why not


def test_tuple_unpacking_each_target_and_tuple_valued_names():
    f = analyze("""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 8, batch_first=True)

        def forward(self, x):
            out, (h, c) = self.lstm(x)
            res = self.lstm(x)
            return out
    """, inputs={"x": [2, 5, 4]}, entry="M")
    assert last(f, "out") == [2, 5, 8]
    assert last(f, "h") == [1, 2, 8] and last(f, "c") == [1, 2, 8]
    names = {e["name"]: e["shape"] for e in f.to_json_entries() if e["name"].startswith("res")}
    assert names == {"res[0]": [2, 5, 8], "res[1][0]": [1, 2, 8], "res[1][1]": [1, 2, 8]}


def test_layer_subclass_calls_super_forward():
    f = analyze("""
    class CausalConv1d(nn.Conv1d):
        def __init__(self, cin, cout, k):
            super().__init__(cin, cout, k)
            self.pad = k - 1

        def forward(self, x):
            x = F.pad(x, (self.pad, 0))
            return super().forward(x)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = CausalConv1d(2, 4, 3)

        def forward(self, x):
            y = self.conv(x)
            return y
    """, inputs={"x": [1, 2, 10]}, entry="M")
    assert last(f, "y") == [1, 4, 10]
    assert f.class_named("M").param_count == 2 * 4 * 3 + 4


def test_hover_origin_and_layer_references():
    f = analyze("""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)

        def forward(self, x):
            h = self.fc1(x)
            return h
    """, inputs={"x": [4, 784]}, entry="M")
    b = next(b for b in f.bindings if b.name == "h")
    assert b.origin == "Linear(784, 128), line 8"
    ref = f.layer_at(b.line, b.col + 8)  # on `self.fc1` in forward
    assert ref is not None and ref.signature == "(*, 784) -> (*, 128)" and ref.param_count == 784 * 128 + 128


def test_container_subclasses_and_unfollowable_calls_stay_sound():
    f = analyze("""
    class Block(nn.ModuleDict):
        def __init__(self, n, cin):
            super().__init__()
            for i in range(n):
                self.add_module("layer%d" % (i + 1), nn.Conv2d(cin + 4 * i, 4, 3, padding=1))

        def forward(self, x):
            feats = [x]
            for name, layer in self.items():
                feats.append(layer(torch.cat(feats, 1)))
            return torch.cat(feats, 1)

    class Down(nn.Sequential):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c // 2, 1)
            self.pool = nn.AvgPool2d(2)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(Block(2, 8), Down(16), Block(2, 8))

        def forward(self, x):
            y = self.body(x)
            return y
    """, inputs={"x": [2, 8, 16, 16]}, entry="M")
    assert last(f, "y") == [2, 16, 8, 8]
    # Block runs at 16x16 and at 8x8: its statements keep only what holds for both
    assert last(f, "feats", "Block.forward") is None
    entries = {e["name"]: e["shape"] for e in f.to_json_entries() if e["scope"] == "Block.forward"}
    assert entries["feats[0]"] == [2, 8, None, None]


def test_plain_config_class_and_kwargs_passed_through():
    f = analyze("""
    class Config:
        d_model = 32
        n_classes = 5

    class Head(nn.Module):
        def __init__(self, d_model, n_classes, **kwargs):
            super().__init__()
            self.fc = nn.Linear(d_model, n_classes, **kwargs)

        def forward(self, x):
            y = self.fc(x)
            return y

    class M(nn.Module):
        def __init__(self, cfg=Config(), **kwargs):
            super().__init__()
            self.proj = nn.Linear(kwargs.get("d_in", 8), cfg.d_model)
            self.head = Head(**{"d_model": cfg.d_model, "n_classes": Config.n_classes}, bias=False)

        def forward(self, x):
            h = self.proj(x)
            out = self.head(h)
            return out
    """, inputs={"x": [3, 8]}, entry="M")
    assert last(f, "h") == [3, 32]
    assert last(f, "out") == [3, 5]
    assert f.class_named("M").param_count == 8 * 32 + 32 + 32 * 5


def test_positional_table_sliced_to_the_sequence_length_keeps_t():
    f = analyze("""
    class PositionalEncoding(nn.Module):
        def __init__(self, d_model=16, max_len=512):
            super().__init__()
            self.register_buffer("pe", torch.zeros(1, max_len, d_model))

        def forward(self, x: Float[Tensor, "B T 16"]):
            p = self.pe[:, :x.size(1)]
            y = x + p
            return y
    """)
    assert last(f, "p") == [1, "T", 16]
    assert last(f, "y") == ["B", "T", 16]


def test_call_sites_in_other_workspace_files():
    model = ("import torch.nn as nn\n"
             "class Net(nn.Module):\n"
             "    def __init__(self, n_in, n_out):\n"
             "        super().__init__()\n"
             "        self.fc = nn.Linear(n_in, n_out)\n"
             "    def forward(self, x):\n"
             "        y = self.fc(x)\n"
             "        return y\n")
    train = ("import torch\n"
             "from model import Net\n"
             "def main():\n"
             "    net = Net(20, 3)\n"
             "    out = net(torch.randn(16, 20))\n")
    alone = analyze_source(model, "/ws/model.py")
    assert last(alone, "y") == ["*", "n_out"]
    f = analyze_source(model, "/ws/model.py", callers=[("/ws/train.py", train)])
    assert last(f, "y") == [16, 3]
