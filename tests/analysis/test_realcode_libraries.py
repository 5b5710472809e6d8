"""Idioms of the libraries' own code (transformers, timm, diffusers, torchtune) that the
engine follows when a model file uses them (issue 13), written small in our own words."""

import textwrap

from engine_helpers import analyze, last, shapes_cli_with_site


def _project(tmp_path, name, text):
    """A user's workspace holding one model file: (its folder, the file)."""
    ws = tmp_path / "project"
    ws.mkdir()
    model = ws / name
    model.write_text(textwrap.dedent(text))
    return ws, model


def _installed(tmp_path, files: dict):
    """A stand-in site-packages folder holding ``files`` (path -> text, dedented), on the
    interpreter's path like an installed package's: the folder."""
    site = tmp_path / "env" / "lib" / "python3.11" / "site-packages"
    for rel, text in files.items():
        target = site / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text))
    return site


def test_a_cache_that_starts_as_an_empty_tensor_grows_by_what_is_concatenated():
    # transformers' DynamicLayer: keys start as torch.tensor([]) and each update concatenates
    # along the sequence; torch skips the 1-D empty tensor, so the keys are the update's
    f = analyze("""
    class KVCache:
        def __init__(self):
            self.keys = None

        def update(self, k):
            if self.keys is None:
                self.keys = torch.tensor([], dtype=k.dtype)
            self.keys = torch.cat([self.keys, k], dim=-2)
            return self.keys


    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.k_proj = nn.Linear(64, 32)

        def forward(self, x):
            cache = KVCache()
            k = self.k_proj(x)
            keys = cache.update(k)
            return keys
    """, entry="Attention", inputs={"x": [2, 16, 64]})
    assert last(f, "keys") == [2, 16, 32]


def test_a_backbone_without_its_head_is_the_sequential_of_its_children():
    # pytorch/examples' siamese network: nn.Sequential(*list(resnet.children())[:-1]) keeps
    # every sub-module but the classifier, in the order they were assigned
    f = analyze("""
    class Backbone(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, padding=1)
            self.pool = nn.AdaptiveAvgPool2d((1, 1))
            self.head = nn.Linear(16, 10)

        def forward(self, x):
            return self.head(self.pool(self.conv(x)).flatten(1))


    class Siamese(nn.Module):
        def __init__(self):
            super().__init__()
            net = Backbone()
            net.conv = nn.Conv2d(1, 16, 3, padding=1)
            self.features = nn.Sequential(*(list(net.children())[:-1]))

        def forward(self, x):
            feats = self.features(x)
            return feats
    """, entry="Siamese", inputs={"x": [2, 1, 28, 28]})
    assert last(f, "feats") == [2, 16, 1, 1]


def test_torchvision_models_are_read_from_the_installed_source(tmp_path):
    # `torchvision.models.resnet18(...)` in a user's model: the installed package's source
    # builds it (a stand-in package here, on the interpreter's path like an installed one)
    site = _installed(tmp_path, {"torchvision/__init__.py": "from . import models\n",
                                 "torchvision/models/__init__.py": "from .tiny import *\n",
                                 "torchvision/models/tiny.py": """\
        from torch import nn

        __all__ = ["tinynet"]


        class TinyNet(nn.Module):
            def __init__(self, num_classes=1000):
                super().__init__()
                self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
                self.fc = nn.Linear(8, num_classes)

            def forward(self, x):
                return self.fc(self.conv1(x).mean((2, 3)))


        def tinynet(num_classes=1000):
            return TinyNet(num_classes=num_classes)
        """})
    ws, model = _project(tmp_path, "net.py", """\
        import torchvision
        from torch import nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = torchvision.models.tinynet(num_classes=5)

            def forward(self, x):
                logits = self.backbone(x)
                return logits
        """)
    shapes = shapes_cli_with_site(site, ws, model, "Net", "x=2,3,32,32")
    assert shapes.get("logits") == [2, 5]


def test_each_path_of_an_if_appends_to_its_own_copy_of_the_list():
    # torchtune's Llama3ScaledRoPE: one frequency appended per trip, scaled or not by a test
    # the engine cannot decide; the list has one item per trip, not one per path
    f = analyze("""
    class Scaled(nn.Module):
        def __init__(self, dim=16):
            super().__init__()
            freqs = torch.arange(0, dim, 2).float()
            kept = []
            for freq in freqs:
                if freq < 3:
                    kept.append(freq)
                else:
                    kept.append(freq / 8)
            self.register_buffer("theta", torch.tensor(kept))

        def forward(self, x):
            theta = self.theta
            return x * theta
    """, entry="Scaled", inputs={"x": [2, 8]})
    assert last(f, "theta") == [8]


