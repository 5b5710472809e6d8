"""Idioms of public model code the engine follows (issue 13): each test is a pattern met in
the real-code benchmark, written small."""

import json
import subprocess
import sys
import textwrap

from ml_lsp.analysis import analyze_source, dims
from ml_lsp.resolve import make_resolver

from engine_helpers import analyze, last, shapes, shapes_cli_with_site


def test_nn_buffer_keeps_the_tensor_shape():
    # transformers' rotary embeddings: self.inv_freq = nn.Buffer(inv_freq, persistent=False)
    f = analyze("""
    class Rot(nn.Module):
        def __init__(self, dim):
            super().__init__()
            inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
            self.inv_freq = nn.Buffer(inv_freq, persistent=False)

        def forward(self, position_ids):
            freqs = position_ids[..., None].float() * self.inv_freq
            return torch.cat((freqs, freqs), dim=-1)
    """, entry="Rot", init="dim=16", inputs={"position_ids": [1, 16]})
    assert last(f, "freqs") == [1, 16, 8]


def test_subclass_of_a_dataclass_transform_base_is_a_dataclass():
    # transformers 5: @dataclass_transform on PreTrainedConfig, LlamaConfig only declares fields
    f = analyze("""
    from dataclasses import dataclass
    from typing_extensions import dataclass_transform

    @dataclass_transform(kw_only_default=True)
    class BaseConfig:
        def __init_subclass__(cls, **kw):
            dataclass(cls)

    class NetConfig(BaseConfig):
        hidden_size: int = 4096
        heads: int = 32
        head_dim: int = None

        def __post_init__(self):
            if self.head_dim is None:
                self.head_dim = self.hidden_size // self.heads

    class Net(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.proj = nn.Linear(config.hidden_size, config.head_dim)

        def forward(self, x):
            y = self.proj(x)
            return y
    """, entry="Net", init="config=NetConfig(hidden_size=64, heads=4)", inputs={"x": [2, 64]})
    assert last(f, "y") == [2, 16]


def test_list_reversed_in_place_before_building_a_decoder():
    # PyTorch-VAE: hidden_dims.reverse() between the encoder and the decoder
    f = analyze("""
    class Dec(nn.Module):
        def __init__(self, hidden_dims=None):
            super().__init__()
            if hidden_dims is None:
                hidden_dims = [8, 16, 32]
            hidden_dims.reverse()
            self.out = nn.Linear(4, hidden_dims[-1])

        def forward(self, z):
            y = self.out(z)
            return y
    """, entry="Dec", inputs={"z": [2, 4]})
    assert last(f, "y") == [2, 8]


def test_sparse_matmul_of_a_graph_convolution():
    f = analyze("""
    class GraphConv(nn.Module):
        def __init__(self, i, o):
            super().__init__()
            self.kernel = nn.Parameter(torch.Tensor(i, o))

        def forward(self, x, adj):
            support = torch.mm(x, self.kernel)
            output = torch.spmm(adj, support)
            return output
    """, entry="GraphConv", init="i=16, o=32", inputs={"x": [10, 16], "adj": [10, 10]})
    assert last(f, "output") == [10, 32]


def test_named_inputs_reach_a_forward_that_takes_kwargs():
    # PyTorch-VAE's ConditionalVAE.forward(self, input, **kwargs) reads kwargs['labels']
    f = analyze("""
    class CVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(10, 4)

        def forward(self, input, **kwargs):
            y = kwargs['labels'].float()
            e = self.embed(y)
            return e
    """, entry="CVAE", inputs={"input": [2, 3], "labels": [2, 10]})
    assert last(f, "e") == [2, 4]


def test_floor_divisions_are_simplified_before_they_are_shown():
    H, W = dims.Sym.named("H"), dims.Sym.named("W")
    assert dims.render(dims.add(dims.floordiv(dims.sub(H, 2), 2), 1)) == "H//2"
    h, w = H, W
    for _ in range(5):  # five 3x3 stride-2 padding-1 convolutions
        h = dims.add(dims.floordiv(dims.add(h, 2 * 1 - 3), 2), 1)
        w = dims.add(dims.floordiv(dims.add(w, 2 * 1 - 3), 2), 1)
    assert dims.render(h) == "(H+31)//32"
    assert dims.render(dims.mul(512, dims.mul(h, w))) == "512*((H+31)//32)*((W+31)//32)"
    for size in range(1, 300):  # the canonical form computes the same sizes
        v = size
        for _ in range(5):
            v = (v - 1) // 2 + 1
        assert v == (size + 31) // 32


def test_conv_chain_hint_reads_short():
    f = analyze("""
    class Enc(nn.Module):
        def __init__(self):
            super().__init__()
            self.convs = nn.Sequential(*[nn.Conv2d(3 if i == 0 else 8, 8, 3, stride=2, padding=1) for i in range(3)])

        def forward(self, x):
            y = self.convs(x)
            z = torch.flatten(y, start_dim=1)
            return z
    """, entry="Enc", inputs={"x": ["B", 3, "H", "W"]})
    assert last(f, "y") == ["B", 8, "(H+7)//8", "(W+7)//8"]
    assert last(f, "z") == ["B", "8*((H+7)//8)*((W+7)//8)"]


def _package(tmp_path):
    """A repository laid out as PyTorch-VAE and dinov2 are: a package imported by its own
    name from inside it, and a base class the engine is not given."""
    root = tmp_path / "repo"
    pkg = root / "models"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .base import BaseVAE\n")
    (pkg / "base.py").write_text("from torch import nn\n\nclass BaseVAE(nn.Module):\n    pass\n")
    (pkg / "layers.py").write_text("WIDTH = 24\n")
    (pkg / "vae.py").write_text(textwrap.dedent("""\
        import torch
        from torch import nn
        from models import BaseVAE
        from models.layers import WIDTH


        class VAE(BaseVAE):
            def __init__(self, in_dim: int = 8):
                super().__init__()
                self.enc = nn.Linear(in_dim, WIDTH)

            def forward(self, x):
                h = self.enc(x)
                return h
        """))
    return root, pkg / "vae.py"


def test_absolute_import_of_the_files_own_package_resolves(tmp_path):
    root, vae = _package(tmp_path)
    resolve = make_resolver()  # as the CLI builds it: no workspace root
    found = resolve("models.layers", str(vae))
    assert found is not None and found[0] == str(root / "models" / "layers.py")
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", str(vae)],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    shapes = {b["name"]: b["shape"] for f in json.loads(done.stdout)["files"] for b in f["shapes"]}
    assert shapes.get("h") == ["*", 24]


