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


def shapes_cli_with_site(site, workspace, model, entry: str, inputs: str) -> dict:
    """``ml-lsp shapes --json`` on ``model`` from ``workspace``, with the folder ``site`` (a
    fake installed package's site-packages) on PYTHONPATH: binding name -> JSON shape."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", "--entry", entry,
                           "--input", inputs, str(model)],
                          capture_output=True, text=True, timeout=120, cwd=str(workspace), env=env)
    assert done.returncode == 0, done.stderr
    return {b["name"]: b["shape"] for f in json.loads(done.stdout)["files"] for b in f["shapes"]}
