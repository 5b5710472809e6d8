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

Fix: add `weights_only=True` (or turn `False` into `True`: not applied by `--fix`, since a
checkpoint that pickles whole objects then needs `torch.serialization.add_safe_globals`)."""


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    for call in sf.all_calls:
        if call_name(call) != "torch.load":
            continue
        kw = next((k for k in call.keywords if k.arg == "weights_only"), None)
        if any(k.arg is None for k in call.keywords):
            continue
        if kw is None:
            parts = [*call.args, *(k.value for k in call.keywords)]
            if not parts:
                continue
            last = max(parts, key=lambda n: (n.end_lineno, n.end_col_offset))
            _, _, line, col = ctx.span(last)
            yield RULE.at_node(ctx, call, "torch.load without weights_only=True: a checkpoint can run "
                               "arbitrary code when loaded (the default before PyTorch 2.6)",
                               fix=TextFix("Add weights_only=True", (TextEdit(line, col, line, col, ", weights_only=True"),)))
        elif isinstance(kw.value, ast.Constant) and kw.value.value is False:
            yield RULE.at_node(ctx, kw, "torch.load with weights_only=False: the checkpoint can run arbitrary "
                               "code when loaded; load a state dict with weights_only=True",
                               fix=TextFix("Set weights_only=True", (ctx.replace(kw.value, "True"),), safe=False))


RULE = Rule(code="DA003", name="unsafe-torch-load", category="data", severity="warning",
            summary="torch.load without weights_only=True", docs=DOCS, check=check, fixable=True)