def test_model_under_a_base_the_engine_cannot_read_is_still_a_model(tmp_path):
    # the same file alone, its package not beside it: BaseVAE is unknown, VAE has a forward
    vae = tmp_path / "vae.py"
    vae.write_text(_package(tmp_path)[1].read_text().replace("from models.layers import WIDTH", "WIDTH = 24"))
    (tmp_path / "repo").rename(tmp_path / "elsewhere")
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", str(vae)],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    shapes = {b["name"]: b["shape"] for f in json.loads(done.stdout)["files"] for b in f["shapes"]}
    assert shapes.get("h") == ["*", 24]


def test_module_met_deep_in_an_import_chain_is_read_again_nearer_the_file(tmp_path):
    # cfg.py is first reached at the end of a chain of imports (where its own imports
    # are cut), then imported by the model file itself: its names must be complete there
    (tmp_path / "dims.py").write_text("HIDDEN = 32\n")
    (tmp_path / "cfg.py").write_text("from dims import HIDDEN\nSIZE = HIDDEN\n")
    (tmp_path / "chain2.py").write_text("from cfg import SIZE\n")
    (tmp_path / "chain1.py").write_text("from chain2 import SIZE\n")
    src = textwrap.dedent("""\
        import torch
        from torch import nn
        from chain1 import SIZE as FIRST
        from cfg import SIZE


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, SIZE)

            def forward(self, x):
                y = self.fc(x)
                return y
        """)
    path = tmp_path / "model.py"
    path.write_text(src)
    facts = analyze_source(src, str(path), resolve_module=make_resolver(str(tmp_path)),
                           entry="Net", inputs={"x": [2, 4]})
    assert [dims.dim_json(d) for d in next(b for b in facts.bindings if b.name == "y").shape] == [2, 32]


def test_identity_with_true_picks_the_branch():
    # yolov5's Conv: self.act = self.default_act if act is True else ...
    f = analyze("""
    class Conv(nn.Module):
        default_act = nn.SiLU()

        def __init__(self, c1, c2, act=True):
            super().__init__()
            self.conv = nn.Conv2d(c1, c2, 1)
            self.act = self.default_act if act is True else act if isinstance(act, nn.Module) else nn.Identity()

        def forward(self, x):
            y = self.act(self.conv(x))
            return y
    """, entry="Conv", init="c1=3, c2=4", inputs={"x": [2, 3, 8, 8]})
    assert last(f, "y") == [2, 4, 8, 8]


def test_config_attribute_map_aliases():
    # transformers' GPT2Config: config.hidden_size is n_embd through attribute_map
    f = analyze("""
    class GPT2Config:
        attribute_map = {"hidden_size": "n_embd"}

        def __init__(self, n_embd=768):
            self.n_embd = n_embd

    class Block(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.fc = nn.Linear(config.hidden_size, 2 * config.hidden_size)

        def forward(self, x):
            y = self.fc(x)
            return y
    """, entry="Block", init="config=GPT2Config(n_embd=64)", inputs={"x": [2, 64]})
    assert last(f, "y") == [2, 128]


def test_string_methods_pick_a_layer_from_a_table():
    # diffusers' get_activation: act_fn.lower() looked up in a table of layer classes
    f = analyze("""
    ACT2CLS = {"swish": nn.SiLU, "relu": nn.ReLU}

    def get_activation(act_fn):
        act_fn = act_fn.lower().strip()
        if act_fn in ACT2CLS:
            return ACT2CLS[act_fn]()
        raise ValueError(act_fn)

    class Block(nn.Module):
        def __init__(self, non_linearity="Swish "):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.act = get_activation(non_linearity)

        def forward(self, x):
            y = self.act(self.conv(x))
            return y
    """, entry="Block", inputs={"x": [2, 3, 16, 16]})
    assert last(f, "y") == [2, 8, 16, 16]


# A model nobody built (no --init, no construction in the file) may be built with any sizes:
# its integer defaults are symbols, the default only a hint for what needs an int (a loop).
_ATTENTION_WITH_DEFAULTS = """
class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return self.fc(x)

class Attn(nn.Module):
    def __init__(self, dim=256, num_heads=8, depth=2):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads)
        q, k, v = qkv.unbind(2)
        for blk in self.blocks:
            x = blk(x)
        return x
"""


def test_a_models_own_defaults_are_what_it_builds():
    # Attn() is built with dim=256, num_heads=8: its author reads those numbers (only a
    # config object's defaults, made to be replaced, stay symbols: the tests below)
    f = analyze(_ATTENTION_WITH_DEFAULTS, entry="Attn")
    assert last(f, "q") == ["B", "N", 8, 32]
    assert last(f, "x") == ["B", "N", 256]


def test_defaults_are_values_once_the_model_is_built():
    f = analyze(_ATTENTION_WITH_DEFAULTS, entry="Attn", init="dim=64",
                inputs={"x": [2, 10, 64]})
    assert last(f, "q") == [2, 10, 8, 8]


def test_config_defaults_of_a_config_nobody_built_stay_symbolic():
    # transformers: LlamaModel(config: LlamaConfig), the config's __init__ has the defaults
    f = analyze("""
    class NetConfig:
        def __init__(self, vocab_size=32000, hidden_size=4096, num_layers=2):
            self.vocab_size = vocab_size
            self.hidden_size = hidden_size
            self.num_layers = num_layers

    class Net(nn.Module):
        def __init__(self, config: NetConfig):
            super().__init__()
            self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
            self.layers = nn.ModuleList([nn.Linear(config.hidden_size, config.hidden_size)
                                         for _ in range(config.num_layers)])

        def forward(self, input_ids):
            h = self.embed(input_ids)
            for layer in self.layers:
                h = layer(h)
            return h
    """, entry="Net")
    assert last(f, "h")[-1] == "hidden_size"


def test_dataclass_config_defaults_stay_symbolic():
    # litgpt / LLMs-from-scratch: a dataclass config taken as `config`
    f = analyze("""
    from dataclasses import dataclass

    @dataclass
    class GPTConfig:
        n_embd: int = 768
        n_head: int = 12

    class SelfAttention(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.n_head = config.n_head
            self.attn = nn.Linear(config.n_embd, 3 * config.n_embd)

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.attn(x).split(C, dim=2)
            q = q.view(B, T, self.n_head, C // self.n_head)
            return q
    """, entry="SelfAttention")
    assert last(f, "q") == ["B", "T", "n_head", "n_embd//n_head"]


