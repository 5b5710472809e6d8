"""TR008 softmax-before-cross-entropy: ``softmax``/``log_softmax`` output fed to
``CrossEntropyLoss``/``cross_entropy``, which applies ``log_softmax`` itself."""

from ml_lsp.analysis.lint import Rule

from ml_lsp_rules.training.activation_before_loss import find_uses, removal_fix

DOCS = """\
`CrossEntropyLoss` takes raw logits and applies `log_softmax` itself. Feeding it
probabilities from `softmax` squashes the logits twice: gradients shrink, training
stalls at a high loss, and the model looks under-confident. (`log_softmax` output is only
redundant there: use `nll_loss` on log-probabilities, or pass the logits.)

Wrong:
    loss = criterion(F.softmax(logits, dim=1), y)    # criterion = nn.CrossEntropyLoss()

Right:
    loss = criterion(logits, y)

Fix: remove the softmax."""

ACTIVATIONS = {"softmax", "log_softmax"}
MODULES = {"Softmax", "LogSoftmax"}


def check(ctx):
    if ctx.script is None:
        return
    for use in find_uses(ctx, ACTIVATIONS, MODULES, {"CrossEntropyLoss"}, {"cross_entropy"}):
        act = ctx.source(use.activation).split("(")[0].rsplit(".", 1)[-1]
        yield RULE.at_node(
            ctx, use.arg,
            f"{ctx.source(use.arg)} is {act} output fed to {ctx.source(use.loss_call.func)}, which applies "
            f"log_softmax itself: pass the logits",
            related=use.related, fix=removal_fix(ctx, use, f"Remove the {act} before the loss"))


RULE = Rule(code="TR008", name="softmax-before-cross-entropy", category="training", severity="warning",
            summary="softmax/log_softmax output fed to CrossEntropyLoss", docs=DOCS, check=check,
            fixable=True)
