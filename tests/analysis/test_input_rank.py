"""Inputs nobody gave (issue 13 item 5): an input whose rank the code does not tell shows
``(*, 256)``, never a made-up rank; a rank the code does tell (an unpacking of a tensor that
kept the input's leading dims) is used."""

import json
import subprocess
import sys

from ml_lsp.analysis.dims import dim_json, format_shape

from engine_helpers import analyze, last, shapes


def test_an_input_first_consumed_by_linear_has_unknown_rank():
    # Linear(256, ...) takes (256,), (B, 256), (B, T, 256): the input is (*, 256). A
    # made-up (B, 256) made the later reshape(b, -1, heads, 64) "solve" -1 = 1
    f = analyze("""
    class Proj(nn.Module):
        def __init__(self, dim=256, heads=4):
            super().__init__()
            self.heads = heads
            self.qkv = nn.Linear(dim, dim)

        def forward(self, x):
            q = self.qkv(x)
            b = q.shape[0]
            heads = q.reshape(b, -1, self.heads, 64)
            return heads
    """)
    assert format_shape(f.class_named("Proj").input_shapes["x"]) == "(*, 256)"
    assert last(f, "q") == ["*", 256]
    assert last(f, "heads") != ["B", 1, 4, 64]
    assert not f.conflicts


def test_an_unpacking_downstream_tells_the_inputs_rank():
    # the LayerNorm says nothing of x's rank; Attention's `b, n, _ = x.shape` does, on a
    # tensor that kept x's leading dims
    f = analyze("""
    class Attention(nn.Module):
        def __init__(self, dim=32, heads=4):
            super().__init__()
            self.heads = heads
            self.to_qkv = nn.Linear(dim, dim * 3)

        def forward(self, x):
            b, n, _ = x.shape
            q, k, v = self.to_qkv(x).chunk(3, dim=-1)
            q = q.reshape(b, n, self.heads, -1).transpose(1, 2)
            return q


    class Layer(nn.Module):
        def __init__(self, dim=32):
            super().__init__()
            self.norm = nn.LayerNorm(dim)
            self.attn = Attention(dim)

        def forward(self, x):
            h = self.attn(self.norm(x))
            return h
    """)
    assert format_shape(f.class_named("Layer").input_shapes["x"]) == "(b, n, 32)"
    assert last(f, "h") == ["b", 4, "n", 8]


def test_a_conv_input_keeps_its_documented_batched_rank():
    # Conv2d takes (B, C, H, W), or (C, H, W) unbatched: that is not "any leading dims"
    f = analyze("""
    class Stem(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            return y
    """)
    assert last(f, "y") == ["B", 16, "H", "W"]


def test_a_block_its_model_knows_nothing_of_gets_its_own_inferred_input():
    # CLIP's ModifiedResNet: the model's input is unknown past a step the engine cannot follow
    # (here a function of a module it cannot read), so the call of the block tells it
    # nothing; the block's own first layer does
    f = analyze("""
    from somewhere_unknown import preprocess

    class Block(nn.Module):
        def __init__(self, inplanes, planes):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)

        def forward(self, x: torch.Tensor):
            out = self.bn1(self.conv1(x))
            return out


    class Net(nn.Module):
        def __init__(self, width=64):
            super().__init__()
            self.stem = nn.Conv2d(3, width, 3)
            self.block = Block(width, width)

        def forward(self, x):
            x = preprocess(x)
            x = self.stem(x)
            return self.block(x)
    """)
    assert last(f, "out", "Block.forward") == ["B", "planes", "H", "W"]
    assert format_shape(f.class_named("Block").input_shapes["x"]) == "(B, inplanes, H, W)"


def test_a_dtype_cast_keeps_the_input_shape_the_next_layer_tells():
    # CLIP: x = x.type(self.conv1.weight.dtype) before the first conv
    f = analyze("""
    class Stem(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3)

        def forward(self, x):
            x = x.type(self.conv1.weight.dtype)
            y = self.conv1(x)
            return y
    """)
    assert format_shape(f.class_named("Stem").input_shapes["x"]) == "(B, 3, H, W)"
    assert last(f, "y") == ["B", 16, "H-2", "W-2"]


