"""TR015 early-return-skips-train: a function switches the model to eval mode and back to
train mode at its end, but a ``return`` in between leaves it in eval mode."""

import ast

from ml_lsp.analysis.lint import Related, Rule, TextFix
from ml_lsp.analysis.lint.script_facts import mode_target

DOCS = """\
A validation helper that calls `model.eval()` first and `model.train()` last promises its
caller that the model comes back in training mode. A `return` between the two (an early
exit after a few batches, on a NaN, on a target reached) skips the `train()`: training then
goes on with dropout off and batch norm frozen, silently.

Wrong:
    def validate(model, loader):
        model.eval()
        for i, (x, y) in enumerate(loader):
            if i == max_batches:
                return total / i
            total += criterion(model(x), y).item()
        model.train()
        return total / len(loader)

Right: call `model.train()` before the early return too, or put the switch in a
`try/finally`.

Fix: insert `model.train()` before the early return."""


def _in_finally(sf, node, func) -> bool:
    for anc in sf.ancestors(node):
        if anc is func:
            return False
        if isinstance(anc, ast.Try) and any(node is n or node in ast.walk(n) for n in anc.finalbody):
            return True
    return False


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    for func in sf.nodes_of(ast.FunctionDef, ast.AsyncFunctionDef):
        calls = sf.nodes_in(func, ast.Call)
        evals = [(c, mode_target(c, "eval")) for c in calls if mode_target(c, "eval")]
        trains = [(c, mode_target(c, "train")) for c in calls if mode_target(c, "train") and not c.args]
        for ev, model in evals:
            # the restoring train(): a statement of the function's own body, after eval()
            restore = next((c for c, m in trains if m == model and c.lineno > ev.lineno
                            and sf.statement_of(c) in func.body), None)
            if restore is None or _in_finally(sf, restore, func):
                continue
            for ret in sf.nodes_in(func, ast.Return):
                if not ev.lineno < ret.lineno < restore.lineno:
                    continue
                if any(m == model and ev.lineno < c.lineno < ret.lineno and sf.statement_of(c) in _block_of(sf, ret)
                       for c, m in trains):
                    continue  # train() already called just before this return
                fix = TextFix(f"Call {model}.train() before the return",
                              (ctx.insert_line_before(ret.lineno, f"{model}.train()"),))
                yield RULE.at_node(
                    ctx, ret, f"this return leaves {model} in eval mode: {model}.train() at line "
                    f"{restore.lineno} is skipped, and the caller trains on with dropout off and batch "
                    f"norm frozen",
                    related=[Related(restore.lineno, ctx.char_col(restore.lineno, restore.col_offset),
                                     f"{model}.train() restores training mode here")], fix=fix)


def _block_of(sf, node) -> list:
    """The statements of the block that holds ``node``'s statement."""
    stmt = sf.statement_of(node)
    parent = sf.parent.get(stmt)
    for field in ("body", "orelse", "finalbody", "handlers"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and stmt in block:
            return block
    return [stmt]


RULE = Rule(code="TR015", name="early-return-skips-train", category="training", severity="warning",
            summary="a return between model.eval() and model.train() leaves eval mode on", docs=DOCS,
            check=check, fixable=True)
