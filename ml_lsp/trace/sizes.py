"""Input sizes the model can take, for the tracer to run it at.

The tracer runs ``forward`` with every input symbol at a small base value (``B=2, H=3,
W=5``). A model whose sizes are constrained (a ``Linear(512)`` after two convolutions and a
pool takes only ``H=W=8``; a ViT only its ``img_size``) fails there, and that failure is the
tracer's choice, not the user's bug. ``propose`` turns such a failure into other sizes to
try, best first (``fit`` picks the first sizes, before any failure, from what the static
engine says the layers need):

1. **The static engine's answer.** The static shapes of the values bound in the failing
   function, up to the failing line (closest first), are expressions of the input symbols
   (``32*((H-2)//2+1)*((W-2)//2+1)``); each is solved for the numbers the error names
   (``[2, 64] X [512, 5]``: 512), the symbols tied first (a square image), then one at a
   time.
2. The error's numbers as the sizes themselves (``Input height (3) doesn't match model
   (224)``).
3. A short ladder of common sizes.

The batch symbol is never searched (a batch of 2 fits every model that takes a batch).
Pure: no torch.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

from ml_lsp.trace.symbolic import compile_dim, eval_dim

#: common input sizes, tried after the static engine's and the error's
LADDER = (8, 16, 32, 64, 224, 28, 128, 256)
#: sizes tried at most per class (the base included); each costs one forward
MAX_PLANS = 8
#: the largest size a solution may give a symbol
MAX_SIZE = 4096
BATCH_NAMES = {"B", "N", "b", "batch", "bs", "batch_size", "nb"}

_NUMBER = re.compile(r"(?<![\w.])(\d{1,6})(?![\w.])")


def batch_symbols(inputs: Mapping[str, Mapping], symbols: Sequence[str]) -> set[str]:
    """The symbols that are a batch size: named like one, or only ever an input's first dim
    while the input has other symbolic dims (``(N, C, H, W)``)."""
    found = {s for s in symbols if s in BATCH_NAMES}
    first_only = set(symbols)
    for spec in inputs.values():
        for i, dim in enumerate(spec.get("dims") or []):
            if i > 0 and isinstance(dim, str):
                first_only -= _symbols(dim)
    return found | {s for s in first_only if any((spec.get("dims") or [None])[0] == s for spec in inputs.values())
                    and len(symbols) > 1}


def message_numbers(text: str) -> list[int]:
    """The integers an error message names, in order, each once (not the ones in file
    names or dotted versions)."""
    seen: list[int] = []
    for match in _NUMBER.finditer(text or ""):
        value = int(match.group(1))
        if value not in seen:
            seen.append(value)
    return seen


def solve(dim: str, target: int, env: Mapping[str, int], free: Sequence[str]) -> dict[str, int] | None:
    """An assignment close to ``env`` under which ``dim`` evaluates to ``target``: the free
    symbols of ``dim`` tied to one value (the smallest from 2 up), else one of them changed
    alone; None when there is none up to ``MAX_SIZE``."""
    names = [s for s in free if s in _symbols(dim)]
    if not names:
        return None
    value_of = compile_dim(dim)
    if value_of is None:
        return None
    for value in range(2, MAX_SIZE + 1):
        trial = dict(env, **{s: value for s in names})
        if value_of(trial) == target:
            return trial
    if len(names) > 1:
        for s in names:
            for value in range(2, MAX_SIZE + 1):
                trial = dict(env, **{s: value})
                if value_of(trial) == target:
                    return trial
    return None


def fit(constraints: Iterable[Mapping], env: Mapping[str, int], free: Sequence[str]) -> dict[str, int] | None:
    """Sizes near ``env`` under which every constraint's ``dim`` (an expression of the
    input symbols) equals its ``value``, what the static engine says the layers need
    (``Linear(512)`` after two 2x pools of ``(B, 32, H, W)``: ``32*(H//2)*(W//2) == 512``,
    so ``H=W=8``): the constrained free symbols tied to one value first (a square image),
    else each constraint solved in turn; None when nothing satisfies them all (then the
    search starts from ``env`` as before)."""
    usable = []
    for item in constraints:
        dim, value = item.get("dim"), item.get("value")
        if isinstance(dim, str) and isinstance(value, int) and _symbols(dim) & set(free) \
                and compile_dim(dim) is not None:
            usable.append((compile_dim(dim), dim, value))
    if not usable:
        return None

    def holds(trial: Mapping[str, int]) -> bool:
        return all(value_of(trial) == value for value_of, _, value in usable)

    names = [s for s in free if any(s in _symbols(dim) for _, dim, _ in usable)]
    for size in range(2, MAX_SIZE + 1):
        trial = dict(env, **{s: size for s in names})
        if holds(trial):
            return trial
    trial = dict(env)
    for _, dim, value in usable:
        solved = solve(dim, value, trial, free)
        if solved is not None:
            trial = solved
    return trial if holds(trial) else None


def propose(problem: Mapping, message: str, static: Iterable[Mapping], env: Mapping[str, int],
            free: Sequence[str]) -> list[dict[str, int]]:
    """Sizes to try after ``problem`` (a forward failure at ``env``), best first."""
    if not free:
        return []
    numbers = [n for n in message_numbers(message + " " + " ".join(
        str(o.get("value", "")) for o in problem.get("operands") or [])) if 2 <= n <= MAX_SIZE]
    plans: list[dict[str, int]] = []

    def add(plan: dict[str, int] | None) -> None:
        if plan is not None and plan != dict(env) and plan not in plans:
            plans.append(plan)

    for entry in _static_near(problem, static):
        for dim in entry.get("shape") or []:
            if not isinstance(dim, str) or not (_symbols(dim) & set(free)):
                continue
            now = eval_dim(dim, env)
            for target in numbers:
                if target != now:
                    add(solve(dim, target, env, free))
    for value in numbers:
        if value >= 4 and all(env[s] != value for s in free):
            add(dict(env, **{s: value for s in free}))
    for value in LADDER:
        add(dict(env, **{s: value for s in free}))
    return plans


def _static_near(problem: Mapping, static: Iterable[Mapping]) -> list[Mapping]:
    """Static entries of the failing function bound at or before the failing line, the
    closest first."""
    scope, line = problem.get("scope"), problem.get("line")
    if not scope or not line:
        return []
    path = problem.get("path")
    near = [e for e in static if e.get("scope") == scope and (e.get("line") or 0) <= line
            and (path is None or e.get("path") in (None, path))]
    return sorted(near, key=lambda e: -(e.get("line") or 0))[:12]


def describe(env: Mapping[str, int], free: Sequence[str]) -> str:
    """``H=W=8`` when the free symbols are tied, else ``H=3, W=5``."""
    values = [env[s] for s in free if s in env]
    if len(values) > 1 and len(set(values)) == 1:
        return "=".join(free) + f"={values[0]}"
    return ", ".join(f"{s}={env[s]}" for s in free if s in env)


def _symbols(dim: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_]\w*", dim))
