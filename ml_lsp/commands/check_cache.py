"""A per-file result cache for ``ml-lsp check``, on disk under the user's cache folder
(``~/.cache/ml-lsp/check``), shared by the worker processes of one run and by later runs.

An entry is keyed by the file's content hash, its path, the ml-lsp code (its version and
the stamps of its and its plugins' source files), the Python version and the check's options; it holds the file's report and what the analysis read:
every imported file (path, modification stamp, content hash) and, for each import that
found nothing, the stamp of the folder it was looked for in (a module created there
later changes it). An entry is used only when all of those are unchanged, so a cached
answer is the answer the analysis would give now.

The folder is bounded (``MAX_MB``, ``MAX_AGE_DAYS``): each process prunes it when it writes.

Why results and not parsed trees: unpickling a tree costs as much as parsing the text
(transformers' modeling_utils.py: 130 ms against 100 ms), while a valid result costs a few
stat calls.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import time
from pathlib import Path

from ml_lsp.workspace_index import file_stamp

# Bumped when the entry's layout changes; the ml-lsp version covers the analysis itself.
FORMAT = 1

# The folder is bounded: an entry unused for MAX_AGE_DAYS goes, and past MAX_MB (or
# ML_LSP_CHECK_CACHE_MB) the least recently used go until it is back under PRUNE_TO of it.
# Pruned on write: by the first store of each process and then whenever that process has
# written a tenth of the bound since. An entry's last use is its access time, set on load.
MAX_MB = 256.0
MAX_AGE_DAYS = 30.0
PRUNE_TO = 0.8


def cache_folder() -> Path:
    configured = os.environ.get("ML_LSP_CACHE_DIR")
    if configured:
        return Path(configured) / "check"
    from ml_lsp.userdirs import cache_dir
    return cache_dir() / "check"


def max_mb() -> float:
    """The size bound, ``ML_LSP_CHECK_CACHE_MB`` when set to a number (else MAX_MB)."""
    try:
        value = float(os.environ.get("ML_LSP_CHECK_CACHE_MB", MAX_MB))
    except ValueError:
        return MAX_MB
    return value if value >= 0 else MAX_MB


def digest(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data).hexdigest()


_CODE = None


def code_fingerprint() -> str:
    """The ml-lsp code that computes a result: its version and, as an editable install or
    a plugin can change without a new version, the stamps of every source file of ml_lsp
    and of the installed ml-lsp plugins (a few hundred stat calls, once per process)."""
    global _CODE
    if _CODE is None:
        import importlib.metadata
        import importlib.util
        import ml_lsp
        folders = {os.path.dirname(ml_lsp.__file__)}
        for ep in importlib.metadata.entry_points(group="ml_lsp"):
            try:
                spec = importlib.util.find_spec(ep.value.split(":")[0].split(".")[0])
            except (ImportError, ValueError):
                continue
            if spec is not None and spec.origin:
                folders.add(os.path.dirname(spec.origin) if spec.submodule_search_locations else spec.origin)
        stamps = []
        for folder in sorted(folders):
            if os.path.isfile(folder):
                stamps.append(f"{folder}:{file_stamp(folder)}")
                continue
            for dirpath, dirnames, filenames in os.walk(folder):
                dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
                stamps.extend(f"{dirpath}/{name}:{file_stamp(os.path.join(dirpath, name))}"
                              for name in sorted(filenames) if name.endswith(".py"))
        _CODE = digest(f"{ml_lsp.__version__}\0" + "\n".join(stamps))
    return _CODE


def entry_key(path: str, raw: bytes, options, versions=None) -> str:
    parts = [str(FORMAT), code_fingerprint(), sys.version, os.path.realpath(path), digest(raw),
             repr((sorted(options.select), sorted(options.ignore), options.entry, options.init,
                   sorted((options.inputs or {}).items()))), repr(sorted((versions or {}).items()))]
    return digest("\0".join(parts))


class Reads:
    """What one file's analysis read through the resolver."""

    def __init__(self) -> None:
        self.files: dict[str, tuple] = {}  # path -> (stamp, sha256 of the text)
        self.folders: dict[str, object] = {}  # folder looked in for a missing module -> stamp

    def wrap(self, resolve):
        real_folder: dict = {}  # from_path -> its real folder: a miss repeats for every name a module imports

        def recording(name, from_path):
            found = resolve(name, from_path)
            if found is None:
                folder = real_folder.get(from_path)
                if folder is None:
                    folder = real_folder[from_path] = (os.path.dirname(os.path.realpath(from_path)) if from_path
                                                       else os.getcwd())
                if folder not in self.folders:
                    self.folders[folder] = file_stamp(folder)
            elif found[0] not in self.files:
                self.files[found[0]] = (file_stamp(found[0]), digest(found[1]))
            return found
        return recording


