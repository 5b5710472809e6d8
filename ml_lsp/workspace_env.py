"""The library versions installed in the workspace's interpreter, for rules whose answer
depends on them (``torch.load`` loads weights only by default from torch 2.6).

Read from package metadata on disk (``*.dist-info``) with ``importlib.metadata``: nothing
is imported and no interpreter is started. The workspace's interpreter is, in order:

1. a virtual environment in the file's folder or a folder above it (``.venv``, ``venv``,
   ``env``: a folder with ``pyvenv.cfg``);
2. the activated one: ``$VIRTUAL_ENV``, then ``$CONDA_PREFIX``;
3. the interpreter ml-lsp runs in (the one its training jobs use too).
"""

from __future__ import annotations

import os
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Iterable, Optional

#: the packages rules ask about
PACKAGES = ("torch",)
VENV_FOLDERS = (".venv", "venv", "env")

_CACHE: dict = {}  # (folder, names) -> (when, versions)
_TTL_S = 10.0


def site_packages(prefix: Path) -> list[str]:
    """The site-packages folders of an environment prefix (POSIX and Windows layouts)."""
    found = sorted(str(p) for p in prefix.glob("lib/python3*/site-packages"))
    windows = prefix / "Lib" / "site-packages"
    if windows.is_dir():
        found.append(str(windows))
    return found


def environment_path(folder: Optional[str]) -> list[str]:
    """Where the workspace interpreter's packages live, for a file in ``folder``."""
    if folder:
        start = Path(folder).resolve()
        for d in (start, *start.parents):
            for name in VENV_FOLDERS:
                if (d / name / "pyvenv.cfg").is_file():
                    return site_packages(d / name)
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        prefix = os.environ.get(var)
        if prefix and Path(prefix).is_dir():
            return site_packages(Path(prefix))
    return list(sys.path)


def installed_versions(folder: Optional[str], names: Iterable[str] = PACKAGES) -> dict[str, str]:
    """``{"torch": "2.6.0"}`` for the packages installed in the workspace interpreter of a
    file in ``folder``; a package that is not installed (or unreadable) is left out."""
    names = tuple(names)
    key = (folder, names, os.environ.get("VIRTUAL_ENV"), os.environ.get("CONDA_PREFIX"))
    now = time.monotonic()
    hit = _CACHE.get(key)
    if hit is not None and now - hit[0] < _TTL_S:
        return hit[1]
    path = environment_path(folder)
    out = {}
    for name in names:
        try:
            dist = next(iter(metadata.distributions(name=name, path=path)), None)
            version = dist.version if dist is not None else None
        except Exception:  # a broken dist-info: the version stays unknown
            version = None
        if version:
            out[name] = version
    if len(_CACHE) > 1024:
        _CACHE.clear()
    _CACHE[key] = (now, out)
    return out


def version_at_least(version: Optional[str], minimum: tuple) -> Optional[bool]:
    """``"2.6.0+cu124" >= (2, 6)``; None when the version cannot be read."""
    if not version:
        return None
    parts = []
    for piece in version.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
        if not piece.isdigit():  # 2.6.0rc1, 2.6.0a0: the release's own number counts
            break
    if not parts:
        return None
    return tuple(parts) >= tuple(minimum)
