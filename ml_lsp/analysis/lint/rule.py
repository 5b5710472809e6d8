"""A lint rule and the context it checks.

A rule is one small module in a plugin (the built-in ones are in ``plugins/ml_lsp_rules``)
that builds a ``Rule``: its code (``SH001``), a kebab-case name, a category (``shape``,
``training``, ``data``), a default severity, a one-line summary, a docs paragraph and a
``check(ctx) -> Iterable[Finding]`` function. ``ctx`` gives the source, its ``ast`` tree
and, lazily, the static shape engine's facts and the training-script facts, so a file with
no shape rules selected never runs the shape engine.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable

from ml_lsp.analysis.lint.finding import Finding, Related, TextEdit, TextFix


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    category: str
    severity: str
    summary: str
    docs: str
    check: Callable[["LintContext"], Iterable[Finding]]
    fixable: bool = False
    conflict_kinds: frozenset[str] = frozenset()  # shape rules: the engine's conflict kinds

    def finding(self, line: int, col: int, end_line: int, end_col: int, message: str,
                related: list[Related] | None = None, fix: TextFix | None = None,
                severity: str | None = None) -> Finding:
        return Finding(self.code, self.name, self.category, severity or self.severity,
                       line, col, end_line, end_col, message, list(related or ()), fix)

    def at_node(self, ctx: "LintContext", node: ast.AST, message: str, **kw: Any) -> Finding:
        line, col, end_line, end_col = ctx.span(node)
        return self.finding(line, col, end_line, end_col, message, **kw)


@dataclass
class LintContext:
    text: str
    path: str | None = None
    entry: str | None = None
    init: str | None = None
    inputs: dict[str, list[int | str]] | None = None
    resolve_module: Callable[[str, str | None], tuple[str, str] | None] | None = None
    shape_facts: Any = None  # precomputed ModuleFacts (the server's cache), else computed lazily
    # how ``facts`` is worked out when a rule first asks, in place of a plain analysis
    # (``ml-lsp check``: within the file's budgets); None from it falls back to the plain one
    facts_source: Callable[[], Any] | None = None
    batch: Any = None  # a BatchCache: the tree parsed once for the rules and the shape engine
    # package -> version installed in the workspace's interpreter (read by the caller from
    # package metadata on disk); None when not known
    versions: dict[str, str] | None = None
    callers: Any = None  # (path, text) of the workspace files that call this file's models
    problems: list[str] = field(default_factory=list)
    input_error: str | None = None  # the engine rejected entry/init/inputs (bad usage, not a finding)

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    @cached_property
    def tree(self) -> ast.Module | None:
        if self.batch is not None:
            tree, problems = self.batch.parse(self.text, self.path)
            if not problems:  # else parse again below, for the syntax error's own message
                return tree
        try:
            return ast.parse(self.text, filename=self.path or "<unknown>")
        except (SyntaxError, ValueError) as exc:
            self.problems.append(f"syntax error, training rules skipped: {exc}")
            return None

    @cached_property
    def facts(self) -> Any:
        """The shape engine's ModuleFacts, or None when the engine is unavailable or failed
        (a failure is a problem line, never a finding)."""
        if self.shape_facts is not None:
            return self.shape_facts
        if self.facts_source is not None:
            facts = self.facts_source()
            if facts is not None:
                return facts
        try:
            from ml_lsp.analysis import analyze_source
        except ImportError as exc:
            self.problems.append(f"shape engine unavailable: {exc}")
            return None
        try:
            return analyze_source(self.text, self.path, inputs=self.inputs, entry=self.entry,
                                  init=self.init, resolve_module=self.resolve_module, batch=self.batch,
                                  callers=self.callers)
        except Exception as exc:  # an engine bug must cost shape findings, not the file
            if type(exc).__name__ == "InputError":
                self.input_error = str(exc)
            else:
                self.problems.append(f"shape engine failed: {type(exc).__name__}: {exc}")
            return None

    @cached_property
    def script(self) -> Any:
        from ml_lsp.analysis.lint.script_facts import ScriptFacts
        return ScriptFacts(self.tree) if self.tree is not None else None

    # Positions -----------------------------------------------------------------------
    def char_col(self, line: int, byte_col: int) -> int:
        """ast counts columns in UTF-8 bytes; findings count characters."""
        if not 1 <= line <= len(self.lines):
            return byte_col
        text = self.lines[line - 1]
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def span(self, node: ast.AST) -> tuple[int, int, int, int]:
        line = node.lineno
        end_line = getattr(node, "end_lineno", None) or line
        end_col = getattr(node, "end_col_offset", None)
        return (line, self.char_col(line, node.col_offset), end_line,
                self.char_col(end_line, end_col if end_col is not None else node.col_offset))

    def source(self, node: ast.AST) -> str:
        """``ast.get_source_segment``, which splits the whole text on each call (26 ms a call
        on a big file), from lines split once."""
        end_line, end_col = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
        if end_line is None or end_col is None or not hasattr(node, "lineno"):
            return ""
        lines = self._segment_lines
        first, last = node.lineno - 1, end_line - 1
        if not 0 <= first <= last < len(lines):
            return ""
        if first == last:
            return lines[first].encode()[node.col_offset:end_col].decode()
        return "".join([lines[first].encode()[node.col_offset:].decode(), *lines[first + 1:last],
                        lines[last].encode()[:end_col].decode()])

    @cached_property
    def _segment_lines(self) -> list:
        # as ast.get_source_segment splits: on \r\n, \r and \n only, each line keeping its end
        return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", self.text)

    def indent_of(self, line: int) -> str:
        text = self.lines[line - 1] if 1 <= line <= len(self.lines) else ""
        return text[: len(text) - len(text.lstrip())]

    @cached_property
    def indent_unit(self) -> str:
        """The file's own indentation step (4 spaces, 2 spaces or a tab)."""
        widths = set()
        for text in self.lines:
            stripped = text.lstrip(" ")
            if text.startswith("\t"):
                return "\t"
            if stripped and stripped != text and not stripped.startswith("#"):
                widths.add(len(text) - len(stripped))
        if not widths:
            return "    "
        from math import gcd
        step = 0
        for w in widths:
            step = gcd(step, w)
        return " " * (step if step in (2, 3, 4, 8) else 4)

    def replace(self, node: ast.AST, new_text: str) -> TextEdit:
        line, col, end_line, end_col = self.span(node)
        return TextEdit(line, col, end_line, end_col, new_text)

    def insert_line_before(self, line: int, text_at_indent: str, indent: str | None = None) -> TextEdit:
        """Insert a whole line before ``line`` with that line's indentation (or ``indent``)."""
        ind = self.indent_of(line) if indent is None else indent
        return TextEdit(line, 0, line, 0, f"{ind}{text_at_indent}\n")