def test_a_tensor_is_not_on_the_meta_device():
    # torchtune's RoPE returns early from its setup when its frequencies are on the meta
    # device; the shapes described are those of a run on real data
    f = analyze("""
    class Rope(nn.Module):
        def __init__(self, dim=16, max_len=32):
            super().__init__()
            freqs = torch.arange(0, dim, 2).float()
            self.built = False
            if freqs.is_meta:
                return
            self.register_buffer("cache", torch.outer(torch.arange(max_len).float(), freqs))
            self.built = True

        def forward(self, x):
            if not self.built:
                raise RuntimeError("call setup() first")
            table = self.cache[: x.size(1)]
            return x * table
    """, entry="Rope", inputs={"x": [2, 16, 8]})
    assert last(f, "table") == [16, 8]


def test_an_int_is_a_numbers_integral():
    # diffusers' RMSNorm: `if isinstance(dim, numbers.Integral): dim = (dim,)` before the
    # weight is built from it
    f = analyze("""
    import numbers


    class Norm(nn.Module):
        def __init__(self, dim, eps=1e-6):
            super().__init__()
            if isinstance(dim, numbers.Integral):
                dim = (dim,)
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            scaled = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
            out = scaled * self.weight
            return out
    """, entry="Norm", init="dim=64", inputs={"x": [2, 16, 64]})
    assert last(f, "out") == [2, 16, 64]



def test_a_flag_kept_as_a_one_element_tensor_decides_its_if():
    # vector-quantize's codebook: register_buffer('initted', torch.tensor(not kmeans_init)),
    # then `if self.initted: return` before the k-means that would set the codebook
    f = analyze("""
    class Codebook(nn.Module):
        def __init__(self, dim, size, kmeans_init=False):
            super().__init__()
            self.register_buffer("initted", torch.tensor(not kmeans_init))
            self.register_buffer("embed", torch.randn(size, dim))

        def init_embed_(self, data):
            if self.initted:
                return
            self.embed = data[: 4]
            self.initted.data.copy_(torch.tensor(True))

        def forward(self, x):
            self.init_embed_(x)
            dist = torch.cdist(x, self.embed)
            return dist
    """, entry="Codebook", init="dim=64, size=128", inputs={"x": [32, 64]})
    assert last(f, "dist") == [32, 128]



def test_an_in_place_op_forgets_the_known_value_of_a_tensor():
    # a flag tensor that a method sets in place is no longer the value it was built with
    f = analyze("""
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("ready", torch.tensor(False))
            self.proj = nn.Linear(8, 4)

        def forward(self, x):
            self.ready.fill_(True)
            if self.ready:
                x = self.proj(x)
            out = x
            return out
    """, entry="Gate", inputs={"x": [2, 8]})
    assert last(f, "out") != [2, 8]



def test_a_layer_factory_tells_a_class_from_a_partial():
    # timm's get_norm_layer: a class is no functools.partial, so it is returned as given
    f = analyze("""
    import functools
    import types


    def get_norm(norm_layer):
        assert isinstance(norm_layer, (type, str, types.FunctionType, functools.partial))
        kwargs = {}
        if isinstance(norm_layer, functools.partial):
            kwargs.update(norm_layer.keywords)
            norm_layer = norm_layer.func
        if kwargs:
            norm_layer = functools.partial(norm_layer, **kwargs)
        return norm_layer


    class ChannelNorm(nn.LayerNorm):
        def forward(self, x):
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


    class Head(nn.Module):
        def __init__(self, chs):
            super().__init__()
            self.norm = get_norm(ChannelNorm)(chs)

        def forward(self, x):
            y = self.norm(x)
            return y
    """, entry="Head", init="chs=32", inputs={"x": [2, 32, 8, 8]})
    assert last(f, "y") == [2, 32, 8, 8]



