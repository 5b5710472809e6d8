"""Tolerant parsing: a syntax error blanks only the innermost function (or top-level
statement) that holds it, never the whole file.

Python's ``ast`` gives exact positions and is fast; on a ``SyntaxError`` we find the
smallest enclosing ``def`` by indentation, replace its body with ``pass`` lines (keeping
line numbers, so every other position stays right) and parse again. parso would recover
too, but its tree would need a second interpreter; this keeps one.

Before parsing: ``decode_source`` turns a file's bytes into text as Python does (its
``# coding:`` line), and ``too_large`` refuses a text above ``MAX_SOURCE_BYTES``.
"""

from __future__ import annotations

import ast
import codecs
import io
import re
import tokenize

# Bigger sources are not analysed at all (a note says so): a 10 MB file of model classes
# would take seconds and gigabytes, and no hand-written model file comes near the limit.
MAX_SOURCE_BYTES = 2 * 1024 * 1024


def too_large(text: str, limit: int = MAX_SOURCE_BYTES) -> str | None:
    """The note for a source above ``limit`` UTF-8 bytes, else None."""
    if len(text) * 4 <= limit:  # cheap: no character takes more than 4 bytes
        return None
    size = len(text.encode("utf-8", "surrogatepass"))
    if size <= limit:
        return None
    return f"too large for shape analysis ({size / 2**20:.1f} MB > {limit / 2**20:g} MB)"


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


class SourceDecodeError(ValueError):
    """Bytes that are not the text of a Python file: an unknown ``# coding:`` line, or a
    byte the declared (or default UTF-8) encoding cannot decode. The message names it
    and its line."""


def source_encoding(raw: bytes) -> str:
    """The encoding Python reads these bytes with (PEP 263: a UTF-8 byte-order mark, then
    ``utf-8-sig``, or a ``# coding:`` line in the first two lines, else UTF-8)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    except SyntaxError as exc:
        raise SourceDecodeError(_declaration_problem(raw, exc)) from None
    return encoding


def decode_source(raw: bytes) -> str:
    """A Python file's bytes as Python reads them (``source_encoding``); newlines are left
    as they are."""
    encoding = source_encoding(raw)
    try:
        return raw.decode(encoding)  # "utf-8-sig" when there is a byte-order mark: it drops it
    except UnicodeDecodeError as exc:
        raise SourceDecodeError(_bad_byte(raw, exc, encoding)) from None


def _declaration_problem(raw: bytes, exc: SyntaxError) -> str:
    """Why ``tokenize.detect_encoding`` refused, with the line: its own message has none."""
    for number, line in enumerate(raw.removeprefix(codecs.BOM_UTF8).split(b"\n", 2)[:2], start=1):
        match = tokenize.cookie_re.match(line.decode("latin-1"))
        if match is None:
            continue
        name = match.group(1)
        try:
            codecs.lookup(name)
        except LookupError:
            return f"unknown encoding {name!r} on line {number}"
        return f"the encoding {name!r} on line {number} contradicts the file's UTF-8 byte-order mark"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as decode_error:
        return _bad_byte(raw, decode_error, "utf-8")
    return exc.msg


def _bad_byte(raw: bytes, exc: UnicodeDecodeError, encoding: str) -> str:
    line = raw.count(b"\n", 0, exc.start) + 1
    return f"byte 0x{raw[exc.start]:02x} on line {line} is not valid {encoding.replace('-sig', '')} ({exc.reason})"
