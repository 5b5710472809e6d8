"""Benchmarks of start-up and latency compile ml-lsp's bytecode first, as a regular install
does at install time: an editable checkout run with PYTHONDONTWRITEBYTECODE set (as some
shells and CI images do) would otherwise recompile every module at each server start,
which the peer servers, installed normally, never pay."""

from __future__ import annotations

import compileall
from pathlib import Path


def compile_ml_lsp() -> None:
    import ml_lsp

    package = Path(ml_lsp.__file__).parent
    for folder in (package, package.parent / "plugins"):
        if folder.is_dir():
            compileall.compile_dir(str(folder), quiet=1)