def test_attention_function_chosen_from_a_mapping_class_with_a_default():
    # transformers: ALL_ATTENTION_FUNCTIONS.get_interface(config._attn_implementation,
    # eager_attention_forward), a MutableMapping whose get() comes from collections.abc
    f = analyze("""
    from collections.abc import MutableMapping

    def eager_attention(module, q, k, v):
        w = q @ k.transpose(-1, -2)
        return w @ v, w

    class Interface(MutableMapping):
        _global_mapping = {"sdpa": F.scaled_dot_product_attention}

        def __init__(self):
            self._local_mapping = {}

        def __getitem__(self, key):
            if key in self._local_mapping:
                return self._local_mapping[key]
            return self._global_mapping[key]

        def __setitem__(self, key, value):
            self._local_mapping.update({key: value})

        def __delitem__(self, key):
            del self._local_mapping[key]

        def __iter__(self):
            return iter({**self._global_mapping, **self._local_mapping})

        def __len__(self):
            return len(self._global_mapping) + len(self._local_mapping)

        def get_interface(self, impl, default):
            if impl is not None and impl != "eager" and impl not in self:
                raise KeyError(impl)
            return super().get(impl, default)

    ATTENTION_FUNCTIONS = Interface()

    class Attn(nn.Module):
        def __init__(self, dim, heads, impl=None):
            super().__init__()
            self.heads, self.impl = heads, impl
            self.qkv = nn.Linear(dim, 3 * dim)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.qkv(x).view(B, T, 3, self.heads, C // self.heads).unbind(2)
            attention = ATTENTION_FUNCTIONS.get_interface(self.impl, eager_attention)
            out, weights = attention(self, q, k, v)
            out = out.reshape(B, T, -1)
            return out
    """, entry="Attn", init="dim=64, heads=4", inputs={"x": [2, 5, 64]})
    assert last(f, "weights") == [2, 5, 4, 4]
    assert last(f, "out") == [2, 5, 64]


def test_activation_from_a_dict_subclass_that_instantiates_on_lookup():
    # transformers' ACT2FN: an OrderedDict subclass whose __getitem__ builds the class it holds
    f = analyze("""
    from collections import OrderedDict

    class Instantiator(OrderedDict):
        def __getitem__(self, key):
            content = super().__getitem__(key)
            cls, kwargs = content if isinstance(content, tuple) else (content, {})
            return cls(**kwargs)

    ACT2FN = Instantiator({"silu": nn.SiLU, "tanh": (nn.Hardtanh, {"min_val": -1.0})})

    class MLP(nn.Module):
        def __init__(self, dim, act):
            super().__init__()
            self.up = nn.Linear(dim, 4 * dim)
            self.act = ACT2FN[act]
            self.down = nn.Linear(4 * dim, dim)

        def forward(self, x):
            h = self.act(self.up(x))
            y = self.down(h)
            return y
    """, entry="MLP", init="dim=8, act='tanh'", inputs={"x": [2, 8]})
    assert last(f, "h") == [2, 32]
    assert last(f, "y") == [2, 8]


def test_layer_stack_driven_by_default_filter_and_next_helpers():
    # x-transformers' AttentionLayers: default(val, d) calls d only when callable(d), the
    # attention-layer count comes from filter(), per-layer extras from next(iter((None,)), None)
    f = analyze("""
    def exists(v):
        return v is not None

    def default(val, d):
        if exists(val):
            return val
        return d() if callable(d) else d

    class Layers(nn.Module):
        def __init__(self, dim, depth, order=None):
            super().__init__()
            self.layer_types = ('a', 'f') * depth
            self.order = default(order, tuple(range(len(self.layer_types))))
            self.num_attn_layers = len(list(filter(lambda t: t == 'a', self.layer_types)))
            self.layers = nn.ModuleList([nn.Linear(dim, dim) for _ in self.layer_types])

        def forward(self, x, mems=None):
            mems = mems.copy() if exists(mems) else [None] * self.num_attn_layers
            extra_iter = iter((None,))
            layers = tuple(self.layers[i] for i in self.order)
            for layer_type, layer in zip(self.layer_types, layers):
                mem = mems.pop(0) if layer_type == 'a' and mems else None
                extra = next(extra_iter, None)
                if exists(mem):
                    x = torch.cat((mem, x), dim=-2)
                if exists(extra):
                    x = x + extra
                out = layer(x)
                x = out + x
            return x
    """, entry="Layers", init="dim=16, depth=2", inputs={"x": [2, 5, 16]})
    assert last(f, "out") == [2, 5, 16]
    assert last(f, "x") == [2, 5, 16]


def test_einops_einsum_with_the_pattern_last_and_word_axes():
    # mamba-style code: einsum(x, A, "b l d_in, d_in n -> b l d_in n")
    f = analyze("""
    from einops import einsum

    class Scan(nn.Module):
        def forward(self, x, A, y):
            deltaA = einsum(x, A, "b l d_in, d_in n -> b l d_in n")
            scores = einsum(x, x, "b l d_in, b m d_in -> b l m")
            bad = einsum(x, y, "b l d_in, d_in n -> b l n")
            return deltaA
    """, entry="Scan", inputs={"x": [2, 7, 16], "A": [16, 4], "y": [8, 4]})
    assert last(f, "deltaA") == [2, 7, 16, 4]
    assert last(f, "scores") == [2, 7, 7]
    # 16 against 8 for d_in: an error that names the axis by its word
    assert any("'d_in'" in c.message and "16" in c.message and "8" in c.message for c in f.conflicts)


def test_property_setter_registers_the_buffers_forward_reads():
    # litgpt-style: __init__ assigns a property whose setter builds the rotary cache
    f = analyze("""
    class Rotary(nn.Module):
        def __init__(self, dim, context):
            super().__init__()
            self.dim = dim
            self.context = context

        @property
        def context(self):
            return self._context

        @context.setter
        def context(self, n):
            self._context = n
            cos, sin = self.tables(n)
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)

        def tables(self, n):
            steps = torch.arange(n).float()
            freq = 1.0 / (10000 ** (torch.arange(0, self.dim, 2).float() / self.dim))
            angles = torch.outer(steps, freq).repeat(1, 2)
            return torch.cos(angles), torch.sin(angles)

        def forward(self, x):
            T = x.size(1)
            cos = self.cos[:T]
            y = x * cos + x * self.sin[:T]
            return y
    """, entry="Rotary", init="dim=8, context=32", inputs={"x": [2, 16, 8]})
    assert last(f, "cos", "Rotary.forward") == [16, 8]
    assert last(f, "y") == [2, 16, 8]


