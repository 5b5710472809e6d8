"""Tolerant parsing: a syntax error blanks only the innermost function (or top-level
statement) that holds it, never the whole file.

Python's ``ast`` gives exact positions and is fast; on a ``SyntaxError`` we find the
smallest enclosing ``def`` by indentation, replace its body with ``pass`` lines (keeping
line numbers, so every other position stays right) and parse again. parso would recover
too, but its tree would need a second interpreter; this keeps one.
"""

from __future__ import annotations

import ast
import re

_DEF = re.compile(r"^(\s*)(async\s+def|def|class)\s")
MAX_REPAIRS = 40


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _blank_block(lines: list, err_line: int) -> tuple:
    """Replace the innermost def/class around err_line (0-based) by a stub; return
    (new lines, description) or (lines, None) if nothing could be blanked."""
    # the innermost def whose body covers err_line: scan upwards for a def with
    # smaller indent than the error line (or the error line itself being a def)
    err_indent = _indent(lines[err_line]) if lines[err_line].strip() else 10 ** 6
    i = err_line
    while i >= 0:
        m = _DEF.match(lines[i])
        if m and (len(m.group(1)) < err_indent or i == err_line):
            break
        if lines[i].strip() and not lines[i].lstrip().startswith("#"):
            err_indent = min(err_indent, _indent(lines[i])) if i != err_line else err_indent
        i -= 1
    if i < 0:
        # error at module level: blank just the offending logical line(s) up to the next
        # line at indent 0
        start = err_line
        while start > 0 and _indent(lines[start]) > 0 and lines[start].strip():
            start -= 1
        end = err_line + 1
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > 0):
            end += 1
        new = lines[:start] + ["" for _ in range(start, end)] + lines[end:]
        return new, f"lines {start + 1}-{end}"
    def_indent = _indent(lines[i])
    # the def's header may span several lines: up to the line ending with ':'
    header_end = i
    while header_end < len(lines) - 1 and not lines[header_end].rstrip().endswith(":") \
            and header_end - i < 20:
        header_end += 1
    end = max(header_end + 1, err_line + 1)
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > def_indent):
        end += 1
    name_match = re.match(r"\s*(?:async\s+def|def|class)\s+(\w+)", lines[i])
    name = name_match.group(1) if name_match else "?"
    pad = " " * def_indent
    is_class = lines[i].lstrip().startswith("class")
    stub = f"{pad}{'class' if is_class else 'def'} {name}({'' if is_class else '*_a, **_k'}):"
    body = f"{pad}    pass"
    new = lines[:i] + [stub, body] + [""] * (end - i - 2) + lines[end:]
    if end - i < 2:
        new = lines[:i] + [stub + " pass"] + lines[end:]
    return new, name


def parse_tolerant(text: str):
    """Return (ast.Module, problems) where problems lists what had to be blanked."""
    problems: list = []
    lines = text.split("\n")
    for _ in range(MAX_REPAIRS):
        try:
            return ast.parse("\n".join(lines)), problems
        except SyntaxError as exc:
            ln = (exc.lineno or 1) - 1
            ln = max(0, min(ln, len(lines) - 1))
            new, what = _blank_block(lines, ln)
            problems.append(f"line {ln + 1}: syntax error ({exc.msg}); "
                            f"shapes of {what} not analysed")
            if new == lines:
                break
            lines = new
        except (ValueError, RecursionError, MemoryError) as exc:
            problems.append(f"cannot parse: {exc}")
            break
    return ast.Module(body=[], type_ignores=[]), problems
