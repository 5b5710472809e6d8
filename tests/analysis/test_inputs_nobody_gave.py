"""Models analysed as a user first opens them, with no inputs and no constructor arguments
(issue 13, "without inputs"): configs nobody built, blocks stacked a number of times nobody
said, inputs whose first consumer says nothing of them."""

from ml_lsp.analysis.dims import format_shape

from engine_helpers import analyze, last


def test_a_dict_config_nobody_built_gives_sizes_named_after_its_keys():
    # rasbt's LLMs-from-scratch: TransformerBlock(cfg) with cfg a dict the file never builds
    f = analyze("""
    class FeedForward(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(cfg["emb_dim"], 4 * cfg["emb_dim"]), nn.GELU(),
                                        nn.Linear(4 * cfg["emb_dim"], cfg["emb_dim"]))
            self.drop = nn.Dropout(cfg["drop_rate"])
            self.use_bias = cfg.get("qkv_bias", False)

        def forward(self, x):
            h = self.layers(x)
            return self.drop(h)
    """)
    assert last(f, "h") == ["*", "emb_dim"]
    assert not f.conflicts


def test_a_config_field_named_as_a_flag_or_a_rate_is_not_a_size():
    from ml_lsp.analysis.symconfig import field_value
    from ml_lsp.analysis.values import NUM, UNK
    assert format_shape((field_value("n_heads"),)) == "(n_heads,)"
    assert field_value("qkv_bias") is UNK and field_value("use_cache") is UNK
    assert field_value("hidden_act") is UNK
    assert field_value("drop_rate") is NUM and field_value("rope_theta") is NUM
    # a name that says neither (rope_freq holds a dict or None) is unknown, not a size
    assert field_value("rope_freq") is UNK and field_value("layer_types") is UNK


def test_blocks_stacked_a_number_of_times_nobody_said_keep_the_shape():
    f = analyze("""
    class Block(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.fc = nn.Linear(d, d)

        def forward(self, x):
            return self.fc(x)

    class Net(nn.Module):
        def __init__(self, d, n_layers):
            super().__init__()
            self.blocks = nn.ModuleList([Block(d) for _ in range(n_layers)])
            self.stack = nn.Sequential(*[Block(d) for _ in range(n_layers)])
            self.grow = nn.Sequential(*[nn.Linear(d, 2 * d) for _ in range(n_layers)])

        def forward(self, x):
            for blk in self.blocks:
                x = blk(x)
            y = self.stack(x)
            for i, blk in enumerate(self.blocks):
                y = blk(y)
            z = self.grow(y)
            return z
    """, inputs={"x": ("B", "T", "d")})
    assert last(f, "x", "Net.forward") == ["B", "T", "d"]
    assert last(f, "y", "Net.forward") == ["B", "T", "d"]
    # Linear(d, 2d) stacked n times: with n unknown only the leading dims are sure (n may be 0)
    assert last(f, "z", "Net.forward") == ["B", "T", None]
    assert not f.conflicts


def test_an_unpacking_in_an_imported_module_tells_the_inputs_rank(tmp_path):
    import subprocess
    import sys
    import json
    (tmp_path / "attn.py").write_text(
        "import torch.nn as nn\n\n"
        "class Attention(nn.Module):\n"
        "    def __init__(self, d):\n"
        "        super().__init__()\n"
        "        self.q = nn.Linear(d, d)\n\n"
        "    def forward(self, x):\n"
        "        b, t, d_in = x.shape\n"
        "        return self.q(x)\n")
    (tmp_path / "block.py").write_text(
        "import torch\nimport torch.nn as nn\nfrom attn import Attention\n\n"
        "class Norm(nn.Module):\n"
        "    def forward(self, x):\n"
        "        mean = x.mean(dim=-1, keepdim=True)\n"
        "        return x - mean\n\n"
        "class Block(nn.Module):\n"
        "    def __init__(self, d):\n"
        "        super().__init__()\n"
        "        self.norm = Norm()\n"
        "        self.att = Attention(d)\n\n"
        "    def forward(self, x):\n"
        "        h = self.norm(x)\n"
        "        return self.att(h)\n")
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", "--entry", "Block", "block.py"],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    found = {b["name"]: b["shape"] for f in json.loads(done.stdout)["files"] for b in f["shapes"]
             if b.get("scope") == "Block.forward"}
    # the custom Norm says nothing of x's rank; Attention's unpacking, in another file, does
    assert found["h"] is not None and len(found["h"]) == 3 and "*" not in found["h"]


