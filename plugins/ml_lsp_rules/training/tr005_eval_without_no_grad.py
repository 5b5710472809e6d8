"""TR005 eval-without-no-grad: an evaluation loop that runs the model with autograd on."""

import ast

from ml_lsp.analysis.lint import Rule, TextEdit, TextFix

from ml_lsp_rules.training.eval_loops import eval_called_before, eval_loops, needs_eval_mode

DOCS = """\
Outside `torch.no_grad()` (or `torch.inference_mode()`), every forward pass in an
evaluation loop records an autograd graph that nobody uses: evaluation takes about twice the
memory and noticeably longer, and a metric accumulated from outputs keeps those graphs alive.

Wrong:
    for x, y in val_loader:
        correct += (model(x).argmax(1) == y).sum().item()

Right:
    model.eval()
    with torch.no_grad():
        for x, y in val_loader:
            correct += (model(x).argmax(1) == y).sum().item()

Fix: wrap the loop in `with torch.no_grad():` (and call `model.eval()` before it)."""


def _wrap_fix(ctx, loop, model, add_eval: bool):
    if not ctx.script.imports_torch:
        return None
    for node in ast.walk(loop):  # re-indenting would change a multi-line string's text
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.end_lineno != node.lineno:
            return None
    indent = ctx.indent_of(loop.lineno)
    if ctx.lines[loop.lineno - 1][len(indent):] != ctx.lines[loop.lineno - 1].lstrip():
        return None
    head = (f"{indent}{model}.eval()\n" if add_eval else "") + f"{indent}with torch.no_grad():\n"
    edits = [TextEdit(loop.lineno, 0, loop.lineno, 0, head + ctx.indent_unit)]
    for line in range(loop.lineno + 1, loop.end_lineno + 1):
        if ctx.lines[line - 1].strip():
            edits.append(TextEdit(line, 0, line, 0, ctx.indent_unit))
    title = f"Wrap the loop in `with torch.no_grad():`" + (f" and call {model}.eval()" if add_eval else "")
    return TextFix(title, tuple(edits))


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    for ev in eval_loops(sf):
        if all(sf.in_grad_context(c) for c in ev.model_calls) or sf.in_grad_context(ev.loop):
            continue
        if any(isinstance(c.func, ast.Attribute) and c.func.attr == "set_grad_enabled" for c in sf.all_calls):
            continue  # torch.set_grad_enabled(False) as a statement: too dynamic to follow
        add_eval = needs_eval_mode(ctx, ev.model) and not eval_called_before(sf, ev.model, ev.loop)
        loop = ev.loop
        head_end = loop.iter
        line, col, _, _ = ctx.span(loop)
        _, _, end_line, end_col = ctx.span(head_end)
        yield RULE.finding(
            line, col, end_line, end_col,
            f"evaluation loop runs {ev.model}(...) with autograd on: wrap it in `with torch.no_grad():` "
            f"(each forward pass records a graph nobody uses)",
            fix=_wrap_fix(ctx, loop, ev.model, add_eval))


RULE = Rule(code="TR005", name="eval-without-no-grad", category="training", severity="warning",
            summary="evaluation loop without torch.no_grad()/inference_mode()", docs=DOCS, check=check,
            fixable=True)