def test_a_torch_class_is_looked_up_by_its_name_in_a_table_of_classes():
    # timm's get_norm_act_layer: `norm_layer in _NORM_ACT_TYPES`, then the norm+act class of
    # the same name (`norm_layer.__name__.lower()`) for nn.BatchNorm2d
    f = analyze("""
    class BatchNormAct(nn.BatchNorm2d):
        def __init__(self, chs, act_layer=nn.ReLU):
            super().__init__(chs)
            self.act = act_layer()

        def forward(self, x):
            return self.act(super().forward(x))


    NORM_ACT_TYPES = [BatchNormAct]
    NORM_TO_NORM_ACT = {"batchnorm2d": BatchNormAct}


    def get_norm_act(norm_layer):
        if norm_layer in NORM_ACT_TYPES:
            return norm_layer
        return NORM_TO_NORM_ACT.get(norm_layer.__name__.lower(), None)


    class Block(nn.Module):
        def __init__(self, chs, norm_layer=nn.BatchNorm2d):
            super().__init__()
            self.conv = nn.Conv2d(chs, chs, 3, padding=1)
            self.bn = get_norm_act(norm_layer)(chs)

        def forward(self, x):
            y = self.bn(self.conv(x))
            return y
    """, entry="Block", init="chs=16", inputs={"x": [2, 16, 8, 8]})
    assert last(f, "y") == [2, 16, 8, 8]



def test_a_library_function_with_a_rule_keeps_it_when_the_library_is_installed(tmp_path):
    # vector-quantize's SimVQ: `from einx import get_at` with einx installed; its source is
    # found, but the function has a rule, which gives the shape
    site = _installed(tmp_path, {"einx/__init__.py": "from .index import get_at\n", "einx/index.py": """\
        def get_at(description, *tensors, backend=None, **parameters):
            graph = _compile(description, tensors, backend, parameters)
            return graph(*tensors)
        """})
    ws, model = _project(tmp_path, "vq.py", """\
        import torch
        from torch import nn
        from einx import get_at


        class Quantizer(nn.Module):
            def __init__(self, size=128, dim=64):
                super().__init__()
                self.codebook = nn.Parameter(torch.randn(size, dim))

            def forward(self, x):
                indices = torch.cdist(x, self.codebook).argmin(dim=-1)
                quantized = get_at("[c] d, b n -> b n d", self.codebook, indices)
                return quantized
        """)
    shapes = shapes_cli_with_site(site, ws, model, "Quantizer", "x=2,16,64")
    assert shapes.get("quantized") == [2, 16, 64]
    # x-transformers' `import einx` then einx.subtract(...): the attribute is the rule's too
    model.write_text(model.read_text().replace("from einx import get_at", "import einx")
                     .replace("get_at(", "einx.get_at("))
    shapes = shapes_cli_with_site(site, ws, model, "Quantizer", "x=2,16,64")
    assert shapes.get("quantized") == [2, 16, 64]


def test_experts_picked_by_an_id_from_the_data_are_each_of_them():
    # LLMs-from-scratch's MoE: for each expert id torch.unique finds in the routing,
    # self.fc1[int(expert_id.item())] is one of the experts; all map 64 -> 32
    f = analyze("""
    class MoE(nn.Module):
        def __init__(self, dim=64, hidden=32, n_experts=4):
            super().__init__()
            self.gate = nn.Linear(dim, n_experts)
            self.fc1 = nn.ModuleList([nn.Linear(dim, hidden) for _ in range(n_experts)])

        def forward(self, x):
            top = self.gate(x).topk(2, dim=-1).indices.reshape(-1, 2)
            flat = x.reshape(-1, x.shape[-1])
            experts = torch.unique(top)
            for expert_id in experts:
                chosen = (top == int(expert_id.item())).any(dim=-1).nonzero().squeeze(-1)
                routed = flat.index_select(0, chosen)
                hidden = self.fc1[int(expert_id.item())](routed)
            return flat
    """, entry="MoE", inputs={"x": [2, 16, 64]})
    assert last(f, "experts") == [None]
    assert last(f, "expert_id") == []
    assert last(f, "hidden") == [None, 32]


def test_a_dict_updated_on_one_path_keeps_what_both_paths_know():
    # pytorch/examples' mnist: loader kwargs get extra keys `if use_cuda:`; the keys both
    # paths have keep their values
    f = analyze("""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            cfg = {"width": 16}
            if torch.cuda.is_available():
                cfg.update({"pin_memory": True})
            self.fc = nn.Linear(cfg["width"], cfg["width"] * 2)

        def forward(self, x):
            y = self.fc(x)
            return y
    """, entry="Net", inputs={"x": [2, 16]})
    assert last(f, "y") == [2, 32]


