"""SH019 view-non-contiguous: ``view`` merges dims that permute/transpose moved apart in
memory, which raises at run time."""

import ast
from dataclasses import replace

from ml_lsp.analysis.lint import TextEdit, TextFix, shape_rule
from ml_lsp.analysis.lint.rule import finding_from_conflict

KIND = "view_non_contiguous"


def _view_call_at(ctx, line: int, col: int) -> ast.Call | None:
    """The ``.view(...)`` call the engine reported (the call node starts at its receiver)."""
    for node in ast.walk(ctx.tree) if ctx.tree is not None else ():
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "view" \
                and node.lineno == line and node.col_offset == col:
            return node
    return None


def _check(ctx):
    for conflict in getattr(ctx.facts, "conflicts", None) or ():
        if conflict.kind != KIND:
            continue
        finding = finding_from_conflict(RULE, ctx, conflict)
        call = _view_call_at(ctx, conflict.line, conflict.col)
        if call is not None:
            # `.view` -> `.reshape`: the attribute name ends where the func expression ends
            end_line, end_col = call.func.end_lineno, call.func.end_col_offset
            start = ctx.char_col(end_line, end_col - len("view"))
            finding.fix = TextFix("Use reshape (copies when the layout needs it)",
                                  (TextEdit(end_line, start, end_line, ctx.char_col(end_line, end_col), "reshape"),))
        yield finding


RULE = replace(shape_rule(
    code="SH019",
    name="view-non-contiguous",
    kinds=(KIND,),
    summary="view() merging dims that permute/transpose made non-contiguous",
    severity="error",
    docs="""\
`view` never copies: it needs the dims it merges to lie one after the other in memory.
After `transpose` or `permute` they do not, and `view` raises `RuntimeError: view size is not
compatible with input tensor's size and stride`. The classic case is putting attention heads
back together. Splitting a dim (`view(B, T, H, D)` of a `(B, T, C)` tensor) is always fine and
is not flagged; the rule only fires where the engine knows the tensor's layout (it came from
a creation op, a matmul, a Linear or `.contiguous()`, then permute/transpose).

Wrong:
    y = (att @ v).transpose(1, 2).view(B, T, C)

Right:
    y = (att @ v).transpose(1, 2).reshape(B, T, C)
    # or: .transpose(1, 2).contiguous().view(B, T, C)

Fix: `view` -> `reshape`.""",
), check=_check)