def test_an_input_first_met_by_a_functional_conv_is_batched_with_the_weights_channels():
    # PyTorch-VAE's MS-SSIM: F.conv2d(img, window, groups=channel), window (3, 1, 11, 11)
    f = analyze("""
    class SSIM(nn.Module):
        def __init__(self, channels: int = 3, size: int = 11):
            super().__init__()
            self.channels = channels
            self.register_buffer("window", torch.ones(channels, 1, size, size))

        def forward(self, img1, img2):
            mu1 = F.conv2d(img1, self.window, padding=5, groups=self.channels)
            mu2 = F.conv2d(img2, self.window, padding=5, groups=self.channels)
            return (mu1 * mu2).mean()
    """)
    assert last(f, "mu1") == ["B", 3, "H", "W"]
    assert not f.conflicts


def test_an_input_first_met_by_mm_has_the_other_operands_rows():
    # pytorch/examples' GAT: torch.mm(h, self.W)
    f = analyze("""
    class GraphLayer(nn.Module):
        def __init__(self, n_in: int = 1433, n_out: int = 64):
            super().__init__()
            self.W = nn.Parameter(torch.empty(n_in, n_out))

        def forward(self, h):
            hw = torch.mm(h, self.W)
            return hw
    """)
    assert last(f, "hw") == ["N", 64]


def test_a_scale_computed_from_a_size_is_a_scalar_buffer():
    # transformers' Gemma: torch.tensor(hidden_size ** 0.5) kept as a buffer, the embedding scaled by it
    f = analyze("""
    class ScaledEmbedding(nn.Embedding):
        def __init__(self, num, dim):
            super().__init__(num, dim)
            self.register_buffer("scale", torch.tensor(dim ** 0.5), persistent=False)

        def forward(self, ids):
            e = super().forward(ids) * self.scale
            return e
    """, inputs={"ids": ("B", "T")})
    assert last(f, "e") == ["B", "T", "dim"]


def test_a_parents_run_that_knew_nothing_does_not_blur_a_layers_own_run():
    # DETR: TransformerDecoderLayer's own run gets tgt (L, B, d_model) from its
    # MultiheadAttention; TransformerDecoder calls it with a tgt it cannot follow
    f = analyze("""
    class DecoderLayer(nn.Module):
        def __init__(self, d_model, nhead):
            super().__init__()
            self.self_attn = nn.MultiheadAttention(d_model, nhead)
            self.norm = nn.LayerNorm(d_model)

        def forward(self, tgt):
            t2 = self.self_attn(tgt, tgt, tgt)[0]
            out = self.norm(tgt + t2)
            return out

    class Decoder(nn.Module):
        def __init__(self, d_model, nhead):
            super().__init__()
            self.layer = DecoderLayer(d_model, nhead)

        def forward(self, memory):
            tgt = memory.squeeze()  # which dims are 1 is unknown: so is its rank
            return self.layer(tgt)
    """)
    assert last(f, "out", "DecoderLayer.forward") == ["L", "B", "d_model"]


def test_a_module_handed_to_the_constructor_gives_a_tensor_forward_can_reshape():
    # torchtune's MultiHeadAttention(q_proj: nn.Module, ...): q_proj's output shape is
    # unknown, what forward makes of it (view to heads) is not
    f = analyze("""
    class Attention(nn.Module):
        def __init__(self, *, num_heads: int, head_dim: int, q_proj: nn.Module):
            super().__init__()
            self.num_heads, self.head_dim, self.q_proj = num_heads, head_dim, q_proj

        def forward(self, x):
            b, s, _ = x.shape
            q = self.q_proj(x)
            q = q.view(b, s, self.num_heads, self.head_dim).transpose(1, 2)
            return q
    """)
    assert last(f, "q") == ["b", "num_heads", "s", "head_dim"]


def test_sphinx_parameter_docs_give_shapes():
    # openai/guided-diffusion: ":param timesteps: a 1-D batch of timesteps."
    from ml_lsp.analysis.docshapes import docstring_shapes
    found = docstring_shapes('''
        :param x: an [N x C x ...] Tensor of inputs.
        :param timesteps: a 1-D batch of timesteps.
        :param y: an [N] Tensor of labels, if class-conditional.
    ''')
    assert found == {"timesteps": (("N",), None), "y": (("N",), None)}


