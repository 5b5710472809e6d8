"""DA003 unsafe-torch-load: ``torch.load`` without ``weights_only=True``."""

import ast

from ml_lsp.analysis.lint import Rule, TextEdit, TextFix
from ml_lsp.analysis.lint.script_facts import call_name

DOCS = """\
`torch.load` unpickles the file. With `weights_only=False` (the default before PyTorch 2.6)
a checkpoint can run arbitrary code on load: a model file from the internet or a shared
drive is a program. `weights_only=True` loads tensors and plain containers only, which is
all a state dict needs, and states the intent on every PyTorch version.

Wrong:
    state = torch.load("model.pt")

Right:
    state = torch.load("model.pt", weights_only=True)

With PyTorch 2.6 or later installed in the workspace's interpreter (read from its package
metadata), a call without the argument already loads weights only and is not flagged; an
explicit `weights_only=False` still is.

Fix: add `weights_only=True` (or turn `False` into `True`: not applied by `--fix`, since a
checkpoint that pickles whole objects then needs `torch.serialization.add_safe_globals`)."""


def _loads_weights_only_by_default(ctx) -> bool:
    """The workspace's torch (from its package metadata) is 2.6 or later."""
    from ml_lsp.workspace_env import version_at_least
    return version_at_least((ctx.versions or {}).get("torch"), (2, 6)) is True


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    safe_default = _loads_weights_only_by_default(ctx)
    for call in sf.all_calls:
        if call_name(call) != "torch.load":
            continue
        kw = next((k for k in call.keywords if k.arg == "weights_only"), None)
        if any(k.arg is None for k in call.keywords):
            continue
        if kw is None:
            if safe_default:
                continue
            parts = [*call.args, *(k.value for k in call.keywords)]
            if not parts:
                continue
            last = max(parts, key=lambda n: (n.end_lineno, n.end_col_offset))
            _, _, line, col = ctx.span(last)
            installed = (ctx.versions or {}).get("torch")
            why = f"the default before PyTorch 2.6; this workspace has torch {installed}" if installed \
                else "the default before PyTorch 2.6"
            yield RULE.at_node(ctx, call, "torch.load without weights_only=True: a checkpoint can run "
                               f"arbitrary code when loaded ({why})",
                               fix=TextFix("Add weights_only=True", (TextEdit(line, col, line, col, ", weights_only=True"),)))
        elif isinstance(kw.value, ast.Constant) and kw.value.value is False:
            yield RULE.at_node(ctx, kw, "torch.load with weights_only=False: the checkpoint can run arbitrary "
                               "code when loaded; load a state dict with weights_only=True",
                               fix=TextFix("Set weights_only=True", (ctx.replace(kw.value, "True"),), safe=False))


RULE = Rule(code="DA003", name="unsafe-torch-load", category="data", severity="warning",
            summary="torch.load without weights_only=True", docs=DOCS, check=check, fixable=True)