def test_a_config_argument_is_the_one_config_class_the_file_imports(tmp_path):
    # transformers' LlamaMLP(config): LlamaConfig comes from .configuration_llama, so the
    # layer widths, and with them the input's last dim, are the config's
    pkg = tmp_path / "llama"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "configuration_llama.py").write_text(
        "class LlamaConfig:\n"
        "    def __init__(self, hidden_size=4096, intermediate_size=11008):\n"
        "        self.hidden_size = hidden_size\n"
        "        self.intermediate_size = intermediate_size\n")
    model = pkg / "modeling_llama.py"
    model.write_text(
        "from torch import nn\n"
        "from .configuration_llama import LlamaConfig\n\n\n"
        "class LlamaMLP(nn.Module):\n"
        "    def __init__(self, config):\n"
        "        super().__init__()\n"
        "        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size)\n"
        "        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size)\n\n"
        "    def forward(self, x):\n"
        "        down = self.down_proj(self.gate_proj(x))\n"
        "        return down\n")
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", str(model)],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    (item,) = json.loads(done.stdout)["files"]
    assert item["classes"][0]["inputs"] == {"x": ["*", "hidden_size"]}
    assert [b["shape"] for b in item["shapes"] if b["name"] == "down"] == [["*", "hidden_size"]]


def test_a_documented_batch_read_as_a_convs_channels_is_no_fact():
    # diffusers' ControlNet documents its conditioning image as (batch_size, sequence_length,
    # hidden_size); Conv2d would take that 3-D tensor as one unbatched (C, H, W) image whose
    # channels are the batch: the output is unknown, not (16, sequence_length, hidden_size)
    f = analyze('''
    class ConditioningEmbedding(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_in = nn.Conv2d(3, 16, kernel_size=3, padding=1)

        def forward(self, conditioning):
            """
            Args:
                conditioning (`torch.Tensor`):
                    The conditional input tensor of shape `(batch_size, sequence_length, hidden_size)`.
            """
            embedding = self.conv_in(conditioning)
            return embedding
    ''')
    assert last(f, "embedding") is None
    # an unbatched image whose channels are a number is still one
    f = analyze('''
    class Stem(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv_in = nn.Conv2d(3, 16, kernel_size=3, padding=1)

        def forward(self, image):
            embedding = self.conv_in(image)
            return embedding
    ''', entry="Stem", inputs={"image": [3, 32, 32]})
    assert last(f, "embedding") == [16, 32, 32]


def test_an_assert_on_the_rank_tells_the_inputs_rank():
    # diffusers' get_timestep_embedding: `assert len(timesteps.shape) == 1`, reached through
    # a helper: forward runs with a 1-d input only, so that is the input's rank
    f = analyze("""
    def timestep_embedding(timesteps, dim):
        assert len(timesteps.shape) == 1, "Timesteps should be a 1d-array"
        freqs = torch.exp(torch.arange(dim // 2, dtype=torch.float32))
        emb = timesteps[:, None].float() * freqs[None, :]
        emb = torch.cat([emb.sin(), emb.cos()], dim=-1)
        return emb


    class TimeEmbedding(nn.Module):
        def __init__(self, dim=32):
            super().__init__()
            self.dim = dim
            self.proj = nn.Linear(dim, 64)

        def forward(self, t):
            e = timestep_embedding(t, self.dim)
            return self.proj(e)


    class Tokens(nn.Module):
        def __init__(self, dim=32):
            super().__init__()
            self.proj = nn.Linear(dim, 64)

        def forward(self, x):
            if x.dim() != 3:
                raise ValueError("x must be (B, T, D)")
            y = self.proj(x)
            return y
    """)
    assert len(f.class_named("TimeEmbedding").input_shapes["t"]) == 1
    assert len(last(f, "emb")) == 2 and last(f, "emb")[-1] == 32
    assert len(f.class_named("Tokens").input_shapes["x"]) == 3
    assert last(f, "y")[-1] == 64 and len(last(f, "y")) == 3
    assert not f.conflicts


def test_a_layer_that_wants_a_size_gives_it_to_the_inferred_input():
    # diffusers' CogVideoXPatchEmbed: documented (batch_size, seq_length, embedding_dim) read
    # by a Linear(4096): the input has 4096 features. efficientformer: (B, 8, N, N) scores
    # plus a (8, 49, 49) bias: N is 49
    f = analyze('''
    class TextProj(nn.Module):
        def __init__(self, text_dim: int = 4096, dim: int = 64):
            super().__init__()
            self.proj = nn.Linear(text_dim, dim)

        def forward(self, text):
            """text (torch.Tensor): shape (batch_size, seq_length, embedding_dim)"""
            h = self.proj(text)
            return h


    class Biased(nn.Module):
        def __init__(self):
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(8, 49, 49))

        def forward(self, q):
            b, n, _ = q.shape
            scores = q.reshape(b, n, 8, 4).transpose(1, 2) @ q.reshape(b, n, 8, 4).permute(0, 2, 3, 1)
            scores = scores + self.bias
            return scores
    ''')
    assert list(f.class_named("TextProj").input_shapes["text"])[-1] == 4096
    assert list(f.class_named("Biased").input_shapes["q"])[1] == 49
    assert not f.conflicts