def test_a_class_chosen_from_a_table_by_an_unknown_key_is_each_of_them():
    # transformers' DynamicCache: DYNAMIC_LAYER_TYPE_MAPPING[layer_type](...) with the layer
    # type from a config; update() is called on whichever it built
    f = analyze("""
    class Full:
        def update(self, k):
            self.k = k
            return self.k, self.k

    class Sliding:
        def update(self, k):
            return k[:, :, -4:], k[:, :, -4:]

    class Linear:
        def update_state(self, s):
            return s

    class Dummy:
        def update(self, k):
            return None

    TYPES = {"full": Full, "sliding": Sliding, "linear": Linear, "dummy": Dummy}

    class Attention(nn.Module):
        def __init__(self, layer_type: str):
            super().__init__()
            self.cache = TYPES[layer_type]()

        def forward(self, k):
            keys, values = self.cache.update(k)
            return keys
    """, inputs={"k": (2, 4, 16, 8)})
    assert last(f, "keys") == [2, 4, None, 8]


def test_an_assert_on_a_guessed_inputs_size_fixes_that_size():
    # timm's PatchEmbed: _assert(H == self.img_size[0], ...) with img_size 224 by default;
    # an input (B, 3, H, W) for any H would be one torch refuses
    f = analyze("""
    def _assert(condition, message):
        assert condition, message

    class PatchEmbed(nn.Module):
        def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768):
            super().__init__()
            self.img_size = (img_size, img_size)
            self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

        def forward(self, x):
            B, C, H, W = x.shape
            _assert(H == self.img_size[0] and W == self.img_size[1], "input size does not match the model")
            y = self.proj(x).flatten(2).transpose(1, 2)
            return y
    """)
    assert format_shape(f.class_named("PatchEmbed").input_shapes["x"]) == "(B, 3, 224, 224)"
    assert last(f, "y") == ["B", 196, 768]


def test_a_call_that_could_not_follow_a_value_keeps_the_others_rank_not_their_sizes():
    # pygcn: gc1 and gc2 share GraphConvolution.forward; on guessed inputs gc2's input is
    # not followed, so `support` is not gc1's (N, nhid) for both: its rank, sizes unknown
    f = analyze("""
    class GraphConvolution(nn.Module):
        def __init__(self, n_in, n_out):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(n_in, n_out))

        def forward(self, x, adj):
            support = torch.mm(x, self.weight)
            return torch.mm(adj, support)

    class GCN(nn.Module):
        def __init__(self, nfeat: int = 12, nhid: int = 16, nclass: int = 4):
            super().__init__()
            self.gc1 = GraphConvolution(nfeat, nhid)
            self.gc2 = GraphConvolution(nhid, nclass)

        def forward(self, x, adj):
            h = self.gc1(x, adj).squeeze()
            return self.gc2(h, adj)
    """)
    assert last(f, "support", "GraphConvolution.forward") == [None, None]


def test_a_block_pattern_repeated_for_a_depth_the_caller_must_give_runs_each_kind_of_layer():
    # x-transformers: Encoder(**kwargs) hands AttentionLayers its depth (default None, asserted
    # given), whose layers follow ('a', 'f') * depth; forward zips the types with the layers
    # and unpacks each ModuleList([norm, block])
    f = analyze("""
    class FF(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.net = nn.Linear(dim, dim)

        def forward(self, x):
            return self.net(x)

    class Attn(nn.Module):
        def __init__(self, dim, heads):
            super().__init__()
            self.heads = heads
            self.to_q = nn.Linear(dim, dim)

        def forward(self, x):
            b, n, d = x.shape
            q = self.to_q(x).view(b, n, self.heads, -1)
            return q.reshape(b, n, d)

    class Layers(nn.Module):
        def __init__(self, dim, depth=None, heads=8, cross_attend=False):
            super().__init__()
            assert depth is not None, 'depth must be passed in'
            self.layers = nn.ModuleList([])
            default_block = ('a', 'c', 'f') if cross_attend else ('a', 'f')
            self.layer_types = default_block * depth
            self.order = tuple(range(len(self.layer_types)))
            for layer_type in self.layer_types:
                if layer_type == 'a':
                    layer = Attn(dim, heads)
                else:
                    layer = FF(dim)
                self.layers.append(nn.ModuleList([nn.LayerNorm(dim), layer]))

        def forward(self, x):
            variables = tuple(tuple(v[i] for i in self.order) for v in (self.layer_types, self.layers))
            for ind, (layer_type, (norm, block)) in enumerate(zip(*variables)):
                h = norm(x)
                out = block(h)
                x = out + x
            return x

    class Encoder(Layers):
        def __init__(self, **kwargs):
            super().__init__(cross_attend=False, **kwargs)
    """)
    assert len(last(f, "h")) == 3 and last(f, "h")[-1] == "dim"
    assert len(last(f, "x")) == 3
    assert not f.conflicts


