"""TR014 accumulation-divisor-mismatch: gradient accumulation that divides the loss by a
different count than the number of steps it accumulates."""

import ast

from ml_lsp.analysis.lint import Related, Rule, TextFix
from ml_lsp.analysis.lint.script_facts import method_call

from ml_lsp_rules.training.tr001_missing_zero_grad import optimizer_steps

DOCS = """\
With gradient accumulation the loss of each micro-batch is divided by the number of
micro-batches per optimizer step, so that the summed gradient is their mean. Dividing by a
different count scales every update by the wrong factor (the effective learning rate
changes with the accumulation setting). The rule fires only when both counts are known
integers (literals, or names bound once to one) and differ.

Wrong:
    loss = criterion(model(x), y) / 4
    loss.backward()
    if (i + 1) % 8 == 0:
        optimizer.step()

Right:
    loss = criterion(model(x), y) / 8

Fix: divide by the step interval."""


def _constant_ints(sf) -> dict[str, int]:
    """Names bound exactly once in the file, to an int literal."""
    counts: dict[str, list] = {}
    for node in sf.nodes_of(ast.Assign, ast.AugAssign, ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name):
                    counts.setdefault(n.id, []).append(node)
    out = {}
    for name, nodes in counts.items():
        if len(nodes) == 1 and isinstance(nodes[0], ast.Assign) and isinstance(nodes[0].value, ast.Constant) \
                and type(nodes[0].value.value) is int:
            out[name] = nodes[0].value.value
    return out


def _value(node, consts):
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name) and node.id in consts:
        return consts[node.id]
    return None


def _step_interval(sf, step_call):
    """``N`` for an optimizer step under ``if (i + 1) % N == 0`` / ``if i % N == 0``."""
    for anc in sf.ancestors(step_call):
        if isinstance(anc, ast.If):
            test = anc.test
            if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq) \
                    and isinstance(test.left, ast.BinOp) and isinstance(test.left.op, ast.Mod):
                return test.left.right
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and isinstance(test.operand, ast.BinOp) \
                    and isinstance(test.operand.op, ast.Mod):
                return test.operand.right
        if isinstance(anc, (ast.For, ast.While, ast.FunctionDef)):
            return None
    return None


def _loss_divisors(sf, loop):
    """``(divisor node, statement)`` for ``loss = ... / D`` and ``loss /= D`` in the loop
    where ``loss`` is what ``backward()`` is called on."""
    backward_names = {c.func.value.id for c in sf.calls_in(loop)
                      if method_call(c, "backward") and isinstance(c.func.value, ast.Name)}
    out = []
    for node in sf.nodes_in(loop, ast.Assign, ast.AugAssign):
        if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Div) and isinstance(node.target, ast.Name) \
                and node.target.id in backward_names:
            out.append(node.value)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.BinOp) and isinstance(node.value.op, ast.Div) \
                and any(isinstance(t, ast.Name) and t.id in backward_names for t in node.targets):
            out.append(node.value.right)
    for c in sf.calls_in(loop):  # (loss / D).backward()
        if method_call(c, "backward") and isinstance(c.func.value, ast.BinOp) and isinstance(c.func.value.op, ast.Div):
            out.append(c.func.value.right)
    return out


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    consts = None
    for loop in sf.nodes_of(ast.For, ast.AsyncFor, ast.While):
        calls = sf.calls_in(loop)
        steps = [c for c, _ in optimizer_steps(sf, calls) if sf.enclosing_loop(c) is loop]
        if not steps or not any(method_call(c, "backward") for c in calls):
            continue
        interval = _step_interval(sf, steps[0])
        if interval is None:
            continue
        consts = _constant_ints(sf) if consts is None else consts
        every = _value(interval, consts)
        if every is None or every <= 1:
            continue
        for divisor in _loss_divisors(sf, loop):
            by = _value(divisor, consts)
            if by is None or by == every or by == 1:
                continue
            fix = TextFix(f"Divide by {ctx.source(interval)}", (ctx.replace(divisor, ctx.source(interval)),))
            yield RULE.at_node(
                ctx, divisor,
                f"the loss is divided by {ctx.source(divisor)} ({by}) but the optimizer steps every "
                f"{ctx.source(interval)} ({every}) micro-batches: each update is scaled by {every}/{by}",
                related=[Related(interval.lineno, ctx.char_col(interval.lineno, interval.col_offset),
                                 "the step interval")], fix=fix)


RULE = Rule(code="TR014", name="accumulation-divisor-mismatch", category="training", severity="warning",
            summary="gradient accumulation dividing the loss by the wrong count", docs=DOCS, check=check,
            fixable=True)