def test_two_symbols_an_op_needs_equal_are_one():
    # torchtune's KL losses: logits documented (batch_size*num_tokens, vocab_size), labels
    # (batch_size, vocab_size); the loss multiplies one value per row of the logits by one per
    # label, which runs only where num_tokens is vocab_size: the inputs shown say so
    f = analyze('''
    class KLLoss(nn.Module):
        def forward(self, student_logits, labels):
            """
            Args:
                student_logits (torch.Tensor): logits of shape (batch_size*num_tokens, vocab_size).
                labels (torch.Tensor): labels of shape (batch_size, vocab_size).
            """
            x = torch.sum(F.log_softmax(student_logits, dim=-1), dim=-1).view(-1)
            mask = (labels != -100).int()
            loss = -torch.sum(x * mask.view(-1), dim=0)
            return loss
    ''')
    shapes = f.class_named("KLLoss").input_shapes
    assert format_shape(shapes["student_logits"]) == "(batch_size*vocab_size, vocab_size)"
    assert format_shape(shapes["labels"]) == "(batch_size, vocab_size)"
    assert last(f, "x") == ["batch_size*vocab_size"]
    assert not f.conflicts


def test_a_size_one_path_or_a_shared_dim_wants_is_not_the_inputs():
    # a size the stored table on one path of an undecided `if` wants (CogVideoX makes a new
    # table for another height); and the batch B that a guessed RNN state shares with x (the
    # RNN wants num_layers where the guess put B)
    f = analyze('''
    class Pos(nn.Module):
        def __init__(self, height: int = 60):
            super().__init__()
            self.height = height
            self.table = nn.Parameter(torch.zeros(1, 60, 16))

        def forward(self, x):
            b, h, c = x.shape
            if self.height != h:
                y = x + torch.zeros(1, h, 16)
            else:
                y = x + self.table
            return y
    ''')
    assert list(f.class_named("Pos").input_shapes["x"])[1] != 60
    f = analyze('''
    class CharRNN(nn.Module):
        def __init__(self, n_chars, hidden_dim, n_layers):
            super().__init__()
            self.embed = nn.Embedding(n_chars, hidden_dim)
            self.rnn = nn.RNN(hidden_dim, hidden_dim, n_layers, batch_first=True)

        def forward(self, x, hidden):
            emb = self.embed(x)
            out, hidden = self.rnn(emb, hidden)
            return out
    ''', entry="CharRNN", init="n_chars=30, hidden_dim=24, n_layers=2")
    assert list(f.class_named("CharRNN").input_shapes["x"])[0] != 2


def test_a_guard_that_raises_on_other_sizes_gives_the_sizes_it_lets_through():
    # diffusers' CogVideoXPatchEmbed with a learned positional table: `if learned and
    # (self.sample_width != width or self.sample_height != height): raise ValueError(...)`
    f = analyze('''
    class Patches(nn.Module):
        def __init__(self, sample_height: int = 60, sample_width: int = 90, learned: bool = True):
            super().__init__()
            self.sample_height, self.sample_width, self.learned = sample_height, sample_width, learned
            self.proj = nn.Conv2d(16, 32, kernel_size=2, stride=2)

        def forward(self, image):
            """image (torch.Tensor): shape (batch_size, channels, height, width)"""
            batch_size, channels, height, width = image.shape
            if self.learned and (self.sample_width != width or self.sample_height != height):
                raise ValueError("only the default resolution")
            x = self.proj(image)
            return x
    ''')
    assert list(f.class_named("Patches").input_shapes["image"])[1:] == [16, 60, 90]
    assert last(f, "x") == ["batch_size", 32, 30, 45]