def test_a_block_class_and_a_list_of_counts_given_by_annotation_build_the_stages():
    # torchvision's ResNet(block: type[Union[BasicBlock, Bottleneck]], layers: list[int]):
    # the block is either class, the counts are numbers; a stage's first block gets a
    # downsample or None, and calls it only where it is not None
    f = analyze("""
    from typing import Union

    class Basic(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            self.conv = nn.Conv2d(inplanes, planes, 3, stride, 1)
            self.downsample = downsample

        def forward(self, x):
            identity = x
            out = self.conv(x)
            if self.downsample is not None:
                identity = self.downsample(x)
            return out + identity

    class Wide(Basic):
        expansion = 4

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__(inplanes, planes * 4, stride, downsample)

    class Net(nn.Module):
        def __init__(self, block: type[Union[Basic, Wide]], layers: list[int], num_classes: int = 10):
            super().__init__()
            self.inplanes = 16
            self.stem = nn.Conv2d(3, 16, 3, 1, 1)
            self.stage1 = self._make_layer(block, 16, layers[0])
            self.stage2 = self._make_layer(block, 32, layers[1], stride=2)
            self.fc = nn.Linear(32 * block.expansion, num_classes)

        def _make_layer(self, block, planes, blocks, stride=1):
            downsample = None
            if stride != 1 or self.inplanes != planes * block.expansion:
                downsample = nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride)
            layers = [block(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes * block.expansion
            for _ in range(1, blocks):
                layers.append(block(self.inplanes, planes))
            return nn.Sequential(*layers)

        def forward(self, x):
            x = self.stem(x)
            s1 = self.stage1(x)
            s2 = self.stage2(s1)
            pooled = torch.flatten(F.adaptive_avg_pool2d(s2, 1), 1)
            return self.fc(pooled)
    """)
    assert len(last(f, "s1")) == 4 and len(last(f, "s2")) == 4
    assert len(last(f, "pooled")) == 2
    assert not f.conflicts


def test_an_einops_pattern_that_names_every_axis_tells_the_inputs_rank():
    # vector-quantize's FSQ: rearrange(z, 'b n (c d) -> b n c d') after a norm that keeps
    # the input's leading dims: the input has three axes (einops raises otherwise)
    f = analyze("""
    from einops import rearrange

    class Norm(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.g = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            return x * self.g

    class Quant(nn.Module):
        def __init__(self, dim, num_codebooks=2):
            super().__init__()
            self.norm = Norm(dim)
            self.num_codebooks = num_codebooks

        def forward(self, z):
            z = self.norm(z)
            codes = rearrange(z, 'b n (c d) -> b n c d', c=self.num_codebooks)
            return rearrange(codes, 'b n c d -> b n (c d)')
    """)
    assert last(f, "z")[:2] == ["b", "n"] and len(last(f, "z")) == 3
    assert last(f, "codes")[:3] == ["b", "n", 2] and len(last(f, "codes")) == 4
    assert not f.conflicts


def test_an_einops_pattern_fixes_the_rank_of_a_tensor_joined_from_two_ranks():
    # FSQ: an image (b, d, h, w) is packed to (b, n, d) under `if z.ndim >= 4`; with the
    # rank unknown both branches run and z is of no known rank after them, but the pattern
    # names every axis, so what it gives has a known rank
    f = analyze("""
    from einops import rearrange

    class Quant(nn.Module):
        def __init__(self, num_codebooks=2):
            super().__init__()
            self.num_codebooks = num_codebooks

        def forward(self, z):
            if z.ndim >= 4:
                z = z.flatten(2).transpose(1, 2)
            codes = rearrange(z, 'b n (c d) -> b n c d', c=self.num_codebooks)
            return codes
    """)
    codes = last(f, "codes")
    assert len(codes) == 4 and codes[2] == 2
    assert not f.conflicts