def test_layer_class_named_by_a_config_property_that_imports_the_model_file(tmp_path):
    # litgpt: Config.mlp_class does `import pkg.model; return getattr(pkg.model, name)`,
    # so the class comes from the very file being analysed, and its forward is recorded
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "config.py").write_text(textwrap.dedent("""\
        from dataclasses import dataclass


        @dataclass
        class Config:
            width: int = 32
            mlp_name: str = "Feed"

            @property
            def mlp_class(self):
                import pkg.model

                return getattr(pkg.model, self.mlp_name)
        """))
    src = textwrap.dedent("""\
        import torch
        from torch import nn
        from pkg.config import Config


        class Feed(nn.Module):
            def __init__(self, config):
                super().__init__()
                self.up = nn.Linear(config.width, 4 * config.width)

            def forward(self, x):
                h = self.up(x)
                return h


        class Block(nn.Module):
            def __init__(self, config):
                super().__init__()
                self.mlp = config.mlp_class(config)

            def forward(self, x):
                y = self.mlp(x)
                return y
        """)
    path = pkg / "model.py"
    path.write_text(src)
    # also as the benchmark hands it over: through a symlinked folder, which the resolver
    # answers with the real path
    (tmp_path / "linked").symlink_to(tmp_path, target_is_directory=True)
    for given in (path, tmp_path / "linked" / "pkg" / "model.py"):
        facts = analyze_source(src, str(given), resolve_module=make_resolver(str(tmp_path)),
                               entry="Block", init="config=Config(width=16)", inputs={"x": [2, 5, 16]})
        shape = {b.name: [dims.dim_json(d) for d in b.shape] if b.shape else None for b in facts.bindings}
        assert shape.get("y") == [2, 5, 64], given
        assert shape.get("h") == [2, 5, 64], given


def test_layer_chosen_by_an_undecided_condition_keeps_the_shape_both_choices_keep():
    # timm/Swin: drop rates from [x.item() for x in torch.linspace(...)], then
    # DropPath(p) if p > 0. else nn.Identity(): p is a number nobody knows
    f = analyze("""
    class DropPath(nn.Module):
        def __init__(self, p):
            super().__init__()
            self.p = p

        def forward(self, x):
            keep = torch.rand(x.shape[0], 1, 1) > self.p
            return x * keep

    class Block(nn.Module):
        def __init__(self, dim, rate):
            super().__init__()
            self.fc = nn.Linear(dim, dim)
            self.drop = DropPath(rate) if rate > 0. else nn.Identity()
            self.proj = nn.Linear(dim, 2 * dim) if rate > 0.5 else nn.Identity()

        def forward(self, x):
            y = x + self.drop(self.fc(x))
            z = self.proj(y)
            return y

    class Net(nn.Module):
        def __init__(self, dim, depth):
            super().__init__()
            rates = [r.item() for r in torch.linspace(0, 0.1, depth)]
            self.blocks = nn.Sequential(*[Block(dim, rates[i]) for i in range(depth)])

        def forward(self, x):
            h = self.blocks(x)
            return h
    """, entry="Net", init="dim=16, depth=2", inputs={"x": [2, 5, 16]})
    assert last(f, "y") == [2, 5, 16]
    assert last(f, "h") == [2, 5, 16]
    # Linear(16, 32) or Identity: the last dim is not known, the others are
    assert last(f, "z") == [2, 5, None]
    assert not f.conflicts


def test_issubclass_between_the_files_classes_picks_the_constructor_call():
    # timm's _create_attn: kwargs gain `depth` only for a subclass of DiffAttention
    f = analyze("""
    class Attn(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.qkv = nn.Linear(dim, 3 * dim)

        def forward(self, x):
            return self.qkv(x)

    class DepthAttn(Attn):
        def __init__(self, dim, depth):
            super().__init__(dim)
            self.depth = depth

    def create(layer, dim, depth):
        if issubclass(layer, DepthAttn):
            return layer(dim, depth)
        return layer(dim)

    class Net(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.attn = create(Attn, dim, 0)
            self.deep = create(DepthAttn, dim, 3)

        def forward(self, x):
            qkv = self.attn(x)
            deep = self.deep(x)
            return qkv
    """, entry="Net", init="dim=8", inputs={"x": [2, 5, 8]})
    assert last(f, "qkv") == [2, 5, 24]
    assert last(f, "deep") == [2, 5, 24]


def test_absolute_import_of_a_library_package_from_inside_its_own_tree(tmp_path):
    # timm's models import `from timm.layers import Mlp`: inside timm's own source that is
    # the workspace's code, read like any other module
    layers = tmp_path / "timm" / "layers"
    models = tmp_path / "timm" / "models"
    layers.mkdir(parents=True)
    models.mkdir()
    (tmp_path / "timm" / "__init__.py").write_text("")
    (models / "__init__.py").write_text("")
    (layers / "__init__.py").write_text("from .mlp import Mlp\n")
    (layers / "mlp.py").write_text(textwrap.dedent("""\
        from torch import nn


        class Mlp(nn.Module):
            def __init__(self, in_features, hidden_features):
                super().__init__()
                self.fc1 = nn.Linear(in_features, hidden_features)
                self.fc2 = nn.Linear(hidden_features, in_features)

            def forward(self, x):
                return self.fc2(self.fc1(x))
        """))
    src = textwrap.dedent("""\
        import torch
        from torch import nn
        from timm.layers import Mlp


        class Mixer(nn.Module):
            def __init__(self, dim):
                super().__init__()
                self.mlp = Mlp(dim, 4 * dim)

            def forward(self, x):
                y = self.mlp(x)
                return y
        """)
    path = models / "mixer.py"
    path.write_text(src)
    facts = analyze_source(src, str(path), resolve_module=make_resolver(str(tmp_path)),
                           entry="Mixer", init="dim=8", inputs={"x": [2, 5, 8]})
    assert [dims.dim_json(d) for d in next(b for b in facts.bindings if b.name == "y").shape] == [2, 5, 8]