def test_pieces_of_a_split_input_tell_its_rank():
    # timm's MixedConv2d and SelectiveKernel: the input is split along its channels (by
    # sections, or by a size that leaves the count unknown) and each piece goes to a conv:
    # the input has the conv's rank
    f = analyze('''
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.splits = [8, 8]
            self.convs = nn.ModuleList([nn.Conv2d(8, 16, k, padding=k // 2) for k in (3, 5)])

        def forward(self, x):
            x_split = torch.split(x, self.splits, 1)
            x_out = [c(x_split[i]) for i, c in enumerate(self.convs)]
            y = torch.cat(x_out, 1)
            return y


    class Paths(nn.Module):
        def __init__(self, in_channels: int = 16, num_paths: int = 2):
            super().__init__()
            self.in_channels, self.num_paths = in_channels, num_paths
            self.paths = nn.ModuleList([nn.Conv2d(in_channels // num_paths, 32, 3, padding=1)
                                        for _ in range(num_paths)])

        def forward(self, x):
            x_split = torch.split(x, self.in_channels // self.num_paths, 1)
            x_paths = [op(x_split[i]) for i, op in enumerate(self.paths)]
            z = torch.stack(x_paths, dim=1)
            return z
    ''')
    assert len(f.class_named("Mixed").input_shapes["x"]) == 4
    assert last(f, "y")[1] == 32 and len(last(f, "y")) == 4
    assert len(f.class_named("Paths").input_shapes["x"]) == 4
    assert len(last(f, "z")) == 5 and last(f, "z")[1:3] == [2, 32]
    assert not f.conflicts


def test_a_size_a_table_fixes_through_a_conv_stack_sizes_the_input():
    # timm's PiT: a 16x16 patch conv with stride 8, then a (1, 96, 27, 27) position table
    # added: (H-16)//8+1 is 27, so the model built runs on H = 224 (of 224..231, the one a
    # model's author writes); an input of side 5 made the benchmark's run raise
    f = analyze('''
    class PiT(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 96, 16, stride=8)
            self.pos_embed = nn.Parameter(torch.zeros(1, 96, 27, 27))

        def forward(self, x):
            x = self.conv(x)
            x = x + self.pos_embed
            return x
    ''')
    assert format_shape(f.class_named("PiT").input_shapes["x"]) == "(B, 3, 224, 224)"
    assert last(f, "x") == ["B", 96, 27, 27]
    assert not f.conflicts


def test_a_block_whose_every_path_raises_without_its_optional_input_runs_with_it():
    # diffusers' down blocks: forward(hidden_states, temb: Tensor | None = None) hands temb
    # to ResnetBlock2D, whose SiLU()(None) raises in torch: the run without temb raises, so
    # the block's lines show the run with it. And a GroupNorm tried on stand-ins of an
    # unknown rank is no fact that the batch is the channel count: the input was shown as
    # (out_channels, in_channels, H, W). (The residual without a shortcut runs only where
    # in_channels is out_channels: the input shows that.)
    f = analyze('''
    class ResBlock(nn.Module):
        def __init__(self, in_channels, out_channels=None, temb_channels=512, groups=32):
            super().__init__()
            out_channels = in_channels if out_channels is None else out_channels
            self.norm1 = nn.GroupNorm(groups, in_channels)
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
            self.time_emb_proj = nn.Linear(temb_channels, out_channels)
            self.norm2 = nn.GroupNorm(groups, out_channels)
            self.act = nn.SiLU()
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)

        def forward(self, input_tensor, temb):
            hidden_states = self.act(self.norm1(input_tensor))
            hidden_states = self.conv1(hidden_states)
            if self.time_emb_proj is not None:
                temb = self.act(temb)
                temb = self.time_emb_proj(temb)[:, :, None, None]
            if temb is not None:
                hidden_states = hidden_states + temb
            hidden_states = self.conv2(self.norm2(hidden_states))
            output_tensor = input_tensor + hidden_states
            return output_tensor

    class Down(nn.Module):
        def __init__(self, in_channels, out_channels, temb_channels):
            super().__init__()
            self.resnets = nn.ModuleList([ResBlock(in_channels, out_channels, temb_channels)])

        def forward(self, hidden_states: torch.Tensor, temb: torch.Tensor | None = None):
            output_states = ()
            for resnet in self.resnets:
                hidden_states = resnet(hidden_states, temb)
                output_states = output_states + (hidden_states,)
            return hidden_states, output_states
    ''')
    assert format_shape(f.class_named("Down").input_shapes["hidden_states"]) == "(B, out_channels, H, W)"
    grown = next(b for b in f.bindings if b.name == "output_states" and b.elements)
    assert [[dim_json(d) for d in shape] for _suffix, shape, _dtype in grown.elements] == [
        ["B", "out_channels", "H", "W"]]


