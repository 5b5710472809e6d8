"""The workspace's call sites: for each module file, the other files of the workspace that
import it (and so may build and call its models: a training script, a test).

Cheap to build and keep: one pass over the workspace's ``.py`` files reads only their
import lines (a regular expression, no parse); the texts of the callers are read when an
analysis asks for them. The server builds it in the background and keeps it current
(watchdog for files on disk, the editor's unsaved text for open ones); the CLI builds it
once per command. Nothing here imports or runs workspace code.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Callable, Iterable, Optional

from ml_lsp.resolve import installed

# folders never searched: environments, caches, version control, build output
SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "env", ".env", "node_modules",
             "site-packages", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "build",
             "dist", ".ml-lsp", ".idea", ".vscode", ".cache", ".eggs"}
MAX_FILES = 20_000  # a workspace larger than this is indexed up to here
MAX_FILE_BYTES = 1_000_000  # a caller above this is not read (generated code, data)
MAX_CALLERS = 16

_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]+)", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#]+)", re.M)
_CLASS = re.compile(r"^class[ \t]+(\w+)", re.M)


def find_workspace_root(path: str) -> Optional[str]:
    """The folder with ``pyproject.toml``, ``setup.py`` or ``.git`` above ``path``; None for
    a file of an installed package. What is above one is the environment (under pyenv, a
    git checkout of every Python installation: 15,000 files to index), and its callers
    are other library code, not the user's: running them cost 0.6 s a file in a check of
    transformers' models."""
    here = Path(path).resolve()
    folder = here if here.is_dir() else here.parent
    if installed(folder):
        return None
    for d in (folder, *folder.parents):
        if any((d / marker).exists() for marker in ("pyproject.toml", ".git", "setup.py", "setup.cfg")):
            return str(d)
    return None


def indexed_folder_name(name: str) -> bool:
    """Whether a folder of this name is searched: not an environment, a cache, a build."""
    return name not in SKIP_DIRS and not name.startswith(".") and not name.endswith(".egg-info")


def imports_of(text: str) -> tuple[frozenset, frozenset]:
    """(module names, imported names) of a file's import statements: ``from model import
    Net`` gives ({"model"}, {"Net"}); ``import pkg.model as m`` gives ({"pkg.model"}, {}).

    Every import statement has the word ``import`` on its first line, so only the lines
    holding it are matched (a ``str.find`` scan): the multi-line regular expressions run
    over a whole text tried every line start, 7x slower, and a workspace root above a
    Python installation has 15,000 files (250 MB) to index."""
    modules, names = set(), set()
    from_end = 0  # a ``from`` statement's parenthesised names may span lines: no overlaps
    line = -1
    find, rfind = text.find, text.rfind
    at = find("import")
    while at != -1:
        start = rfind("\n", 0, at) + 1
        if start != line:
            line = start
            if start >= from_end:
                m = _FROM.match(text, start)
                if m is not None:
                    from_end = m.end()
                    modules.add(m.group(1))
                    for part in m.group(2).strip("()").replace("\n", " ").split(","):
                        word = part.strip().split(" as ")[0].strip()
                        if word.isidentifier():
                            names.add(word)
            m = _IMPORT.match(text, start)
            if m is not None:
                for part in m.group(1).split(","):
                    word = part.strip().split(" as ")[0].strip()
                    if word:
                        modules.add(word)
        end = find("\n", at)
        if end == -1:
            break
        at = find("import", end)
    return frozenset(modules), frozenset(names)


def _module_names(path: str, root: str) -> set:
    """How other files may name the module at ``path``: ``model``, ``pkg.model``, ``.model``."""
    rel = os.path.relpath(path, root)
    parts = rel[:-3].split(os.sep) if rel.endswith(".py") else rel.split(os.sep)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    out = set()
    for i in range(len(parts)):
        dotted = ".".join(parts[i:])
        out.add(dotted)
        out.add("." + dotted)
    return out