def test_timm_helpers_imported_by_code_outside_timm():
    # Swin-style: patch sizes through to_2tuple and residual branches through DropPath
    f = analyze("""
    from timm.models.layers import DropPath, to_2tuple

    class PatchEmbed(nn.Module):
        def __init__(self, img_size=224, patch_size=4, dim=96, drop_path=0.1):
            super().__init__()
            img_size = to_2tuple(img_size)
            patch_size = to_2tuple(patch_size)
            self.grid = (img_size[0] // patch_size[0], img_size[1] // patch_size[1])
            self.proj = nn.Conv2d(3, dim, kernel_size=patch_size, stride=patch_size)
            self.drop = DropPath(drop_path) if drop_path > 0. else nn.Identity()

        def forward(self, x):
            x = self.proj(x).flatten(2).transpose(1, 2)
            y = x + self.drop(x)
            return y
    """, entry="PatchEmbed", init="img_size=32, patch_size=4, dim=16", inputs={"x": [2, 3, 32, 32]})
    assert last(f, "x") == [2, 64, 16]
    assert last(f, "y") == [2, 64, 16]


def test_gelu_written_out_with_torch_pi_keeps_the_shape():
    # LLMs-from-scratch style GELU: torch.tensor(2.0 / torch.pi) is a 0-d tensor
    f = analyze("""
    import math

    class GELU(nn.Module):
        def forward(self, x):
            c = torch.sqrt(torch.tensor(2.0 / torch.pi))
            y = 0.5 * x * (1 + torch.tanh(c * (x + 0.044715 * torch.pow(x, 3))))
            z = y * math.pi
            return y
    """, entry="GELU", inputs={"x": [2, 16, 64]})
    assert last(f, "c") == []
    assert last(f, "y") == [2, 16, 64]
    assert last(f, "z") == [2, 16, 64]


def test_power_of_two_test_on_a_known_number_picks_the_branch():
    # megatron's ALiBi slopes: `if math.log2(n).is_integer(): ...` else a recursive fallback
    f = analyze("""
    import math

    def slopes(n):
        if math.log2(n).is_integer():
            return [0.5 ** (i + 1) for i in range(n)]
        nearest = 2 ** math.floor(math.log2(n))
        return slopes(nearest) + slopes(2 * nearest)[0::2][: n - nearest]

    class Bias(nn.Module):
        def __init__(self, heads):
            super().__init__()
            self.register_buffer("slopes", torch.Tensor(slopes(heads)))

        def forward(self, scores):
            s = self.slopes.view(-1, 1, 1)
            out = scores + s
            return out
    """, entry="Bias", init="heads=4", inputs={"scores": [2, 4, 16, 16]})
    assert last(f, "s") == [4, 1, 1]
    assert last(f, "out") == [2, 4, 16, 16]


def test_a_cache_forward_fills_on_its_first_call_is_empty_in_the_recorded_run():
    # megatron's ALiBi: forward builds its matrix on the first call and keeps it on self;
    # the engine's own preliminary runs must not leave that cache for the recorded one
    f = analyze("""
    class Cached(nn.Module):
        def __init__(self, heads):
            super().__init__()
            self.heads = heads
            self.cached_len = None
            self.cached = None

        def forward(self, x):
            n = x.shape[-1]
            if self.cached_len is not None and self.cached_len >= n:
                bias = self.cached
            else:
                grid = torch.arange(n).view(n, 1) - torch.arange(n)
                bias = grid.expand(self.heads, n, n)
                self.cached_len = n
                self.cached = bias
            out = x + bias
            return out
    """, entry="Cached", init="heads=4", inputs={"x": [2, 4, 16, 16]})
    assert last(f, "grid") == [16, 16]
    assert last(f, "out") == [2, 4, 16, 16]


def test_cast_to_the_dtype_of_an_input_of_unknown_dtype_forgets_the_old_dtype():
    # megatron's ALiBi: an integer matrix cast with .to(x.dtype); x's dtype is not given
    f = analyze("""
    class Bias(nn.Module):
        def forward(self, x):
            n = x.shape[-1]
            grid = torch.arange(n).view(n, 1) - torch.arange(n)
            bias = grid.to(x.device).to(x.dtype)
            kept = grid.to(x.device)
            return x + bias
    """, entry="Bias", inputs={"x": [2, 4, 16, 16]})
    dtype = {b.name: b.dtype for b in f.bindings}
    assert dtype["grid"] == "long"
    assert dtype["kept"] == "long"
    assert dtype["bias"] is None  # whatever x is: not shown as long


def test_any_over_known_truths_picks_the_padding_branch():
    # timm's get_padding: any([isinstance(v, (tuple, list)) for v in [k, s, d]])
    f = analyze("""
    def get_padding(kernel_size, stride=1, dilation=1):
        if any([isinstance(v, (tuple, list)) for v in [kernel_size, stride, dilation]]):
            return [get_padding(*a) for a in zip(kernel_size, stride, dilation)]
        return ((stride - 1) + dilation * (kernel_size - 1)) // 2

    class Block(nn.Module):
        def __init__(self, dim, k=7):
            super().__init__()
            self.dw = nn.Conv2d(dim, dim, k, padding=get_padding(k), groups=dim)
            self.wide = all(isinstance(v, int) for v in (dim, k))

        def forward(self, x):
            y = self.dw(x)
            return y
    """, entry="Block", init="dim=8", inputs={"x": [2, 8, 16, 16]})
    assert last(f, "y") == [2, 8, 16, 16]


def test_layer_made_in_a_try_that_retries_without_an_argument():
    # timm's create_act_layer: try act(inplace=inplace) except TypeError: act()
    f = analyze("""
    def make_act(layer, inplace=None):
        if inplace is None:
            return layer()
        try:
            return layer(inplace=inplace)
        except TypeError:
            return layer()

    class SE(nn.Module):
        def __init__(self, channels, hidden):
            super().__init__()
            self.fc1 = nn.Conv2d(channels, hidden, 1)
            self.act = make_act(nn.ReLU, inplace=True)
            self.fc2 = nn.Conv2d(hidden, channels, 1)

        def forward(self, x):
            s = x.mean((2, 3), keepdim=True)
            s = self.act(self.fc1(s))
            s = self.fc2(s)
            return x * torch.sigmoid(s)
    """, entry="SE", init="channels=32, hidden=8", inputs={"x": [2, 32, 8, 8]})
    assert shapes(f, "s") == [[2, 32, 1, 1], [2, 8, 1, 1], [2, 32, 1, 1]]


