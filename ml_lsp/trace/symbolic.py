"""Symbolic dims from concrete runs, and evaluation of dim expressions.

The tracer runs ``forward`` once with every input symbol at a base value and once more per
symbol with only that symbol changed. A recorded dim that never moves is an int; one that
moves with one symbol as ``a*S + b`` (integer ``a``, ``b``) is written ``"S"``, ``"2*S"``,
``"S+1"``; one that moves with several as ``c * S1 * S2`` is written ``"S1*S2"``; anything
else is reported unknown (None), never guessed. Pure: no torch.
"""

from __future__ import annotations

import ast
from fractions import Fraction
from typing import Mapping, Sequence

# Base and alternative values for input symbols, in order of first appearance. Small (a
# sequence length must stay under a model's block size), > 1 (size-1 dims broadcast and
# squeeze), and distinct so that two symbols never look alike in one run.
BASE_VALUES = (2, 3, 5, 7, 11, 13, 17, 19)
ALT_OFFSET = 2


def base_values(symbols: Sequence[str]) -> dict[str, int]:
    return {s: BASE_VALUES[i % len(BASE_VALUES)] + (i // len(BASE_VALUES)) * 23 for i, s in enumerate(symbols)}


def symbol_values(symbols: Sequence[str], base: Mapping[str, int] | None = None) -> list[dict[str, int]]:
    """The assignments to run: the base one first (``base``, else ``base_values``), then
    two per symbol changed alone (two points fit any line; the third checks it, so ``B*B``
    is not taken for ``6*B-8``)."""
    base = dict(base) if base is not None else base_values(symbols)
    runs = [base]
    for s in symbols:
        for offset in (ALT_OFFSET, 2 * ALT_OFFSET + 1):
            alt = dict(base)
            alt[s] = base[s] + offset
            runs.append(alt)
    return runs


def fit_dim(values: Sequence[int], runs: Sequence[Mapping[str, int]], symbols: Sequence[str]) -> int | str | None:
    """The dim seen as ``values[i]`` under assignment ``runs[i]`` (as made by
    ``symbol_values``), as an int, a symbolic expression, or None when no simple form fits."""
    base = values[0]
    if all(v == base for v in values):
        return base
    # Runs that failed (a size the model does not take) are simply not in ``runs``: a symbol
    # with no run of its own left is pinned at its base value, and dims follow as ints.
    alone = {s: [i for i, run in enumerate(runs) if i and _only_changed(run, runs[0]) == s] for s in symbols}
    moved = [s for s in symbols if any(values[i] != base for i in alone[s])]
    if any(len(alone[s]) < 2 for s in moved):
        return None  # one point more than the base would fit any line: not checked, not said
    if len(moved) == 1:
        s = moved[0]
        first = alone[s][0]
        a = Fraction(values[first] - base, runs[first][s] - runs[0][s])
        b = base - a * runs[0][s]
        if a.denominator != 1 or b.denominator != 1 or a == 0:
            return None
        if any(values[i] != a * runs[i][s] + b for i in alone[s]):
            return None
        return _linear(int(a), s, int(b))
    # Several symbols: only a pure product c * S1 * S2 ... is recognised.
    for i, run in enumerate(runs):
        prod = 1
        for s in moved:
            prod *= run[s]
        if i == 0:
            c = Fraction(base, prod)
            if c.denominator != 1 or c == 0:
                return None
        elif values[i] != c * prod:
            return None
    term = "*".join(moved)
    return term if c == 1 else f"{int(c)}*{term}"


def _only_changed(run: Mapping[str, int], base: Mapping[str, int]) -> str | None:
    changed = [s for s in run if run[s] != base[s]]
    return changed[0] if len(changed) == 1 else None


def _linear(a: int, s: str, b: int) -> str:
    term = s if a == 1 else f"{a}*{s}"
    if b > 0:
        return f"{term}+{b}"
    if b < 0:
        return f"{term}-{-b}"
    return term


def eval_dim(dim: int | str | None, env: Mapping[str, int]) -> int | None:
    """The value of a rendered dim (an int, or an expression such as ``"T+1"``,
    ``"C*H*W"``, ``"(H-3)//2+1"``) under ``env``; None when it is unknown or names a
    symbol ``env`` does not bind."""
    if dim is None or isinstance(dim, bool):
        return None
    if isinstance(dim, int):
        return dim
    try:
        tree = ast.parse(str(dim), mode="eval")
    except SyntaxError:
        return None
    try:
        value = _eval(tree.body, env)
    except (KeyError, ZeroDivisionError, ValueError, TypeError):
        return None
    return value if isinstance(value, int) else None


def compile_dim(dim: str):
    """``eval_dim`` for one expression, parsed once: a function ``env -> int | None`` (None
    when ``dim`` is not an expression)."""
    try:
        tree = ast.parse(str(dim), mode="eval").body
    except SyntaxError:
        return None

    def value_of(env: Mapping[str, int]) -> int | None:
        try:
            value = _eval(tree, env)
        except (KeyError, ZeroDivisionError, ValueError, TypeError):
            return None
        return value if isinstance(value, int) else None

    return value_of


_BINOPS = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a ** b if 0 <= b < 64 else None,
}


def _eval(node: ast.AST, env: Mapping[str, int]) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, env)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        value = _BINOPS[type(node.op)](_eval(node.left, env), _eval(node.right, env))
        if value is None:
            raise ValueError("exponent out of range")
        return value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        # "/" in a rendered dim means exact division.
        left, right = _eval(node.left, env), _eval(node.right, env)
        if right == 0 or left % right:
            raise ValueError("inexact division")
        return left // right
    raise ValueError(f"not a dim expression: {ast.dump(node)}")
