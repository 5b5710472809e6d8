"""Applying fixes: text edits with 1-based lines and 0-based character columns."""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

from ml_lsp.analysis.lint.finding import Finding, TextEdit


def _offsets(text: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def _offset(starts: list[int], text: str, line: int, col: int) -> int:
    if line > len(starts):
        return len(text)
    return min(starts[line - 1] + col, len(text))


def apply_edits(text: str, edits: Iterable[TextEdit]) -> str:
    """Apply non-overlapping edits (positions refer to ``text`` before any edit)."""
    starts = _offsets(text)
    spans = sorted(((_offset(starts, text, e.line, e.col), _offset(starts, text, e.end_line, e.end_col), e.new_text)
                    for e in edits), key=lambda s: (s[0], s[1]))
    out, pos = [], 0
    for start, end, new in spans:
        if start < pos:
            raise ValueError("overlapping edits")
        out.append(text[pos:start])
        out.append(new)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _span_set(text: str, edits: Sequence[TextEdit]) -> list[tuple[int, int]]:
    starts = _offsets(text)
    return [(_offset(starts, text, e.line, e.col), _offset(starts, text, e.end_line, e.end_col)) for e in edits]


def _overlaps(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> bool:
    for s1, e1 in a:
        for s2, e2 in b:
            if s1 < e2 and s2 < e1 or (s1 == s2):  # two inserts at one point conflict too
                return True
    return False


def fix_text(text: str, lint: Callable[[str], list[Finding]], safe_only: bool = True,
             max_rounds: int = 10) -> tuple[str, list[Finding]]:
    """Apply fixes until none is left (as ruff does: fixes that touch the same text wait
    for the next round, which re-lints the fixed text). Returns the new text and the
    findings that were fixed."""
    fixed: list[Finding] = []
    for _ in range(max_rounds):
        chosen: list[tuple[int, int]] = []
        edits: list[TextEdit] = []
        seen_edits: set[TextEdit] = set()
        round_fixed: list[Finding] = []
        for finding in sorted(lint(text), key=Finding.sort_key):
            fix = finding.fix
            if fix is None or (safe_only and not fix.safe):
                continue
            new_edits = [e for e in fix.edits if e not in seen_edits]
            spans = _span_set(text, new_edits)
            if _overlaps(spans, chosen):
                continue
            chosen.extend(spans)
            edits.extend(new_edits)
            seen_edits.update(fix.edits)
            round_fixed.append(finding)
        if not round_fixed:
            break
        text = apply_edits(text, edits)
        fixed.extend(round_fixed)
    return text, fixed
