"""TR002 step-without-backward: ``optimizer.step()`` in a loop that never calls
``backward()``: the parameters never change (or change by stale gradients)."""

import ast

from ml_lsp.analysis.lint import Rule
from ml_lsp.analysis.lint.script_facts import method_call

from ml_lsp_rules.training.tr001_missing_zero_grad import optimizer_steps

DOCS = """\
`optimizer.step()` applies whatever is in `.grad`. Without `loss.backward()` in the same
step, `.grad` is empty (nothing is learned) or holds the gradients of an old batch.

Wrong:
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        optimizer.step()

Right:
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()"""

BACKWARD = ("backward", "manual_backward")


def _has_backward(node) -> bool:
    for n in ast.walk(node):
        if method_call(n, *BACKWARD) or (isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                                         and n.func.id in BACKWARD):
            return True
        if isinstance(n, ast.Call) and any(k.arg == "closure" for k in n.keywords):
            return True
    return False


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    for step, opt in optimizer_steps(sf, sf.all_calls):
        loop = sf.enclosing_loop(step)
        if loop is None or _has_backward(loop):
            continue
        # Only a loop that looks like a training step: it clears gradients or computes a loss
        # (a loop that steps a list of optimizers from a hook is not one).
        if not any(method_call(c, "zero_grad") for c in sf.calls_in(loop)) and not any(
                "loss" in t.id.lower() for t in sf.nodes_in(loop, ast.Name) if isinstance(t.ctx, ast.Store)):
            continue
        # Gradients made by a helper the loop calls (train_step(...), closure(...)).
        calls = sf.calls_in(loop)
        if any(isinstance(c.func, (ast.Name, ast.Attribute)) and
               (getattr(c.func, "id", None) or getattr(c.func, "attr", "")) in sf.functions and
               _has_backward(sf.functions[getattr(c.func, "id", None) or c.func.attr]) for c in calls):
            continue
        if any(isinstance(c.func, ast.Name) and c.func.id not in sf.functions and c.func.id[:1].islower()
               and "step" in c.func.id for c in calls):
            continue  # an imported train_step() may well call backward itself
        yield RULE.at_node(
            ctx, step,
            f"{ctx.source(step)} in a loop (line {loop.lineno}) that never calls backward(): "
            f"the step applies empty or stale gradients")


RULE = Rule(code="TR002", name="step-without-backward", category="training", severity="warning",
            summary="optimizer.step() in a loop with no backward()", docs=DOCS, check=check)
