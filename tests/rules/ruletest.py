"""Helpers for the per-rule tests: lint a snippet with one rule selected, find the lines a
snippet marks with ``# <-`` (where a finding is expected), apply a rule's fixes."""

import ast
import textwrap

from ml_lsp.analysis.lint import check_source, fix_text, load_rules


def lint(src: str, code: str, **kw):
    return check_source(textwrap.dedent(src), "snippet.py", select=[code], **kw).findings


def marked_lines(src: str) -> list[int]:
    return [i for i, line in enumerate(textwrap.dedent(src).splitlines(), 1) if "# <-" in line]


def assert_flagged(src: str, code: str, *fragments: str, **kw):
    found = lint(src, code, **kw)
    assert [f.line for f in found] == marked_lines(src), [(f.line, f.message) for f in found]
    for f in found:
        assert f.code == code
        for fragment in fragments:
            assert fragment in f.message, f.message
    return found


def assert_clean(src: str, code: str, **kw):
    found = lint(src, code, **kw)
    assert found == [], [(f.line, f.message) for f in found]


def apply_fix(src: str, code: str, safe_only: bool = False, **kw) -> str:
    """Apply the rule's fixes to the snippet; the result must parse and be clean."""
    text = "\n".join(line.split("  # <-")[0] for line in textwrap.dedent(src).split("\n"))
    assert any(f.fix for f in lint(text, code, **kw)), "the rule offers no fix"
    fixed, applied = fix_text(text, lambda t: check_source(t, "snippet.py", select=[code], **kw).findings,
                              safe_only=safe_only)
    assert applied
    ast.parse(fixed)
    assert lint(fixed, code, **kw) == [], fixed
    return fixed


def rule(code: str):
    return next(r for r in load_rules() if r.code == code)
