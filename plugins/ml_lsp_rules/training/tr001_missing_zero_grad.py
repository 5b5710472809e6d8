"""TR001 missing-zero-grad: ``backward()`` in a loop that steps an optimizer but never
clears the gradients, so every step adds to the previous gradients."""

import ast

from ml_lsp.analysis.lint import Rule, TextFix
from ml_lsp.analysis.lint.script_facts import method_call, receiver

DOCS = """\
`loss.backward()` adds to `.grad`; it does not overwrite it. Without `optimizer.zero_grad()`
(or `model.zero_grad()`, or `set_to_none`) once per step, each update uses the sum of all
gradients so far: the loss explodes or wanders. (Accumulating over a few micro-batches on
purpose is fine: clear the gradients inside the loop, under the `if` that steps.)

Wrong:
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()

Right:
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()

Fix: insert `optimizer.zero_grad()` as the first statement of the loop body."""


def clears_grads(node: ast.AST) -> bool:
    if method_call(node, "zero_grad", "clear_grad", "clear_gradients"):
        return True
    if method_call(node, "zero_", "detach_") and receiver(node).split(".")[-1] in ("grad", "data"):
        return True
    if isinstance(node, ast.Assign):  # p.grad = None
        return any(isinstance(t, ast.Attribute) and t.attr == "grad" for t in node.targets)
    return False


def optimizer_steps(sf, calls):
    """``opt.step()`` and ``scaler.step(opt)`` calls among ``calls``."""
    out = []
    for c in calls:
        if method_call(c, "step"):
            if sf.is_optimizer(receiver(c)) and not c.args:
                out.append((c, receiver(c)))
            elif c.args and sf.is_optimizer(_name(c.args[0])):
                out.append((c, _name(c.args[0])))
    return out


def _name(node):
    from ml_lsp.analysis.lint.script_facts import dotted
    return dotted(node)


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    reported = set()
    for call in sf.all_calls:
        if not method_call(call, "backward"):
            continue
        loop = sf.enclosing_loop(call)
        if loop is None or id(loop) in reported:
            continue
        calls = sf.calls_in(loop)
        steps = optimizer_steps(sf, calls)
        if not steps:
            continue
        if any(clears_grads(n) for n in sf.walk_no_defs(loop)):
            continue
        # A helper called in the loop (`reset()`, `self.reset_grads()`) may clear them itself.
        helpers = {c.func.id if isinstance(c.func, ast.Name) else c.func.attr for c in calls
                   if isinstance(c.func, (ast.Name, ast.Attribute))} & set(sf.functions)
        if any(clears_grads(n) for h in helpers for n in ast.walk(sf.functions[h])):
            continue
        reported.add(id(loop))
        opt = steps[0][1]
        first = loop.body[0]
        fix = None
        if first.lineno > loop.lineno:
            fix = TextFix(f"Insert {opt}.zero_grad() at the start of the loop",
                          (ctx.insert_line_before(first.lineno, f"{opt}.zero_grad()"),))
        yield RULE.at_node(
            ctx, call,
            f"{ctx.source(call)} in a loop that never calls {opt}.zero_grad(): gradients from "
            f"every step add up (the loop starts at line {loop.lineno})",
            fix=fix)


RULE = Rule(code="TR001", name="missing-zero-grad", category="training", severity="warning",
            summary="backward() in a loop with no zero_grad() per step", docs=DOCS, check=check,
            fixable=True)
