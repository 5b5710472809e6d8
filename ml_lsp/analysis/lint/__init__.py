"""The lint framework: rules from plugins, run over one source text, filtered by
``select``/``ignore`` and ``# noqa``. Pure: text in, ``Finding`` dataclasses out; the
CLI (``ml-lsp check``) and the server (``ml_lsp.server.diagnostics``) share it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ml_lsp.analysis.lint.finding import SEVERITIES, Finding, Related, TextEdit, TextFix
from ml_lsp.analysis.lint.fixes import apply_edits, fix_text
from ml_lsp.analysis.lint.noqa import is_suppressed, noqa_lines
from ml_lsp.analysis.lint.rule import LintContext, Rule, shape_rule
from ml_lsp.analysis.lint.selection import as_list, is_enabled, select_rules, unknown_selectors

__all__ = [
    "SEVERITIES", "Finding", "Related", "TextEdit", "TextFix", "Rule", "LintContext", "LintResult",
    "shape_rule", "load_rules", "check_source", "apply_edits", "fix_text", "noqa_lines",
    "select_rules", "is_enabled", "as_list", "unknown_selectors",
]


@dataclass
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # e.g. a syntax error, a rule that raised
    input_error: str | None = None  # the engine rejected the entry/init/inputs it was given


def load_rules(host: Any = None) -> list[Rule]:
    """Every rule the installed plugins contribute (``ml_lsp_lint_rules``), in the order the
    plugins list them; a later plugin's rule replaces an earlier one with the same code."""
    if host is None:
        from ml_lsp.plugins import default_host
        host = default_host()
    by_code: dict[str, Rule] = {}
    for rule in host.merged_sequence("ml_lsp_lint_rules"):
        if all(hasattr(rule, a) for a in ("code", "name", "check")):
            by_code[rule.code] = rule
    return list(by_code.values())


def check_source(text: str, path: str | None = None, *, rules: Sequence[Rule] | None = None,
                 select: Sequence[str] = (), ignore: Sequence[str] = (),
                 entry: str | None = None, init: str | None = None,
                 inputs: dict[str, list[int | str]] | None = None,
                 resolve_module: Callable | None = None, shape_facts: Any = None,
                 severity_overrides: dict[str, str] | None = None, batch: Any = None,
                 versions: dict[str, str] | None = None, callers: Any = None,
                 facts_source: Callable[[], Any] | None = None) -> LintResult:
    """``batch``: a ``BatchCache`` shared by the files of one command (each parsed once).
    A text above the engine's size limit gets no rule run, only a note in ``problems``.
    ``versions``: the workspace interpreter's package versions (``ml_lsp.workspace_env``).
    ``facts_source``: how to work out the shape facts if a selected rule reads them (the
    shape engine runs only then), instead of a plain ``analyze_source``."""
    from ml_lsp.analysis.parse import too_large

    large = too_large(text)
    if large is not None:
        return LintResult(problems=[large])
    rules = load_rules() if rules is None else rules
    ctx = LintContext(text, path, entry=entry, init=init, inputs=inputs,
                      resolve_module=resolve_module, shape_facts=shape_facts, batch=batch,
                      versions=versions, callers=callers, facts_source=facts_source)
    noqa = noqa_lines(text)
    findings: list[Finding] = []
    seen: set[tuple] = set()
    for rule in select_rules(rules, as_list(select), as_list(ignore)):
        try:
            produced = list(rule.check(ctx))
        except Exception as exc:  # one broken rule must not hide the others
            ctx.problems.append(f"rule {rule.code} failed: {type(exc).__name__}: {exc}")
            continue
        for finding in produced:
            key = (finding.code, finding.line, finding.col, finding.message)
            if key in seen or is_suppressed(finding.code, finding.line, noqa):
                continue
            seen.add(key)
            if severity_overrides and finding.code in severity_overrides:
                finding.severity = severity_overrides[finding.code]
            findings.append(finding)
    findings.sort(key=Finding.sort_key)
    return LintResult(findings, list(dict.fromkeys(ctx.problems)), ctx.input_error)
