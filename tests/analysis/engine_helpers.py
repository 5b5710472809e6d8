"""Helpers for the engine tests: analyse a snippet and look bindings up by name."""

import textwrap

from ml_lsp.analysis import analyze_source, dim_json

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def analyze(src: str, **kw):
    return analyze_source(HEADER + textwrap.dedent(src), "model.py", **kw)


def shapes(facts, name: str, scope: str | None = None) -> list:
    """JSON shapes of every binding of ``name`` (in file order)."""
    return [None if b.shape is None else [dim_json(d) for d in b.shape]
            for b in facts.bindings if b.name == name and (scope is None or b.scope == scope)]


def last(facts, name, scope=None):
    found = shapes(facts, name, scope)
    assert found, f"no binding of {name}"
    return found[-1]
