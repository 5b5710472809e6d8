"""Hover text: Markdown written so that what it shows is what it says, and the plain text
a client that asked for it gets instead.

Shapes and source snippets hold Markdown's own characters (``(B*T, C)``, ``x[:, 0]``,
``a_b``): they go in code spans (``code``) or are escaped (``escape``), never written raw.
A client that lists ``plaintext`` first in ``hover.contentFormat`` (Emacs's eglot without
markdown-mode) gets ``to_plain`` of the same text: the few constructs written here
(emphasis, code spans, escapes, rules, list items) undone.
"""

from __future__ import annotations

import re

# The characters that change how inline Markdown renders (emphasis, code, links, HTML,
# tables, strike-through); parentheses and dots mean nothing once brackets are escaped.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
_SPAN = re.compile(r"(`+)(.*?)\1", re.S)
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")


def escape(text: str) -> str:
    """``text`` shown as it is in Markdown (``B*T`` is not emphasis)."""
    text = _SPECIAL.sub(r"\\\1", text)
    return "\\" + text if text[:1] in ("#", "-", "+") else text  # not a heading or list item


def code(text: str) -> str:
    """``text`` as an inline code span, fenced with more backticks than it holds."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def to_plain(markdown: str) -> str:
    """The hover's Markdown (as written by this package) as plain text."""
    out = []
    for line in markdown.split("\n"):
        if line.strip() == "---":
            out.append("─" * 20)
            continue
        spans: list[str] = []

        def keep(match: re.Match) -> str:
            body = match.group(2)
            if body.startswith(" ") and body.endswith(" ") and body.strip():
                body = body[1:-1]
            spans.append(body)
            return f"\0{len(spans) - 1}\0"

        line = _SPAN.sub(keep, line)
        line = line.replace("**", "")
        line = _ESCAPED.sub(r"\1", line)
        line = re.sub(r"\0(\d+)\0", lambda m: spans[int(m.group(1))], line)
        out.append(line)
    return "\n".join(out)


def wants_plain_text(client_capabilities) -> bool:
    """The client lists plain text first (or only) among its hover formats."""
    text_document = getattr(client_capabilities, "text_document", None)
    hover = getattr(text_document, "hover", None)
    formats = list(getattr(hover, "content_format", None) or [])
    return bool(formats) and formats[0] == "plaintext"