def load(key: str):
    """The cached report for ``key`` if everything it read is unchanged, else None."""
    entry_path = cache_folder() / key[:2] / key
    try:
        with open(entry_path, "rb") as fh:
            entry = pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError, TypeError):
        return None
    try:
        for folder, stamp in entry["folders"].items():
            if file_stamp(folder) != stamp:
                return None
        for path, (stamp, sha) in entry["files"].items():
            now = file_stamp(path)
            if now is None:
                return None
            if now != stamp:  # touched: unchanged only if the text is the same
                from ml_lsp.resolve import read_source
                if digest(read_source(path)) != sha:
                    return None
        report = entry["report"]
    except (KeyError, TypeError, ValueError, OSError):
        return None
    try:  # its access time is its last use (set here: a mount may not keep it), what pruning keeps
        os.utime(entry_path, ns=(time.time_ns(), os.stat(entry_path).st_mtime_ns))
    except OSError:
        pass
    return report


def store(key: str, report, reads: Reads) -> None:
    from ml_lsp.userdirs import private_folder
    folder = cache_folder() / key[:2]
    try:
        private_folder(folder.parent)
        folder.mkdir(exist_ok=True, mode=0o700)
        data = pickle.dumps({"report": report, "files": reads.files, "folders": reads.folders},
                            protocol=pickle.HIGHEST_PROTOCOL)
        tmp = folder / f".{key}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, folder / key)
    except OSError:  # a read-only or full cache folder costs speed, never the check
        return
    global _WRITTEN
    if _WRITTEN is None or _WRITTEN + len(data) > max_mb() * 2**20 / 10:
        _WRITTEN = 0
        prune(cache_folder(), max_mb() * 2**20, MAX_AGE_DAYS * 86400)
    else:
        _WRITTEN += len(data)


_WRITTEN = None  # bytes this process stored since it last pruned (None: never pruned)


def prune(folder: Path, max_bytes: float, max_age_s: float) -> int:
    """Remove the entries unused for ``max_age_s``, then the least recently used until the
    folder holds at most ``PRUNE_TO`` of ``max_bytes``. Returns how many were removed.
    Safe beside other processes storing and pruning: an entry gone is a cache miss."""
    entries = []
    try:
        shards = list(os.scandir(folder))
    except OSError:
        return 0
    for shard in shards:
        if not shard.is_dir(follow_symlinks=False):
            continue
        try:
            for item in os.scandir(shard.path):
                try:
                    st = item.stat(follow_symlinks=False)
                except OSError:
                    continue
                entries.append((max(st.st_atime, st.st_mtime), st.st_size, item.path))
        except OSError:
            continue
    now = time.time()
    total = sum(size for _, size, _ in entries)
    over = total > max_bytes
    removed = 0
    entries.sort()  # least recently used first
    for mtime, size, path in entries:
        if now - mtime <= max_age_s and not (over and total > max_bytes * PRUNE_TO):
            break  # every later entry is younger still
        try:
            os.unlink(path)
        except OSError:
            continue
        total -= size
        removed += 1
    return removed
