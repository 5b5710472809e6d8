"""Python constructs of public model code the engine follows (issue 13): each test is a
pattern met in the real-code benchmark, written small in our own words."""

import textwrap

from ml_lsp.analysis import analyze_source, dim_json
from ml_lsp.resolve import make_resolver

from engine_helpers import analyze, last, shapes


def test_activation_argument_false_is_not_a_module():
    # yolov5's Conv: act=False means no activation, told apart by isinstance(act, nn.Module)
    f = analyze("""
    class ConvAct(nn.Module):
        def __init__(self, c1, c2, act=True):
            super().__init__()
            self.conv = nn.Conv2d(c1, c2, 3, padding=1)
            self.act = nn.SiLU() if act is True else act if isinstance(act, nn.Module) else nn.Identity()

        def forward(self, x):
            y = self.act(self.conv(x))
            return y
    """, entry="ConvAct", init="c1=3, c2=8, act=False", inputs={"x": [2, 3, 16, 16]})
    assert last(f, "y") == [2, 8, 16, 16]


def test_integer_defaults_of_a_method_nobody_calls_are_symbols():
    # yolov5's Detect._make_grid(nx=20, ny=20) is called with each level's size: the
    # defaults are not the sizes it runs with
    f = analyze("""
    class Head(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 1)

        def forward(self, x):
            return self.conv(x)

        def grid(self, nx=20, ny=20):
            ys, xs = torch.arange(ny), torch.arange(nx)
            yv, xv = torch.meshgrid(ys, xs, indexing="ij")
            g = torch.stack((xv, yv), 2)
            return g
    """, entry="Head", init="c=4", inputs={"x": [1, 4, 8, 8]})
    assert last(f, "g") == ["ny", "nx", 2]


def test_method_of_the_file_called_back_by_a_helper_of_another_file(tmp_path):
    # guided-diffusion's checkpoint(self._forward, (x,), self.parameters(), flag) lives in
    # its nn.py: the shapes of _forward, which it calls, belong to the model's file
    (tmp_path / "helpers.py").write_text(textwrap.dedent("""\
        def run_saved(fn, inputs, params, enabled):
            return fn(*inputs)
        """))
    src = textwrap.dedent("""\
        import torch
        from torch import nn
        from helpers import run_saved


        class Block(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.proj = nn.Linear(c * 5, 16)

            def forward(self, x):
                return run_saved(self._inner, (x.flatten(1),), self.parameters(), False)

            def _inner(self, x):
                h = self.proj(x)
                return h


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.blk = Block(8)

            def forward(self, x):
                y = self.blk(x)
                return y
        """)
    path = tmp_path / "model.py"
    path.write_text(src)
    facts = analyze_source(src, str(path), resolve_module=make_resolver(str(tmp_path)),
                           entry="Net", inputs={"x": [2, 8, 5]})
    found = {b.name: [dim_json(d) for d in b.shape] for b in facts.bindings if b.shape is not None}
    assert found.get("h") == [2, 16]
    assert found.get("y") == [2, 16]


def test_while_loop_whose_test_is_known_runs_each_trip():
    # guided-diffusion's ResBlock: unsqueeze the embedding until it has the image's rank
    f = analyze("""
    class Cond(nn.Module):
        def __init__(self, c, e):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.emb = nn.Linear(e, c)

        def forward(self, x, t):
            h = self.conv(x)
            e = self.emb(t)
            while len(e.shape) < len(h.shape):
                e = e[..., None]
            out = h + e
            return out
    """, entry="Cond", init="c=8, e=16", inputs={"x": [2, 8, 4, 4], "t": [2, 16]})
    assert last(f, "out") == [2, 8, 4, 4]


def test_while_loop_that_breaks_is_still_a_loop_of_unknown_trips():
    f = analyze("""
    class Halve(nn.Module):
        def forward(self, x):
            n = 0
            while True:
                n = n + 1
                if n > 2:
                    break
            y = x.reshape(2, -1)
            return y
    """, entry="Halve", inputs={"x": [2, 8]})
    assert last(f, "y") == [2, 8]


def test_autograd_function_apply_runs_its_forward():
    # guided-diffusion's gradient checkpointing: a torch.autograd.Function whose forward
    # runs the function it is given on the first `length` of *args, the module's
    # parameters making up the rest
    f = analyze("""
    def run_saved(fn, inputs, params, enabled):
        if enabled:
            everything = tuple(inputs) + tuple(params)
            return Recompute.apply(fn, len(inputs), *everything)
        return fn(*inputs)

    class Recompute(torch.autograd.Function):
        @staticmethod
        def forward(ctx, fn, length, *everything):
            ctx.fn = fn
            ctx.saved = list(everything[:length])
            ctx.params = list(everything[length:])
            with torch.no_grad():
                out = ctx.fn(*ctx.saved)
            return out

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.proj = nn.Conv1d(c, 2 * c, 1)

        def forward(self, x):
            return run_saved(self._inner, (x,), self.parameters(), True)

        def _inner(self, x):
            h = self.proj(x)
            return h

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blk = Block(8)

        def forward(self, x):
            y = self.blk(x)
            return y
    """, entry="Net", inputs={"x": [2, 8, 5]})
    assert last(f, "y") == [2, 16, 5]
    assert last(f, "out") == [2, 16, 5]