def test_a_line_that_differs_with_the_optional_tensor_given_shows_what_both_runs_agree_on():
    # torchtune's Gemma2 attention: without a mask a causal (s, s) one is made, with one the
    # caller's (b, s, s) is used; the line after holds either, so neither rank is a fact
    f = analyze('''
    from typing import Optional

    class Attn(nn.Module):
        def __init__(self, dim=32):
            super().__init__()
            self.q = nn.Linear(dim, dim)

        def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None):
            """
            Args:
                x (torch.Tensor): input of shape [b, s, d]
                mask (Optional[torch.Tensor]): boolean mask of shape [b, s, s]
            """
            b, s, _ = x.shape
            scores = self.q(x) @ x.transpose(1, 2)
            if mask is None:
                mask = torch.tril(torch.ones(s, s, dtype=torch.bool))
            bias = torch.where(mask.logical_not(), -1e9, 0.0)
            out = scores + bias
            return out
    ''')
    assert last(f, "bias", "Attn.forward") is None
    assert last(f, "out", "Attn.forward") == ["b", "s", "s"]


def test_known_layers_after_a_stage_the_engine_cannot_follow_say_their_last_dims():
    # timm's EfficientNet built without its block_args: the blocks are unknown, the head
    # that follows is not. Whatever came in, Conv2d(320, 1280, 1) gives (*, 1280, ?, ?), a
    # norm keeps it, an adaptive pool sets its last two; the rank stays unsaid
    f = analyze("""
    from somewhere_unknown import blocks_from

    class Net(nn.Module):
        def __init__(self, block_args):
            super().__init__()
            self.stem = nn.Conv2d(3, 32, 3, stride=2, padding=1)
            self.blocks = blocks_from(block_args)
            self.conv_head = nn.Conv2d(320, 1280, 1)
            self.bn2 = nn.BatchNorm2d(1280)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.embed = nn.Embedding(100, 16)
            self.proj = nn.Linear(1280, 10)

        def forward(self, x):
            x = self.stem(x)
            x = self.blocks(x)
            h = self.conv_head(x)
            h = self.bn2(h)
            pooled = self.pool(h)
            tokens = self.embed(x)
            logits = self.proj(x)
            return pooled, tokens, logits
    """)
    assert shapes(f, "h", "Net.forward") == [["*", 1280, None, None], ["*", 1280, None, None]]
    assert last(f, "pooled", "Net.forward") == ["*", 1280, 1, 1]
    assert last(f, "tokens", "Net.forward") == ["*", 16]
    assert last(f, "logits", "Net.forward") == ["*", 10]
    assert not f.conflicts


def test_a_layers_answer_on_an_unknown_value_does_not_blur_the_residual_it_is_added_to():
    # diffusers' Flux block: the gate comes from a conditioning the engine cannot follow and
    # the attention's input too; the attention's Linear still says (*, 64), but added to the
    # residual it followed, (B, T, 64) from the parent's embedding, the residual keeps its
    # dims, as it did when the attention's output was unknown
    f = analyze("""
    from somewhere_unknown import mystery

    class GatedBlock(nn.Module):
        def __init__(self, dim=64):
            super().__init__()
            self.proj = nn.Linear(dim, dim)

        def forward(self, x, cond):
            gate = mystery(cond)
            attn = self.proj(mystery(x))
            gated = gate * attn
            h = x + gated
            return h

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(100, 64)
            self.blocks = nn.ModuleList([GatedBlock() for _ in range(2)])

        def forward(self, ids, cond):
            x = self.embed(ids)
            for blk in self.blocks:
                x = blk(x, cond)
            return x
    """, entry="Net", inputs={"ids": ["B", "T"]})
    assert last(f, "attn", "GatedBlock.forward") == ["*", 64]
    assert last(f, "gated", "GatedBlock.forward") == ["*", 64]
    assert last(f, "h", "GatedBlock.forward")[-3:] == ["B", "T", 64]
    assert last(f, "x", "Net.forward")[-3:] == ["B", "T", 64]


def test_a_layers_answer_on_an_unknown_value_gives_way_to_a_call_the_engine_followed():
    # one block called twice in a run: once on a value nobody followed (its Linear still
    # says (*, 32)), once on the (B, 16) the parent made: the line holds the followed call's
    # (B, 32), whichever call came first
    f = analyze("""
    from somewhere_unknown import mystery

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(16, 32)

        def forward(self, x):
            y = self.proj(x)
            return y

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(8, 16)
            self.head = Head()

        def forward(self, x):
            a = self.head(mystery(x))
            h = self.embed(x)
            b = self.head(h)
            return a, b
    """, entry="Net", inputs={"x": ["B", 8]})
    assert last(f, "y", "Head.forward") == ["B", 32]
    assert last(f, "a", "Net.forward") == ["*", 32]
    assert last(f, "b", "Net.forward") == ["B", 32]
