"""TR007 train-mode-not-restored: a training loop switches the model to eval mode (directly
or through an evaluation helper) and never switches it back with ``model.train()``."""

import ast

from ml_lsp.analysis.lint import Rule, TextFix
from ml_lsp.analysis.lint.script_facts import dotted, method_call, mode_target

DOCS = """\
`model.eval()` stays in effect until `model.train()` is called. An epoch loop that
evaluates at the end of each epoch and never calls `model.train()` trains every epoch after
the first with dropout off and batch norm frozen: the model overfits and its running
statistics stop tracking the training data.

Wrong:
    for epoch in range(epochs):
        for x, y in train_loader:
            ...
        model.eval()
        validate(model)

Right:
    for epoch in range(epochs):
        model.train()
        for x, y in train_loader:
            ...
        model.eval()
        validate(model)

Fix: call `model.train()` at the start of the epoch loop."""


def _mode_calls(func, mode: str) -> set[int]:
    """Indexes of the parameters a helper calls ``.eval()`` / ``.train()`` on."""
    params = [a.arg for a in func.args.args]
    return {params.index(mode_target(n, mode)) for n in ast.walk(func)
            if mode_target(n, mode) in params}


def _has_backward(func) -> bool:
    return any(method_call(n, "backward", "manual_backward") for n in ast.walk(func))


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    reported = set()
    for loop in sf.nodes_of(ast.For, ast.While, ast.AsyncFor):
        calls = sf.calls_in(loop)
        helpers = [(c, sf.functions[c.func.id]) for c in calls
                   if isinstance(c.func, ast.Name) and c.func.id in sf.functions]
        # The loop trains: backward() in it, or in a local helper it calls (train_one_epoch).
        if not any(method_call(c, "backward", "manual_backward") for c in calls) and \
                not any(_has_backward(f) for _, f in helpers):
            continue
        trained = {mode_target(c, "train") for c in calls if method_call(c, "train")}
        for c, f in helpers:  # train(model, ...) that calls model.train() itself
            for i in _mode_calls(f, "train"):
                if i < len(c.args):
                    trained.add(dotted(c.args[i]))
        for c in calls:
            model, site = None, c
            if mode_target(c, "eval") in sf.models:
                model = mode_target(c, "eval")
            elif isinstance(c.func, ast.Name) and c.func.id in sf.functions:
                f = sf.functions[c.func.id]
                for i in _mode_calls(f, "eval") - _mode_calls(f, "train"):
                    if i < len(c.args) and dotted(c.args[i]):
                        model = dotted(c.args[i])
            if model is None or model in trained or (model, id(loop)) in reported:
                continue
            # Only the outermost loop that holds the training step and the switch.
            if any(isinstance(a, (ast.For, ast.While)) and (model, id(a)) in reported for a in sf.ancestors(loop)):
                continue
            reported.add((model, id(loop)))
            first = loop.body[0]
            fix = None
            if first.lineno > loop.lineno:
                fix = TextFix(f"Call {model}.train() at the start of the loop",
                              (ctx.insert_line_before(first.lineno, f"{model}.train()"),))
            yield RULE.at_node(
                ctx, site,
                f"{ctx.source(site)} switches {model} to eval mode inside the training loop (line "
                f"{loop.lineno}) and {model}.train() is never called again: later steps train with "
                f"dropout off and batch norm frozen", fix=fix)


RULE = Rule(code="TR007", name="train-mode-not-restored", category="training", severity="warning",
            summary="model.eval() in a training loop without model.train() after it", docs=DOCS,
            check=check, fixable=True)
