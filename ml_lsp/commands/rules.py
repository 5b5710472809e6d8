"""``ml-lsp rules [CODE]``: the table of lint rules, or one rule's documentation."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rules", help="list the lint rules, or show one rule's docs",
                       description="Without CODE: a table of every rule. With CODE (or a rule "
                                   "name): what the rule catches, why it matters, a wrong and a right example.")
    p.add_argument("code", nargs="?", metavar="CODE", help="a rule code such as SH001, or its name")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from ml_lsp.analysis.lint import load_rules
    from ml_lsp.cli import UsageError

    rules = load_rules()
    if args.code:
        wanted = args.code.strip()
        rule = next((r for r in rules if r.code == wanted.upper() or r.name == wanted.lower()), None)
        if rule is None:
            close = [r.code for r in rules if r.code.startswith(wanted.upper()[:2])][:8]
            hint = f"; codes starting like it: {', '.join(close)}" if close else ""
            raise UsageError(f"no rule {wanted!r} (run `ml-lsp rules` for the list{hint})")
        if args.json:
            print(json.dumps(_as_dict(rule), indent=2))
            return 0
        fix = "fix available" if rule.fixable else "no automatic fix"
        print(f"{rule.code} {rule.name} ({rule.category}, {rule.severity}, {fix})\n")
        print(f"{rule.summary}.\n")
        print(rule.docs)
        return 0
    if args.json:
        print(json.dumps([_as_dict(r) for r in rules], indent=2))
        return 0
    width = max((len(r.name) for r in rules), default=4)
    print(f"{'CODE':<7}{'NAME':<{width + 2}}{'CATEGORY':<10}{'SEVERITY':<9}{'FIX':<5}SUMMARY")
    for r in rules:
        print(f"{r.code:<7}{r.name:<{width + 2}}{r.category:<10}{r.severity:<9}{'yes' if r.fixable else '':<5}{r.summary}")
    return 0


def _as_dict(rule) -> dict:
    return {"code": rule.code, "name": rule.name, "category": rule.category, "severity": rule.severity,
            "fixable": rule.fixable, "summary": rule.summary, "docs": rule.docs}
