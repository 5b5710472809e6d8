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


# Outlines: a library module parsed without its function bodies ------------------------
#
# A model file of a big library imports a closure of its modules (transformers'
# modeling_llama.py: 67 modules, 2.5 MB of source), and parsing them was half the time of
# ``ml-lsp shapes`` on it; the analysis runs few of their functions. An *outline* is the
# module parsed with the bodies of its functions (those outside other functions) left out,
# each body parsed on its first use (``LazyBody``). The trees are the same as a full parse's:
#
# - ``outline_spans`` takes, from a full parse, each function body that starts on a line
#   of its own: its first and last line, the column its last statement ends at and its
#   indentation. The caller keeps them (on disk, per text).
# - ``parse_outline`` blanks those lines but the last, which gets one expression statement
#   ending at the same column (``(   0)``), so the def, and every node around it, keeps its
#   positions; every other line is the text's own. Each def's body is then a ``LazyBody``.
# - A body is parsed from its own lines, unchanged and at their own line numbers, under an
#   ``if 1:`` header in place of the def's last line: the same statements, positions and all.
#   One that does not come out so (spans that do not belong to the text) is taken from a
#   full parse instead.

OUTLINE_MIN_LINES = 3  # shorter bodies cost less to parse than to leave out


def outline_spans(tree: ast.Module, text: str) -> tuple:
    """(first line, last line, end column, indentation) of each function body of ``tree``
    (the full parse of ``text``) that an outline leaves out, in order."""
    lines = text.split("\n")
    spans = []
    todo = list(reversed(tree.body))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first_stmt = node.body[0]
            first, last, end_col = _first_line(first_stmt), node.end_lineno, node.end_col_offset
            line = lines[first - 1]
            indent = line[:len(line) - len(line.lstrip(" \t\f"))]
            width = len(indent.encode("utf-8"))
            if (last - first + 1 >= OUTLINE_MIN_LINES and first_stmt.col_offset == width
                    and end_col > width and len(lines[last - 1].encode("utf-8")) >= end_col
                    and (first < 2 or not lines[first - 2].rstrip().endswith("\\"))):
                spans.append((first, last, end_col, indent))
            continue
        for field in ("body", "orelse", "finalbody", "handlers"):
            todo.extend(reversed(getattr(node, field, None) or ()))
    spans.sort()
    return tuple(spans)


def _first_line(stmt) -> int:
    """The line a statement starts on, its decorators included."""
    return min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])


def _stub(indent: str, end_col: int) -> str:
    """A statement at ``indent`` ending at byte column ``end_col``."""
    n = end_col - len(indent.encode("utf-8"))
    return indent + ("0" if n == 1 else "-0" if n == 2 else "(" + " " * (n - 3) + "0)")


class LazyBody(list):
    """A function's body, parsed on first use (see above). Everything that reads a body
    (iterating, indexing, ``len``, ``ast.walk``) parses it first; the def then holds the
    parsed list itself."""

    __slots__ = ("_node", "_lines", "_span", "_text")

    def __init__(self, node, lines: list, span: tuple, text: str) -> None:
        super().__init__()
        self._node, self._lines, self._span, self._text = node, lines, span, text

    def _force(self):
        node = self._node
        if node is None:
            return
        self._node = None
        first, last, end_col, _indent = self._span
        body = _parse_body(self._lines, first, last, end_col)
        if body is None:  # not the text's own body: from a full parse of the text
            body = _body_from_full_parse(self._text, node)
        list.extend(self, body)
        node.body = list(body)
        self._lines = self._text = None

    def __iter__(self):
        self._force()
        return list.__iter__(self)

    def __len__(self):
        self._force()
        return list.__len__(self)

    def __bool__(self):
        self._force()
        return list.__len__(self) > 0

    def __getitem__(self, index):
        self._force()
        return list.__getitem__(self, index)

    def __reversed__(self):
        self._force()
        return list.__reversed__(self)

    def __contains__(self, item):
        self._force()
        return list.__contains__(self, item)

    def __eq__(self, other):
        self._force()
        return list.__eq__(self, other)

    def __ne__(self, other):
        self._force()
        return list.__ne__(self, other)

    __hash__ = None

    def __add__(self, other):
        self._force()
        return list(self) + other

    def __radd__(self, other):
        self._force()
        return other + list(self)

    def __mul__(self, n):
        self._force()
        return list(self) * n

    def copy(self):
        self._force()
        return list(self)

    def index(self, *args):
        self._force()
        return list.index(self, *args)

    def count(self, item):
        self._force()
        return list.count(self, item)

    def __repr__(self):
        self._force()
        return list.__repr__(self)

    def __reduce__(self):
        self._force()
        return (list, (list(self),))


