"""Which rules run, chosen as ruff chooses: ``select`` and ``ignore`` hold codes, code
prefixes (``TR``, ``SH0``), rule names (``missing-zero-grad``) or ``ALL``; an empty
``select`` means every rule. The most specific selector wins; on a tie, ignore wins."""

from __future__ import annotations

from typing import Iterable, Sequence

from ml_lsp.analysis.lint.rule import Rule


def as_list(value: str | Iterable[str] | None) -> list[str]:
    """Settings and flags give either a list or one comma-separated string."""
    if not value:
        return []
    if isinstance(value, str):
        value = [value]
    out: list[str] = []
    for item in value:
        out.extend(part.strip() for part in str(item).split(",") if part.strip())
    return out


def _specificity(rule: Rule, selectors: Sequence[str]) -> int:
    """-1: no selector matches; otherwise how specific the best match is."""
    best = -1
    for sel in selectors:
        if sel.upper() == "ALL":
            best = max(best, 0)
        elif sel.lower() == rule.name:
            best = max(best, 100)
        elif rule.code.startswith(sel.upper()):
            best = max(best, len(sel))
    return best


def is_enabled(rule: Rule, select: Sequence[str] = (), ignore: Sequence[str] = ()) -> bool:
    chosen = _specificity(rule, select) if select else 0
    if chosen < 0:
        return False
    dropped = _specificity(rule, ignore)
    return dropped < 0 or chosen > dropped


def unknown_selectors(rules: Sequence[Rule], selectors: Sequence[str]) -> list[str]:
    """Selectors that match no rule at all (a typo the user should hear about)."""
    out = []
    for sel in selectors:
        if sel.upper() == "ALL":
            continue
        if not any(r.name == sel.lower() or r.code.startswith(sel.upper()) for r in rules):
            out.append(sel)
    return out


def select_rules(rules: Sequence[Rule], select: Sequence[str] = (), ignore: Sequence[str] = ()) -> list[Rule]:
    return [r for r in rules if is_enabled(r, select, ignore)]
