"""The einops pattern grammar's sides (``"b (h d) n"``), read by the einops shape rules
(plugins/ml_lsp_torch_shapes/einops_rules.py) and by the engine, which learns an input's
rank from the pattern that first consumes it (``Interp.note_pattern_rank``)."""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\(|\)|\.\.\.|[A-Za-z_][A-Za-z0-9_]*|\d+")


def parse_side(text: str):
    """``"b (h d) n"`` -> [["b"], ["h", "d"], ["n"]]; ``...`` is its own group; None when
    the parentheses do not pair."""
    groups, cur = [], None
    for tok in _TOKEN.findall(text):
        if tok == "(":
            if cur is not None:
                return None
            cur = []
        elif tok == ")":
            if cur is None:
                return None
            groups.append(cur)
            cur = None
        elif cur is not None:
            cur.append(tok)
        else:
            groups.append([tok])
    return None if cur is not None else groups


def axis_name(group: list):
    """The group's axis name when it is one named axis (``b``), else None (``(h d)``, ``1``)."""
    return group[0] if len(group) == 1 and (group[0][0].isalpha() or group[0][0] == "_") else None
