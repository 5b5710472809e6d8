"""TR004 loss-accumulated-with-graph: a loss tensor added to a running total (or appended
to a list) without ``.item()``/``.detach()``, which keeps every step's graph alive."""

import ast

from ml_lsp.analysis.lint import Rule, TextFix
from ml_lsp.analysis.lint.script_facts import dotted, method_call

DOCS = """\
A loss that `backward()` was called on still holds its autograd graph. Adding it to a
Python total (`running_loss += loss`) or a list keeps the graph of every step alive: memory
grows each iteration until the run dies with out-of-memory, and on a GPU each step also
waits on a device-to-host copy later. Take the number with `.item()` (or `.detach()`).

Wrong:
    running_loss += loss

Right:
    running_loss += loss.item()

Fix: add `.item()`."""


def _loss_name(call) -> str:
    """The loss a backward call is made on: ``loss.backward()``, ``scaler.scale(loss).backward()``,
    ``accelerator.backward(loss)``, ``self.manual_backward(loss)``."""
    if method_call(call, "backward", "manual_backward") and call.args and dotted(call.args[0]):
        return dotted(call.args[0])
    if method_call(call, "backward"):
        target = call.func.value
        if method_call(target, "scale") and target.args:
            target = target.args[0]
        return dotted(target)
    return ""


def _made_plain(sf, scope, name) -> bool:
    """``loss = loss.item()`` (or float(...), .detach()) somewhere: the name is then a number."""
    for n in sf.nodes_in(scope, ast.Assign):
        if any(dotted(t) == name for t in n.targets):
            v = n.value
            if method_call(v, "item", "detach", "tolist", "cpu") or (
                    isinstance(v, ast.Call) and dotted(v.func) in ("float", "int")):
                return True
    return False


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    losses_by_scope: dict = {}
    for call in sf.all_calls:
        name = _loss_name(call)
        if name:
            scope = sf.enclosing_function(call) or ctx.tree
            losses_by_scope.setdefault(scope, set()).add(name)
    for scope, losses in losses_by_scope.items():
        # Totals and lists that feed a backward() later keep their graph on purpose
        # (`losses.append(loss)` ... `sum(losses).backward()`, multi-task `total += loss`).
        feeds_backward = set(losses)
        for call in sf.nodes_in(scope, ast.Call):
            if _loss_name(call) or method_call(call, "backward"):
                feeds_backward |= {dotted(n) for n in ast.walk(call) if isinstance(n, (ast.Name, ast.Attribute))}
        for n in sf.nodes_in(scope, ast.Assign):
            if any(dotted(t) in losses for t in n.targets):
                feeds_backward |= {dotted(x) for x in ast.walk(n.value) if isinstance(x, (ast.Name, ast.Attribute))}
        for n in sf.nodes_in(scope, ast.AugAssign, ast.Assign, ast.Call):
            value = None
            if isinstance(n, ast.AugAssign) and isinstance(n.op, ast.Add):
                value = n.value
            elif isinstance(n, ast.Assign) and isinstance(n.value, ast.BinOp) and isinstance(n.value.op, ast.Add) \
                    and len(n.targets) == 1 and dotted(n.value.left) == dotted(n.targets[0]) != "":
                value = n.value.right
            elif method_call(n, "append") and len(n.args) == 1:
                value = n.args[0]
            # `running_loss += loss * inputs.size(0)`: the loss scaled is the same tensor's graph.
            if isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Mult, ast.Div)):
                value = next((v for v in (value.left, value.right)
                              if isinstance(v, (ast.Name, ast.Attribute)) and dotted(v) in losses), value)
            if value is None or not isinstance(value, (ast.Name, ast.Attribute)) or dotted(value) not in losses:
                continue
            total = dotted(n.func.value) if isinstance(n, ast.Call) else dotted(n.target if isinstance(n, ast.AugAssign) else n.targets[0])
            if total in feeds_backward:
                continue
            if sf.enclosing_loop(n) is None or sf.in_grad_context(n) or _made_plain(sf, scope, dotted(value)):
                continue
            name = dotted(value)
            fix = TextFix(f"Use {name}.item()", (ctx.replace(value, f"{name}.item()"),))
            yield RULE.at_node(
                ctx, value,
                f"{name} still holds its autograd graph; accumulating it keeps every step's graph "
                f"alive (memory grows each step): use {name}.item()", fix=fix)


RULE = Rule(code="TR004", name="loss-accumulated-with-graph", category="training", severity="warning",
            summary="loss tensor accumulated without .item()/.detach()", docs=DOCS, check=check,
            fixable=True)