_DISPATCH = """\
class _Registry:
    _backends = {}

    @classmethod
    def register(cls, name):
        def decorator(func):
            cls._backends[name] = func
            return func
        return decorator


def dispatch_attention_fn(query, key, value, attn_mask=None, *, backend=None):
    fn = _Registry._backends[backend or "native"]
    return fn(query=query, key=key, value=value, attn_mask=attn_mask)


@_Registry.register("native")
def _native_attention(query, key, value, attn_mask=None):
    query, key, value = (x.permute(0, 2, 1, 3) for x in (query, key, value))
    out = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask)
    return out.permute(0, 2, 1, 3)
"""


def test_diffusers_attention_dispatch_is_read_by_its_rule_in_its_tree_and_through_imports(tmp_path):
    # diffusers' processors call dispatch_attention_fn, whose backend comes from a registry
    # filled by decorators: (batch, length, heads, head_dim) in, the same out
    site = _installed(tmp_path, {"diffusers/__init__.py": "", "diffusers/models/__init__.py": "",
                                 "diffusers/models/attention_dispatch.py": "import torch\n\n\n" + _DISPATCH})
    models = site / "diffusers" / "models"
    block = textwrap.dedent("""\
        import torch
        from torch import nn
        from {module} import dispatch_attention_fn


        class Block(nn.Module):
            def __init__(self, dim=64, heads=4):
                super().__init__()
                self.heads = heads
                self.to_qkv = nn.Linear(dim, 3 * dim)

            def forward(self, x):
                q, k, v = self.to_qkv(x).unflatten(-1, (3, self.heads, -1)).unbind(2)
                out = dispatch_attention_fn(q, k, v)
                out = out.flatten(2, 3)
                return out
        """)
    ws, model = _project(tmp_path, "block.py", block.format(module="diffusers.models.attention_dispatch"))
    shapes = shapes_cli_with_site(site, ws, model, "Block", "x=2,16,64")
    assert shapes.get("out") == [2, 16, 64]
    inside = models / "block.py"  # a block of diffusers' own tree, read by a relative import
    inside.write_text(block.format(module=".attention_dispatch"))
    shapes = shapes_cli_with_site(site, site, inside, "Block", "x=2,16,64")
    assert shapes.get("out") == [2, 16, 64]


def test_a_layer_four_imports_deep_in_an_installed_library_is_read(tmp_path):
    # timm's SelectiveKernel: selective_kernel -> conv_bn_act -> create_conv2d -> padding,
    # the padding helper four imports away from the user's file sizes the convolution
    site = _installed(tmp_path, {
        "mylib/__init__.py": "",
        "mylib/layers/__init__.py": "",
        "mylib/layers/padding.py": """\
            def get_padding(kernel_size, dilation=1):
                return ((kernel_size - 1) * dilation) // 2
            """,
        "mylib/layers/create_conv2d.py": """\
            from torch import nn
            from .padding import get_padding


            def create_conv2d(in_chs, out_chs, kernel_size, dilation=1):
                return nn.Conv2d(in_chs, out_chs, kernel_size, padding=get_padding(kernel_size, dilation),
                                 dilation=dilation)
            """,
        "mylib/layers/conv_bn_act.py": """\
            from torch import nn
            from .create_conv2d import create_conv2d


            class ConvNormAct(nn.Module):
                def __init__(self, in_chs, out_chs, kernel_size, dilation=1):
                    super().__init__()
                    self.conv = create_conv2d(in_chs, out_chs, kernel_size, dilation=dilation)
                    self.bn = nn.BatchNorm2d(out_chs)

                def forward(self, x):
                    return self.bn(self.conv(x))
            """,
        "mylib/layers/selective.py": """\
            from torch import nn
            from .conv_bn_act import ConvNormAct


            class TwoPaths(nn.Module):
                def __init__(self, chs):
                    super().__init__()
                    self.paths = nn.ModuleList([ConvNormAct(chs, chs, 3, dilation=d) for d in (1, 2)])

                def forward(self, x):
                    return [p(x) for p in self.paths]
            """,
    })
    ws, model = _project(tmp_path, "net.py", """\
        import torch
        from torch import nn
        from mylib.layers.selective import TwoPaths


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.sk = TwoPaths(16)

            def forward(self, x):
                a, b = self.sk(x)
                y = a + b
                return y
        """)
    shapes = shapes_cli_with_site(site, ws, model, "Net", "x=2,16,8,8")
    assert shapes.get("y") == [2, 16, 8, 8]


