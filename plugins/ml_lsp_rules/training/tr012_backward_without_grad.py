"""TR012 backward-without-grad: ``backward()`` on a loss computed inside
``torch.no_grad()`` / ``inference_mode()``, which has no graph: it raises."""

import ast

from ml_lsp.analysis.lint import Rule
from ml_lsp.analysis.lint.script_facts import GRAD_CONTEXTS, call_name, dotted, last_part, method_call

DOCS = """\
Inside `with torch.no_grad():` (or `torch.inference_mode()`, or a function decorated with
either) no autograd graph is recorded: a loss computed there has no `grad_fn`, and
`loss.backward()` raises `RuntimeError: element 0 of tensors does not require grad and does
not have a grad_fn`. It usually happens when a training step is pasted into an evaluation
block, or a whole epoch is wrapped in `no_grad` to save memory. The rule fires only where
the loss is computed inside the same no-grad region as the `backward()` call.

Wrong:
    with torch.no_grad():
        loss = criterion(model(x), y)
        loss.backward()

Right:
    loss = criterion(model(x), y)
    loss.backward()"""

GRAD_OFF = GRAD_CONTEXTS - {"enable_grad", "set_grad_enabled"}


def _grad_off_region(sf, node):
    """The innermost ``with no_grad()`` block or no-grad-decorated function around
    ``node``, or None (also None when an ``enable_grad`` block is nearer)."""
    for anc in sf.ancestors(node):
        if isinstance(anc, (ast.With, ast.AsyncWith)):
            for item in anc.items:
                expr = item.context_expr
                name = last_part(call_name(expr) if isinstance(expr, ast.Call) else dotted(expr))
                if name == "enable_grad" or (name == "set_grad_enabled" and isinstance(expr, ast.Call)
                                             and not (expr.args and isinstance(expr.args[0], ast.Constant)
                                                      and expr.args[0].value is False)):
                    return None
                if name in GRAD_OFF or (name == "set_grad_enabled" and isinstance(expr, ast.Call)):
                    return anc
        if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for dec in anc.decorator_list:
                name = last_part(call_name(dec) if isinstance(dec, ast.Call) else dotted(dec))
                if name in GRAD_OFF:
                    return anc
            return None
    return None


def _computed_in(sf, region, name: str, before: ast.AST) -> ast.AST | None:
    """The last assignment of ``name`` in ``region`` before ``before`` when its value is
    computed (a call or arithmetic, not a name fetched from elsewhere)."""
    found = None
    for node in sf.nodes_in(region, ast.Assign, ast.AugAssign):
        if (node.lineno, node.col_offset) >= (before.lineno, before.col_offset):
            break
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            found = node if isinstance(node.value, (ast.Call, ast.BinOp)) else None
    return found


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    for call in sf.all_calls:
        if not method_call(call, "backward") or call.args and not isinstance(call.args[0], ast.Constant):
            continue
        region = _grad_off_region(sf, call)
        if region is None:
            continue
        target = call.func.value
        if isinstance(target, ast.Call):  # criterion(model(x), y).backward()
            where = None
        elif isinstance(target, ast.Name):
            where = _computed_in(sf, region, target.id, call)
            if where is None:
                continue
        else:
            continue
        what = ctx.source(target)
        origin = f"at line {where.lineno} " if where is not None else ""
        yield RULE.at_node(ctx, call, f"{what}.backward() inside a no-grad region (line {region.lineno}): "
                           f"{what} was computed {origin}without a graph, so backward() raises; compute the "
                           f"loss outside torch.no_grad()")


RULE = Rule(code="TR012", name="backward-without-grad", category="training", severity="error",
            summary="backward() on a loss computed under torch.no_grad()", docs=DOCS, check=check)
