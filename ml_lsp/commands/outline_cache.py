"""Where the function bodies of library modules are (``analysis.parse.outline_spans``),
kept on disk under the user's cache folder, so that a later command parses those modules
as outlines (their bodies parsed only when run) instead of whole: parsing the library a
transformers model file imports was half the time of ``ml-lsp shapes`` on it.

One small JSON file per module text, named by the text's SHA-256; it holds that digest, the
spans and a digest of the spans. An entry that cannot be read, is cut short, or names
another text or format is ignored (the module is parsed whole, as without the cache), and
``parse_outline`` checks the spans against the text again. The folder is per Python version
(the parser) and per version of ``analysis/parse.py`` (the outline's making); it is bounded
(``MAX_MB``: the least recently written entries go), and the folders of other versions go
after ``MAX_AGE_DAYS`` unused or beyond the ``KEEP_FOLDERS`` most recent.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

FORMAT = 1
MAX_MB = 16.0
MAX_AGE_DAYS = 7.0
KEEP_FOLDERS = 3
_FOLDER: Path | None = None
_PRUNED = False


def outline_folder() -> Path:
    global _FOLDER
    if _FOLDER is None:
        from ml_lsp.analysis import parse
        from ml_lsp.commands.check_cache import cache_folder
        try:
            with open(parse.__file__, "rb") as fh:
                maker = hashlib.sha256(fh.read()).hexdigest()[:12]
        except OSError:
            maker = "unknown"
        version = "".join(str(x) for x in sys.version_info[:3])
        _FOLDER = cache_folder().parent / "outline" / f"{sys.implementation.name}{version}-{maker}-f{FORMAT}"
    return _FOLDER


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _spans_digest(spans) -> str:
    return hashlib.sha256(json.dumps(spans, separators=(",", ":")).encode()).hexdigest()[:32]


class OutlineStore:
    """``get(text)``: the spans stored for this text, or None; ``put(text, spans)``."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.hits = self.misses = self.stored = 0  # a benchmark reads these

    def _path(self, digest: str) -> Path:
        folder = self.folder if self.folder is not None else outline_folder()
        return folder / digest[:2] / f"{digest}.json"

    def get(self, text: str):
        digest = _digest(text)
        try:
            with open(self._path(digest), "rb") as fh:
                entry = json.loads(fh.read())
            spans = entry["spans"]
            if (entry.get("format") != FORMAT or entry.get("text") != digest
                    or entry.get("check") != _spans_digest(spans)):
                raise ValueError("another text or format")
            result = tuple((int(a), int(b), int(c), str(d)) for a, b, c, d in spans)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.misses += 1
            return None
        self.hits += 1
        return result

    def put(self, text: str, spans) -> None:
        global _PRUNED
        digest = _digest(text)
        spans = [list(s) for s in spans]
        entry = {"format": FORMAT, "text": digest, "spans": spans, "check": _spans_digest(spans)}
        path = self._path(digest)
        try:
            from ml_lsp.userdirs import private_folder
            if not _PRUNED:
                _PRUNED = True
                _prune(path.parent.parent)
            private_folder(path.parent)
            temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            with open(temporary, "w", encoding="utf-8") as fh:
                json.dump(entry, fh, separators=(",", ":"))
            os.replace(temporary, path)  # whole or not at all, whatever else writes at once
            self.stored += 1
        except (OSError, TypeError, ValueError):
            return  # a read-only or full cache folder costs speed, never the answer


def _prune(folder: Path) -> None:
    """This version's oldest entries beyond MAX_MB, and other versions' folders."""
    now = time.time()
    try:
        others = sorted(((e.stat().st_mtime, e.path) for e in os.scandir(folder.parent)
                         if e.path != str(folder) and e.is_dir(follow_symlinks=False)), reverse=True)
    except OSError:
        others = []
    for rank, (mtime, path) in enumerate(others):
        if rank >= KEEP_FOLDERS - 1 or now - mtime > MAX_AGE_DAYS * 86400:
            shutil.rmtree(path, ignore_errors=True)
    entries = []
    try:
        for sub in os.scandir(folder):
            if sub.is_dir(follow_symlinks=False):
                for item in os.scandir(sub.path):
                    stat = item.stat()
                    entries.append((stat.st_mtime, stat.st_size, item.path))
    except OSError:
        return
    total = 0
    for _mtime, size, path in sorted(entries, reverse=True):
        total += size
        if total > MAX_MB * 2**20:
            try:
                os.unlink(path)
            except OSError:
                continue
