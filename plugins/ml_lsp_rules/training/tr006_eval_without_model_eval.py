"""TR006 eval-without-model-eval: an evaluation loop over a model with dropout or batch norm
that was never put in eval mode."""

from ml_lsp.analysis.lint import Rule, TextFix

from ml_lsp_rules.training.eval_loops import eval_called_before, eval_loops, needs_eval_mode

DOCS = """\
Dropout and batch norm behave differently in training mode: dropout keeps zeroing
activations and batch norm normalises with the evaluation batch's own statistics (and
updates its running averages with test data). Scores measured that way are noisy and too
low. Call `model.eval()` before evaluating (and `model.train()` before training again).
Models without dropout or normalisation layers are not flagged.

Wrong:
    with torch.no_grad():
        for x, y in test_loader:
            ...

Right:
    model.eval()
    with torch.no_grad():
        for x, y in test_loader:
            ...

Fix: insert `model.eval()` before the loop."""


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    for ev in eval_loops(sf):
        if not needs_eval_mode(ctx, ev.model) or eval_called_before(sf, ev.model, ev.loop):
            continue
        loop = ev.loop
        # Put the call before the `with torch.no_grad():` block around the loop, if any.
        anchor = loop
        parent = sf.parent.get(loop)
        while parent is not None and parent.__class__.__name__ in ("With", "AsyncWith") and parent.body[0] is anchor:
            anchor = parent
            parent = sf.parent.get(parent)
        line, col, _, _ = ctx.span(loop)
        _, _, end_line, end_col = ctx.span(loop.iter)
        fix = TextFix(f"Call {ev.model}.eval() before the loop",
                      (ctx.insert_line_before(anchor.lineno, f"{ev.model}.eval()"),))
        yield RULE.finding(
            line, col, end_line, end_col,
            f"evaluation loop runs {ev.model}(...) without {ev.model}.eval(): dropout and batch norm "
            f"stay in training mode", fix=fix)


RULE = Rule(code="TR006", name="eval-without-model-eval", category="training", severity="warning",
            summary="evaluation loop without model.eval()", docs=DOCS, check=check, fixable=True)
