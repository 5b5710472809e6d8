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
