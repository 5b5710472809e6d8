"""TR009 sigmoid-before-bce-with-logits: ``sigmoid`` output fed to ``BCEWithLogitsLoss``,
which applies the sigmoid itself."""

from ml_lsp.analysis.lint import Rule

from ml_lsp_rules.training.activation_before_loss import find_uses, removal_fix

DOCS = """\
`BCEWithLogitsLoss` (and `binary_cross_entropy_with_logits`) applies the sigmoid itself,
in a numerically stable form. A sigmoid before it maps every prediction into (0.5, 0.73):
the loss can never get small and training stalls.

Wrong:
    loss = criterion(torch.sigmoid(logits), y)       # criterion = nn.BCEWithLogitsLoss()

Right:
    loss = criterion(logits, y)

Fix: remove the sigmoid."""


def check(ctx):
    if ctx.script is None:
        return
    for use in find_uses(ctx, {"sigmoid"}, {"Sigmoid"}, {"BCEWithLogitsLoss"},
                         {"binary_cross_entropy_with_logits"}):
        yield RULE.at_node(
            ctx, use.arg,
            f"{ctx.source(use.arg)} is sigmoid output fed to {ctx.source(use.loss_call.func)}, which "
            f"applies the sigmoid itself: pass the logits",
            related=use.related, fix=removal_fix(ctx, use, "Remove the sigmoid before the loss"))


RULE = Rule(code="TR009", name="sigmoid-before-bce-with-logits", category="training", severity="warning",
            summary="sigmoid output fed to BCEWithLogitsLoss", docs=DOCS, check=check, fixable=True)