def test_to_ntuple_written_with_iterable_check_and_itertools_repeat():
    # timm's helpers.py: isinstance(x, collections.abc.Iterable) else tuple(repeat(x, n))
    f = analyze("""
    import collections.abc
    from itertools import repeat

    def ntuple(n):
        def parse(x):
            if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
                return tuple(x)
            return tuple(repeat(x, n))
        return parse

    class Block(nn.Module):
        def __init__(self, dim, dilation=1):
            super().__init__()
            dilation = ntuple(2)(dilation)
            self.dw = nn.Conv2d(dim, dim, 3, padding=dilation[0], dilation=dilation[0], groups=dim)

        def forward(self, x):
            y = self.dw(x)
            return y
    """, entry="Block", init="dim=8", inputs={"x": [2, 8, 16, 16]})
    assert last(f, "y") == [2, 8, 16, 16]


def test_tensor_type_chosen_by_cuda_and_built_from_a_numpy_array():
    # PyTorch-GAN: Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor, then
    # Variable(Tensor(np.random.normal(0, 1, (n, latent)))) in a reparameterization helper
    f = analyze("""
    import numpy as np
    from torch.autograd import Variable

    cuda = True if torch.cuda.is_available() else False
    Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor

    class Sampler(nn.Module):
        def forward(self, mu):
            noise = Variable(Tensor(np.random.normal(0, 1, (mu.size(0), 10))))
            z = noise * 2 + mu
            return z
    """, entry="Sampler", inputs={"mu": [2, 10]})
    assert last(f, "noise") == [2, 10]
    assert last(f, "z") == [2, 10]


def test_drop_path_rates_of_zero_decide_the_layers():
    # timm and dinov2: dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]
    # (or np.linspace(...).tolist()); with a rate of 0 every block's `if dpr[i] > 0.` is False
    f = analyze("""
    import numpy as np

    class Blocks(nn.Module):
        def __init__(self, depth=3, drop_path_rate=0.0):
            super().__init__()
            dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]
            rates = np.linspace(0, drop_path_rate, depth).tolist()
            self.drop = nn.Linear(8, 8) if dpr[1] > 0.0 else nn.Identity()
            self.head = nn.Linear(8, 16) if rates[2] > 0.1 else nn.Linear(8, 4)

        def forward(self, x):
            y = self.drop(x)
            z = self.head(y)
            return z
    """, entry="Blocks", inputs={"x": [2, 8]})
    assert last(f, "z") == [2, 4]


def test_is_tensor_of_a_number_is_false():
    # x-transformers: scale = scale[:, -n:, :] if is_tensor(scale) else scale, with scale = 1
    f = analyze("""
    from torch import is_tensor

    def rotate(t, freqs, scale=1):
        scale = scale[:, -4:, :] if is_tensor(scale) else scale
        out = t * freqs.cos() * scale
        return out

    class Rot(nn.Module):
        def forward(self, t, freqs):
            y = rotate(t, freqs)
            return y
    """, entry="Rot", inputs={"t": [2, 4, 16, 32], "freqs": [1, 16, 32]})
    assert last(f, "y") == [2, 4, 16, 32]


def test_a_lambda_is_no_module_and_a_layer_is_one():
    # x-transformers: default(val, d) calls d only if `not isinstance(d, Module) and callable(d)`
    f = analyze("""
    from torch.nn import Module

    def default(val, d):
        if val is not None:
            return val
        return d() if not isinstance(d, Module) and callable(d) else d

    class Wrapper(Module):
        def __init__(self, dim_in=8, dim=64, project_in=None, norm=None):
            super().__init__()
            self.project_in = default(project_in, lambda: nn.Linear(dim_in, dim) if dim_in else nn.Identity())
            self.norm = default(norm, nn.LayerNorm(dim))

        def forward(self, x):
            h = self.norm(self.project_in(x))
            return h
    """, entry="Wrapper", inputs={"x": [2, 16, 8]})
    assert last(f, "h") == [2, 16, 64]


def test_layers_of_an_installed_package_are_read_from_its_source(tmp_path):
    # issue 13 item 3: a pip-installed library of layers (timm, a lab's own package) is code
    # the engine reads, found as the workspace's interpreter finds it; the standard library
    # and torch stay known by their rules
    site = tmp_path / "env" / "lib" / "python3.11" / "site-packages"
    pkg = site / "fancylayers"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .blocks import PatchEmbed, Mlp\n")
    (pkg / "blocks.py").write_text(textwrap.dedent("""\
        from torch import nn


        class PatchEmbed(nn.Module):
            def __init__(self, patch_size=8, in_chans=3, embed_dim=64):
                super().__init__()
                self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

            def forward(self, x):
                x = self.proj(x)
                return x.flatten(2).transpose(1, 2)


        class Mlp(nn.Module):
            def __init__(self, dim, hidden):
                super().__init__()
                self.fc1 = nn.Linear(dim, hidden)
                self.fc2 = nn.Linear(hidden, dim)

            def forward(self, x):
                return self.fc2(self.fc1(x))
        """))
    ws = tmp_path / "project"
    ws.mkdir()
    model = ws / "vit.py"
    model.write_text(textwrap.dedent("""\
        import re
        from torch import nn
        from fancylayers import PatchEmbed, Mlp


        class TinyViT(nn.Module):
            def __init__(self):
                super().__init__()
                self.patch = PatchEmbed(patch_size=8, embed_dim=64)
                self.mlp = Mlp(64, 256)

            def forward(self, x):
                tokens = self.patch(x)
                out = self.mlp(tokens)
                return out
        """))
    shapes = shapes_cli_with_site(site, ws, model, "TinyViT", "x=2,3,32,32")
    assert shapes.get("tokens") == [2, 16, 64]
    assert shapes.get("out") == [2, 16, 64]


def test_star_unpacked_shape_of_unknown_rank_makes_no_rank_up():
    # torchtune's RotaryPositionalEmbeddings without inputs: x's rank is unknown, so
    # reshape(*x.shape[:-1], -1, 2) is of unknown rank, not (?, 2); xshaped.size(3) is then
    # no "dim=3 is out of range for a tensor of rank 2"
    src = """
    class Rope(nn.Module):
        def forward(self, x):
            xshaped = x.float().reshape(*x.shape[:-1], -1, 2)
            cache = torch.zeros(4, 1, xshaped.size(3), 2)
            return xshaped
    """
    f = analyze(src)
    assert last(f, "xshaped") is None
    assert not f.conflicts
    # with the input given, the star expands and the shape is exact
    f = analyze(src, entry="Rope", inputs={"x": [2, 5, 4, 8]})
    assert last(f, "xshaped") == [2, 5, 4, 4, 2]
    assert last(f, "cache") == [4, 1, 4, 2]