def test_an_input_first_permuted_has_as_many_dims_as_the_permutation():
    # timm's LayerNorm2d: x.permute(0, 2, 3, 1), a layer norm over channels, and back
    f = analyze("""
    class LayerNorm2d(nn.LayerNorm):
        def forward(self, x):
            x = x.permute(0, 2, 3, 1)
            x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
            x = x.permute(0, 3, 1, 2)
            return x
    """)
    assert len(last(f, "x")) == 4
    assert not f.conflicts


def test_a_path_that_needs_a_package_not_installed_is_not_the_one_taken(tmp_path):
    # diffusers' GEGLU: `if is_npu_available(): import torch_npu` at module level, then in
    # forward `if is_npu_available(): return torch_npu.npu_geglu(...)[0]` before the plain path;
    # the test is undecidable statically, but torch_npu is not installed here
    import json
    import subprocess
    import sys
    (tmp_path / "acts.py").write_text(
        "import importlib.util\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n"
        "def is_npu_available():\n"
        "    return importlib.util.find_spec('ml_lsp_no_such_npu_pkg') is not None\n\n"
        "if is_npu_available():\n"
        "    import ml_lsp_no_such_npu_pkg\n\n"
        "class GEGLU(nn.Module):\n"
        "    def __init__(self, dim_in, dim_out):\n"
        "        super().__init__()\n"
        "        self.proj = nn.Linear(dim_in, dim_out * 2)\n\n"
        "    def forward(self, x):\n"
        "        x = self.proj(x)\n"
        "        if is_npu_available():\n"
        "            return ml_lsp_no_such_npu_pkg.npu_geglu(x, dim=-1)[0]\n"
        "        x, gate = x.chunk(2, dim=-1)\n"
        "        return x * F.gelu(gate)\n")
    (tmp_path / "block.py").write_text(
        "import torch.nn as nn\nfrom acts import GEGLU\n\n"
        "class FeedForward(nn.Module):\n"
        "    def __init__(self, dim):\n"
        "        super().__init__()\n"
        "        self.act = GEGLU(dim, 4 * dim)\n"
        "        self.out = nn.Linear(4 * dim, dim)\n\n"
        "    def forward(self, x):\n"
        "        h = self.act(x)\n"
        "        return self.out(h)\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'probe'\n")
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", "--entry", "FeedForward",
                           "--init", "dim=8", "--input", "x=2,5,8", "block.py"],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    found = {b["name"]: b["shape"] for f in json.loads(done.stdout)["files"] for b in f["shapes"]
             if b.get("scope") == "FeedForward.forward"}
    assert found["h"] == [2, 5, 32]


def test_a_squeeze_excite_input_is_batched_with_the_convs_channels():
    # timm's SEModule: the input is first averaged over its spatial dims (keepdim), then read
    # by a 1x1 conv: the input has the conv's rank and channels
    f = analyze("""
    class SE(nn.Module):
        def __init__(self, channels, rd_channels):
            super().__init__()
            self.fc1 = nn.Conv2d(channels, rd_channels, kernel_size=1)
            self.fc2 = nn.Conv2d(rd_channels, channels, kernel_size=1)

        def forward(self, x):
            x_se = x.mean((2, 3), keepdim=True)
            x_se = self.fc2(torch.relu(self.fc1(x_se)))
            return x * x_se.sigmoid()
    """)
    assert last(f, "x_se") == ["B", "channels", 1, 1]
    assert not f.conflicts


def test_a_legacy_tensor_of_several_sizes_some_unknown_keeps_its_rank():
    # pytorch/examples' GCN: nn.Parameter(torch.Tensor(input_dim, output_dim)) with input_dim
    # read from a dataset (unknown): two arguments are two sizes, never data
    f = analyze("""
    class GraphConv(nn.Module):
        def __init__(self, input_dim, output_dim):
            super().__init__()
            self.kernel = nn.Parameter(torch.Tensor(input_dim, output_dim))

        def forward(self, x, adj):
            support = torch.mm(x, self.kernel)
            return torch.spmm(adj, support)

    features = load_features()
    model = GraphConv(features.shape[1], 16)
    """)
    support = last(f, "support")
    assert len(support) == 2 and support[1] == 16
    assert not f.conflicts