class CallSiteIndex:
    """Which files import which modules, for the whole workspace under ``root``."""

    def __init__(self, root: str, read_text: Optional[Callable[[str], Optional[str]]] = None):
        self.root = os.path.realpath(root)
        self._lock = threading.Lock()
        self._files: dict[str, tuple] = {}  # real path -> (stamp, modules, names)
        self._overlay: dict[str, str] = {}  # real path -> the editor's unsaved text
        self._texts: dict[str, tuple] = {}  # real path -> (stamp, text), callers read lately
        self.generation = 0  # bumped by every change that may change some file's callers
        # module name -> files importing it, imported name -> files importing it: rebuilt from
        # _files when it changed (``_changes``), so that a query reads the few files concerned
        self._changes = 0
        self._inverted: Optional[tuple] = None  # (_changes when built, by_module, by_name)
        self.folders: list[str] = []  # the folders indexed (watched one by one: never a .venv)
        self.ready = False

    # building ----------------------------------------------------------------------------
    def build(self) -> int:
        """Index every ``.py`` file under the root; returns how many."""
        count = 0
        for path in self._walk():
            self._index_file(path)
            count += 1
            if count >= MAX_FILES:
                break
        with self._lock:
            self.generation += 1
            self.ready = True
            self._inverted_index()  # here: forked workers of ``check`` inherit it too
        return count

    def _walk(self) -> Iterable[str]:
        self.folders = []
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if indexed_folder_name(d))
            self.folders.append(folder)
            for name in sorted(files):
                if name.endswith(".py"):
                    yield os.path.join(folder, name)

    def _index_file(self, path: str, text: Optional[str] = None) -> None:
        real = os.path.realpath(path)
        stamp = file_stamp(real)
        if text is None:
            text = self._read(real)
        if text is None:
            with self._lock:
                self._files.pop(real, None)
                self._changes += 1
            return
        modules, names = imports_of(text)
        with self._lock:
            self._files[real] = (stamp, modules, names)
            self._changes += 1

    # keeping current ---------------------------------------------------------------------
    def file_changed(self, path: str) -> None:
        """A file on disk was created or modified (watchdog)."""
        real = os.path.realpath(path)
        if not real.endswith(".py") or not self.contains(real):
            return
        with self._lock:
            over = self._overlay.get(real)
            self._texts.pop(real, None)
        self._index_file(real, over)
        with self._lock:
            self.generation += 1

    def file_deleted(self, path: str) -> None:
        real = os.path.realpath(path)
        with self._lock:
            self._files.pop(real, None)
            self._changes += 1
            self._texts.pop(real, None)
            self.generation += 1

    def set_unsaved(self, path: str, text: Optional[str]) -> None:
        """The editor's text of an open file (``None`` when it is closed: the disk's again)."""
        real = os.path.realpath(path)
        with self._lock:
            if text is None:
                if self._overlay.pop(real, None) is None:
                    return
            elif self._overlay.get(real) == text:
                return
            else:
                self._overlay[real] = text
        if self.contains(real) and real.endswith(".py"):
            self._index_file(real, text)
        with self._lock:
            self.generation += 1

    def contains(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root + os.sep)

    # answering -----------------------------------------------------------------------------
    def callers_of(self, path: str, text: str, limit: int = MAX_CALLERS) -> list[tuple[str, str]]:
        """(path, text) of the files that import the module at ``path`` (or one of the
        classes ``text`` defines), the editor's unsaved text where there is one. Files that
        name a class of the module come first."""
        real = os.path.realpath(path)
        if not self.contains(real):
            return []
        names = _module_names(real, self.root)
        classes = set(_CLASS.findall(text))
        with self._lock:
            by_module, by_name = self._inverted_index()
            # the only files the tests below can accept: one importing a name of the module,
            # or one of its classes
            found = set().union(*(by_module.get(n, ()) for n in names), *(by_name.get(c, ()) for c in classes))
            entries = [(other, self._files[other]) for other in found]
        strong, weak = [], []
        for other, (_stamp_, modules, imported) in entries:
            if other == real:
                continue
            if modules & names:
                (strong if imported & classes or not imported else weak).append(other)
            elif classes and imported & classes and any(m.endswith(tuple(n.lstrip(".") for n in names))
                                                         for m in modules):
                weak.append(other)
        out = []
        for other in (sorted(strong) + sorted(weak))[:limit]:
            caller_text = self.text_of(other)
            if caller_text is not None:
                out.append((other, caller_text))
        return out

    def _inverted_index(self) -> tuple[dict, dict]:
        """(module name -> files, imported name -> files), current with ``_files``; called
        with the lock held. Built once per change, not once per query: ``check`` asks for
        every file it checks, and scanning a 15,000-file workspace each time cost 30 ms a file."""
        if self._inverted is None or self._inverted[0] != self._changes:
            by_module: dict = {}
            by_name: dict = {}
            for other, (_stamp_, modules, imported) in self._files.items():
                for m in modules:
                    by_module.setdefault(m, []).append(other)
                for n in imported:
                    by_name.setdefault(n, []).append(other)
            self._inverted = (self._changes, by_module, by_name)
        return self._inverted[1], self._inverted[2]

    def text_of(self, path: str) -> Optional[str]:
        with self._lock:
            over = self._overlay.get(path)
            if over is not None:
                return over
            cached = self._texts.get(path)
        stamp = file_stamp(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        text = self._read(path)
        if text is not None:
            with self._lock:
                self._texts[path] = (stamp, text)
        return text

    @staticmethod
    def _read(path: str) -> Optional[str]:
        try:
            if os.path.getsize(path) > MAX_FILE_BYTES:
                return None
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError:
            return None
        try:
            from ml_lsp.analysis.parse import decode_source
            return decode_source(raw)
        except Exception:
            return None

    def __len__(self) -> int:
        return len(self._files)


def file_stamp(path: str):
    """(mtime, size) of a file or folder, None when it is gone: what says it changed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def call_sites_used(facts) -> list:
    """The call sites an analysis took inputs from (``ModuleFacts.call_sites``)."""
    return list(getattr(facts, "call_sites", None) or [])


# ---------------------------------------------------------------- the command line

_INDEXES: dict = {}  # root -> CallSiteIndex, one per process (check's workers each build theirs)


def add_workspace_arguments(p) -> None:
    p.add_argument("--workspace", metavar="DIR",
                   help="the folder whose training scripts and tests give the models' input shapes "
                        "(default: the folder with pyproject.toml/.git above each file)")
    p.add_argument("--no-workspace", action="store_true",
                   help="take input shapes only from the files given, not from the rest of the workspace")


def workspace_root_for(args, path: str) -> Optional[str]:
    """The workspace the command line asks for, for the file at ``path`` (None: none)."""
    if getattr(args, "no_workspace", False):
        return None
    given = getattr(args, "workspace", None)
    if given:
        return str(Path(given).resolve())
    return find_workspace_root(path)


def index_for(root: Optional[str]) -> Optional[CallSiteIndex]:
    if root is None:
        return None
    index = _INDEXES.get(root)
    if index is None:
        index = _INDEXES[root] = CallSiteIndex(root)
        index.build()
    return index


def workspace_callers(root: Optional[str], path: str, text: str, given=()) -> list[tuple[str, str]]:
    """The files given on the command line, then the workspace's callers of ``path``."""
    out, seen = [], {os.path.realpath(path)}
    for other, other_text in given:
        real = os.path.realpath(other)
        if real not in seen:
            seen.add(real)
            out.append((other, other_text))
    index = index_for(root)
    if index is not None:
        for other, other_text in index.callers_of(path, text):
            if other not in seen:
                seen.add(other)
                out.append((other, other_text))
    return out[:MAX_CALLERS]


def describe_call_site(site, relative_to: Optional[str] = None) -> str:
    """``train.py:31 Net(x: (B, 1, 28, 28)) <- MNIST batches of 64, train.py:22``."""
    from ml_lsp.analysis.dims import format_shape

    where = site.path
    if relative_to:
        try:
            where = os.path.relpath(site.path, relative_to)
        except ValueError:
            pass
    ins = ", ".join(f"{k}: {format_shape(v)}" for k, v in site.inputs.items())
    text = f"{where}:{site.line if site.line is not None else '?'} {site.cls}({ins})"
    sources = "; ".join(dict.fromkeys(site.sources.values()))
    return f"{text} <- {sources}" if sources else text