def test_einx_codebook_lookups_and_elementwise_ops():
    # vector-quantize-pytorch: codes = get_at("[c] d, b n -> b n d", codebook, indices)
    f = analyze("""
    import einx
    from einx import get_at

    class Quantizer(nn.Module):
        def __init__(self, size=128, dim=64, levels=3):
            super().__init__()
            self.codebook = nn.Parameter(torch.randn(size, dim))
            self.codebooks = nn.Parameter(torch.randn(levels, size, dim))

        def forward(self, x, indices, per_level, mask, scores, extra):
            codes = get_at("[c] d, b n -> b n d", self.codebook, indices)
            loose = get_at("[c] d, b ... -> b ... d", self.codebook, indices)
            levels = get_at("q [c] d, b n q -> q b n d", self.codebooks, per_level)
            kept = einx.where("..., ... k, -> ... k", mask, x, 0.)
            joined = einx.add("... j, ... j k -> ... (j k)", scores, extra)
            return codes
    """, entry="Quantizer", inputs={"x": [2, 16, 8], "indices": [2, 16], "per_level": [2, 16, 3],
                                    "mask": [2, 16], "scores": [2, 4], "extra": [2, 4, 5]})
    assert last(f, "codes") == [2, 16, 64]
    assert last(f, "loose") == [2, 16, 64]
    assert last(f, "levels") == [3, 2, 16, 64]
    assert last(f, "kept") == [2, 16, 8]
    assert last(f, "joined") == [2, 20]