def test_stages_named_in_the_code_zipped_with_counts_nobody_gave_are_built():
    # torchvision's ShuffleNetV2: zip(["stage2", "stage3", "stage4"], stages_repeats, channels[1:])
    # with stages_repeats: list[int] not given: three stages, each of some blocks
    f = analyze("""
    class Net(nn.Module):
        def __init__(self, stages_repeats: list[int], stages_out_channels: list[int]):
            super().__init__()
            input_channels = 3
            for name, repeats, out_channels in zip(["stage2", "stage3", "stage4"], stages_repeats,
                                                   stages_out_channels[1:]):
                seq = [nn.Conv2d(input_channels, out_channels, 3, 2, 1)]
                for i in range(repeats - 1):
                    seq.append(nn.Conv2d(out_channels, out_channels, 3, 1, 1))
                setattr(self, name, nn.Sequential(*seq))
                input_channels = out_channels

        def forward(self, x):
            x = self.stage2(x)
            x = self.stage3(x)
            y = self.stage4(x)
            return y
    """)
    assert len(last(f, "y")) == 4
    assert not f.conflicts


def test_a_tensor_forward_reads_from_its_kwargs_is_an_input_too():
    # AntixK's ConditionalVAE: forward(self, input, **kwargs) reads kwargs['labels'], whose
    # first consumer is a Linear; the image and the label map are then concatenated
    f = analyze("""
    class CVAE(nn.Module):
        def __init__(self, in_channels, num_classes, img_size=64):
            super().__init__()
            self.img_size = img_size
            self.embed_class = nn.Linear(num_classes, img_size * img_size)
            self.embed_data = nn.Conv2d(in_channels, in_channels, kernel_size=1)

        def forward(self, input, **kwargs):
            y = kwargs['labels'].float()
            embedded_class = self.embed_class(y)
            embedded_class = embedded_class.view(-1, self.img_size, self.img_size).unsqueeze(1)
            embedded_input = self.embed_data(input)
            x = torch.cat([embedded_input, embedded_class], dim=1)
            return x
    """)
    assert last(f, "y")[-1] == "num_classes"
    # cat's other dims are shared: the label map's 64 x 64 is the image's size too
    assert last(f, "x")[2:] == [64, 64] and len(last(f, "x")) == 4
    assert not f.conflicts


def test_an_object_of_the_sequence_protocol_is_iterated_item_by_item():
    # transformers' per-layer config view: a class with __len__ and __getitem__ (iterated as
    # collections.abc.Sequence does), one config per layer
    f = analyze("""
    class LayerView:
        def __init__(self, widths):
            self.widths = widths

        def __len__(self):
            return len(self.widths)

        def __getitem__(self, i):
            return self.widths[i]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            layers = []
            prev = 8
            for width in LayerView([16, 32]):
                layers.append(nn.Linear(prev, width))
                prev = width
            self.layers = nn.Sequential(*layers)

        def forward(self, x):
            y = self.layers(x)
            return y
    """, inputs={"x": (4, 8)}, entry="Net")
    assert last(f, "y") == [4, 32]


def test_a_gated_unit_of_unknown_rank_splits_its_last_dim():
    # diffusers' SwiGLU: proj then chunk(2, dim=-1) on an input of unknown rank: each half
    # keeps the leading dims, whatever they are, and half the last one
    f = analyze("""
    class SwiGLU(nn.Module):
        def __init__(self, dim_in, dim_out):
            super().__init__()
            self.proj = nn.Linear(dim_in, dim_out * 2)

        def forward(self, hidden_states):
            hidden_states = self.proj(hidden_states)
            hidden_states, gate = hidden_states.chunk(2, dim=-1)
            return hidden_states * F.silu(gate)
    """)
    assert last(f, "gate") == ["*", "dim_out"]
    assert not f.conflicts


def test_a_block_called_by_keyword_with_tensors_nobody_knows_keeps_its_own_inferred_inputs():
    # diffusers' Flux: the transformer calls block(hidden_states=..., temb=temb) with tensors
    # whose shapes it does not know; that call tells the block nothing, so the block's own
    # run (inputs inferred from its first layers) is the one shown, as for a positional call
    f = analyze("""
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(16, 32)
            self.emb = nn.Linear(8, 32)

        def forward(self, hidden_states, temb):
            h = self.fc(hidden_states)
            e = self.emb(temb)
            return h + e


    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()

        def forward(self, x, t):
            x = x.some_unknown_method()
            t = t.other_unknown_method()
            out = self.block(hidden_states=x, temb=t)
            return out
    """)
    assert last(f, "h", "Block.forward") == ["*", 32]
    assert last(f, "e", "Block.forward") == ["*", 32]
