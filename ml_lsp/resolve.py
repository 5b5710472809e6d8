"""Workspace imports for the shape engine: ``resolve_module(name, from_path)`` finds the
file a ``from model import GPT`` names and returns its text. The analysis itself does no
I/O; the CLI and the server pass this callback in.

jedi does the name resolution (sys.path, packages, relative imports, the project root);
files inside the workspace and installed third-party packages are returned (the engine
decides which libraries it reads from source); the standard library is described by rules."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Optional


# (root, name, importing folder) -> (when, path or None). The server builds a resolver per
# analysis (each edit); remembering answers for a few seconds keeps jedi off that path while
# still seeing a module the user has just created.
_FOUND: dict = {}
_TTL_S = 10.0


def make_resolver(root: Optional[str] = None,
                  overlay: Optional[dict] = None) -> Callable[[str, Optional[str]], Optional[tuple]]:
    """A ``resolve_module`` callback for files under ``root`` (default: each importing
    file's folder). ``overlay`` maps real paths to the editor's unsaved text, which wins
    over the file on disk."""

    def _find(name: str, from_path: Optional[str]) -> Optional[str]:
        # os.path, not pathlib: this runs for every name a module imports (12k per 12 files)
        key = (root, name, os.path.dirname(from_path) if from_path else None)
        hit = _FOUND.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < _TTL_S:
            return hit[1]
        found = _lookup(name, from_path)
        if len(_FOUND) > 4096:
            _FOUND.clear()
        _FOUND[key] = (now, found)
        return found

    def _lookup(name: str, from_path: Optional[str]) -> Optional[str]:
        base = Path(from_path).resolve().parent if from_path else Path(root or os.getcwd()).resolve()
        workspace = Path(root).resolve() if root else base
        level = len(name) - len(name.lstrip("."))
        dotted = name.lstrip(".")
        # a plain file-system look-up covers the common case (sibling module, package in the
        # project) without starting jedi; jedi handles the rest (sys.path, namespace packages)
        start = base
        for _ in range(max(0, level - 1)):
            start = start.parent
        candidates = [start] if level else [base, workspace, _package_root(base, workspace if root else None)]
        for folder in candidates:
            rel = Path(*dotted.split(".")) if dotted else Path()
            for cand in (folder / rel.with_suffix(".py") if dotted else None, folder / rel / "__init__.py"):
                if cand is not None and cand.is_file():
                    return str(cand)
        if level:
            return None
        found = _on_sys_path(dotted, _search_path(workspace))
        if found is not None:
            if found and (_inside(found, workspace) or _inside(found, base) or _installed_package(found, dotted)):
                return str(found)
            return None
        store = _environment_store(workspace)
        if dotted in store.absent:
            return None
        try:
            import jedi
            project = jedi.Project(str(workspace))
            script = jedi.Script(f"import {dotted}\n", path=str(base / "__ml_lsp_resolve__.py"), project=project)
            for d in script.goto(1, len("import ") + len(dotted), follow_imports=True):
                if d.module_path and str(d.module_path).endswith(".py"):
                    p = Path(d.module_path).resolve()
                    if _inside(p, workspace) or _inside(p, base) or _installed_package(p, dotted):
                        return str(p)
        except Exception:
            return None
        store.note_absent(dotted)
        return None

    from ml_lsp.analysis.parse import MAX_SOURCE_BYTES

    texts: dict = {}  # path -> ((mtime, size), text): a file imported by many is read once

    def resolve_module(name: str, from_path: Optional[str]) -> Optional[tuple]:
        path = _find(name, from_path)
        if path is None:
            return None
        if overlay:
            unsaved = overlay.get(os.path.realpath(path))
            if unsaved is not None:
                return path, unsaved
        try:
            stat = os.stat(path)
            stamp = (stat.st_mtime_ns, stat.st_size)
            known = texts.get(path)
            if known is not None and known[0] == stamp:
                return path, known[1]
            if stat.st_size > MAX_SOURCE_BYTES:  # the analysis would refuse it: its names stay unknown
                return None
            text = read_source(path)
        except (OSError, ValueError):  # unreadable or undecodable: the import stays unknown
            return None
        texts[path] = (stamp, text)
        return path, text

    return resolve_module


def read_source(path: str) -> str:
    """A Python file's text as Python reads it: its ``# coding:`` line (else UTF-8) and
    universal newlines. Raises OSError, or ``SourceDecodeError`` (a ValueError) whose
    message names the undecodable line."""
    from ml_lsp.analysis.parse import decode_source

    with open(path, "rb") as handle:
        raw = handle.read()
    return decode_source(raw).replace("\r\n", "\n").replace("\r", "\n")


def _package_root(folder: Path, limit: Optional[Path]) -> Path:
    """The folder above the outermost package holding ``folder`` (dinov2/models/ ->
    the repository root): where ``python -m`` puts a project on sys.path, so that
    ``from dinov2.layers import Mlp`` inside the package resolves. Never above ``limit``."""
    top = folder
    for _ in range(16):
        if not (top / "__init__.py").is_file() or top.parent == top:
            break
        if limit is not None and not _inside(top.parent, limit):
            break
        top = top.parent
    return top


# workspace root -> the search path of its interpreter (the one jedi picks: the activated or
# the project's environment), asked once per process
_SEARCH_PATHS: dict = {}


def _search_path(workspace: Path) -> list:
    key = str(workspace)
    if key not in _SEARCH_PATHS:
        store = _environment_store(workspace)
        if store.folders is not None:
            _SEARCH_PATHS[key] = store.folders
            return store.folders
        try:
            import jedi
            environment = jedi.Project(key).get_environment()
            _SEARCH_PATHS[key] = [Path(p) for p in environment.get_sys_path() if os.path.isdir(p)]
            store.note_folders(_SEARCH_PATHS[key])
        except Exception:  # no usable interpreter: jedi's own look-up decides, or fails
            _SEARCH_PATHS[key] = []
    return _SEARCH_PATHS[key]


class EnvironmentStore:
    """What jedi said of a workspace's interpreter, kept on disk under the user's cache
    folder for the next command: its search path, and the modules it found nowhere
    (optional dependencies a library tries: ``jax``, ``smdistributed``). Starting jedi for
    them was a third of a warm ``ml-lsp shapes`` on a file importing transformers. It holds
    while every folder of the search path has the modification time it had (installing a
    package, or a ``.pth`` file, changes its folder's); else it is asked for again."""

    FORMAT = 1

    def __init__(self, path: Optional[Path]) -> None:
        self.path = path
        self.folders: Optional[list] = None  # None: not known, ask jedi
        self.stamps: list = []
        self.absent: set = set()
        self.loaded = time.monotonic()
        if path is None:
            return
        try:
            with open(path, "rb") as fh:
                entry = json.loads(fh.read())
            if entry.get("format") != self.FORMAT:
                return
            stamps = [(str(f), int(m)) for f, m in entry["folders"]]
            if any(_mtime(f) != m for f, m in stamps):
                return  # something was installed (or removed) since
            self.stamps = stamps
            self.folders = [Path(f) for f, _ in stamps]
            self.absent = {str(n) for n in entry["absent"]}
        except (OSError, ValueError, KeyError, TypeError):
            return

    def note_folders(self, folders: list) -> None:
        self.stamps = [(str(f), _mtime(str(f))) for f in folders]
        self.folders, self.absent = list(folders), set()
        self._write()

    def note_absent(self, dotted: str) -> None:
        if self.folders is None:
            return  # not known under which search path it is absent
        self.absent.add(dotted)
        self._write()

    def _write(self) -> None:
        if self.path is None:
            return
        try:
            from ml_lsp.userdirs import write_private
            entry = {"format": self.FORMAT, "folders": self.stamps, "absent": sorted(self.absent)}
            write_private(self.path, json.dumps(entry).encode())
        except (OSError, TypeError, ValueError):
            pass  # a read-only cache folder costs speed, never the answer


_STORES: dict = {}


def _environment_store(workspace: Path) -> EnvironmentStore:
    """The store for ``workspace`` under the interpreter jedi would pick for it (the
    activated environment's, else this one's) and the PYTHONPATH it inherits."""
    key = json.dumps([str(workspace), sys.executable, os.environ.get("VIRTUAL_ENV"), os.environ.get("CONDA_PREFIX"),
                      os.environ.get("PYTHONPATH")])
    store = _STORES.get(key)
    # a long-lived process (the server) looks again now and then: a package installed since
    # changes its folder's time, and the store read again no longer holds
    if store is None or time.monotonic() - store.loaded > _TTL_S:
        try:
            from ml_lsp.commands.check_cache import cache_folder
            path = cache_folder().parent / "resolve" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
        except Exception:
            path = None
        store = _STORES[key] = EnvironmentStore(path)
    return store


def _mtime(folder: str) -> int:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return -1


def _on_sys_path(dotted: str, search: list):
    """Where Python would import ``dotted`` from on ``search``, found from folder listings
    (jedi parses every package on the way: 8 ms a look-up, 7 s of a 40-file check of
    transformers): a Path; False when it is no module with source (a compiled module, a
    namespace package, a name a package defines); None when its top-level name is found
    nowhere (a path hook's, an editable install's finder) and jedi must decide."""
    parts = dotted.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    if parts[0] in sys.builtin_module_names:  # sys, time, itertools: compiled in
        return False
    folders = search
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        namespace = []  # a folder without __init__.py counts only when no entry has the module
        found = None
        for folder in folders:
            names = _listing(folder)
            if part in names and (folder / part / "__init__.py").is_file():
                found = folder / part / "__init__.py"
                break
            if f"{part}.py" in names:
                found = folder / f"{part}.py"
                break
            if any(n.startswith(part + ".") and n.endswith((".so", ".pyd")) for n in names):
                return False
            if part in names and (folder / part).is_dir():
                namespace.append(folder / part)
        if found is not None:
            if last:
                return found
            if found.name != "__init__.py":
                return False  # a module's attribute (``abc.ABC``), not a module
            folders = [found.parent]
        elif namespace:
            if last:
                return False
            folders = namespace
        else:
            # the package is there and this is not in it: a name it defines, not a module;
            # a top-level name found nowhere may be a path hook's, which jedi may know
            return False if depth else None
    return None


# folder -> (its modification time, its entries): a look-up reads each folder once, again
# only after something was installed into it
_LISTINGS: dict = {}


def _listing(folder: Path) -> frozenset:
    try:
        stamp = os.stat(folder).st_mtime_ns
    except OSError:
        return frozenset()
    known = _LISTINGS.get(folder)
    if known is None or known[0] != stamp:
        try:
            known = _LISTINGS[folder] = (stamp, frozenset(os.listdir(folder)))
        except OSError:
            return frozenset()
    return known[1]


def _installed_package(p: Path, dotted: str) -> bool:
    """An installed third-party package (timm, a user's pip-installed layers), read from its
    source as workspace code is; never the standard library, whose names the engine knows."""
    return dotted.split(".")[0] not in sys.stdlib_module_names and installed(p)


def installed(path: Path) -> bool:
    """Whether ``path`` lies in an environment's packages (``site-packages``/``dist-packages``)."""
    return any(part in ("site-packages", "dist-packages") for part in path.parts)


def _inside(p: Path, folder: Path) -> bool:
    try:
        p.relative_to(folder)
        return True
    except ValueError:
        return False