def test_function_defined_inside_forward_is_named_as_python_names_it():
    # CLIP's ModifiedResNet: def stem(x) inside forward; the tracer and tracebacks name its
    # scope by __qualname__, Net.forward.<locals>.stem
    src = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x):
            def stem(x):
                h = self.conv(x)
                return h
            return stem(x)
    """
    f = analyze(src, entry="Net", inputs={"x": [2, 128, 8, 8]})
    namespace = {}
    exec(compile("import torch\nimport torch.nn as nn\n" + textwrap.dedent(src), "model.py", "exec"), namespace)
    stem_code = next(c for c in namespace["Net"].forward.__code__.co_consts if hasattr(c, "co_qualname"))
    assert stem_code.co_qualname == "Net.forward.<locals>.stem"
    assert shapes(f, "h", scope=stem_code.co_qualname) == [[2, 8, 8, 8]]


def test_path_reading_a_name_bound_nowhere_is_not_the_one_that_runs():
    # diffusers' GEGLU: `if is_torch_npu_available(): return torch_npu.npu_geglu(...)[0]`,
    # torch_npu never imported in the file: that return raises NameError, the other is taken
    f = analyze("""
    import os

    class Gated(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.proj = nn.Linear(d, 2 * d)

        def forward(self, x):
            h = self.proj(x)
            if os.environ.get("FUSED_GATE"):
                return fused_ops.gate(h)
            a, b = h.chunk(2, dim=-1)
            return a * F.gelu(b)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.gate = Gated(8)

        def forward(self, x):
            y = self.gate(x)
            return y
    """, entry="Net", inputs={"x": [2, 8]})
    assert last(f, "y") == [2, 8]


def test_none_is_no_instance_of_a_library_class():
    # torchtune's attention: isinstance(mask, BlockMask) picks flex attention, mask=None sdpa
    f = analyze("""
    from torch.nn.attention.flex_attention import BlockMask, flex_attention

    def attend(q, k, v, mask):
        if isinstance(mask, BlockMask):
            return flex_attention(q, k, v, block_mask=mask)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    class Attn(nn.Module):
        def forward(self, q, k, v):
            out = attend(q, k, v, None)
            return out
    """, entry="Attn", inputs={"q": [2, 4, 16, 8], "k": [2, 4, 16, 8], "v": [2, 4, 16, 8]})
    assert last(f, "out") == [2, 4, 16, 8]


def test_function_defined_one_way_or_the_other_under_an_undecided_flag():
    # torchtune's _sdpa_or_flex_attention(): `if _SUPPORTS_FLEX_ATTENTION: def _attention_call
    # ... else: def _attention_call ...; return _attention_call`, the flag unknown statically
    f = analyze("""
    import os

    FAST = os.environ.get("FAST_ATTENTION") == "1"

    def pick_attention():
        if FAST:
            def call(q, k, v):
                return F.scaled_dot_product_attention(q, k, v)
        else:
            def call(q, k, v):
                w = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
                return w @ v
        return call

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.attend = pick_attention()

        def forward(self, q, k, v):
            out = self.attend(q, k, v)
            return out
    """, entry="Attn", inputs={"q": [2, 4, 16, 8], "k": [2, 4, 16, 8], "v": [2, 4, 16, 8]})
    assert last(f, "out") == [2, 4, 16, 8]


def test_mean_over_processes_keeps_the_shape():
    # vector-quantize-pytorch's maybe_distributed_mean: t / dist.get_world_size()
    f = analyze("""
    import torch.distributed as dist

    def mean_over_processes(t):
        if not (dist.is_available() and dist.is_initialized()):
            return t
        dist.all_reduce(t)
        return t / dist.get_world_size()

    class Stats(nn.Module):
        def forward(self, x):
            y = mean_over_processes(x.mean(dim=0))
            return y
    """, entry="Stats", inputs={"x": [2, 8]})
    assert last(f, "y") == [8]


def test_continue_and_break_end_the_loop_trip():
    # vector-quantize-pytorch's ResidualVQ: `if dropped: pad; continue` skips the rest of the
    # trip, so each quantizer adds one column, not two
    f = analyze("""
    class Collect(nn.Module):
        def forward(self, x):
            kept = x[:, :0]
            for i in range(4):
                if i == 1:
                    continue
                kept = torch.cat((kept, x[:, :1]), dim=-1)
            first = x[:, :0]
            for i in range(5):
                if i == 2:
                    break
                first = torch.cat((first, x[:, :1]), dim=-1)
            all_kept = kept.clone()
            all_first = first.clone()
            return all_kept, all_first
    """, entry="Collect", inputs={"x": [2, 8]})
    assert last(f, "all_kept") == [2, 3]
    assert last(f, "all_first") == [2, 2]


def test_reshape_to_a_starred_shape_nobody_knows_is_unknown_not_shorter():
    # guided-diffusion's AttentionBlock: b, c, *spatial = x.shape ... reshape(b, c, *spatial);
    # with spatial unknown the result is not the 2-D (b, c), and the conv after it is no error
    f = analyze("""
    class Mix(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)

        def forward(self, x, like):
            b, c, *spatial = like.shape
            z = x.reshape(b, c, *spatial)
            out = self.conv(z)
            return out
    """, entry="Mix", inputs={"x": [2, 4, 8, 8]})
    assert shapes(f, "z") in ([None], [])
    assert not f.conflicts, [c.message for c in f.conflicts]


def test_an_output_dataclass_that_is_a_dict_indexes_its_fields_that_are_not_none():
    # transformers' ModelOutput: a dataclass deriving from OrderedDict whose items are its
    # fields that are not None; outputs[0] is the first of them (to_tuple), outputs["name"] one
    f = analyze("""
    from collections import OrderedDict
    from dataclasses import dataclass, fields
    from typing import Optional

    class Output(OrderedDict):
        def __post_init__(self):
            for field in fields(self):
                value = getattr(self, field.name)
                if value is not None:
                    self[field.name] = value

        def __getitem__(self, k):
            if isinstance(k, str):
                inner = dict(self.items())
                return inner[k]
            return self.to_tuple()[k]

        def to_tuple(self):
            return tuple(self[k] for k in self.keys())

    @dataclass
    class EncoderOutput(Output):
        attentions: Optional[torch.Tensor] = None
        last_hidden_state: Optional[torch.Tensor] = None

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 16)

        def forward(self, x):
            return EncoderOutput(last_hidden_state=self.fc(x))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = Encoder()

        def forward(self, x):
            outputs = self.encoder(x)
            first = outputs[0]
            named = outputs["last_hidden_state"]
            return first + named
    """, inputs={"x": (4, 8)}, entry="Model")
    assert last(f, "first") == [4, 16]
    assert last(f, "named") == [4, 16]


def test_a_dict_of_something_unknown_is_unknown_not_empty():
    f = analyze("""
    class Model(nn.Module):
        def __init__(self, table):
            super().__init__()
            self.fc = nn.Linear(8, 16)
            self.table = dict(table)

        def forward(self, x):
            h = self.fc(x)
            if "scale" in self.table:
                h = h.view(-1)
            return h
    """, inputs={"x": (4, 8)}, entry="Model", init="table=load_table()")
    # an empty dict would have said "scale" is not in it: h would stay (4, 16) for sure
    assert last(f, "h") != [4, 16]


def test_a_call_annotated_to_return_an_int_is_a_number_when_its_value_is_unknown():
    # transformers' past_seen_tokens = cache.get_seq_length() (-> int) with the cache's layers
    # of kinds the engine cannot tell apart: a number, so arange(n) + it stays a vector
    f = analyze("""
    def load_layers():
        return torch.load("layers.pt")

    class Cache:
        def __init__(self, layers):
            self.layers = layers

        def get_seq_length(self, layer_idx: int = 0) -> int:
            return self.layers[layer_idx].get_seq_length()

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(100, 16)

        def forward(self, input_ids):
            cache = Cache(load_layers())
            past = cache.get_seq_length()
            position_ids = torch.arange(input_ids.shape[1]) + past
            return self.embed(input_ids), position_ids
    """, inputs={"input_ids": (2, 7)}, entry="Model")
    assert last(f, "position_ids") == [7]


def test_a_cache_built_when_a_decorator_may_turn_the_flag_on_keeps_the_keys_shape():
    # transformers' LLMs: @merge_with_config_defaults fills use_cache from the config, so
    # forward's `use_cache: bool | None = None` may arrive True; the cache is then built and
    # its update (cat onto an empty tensor) hands back keys of the same shape
    f = analyze("""
    import functools

    def merge_with_config_defaults(func):
        @functools.wraps(func)
        def wrapper(self, *args, **kwargs):
            kwargs.setdefault("use_cache", getattr(self.config, "use_cache", None))
            return func(self, *args, **kwargs)
        return wrapper

    class Cache:
        def __init__(self):
            self.keys = None

        def get_seq_length(self) -> int:
            return 0 if self.keys is None else self.keys.shape[-2]

        def update(self, k):
            if self.keys is None:
                self.keys = torch.tensor([])
            self.keys = torch.cat([self.keys, k], dim=-2)
            return self.keys

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.k_proj = nn.Linear(16, 16)

        def forward(self, x, cache=None):
            b, t, _ = x.shape
            k = self.k_proj(x).view(b, t, 4, 4).transpose(1, 2)
            if cache is not None and not isinstance(cache, dict):
                k = cache.update(k)
            return k

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = Attention()

        @merge_with_config_defaults
        def forward(self, x, cache=None, use_cache: bool | None = None):
            if use_cache and cache is None:
                cache = Cache()
            past = cache.get_seq_length() if cache is not None else 0
            positions = torch.arange(x.shape[1]) + past
            keys = self.attn(x, cache)
            return keys, positions
    """, inputs={"x": (2, 5, 16)}, entry="Model")
    assert last(f, "keys") == [2, 4, 5, 4]
    assert last(f, "positions") == [5]
    # the projection's keys, and the cache's: the path with the cache is one the model takes
    assert shapes(f, "k", "Attention.forward") == [[2, 4, 5, 4], [2, 4, 5, 4]]


def test_a_count_that_is_zero_or_a_zero_d_tensor_of_zero_is_zero():
    # transformers' cache layers: get_seq_length() answers 0 for one kind and
    # torch.tensor(0) for another; a position mask of past + T is still T long
    f = analyze("""
    class Full:
        def get_seq_length(self):
            return 0

    class Linear:
        def __init__(self):
            self.count = torch.tensor(0, dtype=int)

        def get_seq_length(self):
            return self.count

    LAYER_TYPES = {"full": Full, "linear": Linear}

    class Model(nn.Module):
        def __init__(self, kind):
            super().__init__()
            self.layer = LAYER_TYPES[kind]()

        def forward(self, x):
            past = self.layer.get_seq_length()
            mask = torch.ones(x.shape[0], past + x.shape[1])
            return mask
    """, inputs={"x": (2, 7)}, entry="Model", init="kind=os.environ['KIND']")
    assert last(f, "mask") == [2, 7]


def test_a_tuple_grown_in_a_loop_shows_every_item_it_holds():
    # diffusers' down blocks: output_states = (); for resnet in self.resnets: ...
    # output_states += (hidden_states,) -- each trip binds one item more
    f = analyze("""
    class Down(nn.Module):
        def __init__(self, n=2):
            super().__init__()
            self.resnets = nn.ModuleList([nn.Conv2d(8, 8, 3, padding=1) for _ in range(n)])

        def forward(self, hidden_states):
            output_states = ()
            for resnet in self.resnets:
                hidden_states = resnet(hidden_states)
                output_states += (hidden_states,)
            return hidden_states, output_states
    """, entry="Down", init="n=2", inputs={"hidden_states": [2, 8, 16, 16]})
    grown = next(b for b in f.bindings if b.name == "output_states" and b.elements)
    assert [(suffix, [dim_json(d) for d in shape]) for suffix, shape, _dtype in grown.elements] == [
        ("[0]", [2, 8, 16, 16]), ("[1]", [2, 8, 16, 16])]


def test_a_functional_transposed_convolution_upsamples():
    # diffusers' FIR upsampler: F.conv_transpose2d with a weight it reshaped itself
    f = analyze("""
    class Up(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(8, 4, 3, 3))

        def forward(self, x):
            y = F.conv_transpose2d(x, self.weight, stride=2, output_padding=(1, 1))
            return y
    """, entry="Up", inputs={"x": [2, 8, 8, 8]})
    assert last(f, "y") == [2, 4, 18, 18]


def test_isinstance_of_callable_tells_a_name_from_a_function():
    # timm's get_act_fn: `if isinstance(name, Callable): return name` on 'relu' is False
    f = analyze("""
    from typing import Callable

    def get_act(name):
        if isinstance(name, Callable):
            return name
        return F.relu

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = get_act("relu")
            self.act2 = get_act(nn.GELU())

        def forward(self, x):
            y = self.act(x).mul_(2.0)
            z = self.act2(y)
            return z
    """, entry="M", inputs={"x": [2, 3]})
    assert last(f, "y") == [2, 3]
    assert last(f, "z") == [2, 3]


def test_a_cache_keyed_by_an_unknown_string_reads_back_what_was_stored():
    # timm's efficientformer/levit: attention_bias_cache[str(device)] = biases[:, idxs]
    f = analyze("""
    class Attn(nn.Module):
        def __init__(self, n=16):
            super().__init__()
            self.biases = nn.Parameter(torch.zeros(4, n))
            self.register_buffer("idxs", torch.zeros(n, n, dtype=torch.long))
            self.bias_cache = {}

        def get_biases(self, device):
            if self.training:
                return self.biases[:, self.idxs]
            key = str(device)
            if key not in self.bias_cache:
                self.bias_cache[key] = self.biases[:, self.idxs]
            return self.bias_cache[key]

        def forward(self, x):
            attn = x @ x.transpose(-2, -1)
            attn = attn + self.get_biases(x.device)
            return attn
    """, entry="Attn", inputs={"x": [2, 4, 16, 8]})
    assert shapes(f, "attn") == [[2, 4, 16, 16], [2, 4, 16, 16]]


def test_keyword_only_forward_parameters_take_inputs():
    # x-transformers' AdaptiveLayerNorm: forward(self, x, *, condition)
    src = """
    class AdaptiveLayerNorm(nn.Module):
        def __init__(self, dim=64, dim_condition=32):
            super().__init__()
            self.ln = nn.LayerNorm(dim, elementwise_affine=False)
            self.to_gamma = nn.Linear(dim_condition, dim)

        def forward(self, x, *, condition, scale=None):
            condition = condition.unsqueeze(1)
            gamma = self.to_gamma(condition)
            return self.ln(x) * (gamma + 1.)
    """
    f = analyze(src, entry="AdaptiveLayerNorm", inputs={"x": [2, 16, 64], "condition": [2, 32]})
    assert last(f, "gamma") == [2, 1, 64]


def test_super_init_into_a_dataclass_base_sets_its_fields():
    # torchvision's FusedMBConvConfig(_MBConvConfig): super().__init__(...) is the generated one
    f = analyze("""
    from dataclasses import dataclass

    @dataclass
    class _Cfg:
        kernel: int
        input_channels: int
        out_channels: int

    class FusedCfg(_Cfg):
        def __init__(self, kernel, input_channels, out_channels):
            super().__init__(kernel, input_channels, out_channels)

    class Block(nn.Module):
        def __init__(self, cnf):
            super().__init__()
            self.conv = nn.Conv2d(cnf.input_channels, cnf.out_channels, cnf.kernel, padding=1)

        def forward(self, x):
            y = self.conv(x)
            return y
    """, entry="Block", init="cnf=FusedCfg(3, 16, 24)", inputs={"x": [2, 16, 8, 8]})
    assert last(f, "y") == [2, 24, 8, 8]


def test_or_after_a_falsy_operand_is_the_next_operand():
    # transformers' rotary embedding: dim = getattr(config, "head_dim", None) or hidden // heads;
    # the None is known falsy, so the answer is the size (was unknown: inv_freq, cos, sin, q_embed)
    f = analyze("""
    class Cfg:
        def __init__(self, hidden_size: int = 64, num_heads: int = 4):
            self.hidden_size = hidden_size
            self.num_heads = num_heads

    class Rope(nn.Module):
        def __init__(self, config: Cfg):
            super().__init__()
            dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_heads
            inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim))
            self.inv_freq = inv_freq

        def forward(self, x):
            return x * self.inv_freq
    """)
    assert last(f, "inv_freq") == [None]  # one dim, its size not told (was: any rank)


def test_optional_tensor_inputs_are_given_when_leaving_them_out_raises():
    # torchtune's MultiHeadAttention: y is Optional only with a kv-cache set up; without one
    # forward(x) raises, so the inputs inferred for it include y
    f = analyze("""
    class Attention(nn.Module):
        def __init__(self, dim: int = 64, heads: int = 4):
            super().__init__()
            self.heads = heads
            self.q_proj = nn.Linear(dim, dim)
            self.k_proj = nn.Linear(dim, dim)
            self.kv_cache = None

        def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
            b, s_x, _ = x.shape
            q = self.q_proj(x).view(b, s_x, self.heads, -1)
            if y is None:
                if self.kv_cache is None:
                    raise ValueError("Must provide y input or use kv_cache")
                k = self.kv_cache.k
            else:
                k = self.k_proj(y)
            k = k.view(b, -1, self.heads, q.shape[-1])
            return k
    """)
    k = last(f, "k")
    assert k is not None and len(k) == 4


def test_a_norm_layer_parameter_left_none_keeps_the_shape_where_it_is_called():
    # timm's Bottle2neck(norm_layer=None) calls norm_layer(width): calling None raises, so the
    # path is run with a layer given; a norm (or an activation) keeps its input's shape
    f = analyze("""
    class Block(nn.Module):
        def __init__(self, c: int, norm_layer=None):
            super().__init__()
            self.conv = nn.Conv2d(c, 2 * c, 3, padding=1)
            self.bn = norm_layer(2 * c)

        def forward(self, x):
            out = self.bn(self.conv(x))
            return out
    """, entry="Block", init="c=4", inputs={"x": [2, 4, 8, 8]})
    assert last(f, "out") == [2, 8, 8, 8]


def test_an_integer_worked_out_of_floats_is_named_after_its_variable():
    # timm's Res2Net: width = int(math.floor(planes * (base_width / 64.0))) * cardinality is an
    # integer the engine cannot work out; named `width`, conv(planes, width * scale) and
    # torch.split(out, width, 1) meet: four chunks of width channels
    f = analyze("""
    import math

    class Split(nn.Module):
        def __init__(self, planes: int, base_width: int = 26, scale: int = 4, cardinality: int = 1):
            super().__init__()
            width = int(math.floor(planes * (base_width / 64.0))) * cardinality
            self.width = width
            self.conv1 = nn.Conv2d(planes, width * scale, 1)

        def forward(self, x):
            out = self.conv1(x)
            spx = torch.split(out, self.width, 1)
            first = spx[0]
            out = torch.cat(spx, 1)
            return out
    """)
    assert last(f, "first") == ["B", "width", "H", "W"]
    assert last(f, "out") == ["B", "4*width", "H", "W"]


def test_lines_under_an_optional_tensor_get_shapes_without_changing_the_others():
    # diffusers' blocks: forward(hidden_states, temb: Optional[Tensor] = None); the lines under
    # `if temb is not None:` get shapes from a run with temb given, the other lines keep the
    # shapes of the run the defaults make
    f = analyze("""
    class Block(nn.Module):
        def __init__(self, c: int = 8, temb_channels: int = 16):
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.time_proj = nn.Linear(temb_channels, c)

        def forward(self, hidden_states: torch.Tensor, temb: Optional[torch.Tensor] = None):
            h = self.conv(hidden_states)
            if temb is not None:
                t = self.time_proj(temb)
                h = h + t[:, :, None, None]
            out = h * 2
            return out
    """)
    assert last(f, "t") == ["*", 8]
    assert last(f, "out") == ["B", 8, "H", "W"]


def test_callers_that_differ_on_the_rank_leave_it_unknown():
    # diffusers' PixArtAlphaTextProjection: one block calls it on a pooled (B, D), others on
    # an input of unknown rank; its lines are not shown as rank 2
    f = analyze("""
    class Proj(nn.Module):
        def __init__(self, d_in: int = 16, d: int = 32):
            super().__init__()
            self.lin = nn.Linear(d_in, d)

        def forward(self, caption):
            h = self.lin(caption)
            return h

    class Pooled(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = Proj(16, 32)

        def forward(self, x):
            b, t, c = x.shape
            return self.proj(x.mean(1))

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = Proj(16, 32)

        def forward(self, y):
            return self.proj(y)
    """)
    assert last(f, "h") == ["*", 32]


def test_the_one_rank_a_conditioning_input_runs_with_is_its_rank():
    # diffusers' AdaLayerNormZero: emb = linear(silu(emb)); emb.chunk(6, dim=1). Of (B, D) and
    # (B, T, D), only rank 2 runs (rank 3 would chunk T and meet x with 6*D against D), so emb
    # is rank 2; x, which any rank fits, stays (*, D)
    f = analyze("""
    class AdaNorm(nn.Module):
        def __init__(self, embedding_dim: int):
            super().__init__()
            self.silu = nn.SiLU()
            self.linear = nn.Linear(embedding_dim, 6 * embedding_dim)
            self.norm = nn.LayerNorm(embedding_dim, elementwise_affine=False)

        def forward(self, x, emb):
            emb = self.linear(self.silu(emb))
            shift, scale, gate, shift_mlp, scale_mlp, gate_mlp = emb.chunk(6, dim=1)
            x = self.norm(x) * (1 + scale[:, None]) + shift[:, None]
            return x, gate
    """)
    assert last(f, "emb") == ["B", "6*embedding_dim"]
    assert last(f, "shift") == ["B", "embedding_dim"]
    assert last(f, "x") == ["*", "embedding_dim"]


def test_an_input_every_rank_fits_keeps_its_unknown_rank():
    f = analyze("""
    class Proj(nn.Module):
        def __init__(self, d: int):
            super().__init__()
            self.lin = nn.Linear(d, 2 * d)

        def forward(self, x):
            h = self.lin(x)
            a, b = h.chunk(2, dim=-1)
            return a * b
    """)
    assert last(f, "h") == ["*", "2*d"]


def test_an_input_nothing_told_of_takes_the_only_rank_its_forward_runs_with():
    # diffusers' TemporalConvLayer: hidden_states is reshaped with its own shape[1:] into 5-d
    # for a Conv3d; of ranks 2, 3 and 4 only 4 runs, so the lines have shapes (were unknown)
    f = analyze("""
    class TemporalConv(nn.Module):
        def __init__(self, in_dim: int):
            super().__init__()
            self.conv = nn.Conv3d(in_dim, in_dim, (3, 1, 1), padding=(1, 0, 0))

        def forward(self, hidden_states, num_frames: int = 1):
            hidden_states = hidden_states[None, :].reshape((-1, num_frames) + hidden_states.shape[1:]).permute(0, 2, 1, 3, 4)
            out = self.conv(hidden_states)
            return out
    """)
    out = last(f, "out")
    assert out is not None and len(out) == 5 and out[1] == "in_dim"


def test_docstrings_are_stripped_as_under_python_OO():
    # transformers' docstring decorators (`replace_list_option_in_docstrings`) list every
    # model of the library in a docstring, and return at once under -OO (`if docstrings is
    # None: return fn`): the engine takes that path, for a function, a class, and an object it
    # does not know (copy_func's copy of a function)
    f = analyze('''
    class Block(nn.Module):
        """A block."""

    def double(x):
        """Doubles the last dim."""
        return torch.cat([x, x], dim=-1)

    copied = make_unknown_copy(double)
    n = 3 if double.__doc__ is None and Block.__doc__ is None and copied.__doc__ is None else 4
    x = torch.zeros(2, n)
    ''')
    assert last(f, "x") == [2, 3]


def test_index_select_by_indices_the_data_decides_keeps_the_rank():
    # torchtune's LayerDropout: the rows kept come from the data, so their count is unknown,
    # but index_select keeps every other dim, and the layer it runs on sees them
    f = analyze("""
    class LayerDropout(nn.Module):
        def __init__(self, dim=64):
            super().__init__()
            self.fc = nn.Linear(dim, dim)

        def forward(self, x, skip):
            ind_selected = (skip == 0).nonzero().squeeze()
            x_selected = torch.index_select(x, 0, ind_selected)
            out_selected = self.fc(x_selected)
            return out_selected
    """, entry="LayerDropout", inputs={"x": [4, 16, 64], "skip": [4]})
    assert last(f, "x_selected") == [None, 16, 64]
    assert last(f, "out_selected") == [None, 16, 64]


def test_an_optional_tensor_read_as_if_given_is_given():
    # diffusers' Flux: forward(hidden_states, timestep: torch.LongTensor = None, ...) does
    # timestep.to(...) at once: on None that is an AttributeError, so the run that counts is
    # the one with timestep given (a LongTensor annotation marks a tensor as Tensor does),
    # and timestep takes the rank its embedding asserts
    f = analyze("""
    def timestep_embedding(timesteps, dim):
        assert len(timesteps.shape) == 1
        freqs = torch.exp(torch.arange(dim // 2, dtype=torch.float32))
        emb = timesteps[:, None].float() * freqs[None, :]
        return torch.cat([emb.sin(), emb.cos()], dim=-1)


    class Model(nn.Module):
        def __init__(self, dim: int = 32):
            super().__init__()
            self.dim = dim
            self.x_proj = nn.Linear(16, dim)
            self.t_proj = nn.Linear(dim, dim)

        def forward(self, hidden_states: torch.Tensor, timestep: torch.LongTensor = None):
            h = self.x_proj(hidden_states)
            timestep = timestep.to(h.dtype) * 1000
            temb = self.t_proj(timestep_embedding(timestep, self.dim))
            return h, temb
    """)
    assert len(f.class_named("Model").input_shapes["timestep"]) == 1
    assert last(f, "temb") is not None and len(last(f, "temb")) == 2


def test_an_alias_of_a_union_with_a_tensor_marks_an_optional_tensor():
    # torchtune's attention: forward(x, *, mask: Optional[_MaskType] = None) with
    # _MaskType = Union[torch.Tensor, BlockMask]: the lines run only with a mask have shapes
    f = analyze("""
    from typing import Optional, Union

    _MaskType = Union[torch.Tensor, "BlockMask"]


    class Attn(nn.Module):
        def __init__(self, dim: int = 64):
            super().__init__()
            self.qkv = nn.Linear(dim, 3 * dim)

        def forward(self, x: torch.Tensor, *, mask: Optional[_MaskType] = None) -> torch.Tensor:
            b, s, _ = x.shape
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            scores = q @ k.transpose(1, 2)
            if mask is not None:
                masked = scores.masked_fill(mask.logical_not(), -1e9)
                return masked.softmax(-1) @ v
            return scores.softmax(-1) @ v
    """)
    assert last(f, "masked") == ["B", "s", "s"]


def test_a_slice_with_a_bound_of_unknown_value_has_unknown_length():
    # diffusers' HiDream MoE: each expert's tokens are token_idxs[start_idx:end_idx], the
    # bounds from a numpy cumsum of the routing counts; the piece is not the whole dim
    f = analyze("""
    class MoE(nn.Module):
        def __init__(self, dim: int = 64, n: int = 4):
            super().__init__()
            self.experts = nn.ModuleList([nn.Linear(dim, dim) for _ in range(n)])

        def forward(self, x, flat_expert_indices):
            idxs = flat_expert_indices.argsort()
            tokens_per_expert = flat_expert_indices.bincount().cpu().numpy().cumsum(0)
            for i, end_idx in enumerate(tokens_per_expert):
                start_idx = 0 if i == 0 else tokens_per_expert[i - 1]
                exp_token_idx = idxs[start_idx:end_idx]
                expert_tokens = x[exp_token_idx]
            return x
    """, entry="MoE", inputs={"x": [64, 64], "flat_expert_indices": [64]})
    assert last(f, "idxs") == [64]
    assert last(f, "exp_token_idx") == [None]
    assert last(f, "expert_tokens") == [None, 64]


def test_dunder_import_of_a_module_is_that_module():
    # an --init that builds a layer its file does not import (torchtune's CLIPTextEncoder takes
    # a TransformerSelfAttentionLayer): __import__("pkg.mod", fromlist=[...]) is pkg.mod
    f = analyze("""
    class Wrap(nn.Module):
        def __init__(self, layer):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            y = self.layer(x)
            return y
    """, entry="Wrap", init="layer=__import__('torch.nn', fromlist=['Linear']).Linear(16, 32)",
        inputs={"x": [2, 16]})
    assert last(f, "y") == [2, 32]


def test_a_list_grown_a_number_of_times_nobody_knows_has_no_known_length():
    # timm's NesT builds its levels in a loop; where the trip count is unknown, a model of
    # the one (or two) levels the loop body was run for is a made-up model: its head's
    # Linear(512) then "failed" on the first level's 128 channels
    src = """
    import json

    class Level(nn.Module):
        def __init__(self, dim, prev_dim=None):
            super().__init__()
            self.pool = nn.Conv2d(prev_dim, dim, 3, padding=1) if prev_dim is not None else nn.Identity()

        def forward(self, x):
            return self.pool(x)

    class Net(nn.Module):
        def __init__(self, embed_dims=(128, 256, 512)):
            super().__init__()
            self.num_blocks = NUM_BLOCKS
            levels = []
            prev_dim = None
            for i in range(len(self.num_blocks)):
                levels.append(Level(embed_dims[i], prev_dim))
                prev_dim = embed_dims[i]
            self.levels = nn.Sequential(*levels)
            self.head = nn.Linear(embed_dims[-1], 10)

        def forward(self, x):
            x = self.levels(x)
            x = x.mean((2, 3))
            y = self.head(x)
            return y
    """
    unknown = analyze(src.replace("NUM_BLOCKS", 'json.loads(open("blocks.json").read())'),
                      entry="Net", inputs={"x": [2, 128, 8, 8]})
    assert not unknown.conflicts
    counted = analyze("""
    import json

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            blocks = []
            d = 8
            for _ in range(len(json.loads(open("blocks.json").read()))):
                blocks.append(nn.Linear(d, 2 * d))   # each block unlike the one before
                d = 2 * d
            self.blocks = nn.ModuleList(blocks)

        def forward(self, x):
            per_block = x.new_zeros(len(self.blocks), 8)
            return per_block
    """, entry="Stack", inputs={"x": [2, 8]})
    assert last(counted, "per_block") == [None, 8]
    # the level count a tensor's tolist() gives is known: the three levels run
    known = analyze(src.replace("NUM_BLOCKS", "(4 ** torch.arange(3)).flip(0).tolist()"),
                    entry="Net", inputs={"x": [2, 128, 8, 8]})
    assert not known.conflicts
    assert shapes(known, "x", "Net.forward")[0] == [2, 512, 8, 8]


def test_a_module_of_the_file_is_no_module_list_and_no_list():
    # torchtune's TransformerDecoder takes `layers` as a ModuleList, a list, or one layer to
    # clone num_layers times, and asks isinstance which: a class deriving from nn.Module alone
    # is neither, so the layer is cloned and the decoder runs its copies
    f = analyze("""
    import copy
    from typing import Optional


    class Block(nn.Module):
        def __init__(self, lin):
            super().__init__()
            self.lin = lin

        def forward(self, x, mask=None):
            return self.lin(x)


    class Decoder(nn.Module):
        def __init__(self, layers, num_layers: Optional[int] = None):
            super().__init__()
            if isinstance(layers, nn.ModuleList):
                pass
            elif isinstance(layers, list):
                layers = nn.ModuleList(layers)
            else:
                layers = nn.ModuleList([copy.deepcopy(layers) for i in range(num_layers)])
            self.layers = layers

        def forward(self, x):
            for layer in self.layers:
                x = layer(x, mask=None)
            out = x
            return out
    """, entry="Decoder", init="layers=Block(nn.Linear(8, 16)), num_layers=1", inputs={"x": [2, 8]})
    assert last(f, "out") == [2, 16]


def test_hasattr_of_a_name_no_class_of_the_file_sets_is_false():
    # diffusers' ControlNet asks each down block hasattr(block, "has_cross_attention"): only
    # the cross-attention blocks set it, so the plain block takes the other call
    f = analyze("""
    class CrossBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.has_cross_attention = True
            self.conv = nn.Conv2d(c, c, 3, padding=1)

        def forward(self, x, context=None):
            return self.conv(x)


    class PlainBlock(nn.Module):
        def __init__(self, c_in, c_out):
            super().__init__()
            self.conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)

        def forward(self, x):
            return self.conv(x)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([CrossBlock(8), PlainBlock(8, 16)])

        def forward(self, x, context):
            for block in self.blocks:
                if hasattr(block, "has_cross_attention") and block.has_cross_attention:
                    crossed = block(x, context=context)
                    x = crossed
                else:
                    plain = block(x)
                    x = plain
            return x
    """, entry="Net", inputs={"x": [2, 8, 16, 16], "context": [2, 7, 32]})
    assert last(f, "crossed") == [2, 8, 16, 16]  # the plain block never took this call
    assert last(f, "plain") == [2, 16, 8, 8]


def test_the_probe_run_leaves_no_cache_behind_in_blocks_of_a_module_list():
    # litgpt's adapter attention keeps its prompt's keys in self.adapter_kv_cache on the first
    # call; the blocks sit in an nn.ModuleList. The run that learns the inputs' dtypes must not
    # leave the cache set, or the recorded run takes the cached branch torch takes only later
    f = analyze("""
    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(8, 8)
            self.kv_cache = None

        def forward(self, x):
            if self.kv_cache is not None:
                cached = self.kv_cache
                keys = self.proj(cached)
            else:
                fresh = x[:, :2]
                self.kv_cache = fresh
                keys = self.proj(fresh)
            return keys


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Attention()])

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return x
    """, entry="Net", inputs={"x": [2, 5, 8]})
    names = {b.name for b in f.bindings if b.shape is not None}
    assert "fresh" in names
    assert "cached" not in names


def test_a_module_class_with_call_and_no_forward_runs_its_call():
    # diffusers' IPAdapterAttnProcessor2_0 is an nn.Module (it holds the image-prompt
    # projections) that defines __call__(self, attn, hidden_states, ...) and no forward
    f = analyze("""
    class Processor(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.to_k_ip = nn.Linear(dim, 16)

        def __call__(self, attn, hidden_states):
            query = attn.to_q(hidden_states)
            ip_key = self.to_k_ip(hidden_states)
            return query + ip_key


    class Attention(nn.Module):
        def __init__(self, dim, processor):
            super().__init__()
            self.to_q = nn.Linear(dim, 16)
            self.processor = processor

        def forward(self, hidden_states):
            out = self.processor(self, hidden_states)
            return out
    """, entry="Attention", init="dim=8, processor=Processor(8)", inputs={"hidden_states": [2, 5, 8]})
    assert last(f, "ip_key") == [2, 5, 16]
    assert last(f, "out") == [2, 5, 16]


def test_a_sum_of_flags_is_the_count_of_those_set():
    # litgpt's LoRAQKVLinear splits its input into sum(self.enable_lora) pieces
    f = analyze("""
    class LoRA(nn.Module):
        def __init__(self, enable_lora=(True, False, True)):
            super().__init__()
            self.enable_lora = enable_lora

        def forward(self, x):
            a, b = x.chunk(sum(self.enable_lora), dim=1)
            return a
    """, entry="LoRA", inputs={"x": [2, 8, 16]})
    assert last(f, "a") == [2, 4, 16]


def test_a_block_string_read_with_re_split_gives_the_widths():
    # timm's EfficientNet family builds its blocks from strings like 'ir_r1_k3_s2_e6_c24':
    # _decode_block_str splits each option with re.split(r'(\d.*)', op)
    f = analyze(r"""
    import re


    def decode(block_str):
        options = {}
        for op in block_str.split('_')[1:]:
            splits = re.split(r'(\d.*)', op)
            if len(splits) >= 2:
                key, value = splits[:2]
                options[key] = value
        return int(options['c']), int(options['k'])


    class Block(nn.Module):
        def __init__(self, spec='ir_r1_k3_s2_e6_c24'):
            super().__init__()
            out_chs, kernel = decode(spec)
            self.conv = nn.Conv2d(16, out_chs, kernel, padding=kernel // 2)

        def forward(self, x):
            y = self.conv(x)
            return y
    """, entry="Block", inputs={"x": [2, 16, 8, 8]})
    assert last(f, "y") == [2, 24, 8, 8]


def test_keyword_arguments_renamed_by_slicing_off_their_prefix():
    # x-transformers' XTransformer(enc_depth=1, ...) hands Encoder the keywords that start with
    # 'enc_', each renamed key[len('enc_'):]
    f = analyze("""
    def trim(prefix, d):
        return {key[len(prefix):]: value for key, value in d.items() if key.startswith(prefix)}


    class Model(nn.Module):
        def __init__(self, **kwargs):
            super().__init__()
            enc = trim('enc_', kwargs)
            self.proj = nn.Linear(4, enc['dim'])

        def forward(self, x):
            y = self.proj(x)
            return y
    """, entry="Model", init="enc_dim=12, dec_dim=5", inputs={"x": [2, 4]})
    assert last(f, "y") == [2, 12]
