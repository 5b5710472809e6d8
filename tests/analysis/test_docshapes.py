"""Input shapes from a model's documentation: an input nothing else describes takes the
shape its docstring (or transformers' shared ``@auto_docstring`` table) states, so that
plain ``ml-lsp shapes FILE`` gives whole shapes, and a bug against that contract shows,
without --input."""

import json
import os
import subprocess
import sys
import textwrap

from engine_helpers import analyze, last

from ml_lsp.analysis.docshapes import docstring_shapes, parse_dims


def test_the_shape_notations_of_real_docstrings():
    assert parse_dims("`(batch_size, sequence_length)`") == ("batch_size", "sequence_length")
    assert parse_dims("[b x s x d]") == ("b", "s", "d")
    assert parse_dims("(N, 3, H, W)") == ("N", 3, "H", "W")
    assert parse_dims("(num_gt,)") == ("num_gt",)
    assert parse_dims("(bsz * n_imgs, 2)") == ("bsz * n_imgs", 2)
    # rank-polymorphic shapes are not a rank to state
    assert parse_dims("(..., in_dim)") is None and parse_dims("(n, *)") is None
    doc = textwrap.dedent("""\
        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`):
                Indices of input sequence tokens.
            img (Tensor): The input image of shape (N, 3, H, W).
            x (torch.Tensor): input tensor with shape
                ``[b x s x d]``
            mask (Tensor): a mask, optional.
            chosen_logps (torch.Tensor): Log probabilities of the policy model
                for the chosen responses. Shape: (batch_size)
        Returns:
            Tensor of shape (B, 10).
    """)
    assert docstring_shapes(doc) == {"input_ids": (("batch_size", "sequence_length"), "long"),
                                     "img": (("N", 3, "H", "W"), None), "x": (("b", "s", "d"), None),
                                     "chosen_logps": (("batch_size",), None)}


def test_a_documented_input_gives_whole_shapes_and_shows_a_bug_without_inputs():
    src = '''
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.fc = nn.Linear(8 * 16 * 16, 10)

        def forward(self, img):
            """Classify a batch.

            Args:
                img (Tensor): images of shape (N, 3, 32, 32).
            """
            h = self.conv(img)
            h = h.flatten(1)
            return self.fc(h)
    '''
    facts = analyze(src)
    assert last(facts, "h") == ["N", 8192]
    # 8 * 32 * 32 = 8192 features reach a Linear that takes 2048: proven by the documented shape
    assert [c.line for c in facts.conflicts if "8192" in c.message and "2048" in c.message] == [19], facts.conflicts


def test_the_first_documented_optional_input_is_the_one_given():
    src = '''
    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(100, 32)

        def forward(self, input_ids=None, inputs_embeds=None):
            """
            Args:
                input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`):
                    token ids.
                inputs_embeds (`torch.FloatTensor` of shape `(batch_size, sequence_length, hidden_size)`):
                    instead of input_ids.
            """
            if inputs_embeds is None:
                inputs_embeds = self.embed(input_ids)
            return inputs_embeds.mean(1)
    '''
    facts = analyze(src)
    assert last(facts, "inputs_embeds") == ["batch_size", "sequence_length", 32]


def test_transformers_auto_docstring_table_is_read_from_the_installed_library(tmp_path):
    site = tmp_path / "site-packages"
    utils = site / "fakehf" / "utils"
    utils.mkdir(parents=True)
    (site / "fakehf" / "__init__.py").write_text("")
    (utils / "__init__.py").write_text("from .auto_docstring import auto_docstring\n")
    (utils / "auto_docstring.py").write_text(textwrap.dedent('''\
        class ModelArgs:
            input_ids = {
                "description": """Indices of input sequence tokens.""",
                "shape": "of shape `(batch_size, sequence_length)`",
            }


        def auto_docstring(func=None, **kwargs):
            return func
    '''))
    workspace = tmp_path / "project"
    workspace.mkdir()
    (workspace / "pyproject.toml").write_text("")
    (workspace / "model.py").write_text(textwrap.dedent('''\
        import torch
        import torch.nn as nn
        from fakehf.utils import auto_docstring


        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(100, 32)
                self.head = nn.Linear(32, 5)

            @auto_docstring
            def forward(self, input_ids: torch.LongTensor | None = None, inputs_embeds=None):
                if inputs_embeds is None:
                    inputs_embeds = self.embed(input_ids)
                logits = self.head(inputs_embeds)
                return logits
    '''))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", "model.py"], cwd=workspace,
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    shapes = {b["name"]: b["shape"] for f in json.loads(done.stdout)["files"] for b in f["shapes"]}
    assert shapes["logits"] == ["batch_size", "sequence_length", 5]