def shape_rule(code: str, name: str, kinds: Iterable[str], summary: str, docs: str,
               severity: str = "error") -> Rule:
    """A rule that reports the shape engine's proved conflicts of the given kinds
    (``ShapeConflict.kind``, see ANALYSIS_API): the engine proves, the rule names it."""
    kinds = frozenset(kinds)

    def check(ctx: LintContext) -> Iterable[Finding]:
        facts = ctx.facts
        for conflict in getattr(facts, "conflicts", None) or ():
            if conflict.kind in kinds:
                yield finding_from_conflict(rule, ctx, conflict)

    rule = Rule(code, name, "shape", severity, summary, docs, check, fixable=True,
                conflict_kinds=kinds)
    return rule


def finding_from_conflict(rule: Rule, ctx: LintContext, conflict: Any) -> Finding:
    """The engine counts columns as ``ast`` does (UTF-8 bytes); findings count characters."""
    cc = ctx.char_col
    related = []
    for r in getattr(conflict, "related", None) or ():
        path = getattr(r, "path", None)
        col = getattr(r, "col", 0) or 0
        related.append(Related(r.line, col if path else cc(r.line, col), r.message, path))
    fix = None
    engine_fix = getattr(conflict, "fix", None)
    if engine_fix is not None and getattr(engine_fix, "edits", None):
        fix = TextFix(engine_fix.title, tuple(
            TextEdit(e.line, cc(e.line, e.col), e.end_line, cc(e.end_line, e.end_col), e.new_text)
            for e in engine_fix.edits), safe=getattr(engine_fix, "safe", True))
    return rule.finding(conflict.line, cc(conflict.line, conflict.col), conflict.end_line,
                        cc(conflict.end_line, conflict.end_col), conflict.message,
                        related=related, fix=fix)
