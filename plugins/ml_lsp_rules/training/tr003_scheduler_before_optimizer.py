"""TR003 scheduler-before-optimizer: ``scheduler.step()`` runs before the first
``optimizer.step()`` of its loop."""

from ml_lsp.analysis.lint import Related, Rule
from ml_lsp.analysis.lint.script_facts import method_call, receiver

from ml_lsp_rules.training.tr001_missing_zero_grad import optimizer_steps

DOCS = """\
Since PyTorch 1.1 a learning-rate scheduler must step after the optimizer. Stepping it
first skips the first value of the schedule (warm-up starts one step late, a step decay
comes one epoch early) and PyTorch prints a warning that is easy to miss.

Wrong:
    for epoch in range(epochs):
        scheduler.step()
        for x, y in loader:
            ...
            optimizer.step()

Right:
    for epoch in range(epochs):
        for x, y in loader:
            ...
            optimizer.step()
        scheduler.step()"""


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    for call in sf.all_calls:
        if not (method_call(call, "step") and sf.is_scheduler(receiver(call))):
            continue
        loop = sf.enclosing_loop(call)
        if loop is None:
            continue
        steps = optimizer_steps(sf, sf.calls_in(loop))
        if not steps:
            continue
        first = min(steps, key=lambda s: (s[0].lineno, s[0].col_offset))[0]
        if (call.lineno, call.col_offset) < (first.lineno, first.col_offset):
            yield RULE.at_node(
                ctx, call,
                f"{ctx.source(call)} runs before {ctx.source(first)} (line {first.lineno}): the "
                f"first learning-rate value of the schedule is skipped",
                related=[Related(first.lineno, ctx.char_col(first.lineno, first.col_offset),
                                 "the optimizer steps here")])


RULE = Rule(code="TR003", name="scheduler-before-optimizer", category="training", severity="warning",
            summary="scheduler.step() called before optimizer.step()", docs=DOCS, check=check)