def _parse_body(lines: list, first: int, last: int, end_col: int):
    if first < 2:
        return None
    segment = "\n" * (first - 2) + "if 1:\n" + "\n".join(lines[first - 1:last])
    try:
        module = ast.parse(segment)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if len(module.body) != 1 or not isinstance(module.body[0], ast.If):
        return None
    body = module.body[0].body
    if not body or _first_line(body[0]) != first or body[-1].end_lineno != last or body[-1].end_col_offset != end_col:
        return None
    return body


def _body_from_full_parse(text: str, node):
    for other in ast.walk(ast.parse(text)):
        if (type(other) is type(node) and other.lineno == node.lineno and other.col_offset == node.col_offset
                and other.name == node.name):
            return other.body
    return []


def parse_outline(text: str, spans) -> ast.Module | None:
    """``text`` parsed with the bodies ``spans`` name left for later (``LazyBody``), or
    None when the spans do not fit the text (the caller then parses it whole). The spans
    must be ``outline_spans`` of this very text (a store keeps them by the text's digest):
    a span that runs past its def's end would blank the statements after it."""
    if "\r" in text:
        return None
    lines = text.split("\n")
    outline = list(lines)
    try:
        for first, last, end_col, indent in spans:
            if not (2 <= first <= last <= len(lines)) or len(lines[last - 1].encode("utf-8")) < end_col:
                return None
            if not lines[first - 1].startswith(indent) or indent.strip(" \t\f"):
                return None
            if end_col <= len(indent.encode("utf-8")):
                return None
            for i in range(first - 1, last - 1):
                outline[i] = ""
            outline[last - 1] = _stub(indent, end_col)
        tree = ast.parse("\n".join(outline))
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        return None
    by_last = {(span[1], span[2]): span for span in spans}
    found = 0
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            span = by_last.get((node.end_lineno, node.end_col_offset))
            if span is not None and len(node.body) == 1 and node.body[0].lineno == span[1]:
                node.body = LazyBody(node, lines, span, text)
                found += 1
            continue
        for field in ("body", "orelse", "finalbody", "handlers"):
            todo.extend(getattr(node, field, None) or ())
    return tree if found == len(spans) else None


def same_outline(full: ast.Module, outline: ast.Module) -> bool:
    """Whether ``outline`` (``parse_outline``'s tree) is ``full`` but for the bodies it
    leaves out: compared node for node, positions included, down to each def."""
    a_todo, b_todo = [full], [outline]
    while a_todo:
        a, b = a_todo.pop(), b_todo.pop()
        if type(a) is not type(b):
            return False
        if isinstance(a, ast.AST):
            if isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef)) and type(b.body) is LazyBody:
                fields = [f for f in a._fields if f != "body"]
            else:
                fields = a._fields
            for attr in ("lineno", "col_offset", "end_lineno", "end_col_offset"):
                if getattr(a, attr, None) != getattr(b, attr, None):
                    return False
            for f in fields:
                a_todo.append(getattr(a, f, None))
                b_todo.append(getattr(b, f, None))
        elif isinstance(a, list):
            if list.__len__(a) != list.__len__(b):
                return False
            a_todo.extend(a)
            b_todo.extend(b)
        elif a != b:
            return False
    return True
