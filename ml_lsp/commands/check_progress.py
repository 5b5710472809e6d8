"""Progress of ``ml-lsp check`` on stderr: nothing for a run under a second; then, on a
terminal, a bar (rich: files done / total, rate, the file last worked on), and where
stderr is not a terminal (CI logs), a plain line every few seconds. The JSON and SARIF
formats show nothing: their readers are programs."""

from __future__ import annotations

import sys
import time

# Nothing is shown before this many seconds (a quick check stays quiet).
SHOW_AFTER_S = 1.0
# Where stderr is not a terminal: one line this often.
LINE_EVERY_S = 5.0


class Progress:
    def __init__(self, total: int, mode: str | None, stream=None) -> None:
        """``mode``: "bar", "lines" or None (show nothing)."""
        self.total, self.mode = total, mode
        self.stream = stream or sys.stderr
        self.done = 0
        self.current = ""
        self.started = time.monotonic()
        self._last_line = 0.0
        self._bar = None
        self._task = None

    @classmethod
    def for_output(cls, total: int, fmt: str) -> "Progress":
        if fmt in ("json", "sarif"):
            return cls(total, None)
        return cls(total, "bar" if sys.stderr.isatty() else "lines")

    def working_on(self, path: str) -> None:
        self.current = path
        self._show()

    def finished(self, path: str) -> None:
        self.done += 1
        self.current = path
        self._show()

    def tick(self) -> None:
        self._show()

    def _show(self) -> None:
        if self.mode is None:
            return
        now = time.monotonic()
        elapsed = now - self.started
        if elapsed < SHOW_AFTER_S:
            return
        if self.mode == "lines":
            if self.done == self.total:
                return  # the summary follows
            if self._last_line and now - self._last_line < LINE_EVERY_S:
                return
            self._last_line = now
            rate = self.done / elapsed if elapsed else 0.0
            print(f"ml-lsp check: {self.done}/{self.total} files checked ({rate:.1f} files/s)"
                  f"{', at ' + _short(self.current) if self.current else ''}", file=self.stream, flush=True)
            return
        if self._bar is None:
            self._start_bar()
        self._bar.update(self._task, completed=self.done, file=_short(self.current),
                         rate=f"{self.done / elapsed:5.1f} files/s")

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

        self._bar = Bar(TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
                        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("{task.fields[file]}"),
                        console=Console(file=self.stream), transient=True)
        self._bar.start()
        self._task = self._bar.add_task("check", total=self.total, completed=self.done, file="", rate="")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _short(path: str, width: int = 50) -> str:
    return path if len(path) <= width else "…" + path[-(width - 1):]
