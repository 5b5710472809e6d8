"""What a lint rule reports: plain dataclasses, no LSP types.

Positions follow the analysis contract: ``line`` 1-based, ``col`` 0-based, counted in
characters of the line (a str index, not ast's UTF-8 byte offset), ``end_*`` likewise.
The server turns them into LSP ranges, the CLI into ``path:line:col``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEVERITIES = ("error", "warning", "info", "hint")


@dataclass(frozen=True)
class TextEdit:
    line: int
    col: int
    end_line: int
    end_col: int
    new_text: str


@dataclass(frozen=True)
class TextFix:
    title: str
    edits: tuple[TextEdit, ...]
    # A safe fix keeps the program's meaning apart from the mistake it repairs; `ml-lsp
    # check --fix` applies only these, the editor offers all of them.
    safe: bool = True


@dataclass(frozen=True)
class Related:
    line: int
    col: int
    message: str
    path: str | None = None  # None: the same file


@dataclass
class Finding:
    code: str
    name: str
    category: str
    severity: str
    line: int
    col: int
    end_line: int
    end_col: int
    message: str
    related: list[Related] = field(default_factory=list)
    fix: TextFix | None = None

    def sort_key(self) -> tuple:
        return (self.line, self.col, self.code)
