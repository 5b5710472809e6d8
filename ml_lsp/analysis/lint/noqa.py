"""``# noqa`` comments, as ruff and flake8 read them: ``# noqa`` alone silences every
finding that starts on that line, ``# noqa: SH001, TR0`` only those codes (or prefixes)."""

from __future__ import annotations

import io
import re
import tokenize

NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Za-z]+[0-9]*(?:[\s,]+[A-Za-z]+[0-9]*)*))?", re.I)
ALL = None  # a bare ``# noqa``


def noqa_lines(text: str) -> dict[int, frozenset[str] | None]:
    """line -> the codes silenced there (``None``: all codes)."""
    if "noqa" not in text.lower():
        return {}
    comments: list[tuple[int, str]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                comments.append((tok.start[0], tok.string))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # Half-typed code: fall back to a plain scan of every '#' (a '# noqa' inside a
        # string would count too, which is harmless).
        comments = [(i, line[line.index("#"):]) for i, line in enumerate(text.splitlines(), 1)
                    if "#" in line]
    result: dict[int, frozenset[str] | None] = {}
    for line, comment in comments:
        match = NOQA.search(comment)
        if not match:
            continue
        codes = match.group("codes")
        result[line] = ALL if not codes else frozenset(
            c.upper() for c in re.split(r"[\s,]+", codes) if c)
    return result


def is_suppressed(code: str, line: int, noqa: dict[int, frozenset[str] | None]) -> bool:
    if line not in noqa:
        return False
    codes = noqa[line]
    return codes is ALL or any(code.startswith(c) for c in codes)
