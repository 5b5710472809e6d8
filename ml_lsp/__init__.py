"""ml-lsp: tensor shapes, PyTorch diagnostics and training runs in the editor.

This package must stay cheap to import: the language server imports it at start-up, and
it never imports torch (see ARCHITECTURE.md, rule 2).
"""

import os as _os
import sys as _sys


def _drop_working_folder_from_path() -> None:
    """``python -m ml_lsp...`` puts the current folder first on ``sys.path``; when that is
    a workspace, its ``tokenize.py`` or ``secrets.py`` would be imported (run) in place of
    the standard library's by whatever we import next. While runpy imports this package,
    ``sys.argv[0]`` is still ``-m``; a program that imports ml_lsp itself keeps its path."""
    if _sys.argv[:1] != ["-m"] or getattr(_sys.flags, "safe_path", False) or not _sys.path:
        return
    try:
        here = _os.getcwd()
    except OSError:  # the working folder was deleted: nothing to import from it
        here = None
    if _sys.path[0] in ("", ".", here):
        del _sys.path[0]


_drop_working_folder_from_path()

__version__ = "0.1.0"


def __getattr__(name: str):  # ``ml_lsp.log`` without importing the telemetry up front
    if name == "log":
        from ml_lsp.telemetry import log
        return log
    raise AttributeError(f"module 'ml_lsp' has no attribute {name!r}")