def test_partial_called_with_star_of_unknown_length_makes_no_rank_up():
    # the same reshape through functools.partial: a partial called with *args of unknown
    # length is as unknown as the direct call, not a made-up rank-2 shape that then raises
    # a false "dim=3 is out of range"
    src = """
    import functools

    class Rope(nn.Module):
        def forward(self, x):
            split_pairs = functools.partial(torch.reshape, x.float())
            xshaped = split_pairs((*x.shape[:-1], -1, 2))
            flat = functools.partial(torch.Tensor.reshape, x.float())(*x.shape[:-1], -1, 2)
            cache = torch.zeros(4, 1, flat.size(3), 2)
            return xshaped
    """
    f = analyze(src)
    assert last(f, "flat") is None
    assert not f.conflicts
    f = analyze(src, entry="Rope", inputs={"x": [2, 5, 4, 8]})
    assert last(f, "xshaped") == [2, 5, 4, 4, 2]
    assert last(f, "flat") == [2, 5, 4, 4, 2]
    assert last(f, "cache") == [4, 1, 4, 2]


def test_a_package_init_that_re_exports_is_no_level_of_the_import_depth(tmp_path):
    # timm's create_conv2d: `from timm.layers import create_conv2d` goes through the package's
    # __init__, then a factory module, a conv module and a padding helper; the __init__ only
    # re-exports names, so the helper is still within the import depth
    pkg = tmp_path / "mylayers"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .factory import make_conv\n")
    (pkg / "factory.py").write_text(textwrap.dedent("""\
        from .convs import same_conv


        def make_conv(in_chs, out_chs, kernel_size, **kwargs):
            return same_conv(in_chs, out_chs, kernel_size, **kwargs)
        """))
    (pkg / "convs.py").write_text(textwrap.dedent("""\
        from torch import nn
        from .padding import get_padding


        def same_conv(in_chs, out_chs, kernel_size, stride=1):
            return nn.Conv2d(in_chs, out_chs, kernel_size, stride=stride, padding=get_padding(kernel_size))
        """))
    (pkg / "padding.py").write_text(textwrap.dedent("""\
        def get_padding(kernel_size):
            return kernel_size // 2
        """))
    model = tmp_path / "net.py"
    model.write_text(textwrap.dedent("""\
        from torch import nn
        from mylayers import make_conv


        class Block(nn.Module):
            def __init__(self, chs):
                super().__init__()
                self.conv = make_conv(chs, chs * 2, 7)

            def forward(self, x):
                y = self.conv(x)
                return y
        """))
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", "--entry", "Block",
                           "--init", "chs=16", "--input", "x=2,16,8,8", str(model)],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    shapes = {b["name"]: b["shape"] for f in json.loads(done.stdout)["files"] for b in f["shapes"]}
    assert shapes.get("y") == [2, 32, 8, 8]


def test_an_image_model_whose_first_layer_pads_gets_its_batch_form_without_inputs():
    # pytorch/examples' fast-neural-style: each ConvLayer is ReflectionPad2d then Conv2d;
    # the input was unknown and nothing in TransformerNet had a shape
    from engine_helpers import analyze, last

    facts = analyze('''
    class ConvLayer(nn.Module):
        def __init__(self, cin, cout, k, stride):
            super().__init__()
            self.pad = nn.ReflectionPad2d(k // 2)
            self.conv = nn.Conv2d(cin, cout, k, stride)

        def forward(self, x):
            return self.conv(self.pad(x))


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = ConvLayer(3, 32, 9, 1)
            self.conv2 = ConvLayer(32, 64, 3, 2)

        def forward(self, X):
            y = self.conv1(X)
            y = self.conv2(y)
            return y
    ''', entry="Net")
    assert last(facts, "y", "Net.forward") == ["B", 64, "(H+1)//2", "(W+1)//2"]


def test_blocks_sliced_by_the_config_count_they_were_built_from_without_inputs():
    # transformers' `for layer in self.layers[: self.config.num_hidden_layers]` with the
    # config's defaults: the slice bound is the size the ModuleList was built from, and
    # every shape after the loop was unknown
    from engine_helpers import analyze, last

    facts = analyze('''
    class Config:
        def __init__(self, num_hidden_layers=4, hidden_size=64):
            self.num_hidden_layers = num_hidden_layers
            self.hidden_size = hidden_size


    class Block(nn.Module):
        def __init__(self, config, i):
            super().__init__()
            self.fc = nn.Linear(config.hidden_size, config.hidden_size)

        def forward(self, x):
            return self.fc(x)


    class Model(nn.Module):
        def __init__(self, config: Config):
            super().__init__()
            self.config = config
            self.embed = nn.Embedding(100, config.hidden_size)
            self.layers = nn.ModuleList([Block(config, i) for i in range(config.num_hidden_layers)])

        def forward(self, ids):
            """ids (LongTensor): token ids of shape (B, T)"""
            h = self.embed(ids)
            for layer in self.layers[: self.config.num_hidden_layers]:
                h = layer(h)
            out = h.mean(1)
            return out
    ''', entry="Model")
    assert last(facts, "out", "Model.forward") == ["B", "hidden_size"]


def test_an_unpacking_under_a_rank_test_does_not_decide_the_inputs_rank():
    # diffusers' attention processors take (B, N, C) and (B, C, H, W): the 4-name unpacking
    # inside `if input_ndim == 4:` made the input rank 4 without inputs, and the (B, N, C)
    # the model really passes was contradicted
    from engine_helpers import analyze, last, shapes

    src = '''
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.to_q = nn.Linear(16, 16)

        def forward(self, hidden_states):
            input_ndim = hidden_states.ndim
            if input_ndim == 4:
                batch_size, channel, height, width = hidden_states.shape
                hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(1, 2)
            q = self.to_q(hidden_states)
            return q
    '''
    facts = analyze(src, entry="Attn")
    assert all(len(c.input_shapes.get("hidden_states") or ()) != 4 for c in facts.classes if c.name == "Attn")
    assert shapes(facts, "q", "Attn.forward") in ([None], [["*", 16]])  # not a made-up rank
    # given a rank-4 input, the branch is decided and the unpacking names its dims
    facts = analyze(src, entry="Attn", inputs={"hidden_states": [2, 16, 4, 4]})
    assert last(facts, "q", "Attn.forward") == [2, 16, 16]


