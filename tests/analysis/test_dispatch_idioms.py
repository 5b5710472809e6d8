"""How library dispatch code picks a function (issue 13): transformers chooses its attention
function from a table by a configuration string, after checks written with ``re`` and
``try``/``except``. A branch Python never takes must not run: it may overwrite the table."""

import json
import subprocess
import sys
import textwrap

from engine_helpers import analyze, last


TABLE = """
    import re


    def is_hub_name(name):
        return name is not None and re.search(r"^[^/:]+/[^/:]+(?:@[^/:]+)?$", name) is not None
"""


def test_a_regex_on_known_strings_decides_the_branch():
    f = analyze(TABLE + """
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.wide = nn.Linear(4, 32)
            self.narrow = nn.Linear(4, 8)

        def forward(self, x):
            if is_hub_name("org/kernel@v2"):
                hub = self.wide(x)
            else:
                hub = self.narrow(x)
            if is_hub_name("sdpa"):
                plain = self.wide(x)
            else:
                plain = self.narrow(x)
            return hub, plain
    """, entry="Model", inputs={"x": [2, 4]})
    assert last(f, "hub") == [2, 32]
    assert last(f, "plain") == [2, 8]


def test_a_pattern_that_may_backtrack_for_long_is_not_run():
    # (a+)+$ on a long subject takes exponential time in Python's re: the engine must not
    # hang on a stranger's pattern, so the test stays undecided and both arms stay possible
    f = analyze("""
    import re

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 32)
            self.b = nn.Linear(4, 32)

        def forward(self, x):
            if re.match(r"(a+)+$", "a" * 40 + "!"):
                y = self.a(x)
            else:
                y = self.b(x)
            if re.match(r"(a|aa)+$", "a" * 40 + "!"):
                z = self.a(x)
            else:
                z = self.b(x)
            return y
    """, entry="Model", inputs={"x": [2, 4]})
    assert last(f, "y") == [2, 32]
    assert last(f, "z") == [2, 32]


def test_a_handler_runs_only_when_the_try_body_can_raise():
    # transformers: try: self._sdpa_can_dispatch() except (ValueError, ImportError): "eager"
    f = analyze("""
    class Model(nn.Module):
        supports_fast = True

        def __init__(self):
            super().__init__()
            self.fast = nn.Linear(4, 32)
            self.slow = nn.Linear(4, 8)
            kind = "fast"
            try:
                self.can_dispatch()
            except ValueError:
                kind = "slow"
            self.kind = kind

        def can_dispatch(self):
            if not self.supports_fast:
                raise ValueError("no fast path")
            return True

        def forward(self, x):
            if self.kind == "fast":
                y = self.fast(x)
            else:
                y = self.slow(x)
            return y
    """, entry="Model", inputs={"x": [2, 4]})
    assert last(f, "y") == [2, 32]


def test_a_handler_still_runs_when_the_body_may_raise():
    f = analyze("""
    class Model(nn.Module):
        def __init__(self, flag):
            super().__init__()
            self.fast = nn.Linear(4, 32)
            self.slow = nn.Linear(4, 8)
            try:
                import some_fast_kernels
                use = self.fast
            except ImportError:
                use = self.slow
            self.use = use
            if flag:
                raise ValueError("bad flag")

        def forward(self, x):
            y = self.use(x)
            return y
    """, entry="Model", inputs={"x": [2, 4]})
    y = last(f, "y")
    assert y is None or (len(y) == 2 and y[1] not in (32, 8)), y  # either layer: not a fact


def test_keyword_arguments_rebuilt_on_one_path_keep_their_keys():
    # transformers' PreTrainedConfig: `if hasattr(self, "rope_parameters"): kwargs =
    # self.convert(**kwargs)`; the attention choice popped from kwargs afterwards must stay
    # known (None here), or the attention function it selects becomes unknown
    f = analyze("""
    class Config:
        def __init__(self, **kwargs):
            if hasattr(self, "maybe_absent"):
                kwargs = dict(**kwargs)
            self.attn = kwargs.pop("attn", None)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.config = Config()
            self.eager = nn.Linear(4, 32)
            self.other = nn.Linear(4, 8)

        def forward(self, x):
            if self.config.attn is None:
                y = self.eager(x)
            else:
                y = self.other(x)
            return y
    """, entry="Model", inputs={"x": [2, 4]})
    assert last(f, "y") == [2, 32]


def test_a_method_a_library_helper_calls_back_is_recorded_with_the_real_input(tmp_path):
    # transformers' BertLayer: apply_chunking_to_forward(self.feed_forward_chunk, 0, 1, x)
    # calls the file's own method from library code; it ran with (2, 16, 64) but used to be
    # shown only as analysed alone, with a guessed (B, 64) input
    (tmp_path / "chunking.py").write_text(textwrap.dedent("""\
        def apply_chunking(forward_fn, chunk_size, chunk_dim, *input_tensors):
            if chunk_size > 0:
                raise NotImplementedError
            return forward_fn(*input_tensors)
        """))
    model = tmp_path / "layer.py"
    model.write_text(textwrap.dedent("""\
        import torch
        from torch import nn
        from chunking import apply_chunking


        class Layer(nn.Module):
            def __init__(self):
                super().__init__()
                self.up = nn.Linear(64, 128)

            def forward(self, x):
                out = apply_chunking(self.chunk, 0, 1, x)
                return out

            def chunk(self, attention_output):
                inner = self.up(attention_output)
                return inner
        """))
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", "--entry", "Layer",
                           "--input", "x=2,16,64", str(model)],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    shapes = {b["name"]: b["shape"] for f in json.loads(done.stdout)["files"] for b in f["shapes"]}
    assert shapes.get("inner") == [2, 16, 128]
    assert shapes.get("out") == [2, 16, 128]


def test_slice_objects_index_like_slices_and_an_int_is_no_tensor():
    # transformers' slice_logits_to_keep(h, 0): `isinstance(n, torch.Tensor)` is False for an
    # int, and `h[:, slice(-n, None), :]` keeps every dim (it used to drop the middle one)
    f = analyze("""
    def keep(h, n):
        if isinstance(n, torch.Tensor) and n.ndim == 2:
            return h[n]
        if isinstance(n, int):
            n = slice(-n, None)
        return h[:, n, :]

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.lm_head = nn.Linear(64, 100)

        def forward(self, x):
            kept = keep(x, 0)
            last3 = x[:, slice(-3, None), :]
            logits = self.lm_head(kept)
            return logits, last3
    """, entry="Head", inputs={"x": [2, 16, 64]})
    assert last(f, "kept") == [2, 16, 64]
    assert last(f, "last3") == [2, 3, 64]
    assert last(f, "logits") == [2, 16, 100]


def test_shapes_are_those_of_an_eager_run_not_a_traced_one():
    # Swin: `torch.min(torch.tensor(r)) if torch.jit.is_tracing() else min(r)` is an int
    f = analyze("""
    class Window(nn.Module):
        def __init__(self):
            super().__init__()
            self.window = 7

        def forward(self, x):
            res = (4, 4)
            if min(res) <= self.window:
                self.window = torch.min(torch.tensor(res)) if torch.jit.is_tracing() else min(res)
            if torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export():
                x = x.flatten()
            w = x.view(-1, self.window, self.window, 8)
            return w
    """, entry="Window", inputs={"x": [2, 16, 16, 8]})
    assert last(f, "w") == [32, 4, 4, 8]
