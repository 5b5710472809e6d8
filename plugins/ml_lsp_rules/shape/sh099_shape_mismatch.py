"""SH099 shape-mismatch: a shape contradiction the engine proves for which no specific rule
exists yet. A new conflict kind from the engine is reported here rather than dropped."""

from dataclasses import replace

from ml_lsp.analysis.lint import shape_rule
from ml_lsp.analysis.lint.rule import finding_from_conflict


def _check(ctx):
    from ml_lsp_rules.registry import shape_kinds_with_rules
    known = shape_kinds_with_rules()
    for conflict in getattr(ctx.facts, "conflicts", None) or ():
        if conflict.kind not in known:
            yield finding_from_conflict(RULE, ctx, conflict)


RULE = replace(shape_rule(
    code="SH099",
    name="shape-mismatch",
    kinds=(),
    summary="any other shape contradiction the engine proves",
    docs="""\
The shape engine proved that an operation cannot accept the shapes it is given, for an
operation without a more specific rule. The message names both shapes and the defining line.

Wrong:
    y = op(x)                          # x's shape contradicts op's rule

Right:
    give op a tensor of the shape its rule names""",
), check=_check)
