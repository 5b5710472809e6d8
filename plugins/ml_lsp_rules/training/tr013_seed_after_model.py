"""TR013 seed-after-model: the random seed is set after the model is built, so its
initial weights are not covered by the seed."""

import ast

from ml_lsp.analysis.lint import Related, Rule, TextEdit, TextFix
from ml_lsp.analysis.lint.script_facts import LOOPS, call_name, last_part

DOCS = """\
`torch.manual_seed(0)` makes what comes after it repeatable. A model built before the seed
call draws its initial weights from an unseeded generator, so two runs of the script start
from different weights and their results differ, which is what the seed was meant to
prevent. Set the seed first. The rule fires only when a model is built (its class is
called) before the first seed call of the same scope, that model is not loaded from a
checkpoint afterwards, and the seed call is not inside a loop (a per-step seed is about the
data, not the weights).

Wrong:
    model = Net()
    torch.manual_seed(0)

Right:
    torch.manual_seed(0)
    model = Net()

Fix: move the seed call above the model."""

SEED_CALLS = {"manual_seed", "seed_everything", "set_seed"}


def _is_seed(call: ast.Call) -> bool:
    name = call_name(call)
    return last_part(name) in SEED_CALLS and (name.startswith(("torch.", "pl.", "L.", "lightning", "transformers",
                                                               "accelerate")) or name in SEED_CALLS)


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    loaded = {call_name(c).rsplit(".", 1)[0] for c in sf.all_calls if last_part(call_name(c)) == "load_state_dict"}
    seen_scopes = set()
    for call in sf.all_calls:
        if not _is_seed(call):
            continue
        scope = sf.enclosing_function(call) or sf.tree
        if id(scope) in seen_scopes:
            continue
        seen_scopes.add(id(scope))  # only the first seed call of a scope
        stmt = sf.statement_of(call)
        if any(isinstance(a, LOOPS) for a in sf.ancestors(stmt) if not isinstance(a, ast.Module)) \
                or sf.parent.get(stmt) is not scope:
            continue
        built = None
        for target, calls in sf.model_builds.items():
            if target not in sf.models or target in loaded:
                continue
            for build in calls:
                if "from_pretrained" in call_name(build):
                    continue  # pretrained weights: nothing random to seed
                if (sf.enclosing_function(build) or sf.tree) is scope and build.lineno < stmt.lineno \
                        and sf.models.get(target) is not None:
                    if built is None or build.lineno < built[1].lineno:
                        built = (target, build)
        if built is None:
            continue
        target, build = built
        model_stmt = sf.statement_of(build)
        fix = None
        used = {n.id for n in ast.walk(call) if isinstance(n, ast.Name)}
        bound_between = {t.id for s in scope.body if model_stmt.lineno <= s.lineno < stmt.lineno
                         for t in ast.walk(s) if isinstance(t, ast.Name) and isinstance(t.ctx, ast.Store)}
        if sf.parent.get(model_stmt) is scope and stmt.lineno == stmt.end_lineno and not used & bound_between:
            text = ctx.lines[stmt.lineno - 1].strip()
            fix = TextFix("Move the seed call above the model",
                          (ctx.insert_line_before(model_stmt.lineno, text),
                           TextEdit(stmt.lineno, 0, stmt.lineno + 1, 0, "")))
        yield RULE.at_node(ctx, call, f"{ctx.source(call.func)}() comes after {target} is built (line "
                           f"{build.lineno}): its initial weights are not seeded, so runs differ",
                           related=[Related(build.lineno, ctx.char_col(build.lineno, build.col_offset),
                                            f"{target} is built here")], fix=fix)


RULE = Rule(code="TR013", name="seed-after-model", category="training", severity="warning",
            summary="random seed set after the model is built", docs=DOCS, check=check, fixable=True)
