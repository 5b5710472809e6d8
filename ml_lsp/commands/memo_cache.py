"""The answers of library functions the shape engine memoised (``interp.memo_export``:
transformers' ``_get_class_name``, ``_is_package_available`` and the like, called thousands
of times per check), kept on disk under the user's cache folder and shared by the worker
processes of one ``check`` and by later ones.

An answer is keyed by the digest of its function's module text, the plain values the
function reads and its arguments, so a changed library file gives new keys: an entry is
never stale, only unused. The folder is per ml-lsp code (``check_cache.code_fingerprint``),
each process appends to its own file, and the folder is bounded (``MAX_MB``: the oldest
files go; the folders of other ml-lsp code go after ``MAX_AGE_DAYS`` unused, and beyond the
``KEEP_CODE_FOLDERS`` most recent).
"""

from __future__ import annotations

import os
import pickle
import shutil
import time
from pathlib import Path

MAX_MB = 32.0
MAX_AGE_DAYS = 7.0
KEEP_CODE_FOLDERS = 3
_LOADED = False  # per process (a forked worker inherits its parent's table and this)
_OWN: Path | None = None


def memo_folder() -> Path:
    from ml_lsp.commands.check_cache import cache_folder, code_fingerprint
    return cache_folder().parent / "memo" / code_fingerprint()[:24]


def load() -> int:
    """Put the stored answers in this process's memo, once; returns how many were read."""
    global _LOADED
    if _LOADED:
        return 0
    _LOADED = True
    from ml_lsp.analysis import interp
    folder = memo_folder()
    try:
        files = sorted(os.scandir(folder), key=lambda e: -e.stat().st_mtime)
    except OSError:
        return 0
    count, budget = 0, MAX_MB * 2**20
    for item in files:
        if not item.name.endswith(".memo"):
            continue
        try:
            size = item.stat().st_size
            if size > budget:
                break
            budget -= size
            with open(item.path, "rb") as fh:
                while True:
                    try:
                        entries = pickle.load(fh)
                    except EOFError:
                        break
                    interp.memo_import(entries)
                    count += len(entries)
        except (OSError, pickle.UnpicklingError, AttributeError, ImportError, ValueError, TypeError, IndexError):
            continue  # a file cut short by a killed process: what was read of it is kept
    return count


def save() -> None:
    """Append the answers this process memoised since the last save to its own file."""
    global _OWN
    from ml_lsp.analysis import interp
    entries = interp.memo_export()
    if not entries:
        return
    from ml_lsp.userdirs import private_folder
    folder = memo_folder()
    try:
        if _OWN is None or _OWN.parent != folder:
            private_folder(folder)
            _OWN = folder / f"{os.getpid()}-{time.time_ns()}.memo"
            _prune(folder)
        with open(_OWN, "ab") as fh:
            fh.write(pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL))
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        return  # a read-only or full cache folder costs speed, never the check


def prune_other_code(folder: Path) -> None:
    """The folders beside ``folder`` (one per ml-lsp code: an editable install makes a new
    one at each edit) unused for MAX_AGE_DAYS, and all but the KEEP_CODE_FOLDERS most
    recently used."""
    now = time.time()
    try:
        others = sorted(((e.stat().st_mtime, e.path) for e in os.scandir(folder.parent)
                         if e.path != str(folder) and e.is_dir(follow_symlinks=False)), reverse=True)
    except OSError:
        return
    for rank, (mtime, path) in enumerate(others):
        if rank >= KEEP_CODE_FOLDERS - 1 or now - mtime > MAX_AGE_DAYS * 86400:
            shutil.rmtree(path, ignore_errors=True)


def _prune(folder: Path) -> None:
    """The oldest files of this code's folder beyond MAX_MB, and other code's folders."""
    prune_other_code(folder)
    try:
        files = sorted((e for e in os.scandir(folder) if e.name.endswith(".memo")),
                       key=lambda e: -e.stat().st_mtime)
    except OSError:
        return
    total = 0
    for item in files:
        try:
            total += item.stat().st_size
            if total > MAX_MB * 2**20:
                os.unlink(item.path)
        except OSError:
            continue