def test_a_layer_named_by_a_string_six_same_folder_imports_deep_is_built(tmp_path):
    # timm's rexnet: ConvNormAct(..., act_layer='swish') -> create_norm_act -> norm_act ->
    # create_act, whose name table is built at its top level from activations.py: the
    # activation's class is six modules away from the user's file, each a `from .x import`
    site = _installed(tmp_path, {
        "mylib/__init__.py": "",
        "mylib/layers/__init__.py": "",
        "mylib/layers/activations.py": """\
            from torch import nn


            class Swish(nn.Module):
                def forward(self, x):
                    return x * x.sigmoid()
            """,
        "mylib/layers/create_act.py": """\
            from .activations import Swish

            _ACT_LAYERS = dict(swish=Swish)


            def create_act_layer(name):
                return _ACT_LAYERS[name]()
            """,
        "mylib/layers/norm_act.py": """\
            from torch import nn
            from .create_act import create_act_layer


            class BatchNormAct2d(nn.BatchNorm2d):
                def __init__(self, chs, act_layer):
                    super().__init__(chs)
                    self.act = create_act_layer(act_layer)

                def forward(self, x):
                    return self.act(super().forward(x))
            """,
        "mylib/layers/create_norm_act.py": """\
            from .norm_act import BatchNormAct2d


            def get_norm_act_layer():
                return BatchNormAct2d
            """,
        "mylib/layers/conv_bn_act.py": """\
            from torch import nn
            from .create_norm_act import get_norm_act_layer


            class ConvNormAct(nn.Module):
                def __init__(self, in_chs, out_chs, act_layer):
                    super().__init__()
                    self.conv = nn.Conv2d(in_chs, out_chs, 3, stride=2, padding=1)
                    self.bn = get_norm_act_layer()(out_chs, act_layer=act_layer)

                def forward(self, x):
                    x = self.conv(x)
                    x = self.bn(x)
                    return x
            """,
        "mylib/models/__init__.py": "",
        "mylib/models/blocks.py": """\
            from torch import nn
            from ..layers.conv_bn_act import ConvNormAct


            class Bottleneck(nn.Module):
                def __init__(self, chs):
                    super().__init__()
                    self.conv_exp = ConvNormAct(chs, 2 * chs, act_layer='swish')

                def forward(self, x):
                    return self.conv_exp(x)
            """,
    })
    ws, model = _project(tmp_path, "net.py", """\
        import torch
        from torch import nn
        from mylib.models.blocks import Bottleneck


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Bottleneck(16)

            def forward(self, x):
                y = self.block(x)
                z = y.mean(1)
                return z
        """)
    shapes = shapes_cli_with_site(site, ws, model, "Net", "x=2,16,8,8")
    assert shapes.get("y") == [2, 32, 4, 4] and shapes.get("z") == [2, 4, 4]


def test_a_config_registered_by_the_init_decorator_is_read_as_self_config(tmp_path):
    # diffusers' ModelMixin classes: @register_to_config stores every __init__ parameter
    # (given, else its default) in a FrozenDict that self.config returns; PixArt's __init__
    # and forward read self.config.patch_size, self.config.num_attention_heads
    from ml_lsp.analysis import analyze_source, dim_json
    from ml_lsp.resolve import make_resolver

    (tmp_path / "configuration_utils.py").write_text(textwrap.dedent("""\
        import functools
        import inspect
        from collections import OrderedDict


        class FrozenDict(OrderedDict):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                for key, value in self.items():
                    setattr(self, key, value)


        class ConfigMixin:
            @property
            def config(self):
                return self._internal_dict


        def register_to_config(init):
            @functools.wraps(init)
            def inner_init(self, *args, **kwargs):
                names = list(inspect.signature(init).parameters)[1:]
                self._internal_dict = FrozenDict({**dict(zip(names, args)), **kwargs})
                init(self, *args, **kwargs)
            return inner_init
        """))
    src = textwrap.dedent("""\
        import torch
        from torch import nn
        from configuration_utils import ConfigMixin, register_to_config


        class PatchModel(nn.Module, ConfigMixin):
            @register_to_config
            def __init__(self, in_channels: int = 4, heads: int = 2, head_dim: int = 16, patch_size: int = 2):
                super().__init__()
                inner = self.config.heads * self.config.head_dim
                self.proj = nn.Conv2d(in_channels, inner, self.config.patch_size, stride=self.config.patch_size)

            def forward(self, x):
                h = self.proj(x)
                width = x.shape[-1] // self.config.patch_size
                tokens = h.flatten(2).transpose(1, 2)
                return tokens, width
        """)
    path = tmp_path / "model.py"
    path.write_text(src)
    facts = analyze_source(src, str(path), resolve_module=make_resolver(str(tmp_path)),
                           entry="PatchModel", init="heads=4, patch_size=4", inputs={"x": [2, 4, 16, 16]})
    found = {b.name: [dim_json(d) for d in b.shape] for b in facts.bindings if b.shape is not None}
    assert found.get("h") == [2, 64, 4, 4]  # 4 heads of 16 (given), 16 // patch 4 (given)
    assert found.get("tokens") == [2, 16, 64]