def test_a_function_a_package_re_exports_called_through_the_subpackage(tmp_path):
    # torchtune's PPOLoss: `from torchtune import rlhf`, then rlhf.masked_mean(...), which
    # rlhf/__init__.py re-exports with `from .rewards import masked_mean`
    sub = tmp_path / "lib" / "rl"
    sub.mkdir(parents=True)
    (tmp_path / "lib" / "__init__.py").write_text("")
    (sub / "__init__.py").write_text("from .rewards import masked_mean\n")
    (sub / "rewards.py").write_text(textwrap.dedent("""\
        import torch


        def masked_mean(x, mask, dim=None):
            return (x * mask).sum(dim=dim) / mask.sum(dim=dim)
        """))
    src = textwrap.dedent("""\
        import torch
        from lib import rl


        def loss(x, mask):
            per_row = rl.masked_mean(x, mask, dim=1)
            return per_row
        """)
    path = tmp_path / "train.py"
    path.write_text(src)
    facts = analyze_source(src, str(path), resolve_module=make_resolver(str(tmp_path)), entry="loss",
                           inputs={"x": [4, 7], "mask": [4, 7]})
    shape = {b.name: [dims.dim_json(d) for d in b.shape] if b.shape else None for b in facts.bindings}
    assert shape.get("per_row") == [4]


def test_forward_chosen_in_the_constructor_by_assigning_a_method():
    # timm's fasternet Partial_conv3: `self.forward = self.forward_split_cat` in __init__,
    # by a constructor string; calling the module calls that method
    f = analyze("""
    class Partial(nn.Module):
        def __init__(self, dim, mode):
            super().__init__()
            self.part = dim // 4
            self.conv = nn.Conv2d(self.part, self.part, 3, 1, 1)
            if mode == "split_cat":
                self.forward = self.forward_split_cat
            else:
                raise NotImplementedError

        def forward_split_cat(self, x):
            x1, x2 = torch.split(x, [self.part, x.shape[1] - self.part], dim=1)
            return torch.cat((self.conv(x1), x2), 1)


    class Block(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.mix = Partial(dim, "split_cat")
            self.fc = nn.Conv2d(dim, dim * 2, 1)

        def forward(self, x):
            y = self.mix(x)
            z = self.fc(y)
            return z
    """, entry="Block", init="dim=16", inputs={"x": [2, 16, 8, 8]})
    assert last(f, "y") == [2, 16, 8, 8]
    assert last(f, "z") == [2, 32, 8, 8]


def test_a_name_from_a_package_of_many_star_imports_is_looked_for_in_its_own_module_first(tmp_path, monkeypatch):
    # transformers' `from transformers import UdopConfig`: the package star-imports 500 model
    # packages; in file order the look-up read some 600 modules (21 s of check)
    from ml_lsp.analysis import interp as interp_module

    pkg = tmp_path / "lib"
    pkg.mkdir()
    names = [f"model{i:02d}" for i in range(30)] + ["udop"]
    (pkg / "__init__.py").write_text("".join(f"from .{n} import *\n" for n in names))
    for n in names:
        (pkg / f"{n}.py").write_text(f"class {n.capitalize()}Config:\n    hidden = {len(n)}\n")
    src = textwrap.dedent("""\
        import torch
        from torch import nn
        from lib import UdopConfig


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, UdopConfig.hidden)

            def forward(self, x):
                y = self.fc(x)
                return y
        """)
    loaded = []
    original = interp_module.Interp.load_workspace_module

    def spy(self, name):
        loaded.append(name)
        return original(self, name)
    monkeypatch.setattr(interp_module.Interp, "load_workspace_module", spy)
    path = tmp_path / "net.py"
    path.write_text(src)
    facts = analyze_source(src, str(path), resolve_module=make_resolver(str(tmp_path)), entry="Net",
                           inputs={"x": [2, 4]})
    shape = {b.name: [dims.dim_json(d) for d in b.shape] if b.shape else None for b in facts.bindings}
    assert shape.get("y") == [2, 4]
    assert not any(n.endswith("model00") for n in loaded), loaded


def test_a_network_clients_answer_is_never_read_from_its_source(tmp_path):
    # transformers' load_backbone -> from_config -> cached_file -> httpx.get: interpreting the
    # client (idna's label checks, char by char) took 24 s of a modular DETR file, and what a
    # download answers is no shape the source can tell
    (tmp_path / "httpx").mkdir()
    (tmp_path / "httpx" / "__init__.py").write_text("def get(url):\n    return 7\n")
    src = textwrap.dedent("""\
        import httpx
        import torch
        from torch import nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, httpx.get("https://example.com/width"))

            def forward(self, x):
                y = self.fc(x)
                return y
        """)
    path = tmp_path / "net.py"
    path.write_text(src)
    facts = analyze_source(src, str(path), resolve_module=make_resolver(str(tmp_path)), entry="Net",
                           inputs={"x": [2, 4]})
    shape = {b.name: [dims.dim_json(d) for d in b.shape] if b.shape else None for b in facts.bindings}
    assert shape.get("y") == [2, None]


def test_a_model_factory_run_on_its_own_takes_its_kwargs_as_unknown():
    # timm: `def swinv2_tiny_window16_256(pretrained=False, **kwargs)` builds the model with
    # dict(model_args, **kwargs), and its registry passes img_size=256 through **kwargs. Run as
    # an entry point with no arguments, the default img_size=224 met window 16 in the
    # constructor's mask: a false SH007 (56 is no multiple of 16)
    f = analyze("""
    class Net(nn.Module):
        def __init__(self, img_size=224, window=7):
            super().__init__()
            res = img_size // 4
            mask = torch.zeros(1, res, res, 1)
            self.windows = mask.view(1, res // window, window, res // window, window, 1)
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            return self.fc(x)


    def build(variant, **kwargs):
        return Net(**kwargs)


    def net_window16_256(pretrained=False, **kwargs):
        model_args = dict(window=16)
        return build("net_window16_256", **dict(model_args, **kwargs))
    """)
    assert not f.conflicts, [c.message for c in f.conflicts]
