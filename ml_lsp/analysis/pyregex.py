"""``re.search``/``re.match``/``re.fullmatch``/``re.split``/``re.findall`` on strings the engine knows.

Dispatch code picks a branch with a regular expression on a configuration string
(transformers' ``is_kernel("sdpa")``). Left unknown, both branches run, and the branch
Python never takes may overwrite a table the model reads later. Matching is a pure function
of two known strings, so the engine runs it, but only for patterns that cannot backtrack
for long: no repeat nested inside another repeat, no back-references, and short subjects
(a stranger's pattern must not hang the language server).
"""

from __future__ import annotations

import re

try:  # Python 3.11+
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older Pythons
    import sre_parse  # type: ignore[no-redef]

from ml_lsp.analysis.provenance import SourceValue
from ml_lsp.analysis.values import UNK

MAX_SUBJECT = 256
MAX_PATTERN = 256
_REPEATS = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", None)}


class RegexMatch(SourceValue):
    """A match object: its groups and span, all known."""

    origin = "re.Match"

    def __init__(self, match: re.Match) -> None:
        self.match = match

    def method(self, name, a):
        args = [x for x in a.args]
        if not all(isinstance(x, (int, str)) and not isinstance(x, bool) for x in args):
            return UNK
        try:
            if name == "group":
                return self.match.group(*args) if args else self.match.group()
            if name == "groups":
                return _seq(self.match.groups())
            if name in ("start", "end"):
                return getattr(self.match, name)(*args)
            if name == "span":
                return _seq(self.match.span(*args))
        except (IndexError, re.error):
            return UNK
        return UNK


def _seq(items):
    from ml_lsp.analysis.values import Seq
    return Seq(list(items), "tuple")


def _can_backtrack_long(parsed) -> bool:
    """A repeat inside a repeat (``(a+)+``), alternatives inside a repeat (``(a|aa)+``), or a
    back-reference: the shapes whose matching time can grow exponentially with the subject."""

    def walk(items, inside_repeat: bool) -> bool:
        for op, av in items:
            if op in _REPEATS:
                repeats = av[1] > 1  # `x?` matches once at most: not a loop
                if inside_repeat and repeats:
                    return True
                if walk(av[2], inside_repeat or repeats):
                    return True
            elif op is sre_parse.SUBPATTERN:
                if walk(av[-1], inside_repeat):
                    return True
            elif op is sre_parse.BRANCH:
                if inside_repeat:  # (a|aa)+: the alternatives overlap, trips multiply
                    return True
                if any(walk(alt, inside_repeat) for alt in av[1]):
                    return True
            elif op in (sre_parse.GROUPREF, getattr(sre_parse, "GROUPREF_EXISTS", None)):
                return True
            elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
                if walk(av[1], inside_repeat):
                    return True
        return False

    return walk(parsed, False)


def _safe(pattern, subject, flags) -> bool:
    """Known strings, short enough, and a pattern that cannot backtrack for long."""
    if not isinstance(pattern, str) or not isinstance(subject, str) or not isinstance(flags, int) \
            or isinstance(flags, bool):
        return False
    if len(pattern) > MAX_PATTERN or len(subject) > MAX_SUBJECT:
        return False
    try:
        return not _can_backtrack_long(sre_parse.parse(pattern, flags))
    except (re.error, TypeError, ValueError, RecursionError):
        return False


def split(pattern, subject, maxsplit=0, flags=0):
    """``re.split``: a list of strings (None for a group that took no part), or UNK. timm's
    block strings are read so: ``re.split(r'(\\d.*)', 'c16')`` -> ``['c', '16', '']``."""
    from ml_lsp.analysis.values import Seq

    if not _safe(pattern, subject, flags) or not isinstance(maxsplit, int) or isinstance(maxsplit, bool):
        return UNK
    try:
        return Seq(list(re.split(pattern, subject, maxsplit=maxsplit, flags=flags)), "list")
    except (re.error, TypeError, ValueError, RecursionError):
        return UNK


def findall(pattern, subject, flags=0):
    """``re.findall``: a list of strings (or of tuples of groups), or UNK."""
    from ml_lsp.analysis.values import Seq

    if not _safe(pattern, subject, flags):
        return UNK
    try:
        found = re.findall(pattern, subject, flags=flags)
    except (re.error, TypeError, ValueError, RecursionError):
        return UNK
    return Seq([_seq(x) if isinstance(x, tuple) else x for x in found], "list")


def match(kind: str, pattern, subject, flags=0):
    """What ``re.<kind>(pattern, subject, flags)`` returns: ``None``, a ``RegexMatch``, or
    ``UNK`` when an argument is not a known string or the pattern is not safe to run."""
    if not _safe(pattern, subject, flags):
        return UNK
    try:
        found = getattr(re, kind)(pattern, subject, flags)
    except (re.error, TypeError, ValueError, RecursionError):
        return UNK
    return None if found is None else RegexMatch(found)