def test_a_config_dataclass_keeps_the_keywords_that_are_no_field():
    # transformers' configs are dataclasses that accept other keywords and set them in
    # __post_init__(**kwargs): DebertaV2Config(position_buckets=16) sizes the relative
    # embeddings by it, read back with getattr(config, "position_buckets", -1)
    f = analyze("""
    from dataclasses import dataclass


    @dataclass
    class Config:
        hidden_size: int = 64
        max_positions: int = 512

        def __post_init__(self, **kwargs):
            for key, value in kwargs.items():
                setattr(self, key, value)


    class Encoder(nn.Module):
        def __init__(self, config):
            super().__init__()
            buckets = getattr(config, "position_buckets", -1)
            size = buckets * 2 if buckets > 0 else config.max_positions * 2
            self.rel = nn.Embedding(size, config.hidden_size)

        def forward(self, x):
            rel = self.rel.weight
            return x @ rel.T
    """, entry="Encoder", init="config=Config(hidden_size=8, position_buckets=16)", inputs={"x": [2, 8]})
    assert last(f, "rel") == [32, 8]


def test_an_auto_model_from_config_is_the_configs_family_model(tmp_path):
    # transformers 5's Qwen2ForSequenceClassification is GenericForSequenceClassification,
    # whose __init__ builds `AutoModel.from_config(config)`: the auto mapping's tables and lazy
    # imports pick Qwen2Model beside configuration_qwen2.py, which the names say too
    from ml_lsp.analysis import analyze_source, dim_json
    from ml_lsp.resolve import make_resolver

    files = {
        "transformers/__init__.py": "",
        "transformers/models/__init__.py": "",
        "transformers/models/auto/__init__.py": "",
        "transformers/models/auto/modeling_auto.py": """\
            class AutoModel:
                @classmethod
                def from_config(cls, config, **kwargs):
                    model_class = _LAZY_MAPPING[type(config)]  # tables the engine does not follow
                    return model_class._from_config(config, **kwargs)
            """,
        "transformers/models/tiny/__init__.py": "",
        "transformers/models/tiny/configuration_tiny.py": """\
            class TinyConfig:
                def __init__(self, hidden_size=32, vocab_size=100, num_labels=2):
                    self.hidden_size = hidden_size
                    self.vocab_size = vocab_size
                    self.num_labels = num_labels
            """,
        "transformers/models/tiny/modeling_tiny.py": """\
            import torch
            from torch import nn
            from ..auto.modeling_auto import AutoModel


            class TinyModel(nn.Module):
                def __init__(self, config):
                    super().__init__()
                    self.embed = nn.Embedding(config.vocab_size, config.hidden_size)

                def forward(self, input_ids):
                    return self.embed(input_ids)


            class TinyForSequenceClassification(nn.Module):
                def __init__(self, config):
                    super().__init__()
                    self.model = AutoModel.from_config(config)
                    self.score = nn.Linear(config.hidden_size, config.num_labels)

                def forward(self, input_ids):
                    hidden = self.model(input_ids)
                    logits = self.score(hidden)
                    return logits
            """,
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(textwrap.dedent(text))
    path = tmp_path / "transformers/models/tiny/modeling_tiny.py"
    src = path.read_text()
    src = src.replace("import torch\n", "import torch\nfrom .configuration_tiny import TinyConfig\n", 1)
    path.write_text(src)
    facts = analyze_source(src, str(path), resolve_module=make_resolver(str(tmp_path)),
                           entry="TinyForSequenceClassification", init="config=TinyConfig(hidden_size=16, num_labels=3)",
                           inputs={"input_ids": [2, 7]})
    found = {b.name: [dim_json(d) for d in b.shape] for b in facts.bindings if b.shape is not None}
    assert found.get("hidden") == [2, 7, 16]
    assert found.get("logits") == [2, 7, 3]


_TRANSFORMERS_STANDIN = {
    # transformers' lazy package: every model re-exported through three __init__s, read only
    # by a type checker (and by the engine's star look-ups)
    "transformers/__init__.py": """
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from .models import *
            from .trainer import Trainer
        """,
    "transformers/models/__init__.py": """
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from .tiny import *
        """,
    "transformers/models/tiny/__init__.py": """
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from .configuration_tiny import *
            from .modeling_tiny import *
        """,
    "transformers/models/tiny/configuration_tiny.py": """
        class TinyConfig:
            def __init__(self, hidden_size=32, vocab_size=100):
                self.hidden_size = hidden_size
                self.vocab_size = vocab_size

        __all__ = ["TinyConfig"]
        """,
    "transformers/models/tiny/modeling_tiny.py": """
        import torch.nn as nn

        from ...modeling_utils import PreTrainedModel, apply_chunking


        class TinyModel(PreTrainedModel):
            def __init__(self, config):
                super().__init__(config)
                self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
                self.dense = nn.Linear(config.hidden_size, 2 * config.hidden_size)

            def forward(self, input_ids):
                h = self.embed(input_ids)
                return apply_chunking(self.dense, h)

        __all__ = ["TinyModel"]
        """,
    # the helper five modules below the model's, as transformers' are
    "transformers/modeling_utils.py": """
        import torch.nn as nn

        from .pytorch_utils import apply_chunking


        class PreTrainedModel(nn.Module):
            def __init__(self, config):
                super().__init__()
                self.config = config
        """,
    "transformers/pytorch_utils.py": """
        from .utils import chunked


        def apply_chunking(forward_fn, hidden):
            return chunked(forward_fn, hidden)
        """,
    "transformers/utils/__init__.py": """
        from .generic import chunked
        """,
    "transformers/utils/generic.py": """
        from .chunks import one_chunk


        def chunked(forward_fn, hidden):
            return one_chunk(forward_fn, hidden)
        """,
    "transformers/utils/chunks.py": """
        def one_chunk(forward_fn, hidden):
            return forward_fn(hidden)
        """,
    "transformers/trainer.py": """
        class Trainer:
            def __init__(self, model):
                self.model = model
        """,
}


def test_a_model_imported_from_the_transformers_package_is_read_from_its_source(tmp_path):
    # `from transformers import BertModel`: the class is found through the package's lazy
    # __init__s, and what its forward calls five modules further down is followed, as it is
    # when the model's own file is analysed (a user file's look-up used to pay one import of
    # its depth bound for each re-exporting __init__)
    site = _installed(tmp_path, _TRANSFORMERS_STANDIN)
    ws, model = _project(tmp_path, "classify.py", """
        import torch.nn as nn
        from transformers import TinyConfig, TinyModel


        class Classifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = TinyModel(TinyConfig(hidden_size=16))
                self.head = nn.Linear(32, 3)

            def forward(self, input_ids):
                h = self.backbone(input_ids)
                logits = self.head(h)
                return logits
        """)
    shapes = shapes_cli_with_site(site, ws, model, "Classifier", "input_ids=B,T")
    assert shapes["h"] == ["B", "T", 32]
    assert shapes["logits"] == ["B", "T", 3]


def test_only_the_model_and_configuration_classes_of_transformers_are_read_from_source():
    from ml_lsp.analysis.interp import _read_from_source

    for name in ("BertModel", "BertConfig", "GPT2LMHeadModel", "BertForSequenceClassification",
                 "LlamaPreTrainedModel"):
        assert _read_from_source("transformers", name), name
    # the training loop, tokenizers and pipelines compute no model shape and cost seconds;
    # the auto classes have their own rule (built from the config's model type)
    for name in ("Trainer", "TrainingArguments", "AutoTokenizer", "pipeline", "get_scheduler",
                 "AutoModelForCausalLM", "DataCollatorWithPadding"):
        assert not _read_from_source("transformers", name), name
    assert _read_from_source("transformers.models.bert.modeling_bert", "BertSelfAttention")
