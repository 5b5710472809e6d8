"""Finding evaluation loops, shared by TR005/TR006: a ``for`` loop over a split named like
validation or test data (``val_loader``, ``test_dl``), or any loop in a function named
``evaluate``/``validate``/``test*``, that calls a model and neither calls ``backward()``
nor steps an optimizer."""

import ast
import re
from dataclasses import dataclass

from ml_lsp.analysis.lint.script_facts import dotted, is_eval_split_name, method_call, mode_target

from ml_lsp_rules.training.tr001_missing_zero_grad import optimizer_steps

# `test` only as the whole name (the PyTorch examples' `def test(model, device, test_loader)`):
# `test_*` functions are usually pytest tests.
EVAL_FUNCTION = re.compile(r"^(test$|(eval|evaluate|evaluation|validate|validation|valid|predict|inference)(_|$))", re.I)


@dataclass
class EvalLoop:
    loop: ast.For
    model: str
    model_calls: list[ast.Call]


def _names_in(node) -> list[str]:
    return [dotted(n) for n in ast.walk(node) if isinstance(n, (ast.Name, ast.Attribute)) and dotted(n)]


def eval_loops(sf) -> list[EvalLoop]:
    found = []
    for loop in sf.nodes_of(ast.For, ast.AsyncFor):
        func = sf.enclosing_function(loop)
        by_split = any(is_eval_split_name(n) for n in _names_in(loop.iter))
        by_function = func is not None and isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)) \
            and EVAL_FUNCTION.match(func.name)
        if not (by_split or by_function):
            continue
        calls = sf.calls_in(loop)
        if any(method_call(c, "backward", "manual_backward") for c in calls) or optimizer_steps(sf, calls):
            continue
        # `for layer in self.layers: h = layer(h)` walks modules, not evaluation data.
        walked = {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}
        model_calls = [c for c in calls if dotted(c.func) not in walked and sf.is_model(dotted(c.func))]
        if not model_calls:
            continue
        # An enclosing loop that is itself an evaluation loop gets the finding instead.
        if any(isinstance(a, (ast.For, ast.AsyncFor)) and any(e.loop is a for e in found) for a in sf.ancestors(loop)):
            continue
        found.append(EvalLoop(loop, dotted(model_calls[0].func), model_calls))
    return found


def needs_eval_mode(ctx, model: str) -> bool:
    """True only when the facts show the model holds dropout or batch norm (its class in
    this file or a workspace module, a library vision model, a Sequential of such layers,
    or the argument every caller passes): for an unknown model eval() may change nothing."""
    return ctx.script.mode_layers(model, ctx.resolve_module, ctx.path) is True


def eval_called_before(sf, model: str, loop) -> bool:
    func = sf.enclosing_function(loop)
    for c in sf.all_calls:
        if mode_target(c, "eval") == model and c.lineno <= loop.lineno:
            return True
        if mode_target(c, "train") == model and c.args and \
                isinstance(c.args[0], ast.Constant) and c.args[0].value is False and c.lineno <= loop.lineno:
            return True
    if func is not None and isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        params = {a.arg for a in func.args.args + func.args.kwonlyargs}
        if model.split(".")[0] in params | {"self"}:
            # The caller may switch modes before calling this function: quiet unless the file
            # never calls eval() anywhere.
            return any(method_call(c, "eval") for c in sf.all_calls)
    return False
