"""The workspace as the Ray job's ``working_dir``: the files git would keep (``.gitignore``
and ``.rayignore`` of each folder respected, ``.git``, virtual environments, caches and
the runs folder left out), plus files the job names explicitly (a fine-tune's checkpoint
and data, which are often ignored by git), zipped here so that what is sent is exactly
what was counted. A workspace over the limit is refused before anything is sent, with the
biggest entries named and how to leave them out.

The zip is deterministic (sorted names, fixed times), so the same files give the same
archive and Ray reuses the copy it already has on the cluster.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ml_lsp.runner.launch import LaunchError

ALWAYS_LEFT_OUT = {".git", ".hg", ".svn", ".venv", "venv", "__pycache__", ".ml-lsp", ".mypy_cache",
                   ".pytest_cache", ".ruff_cache", ".tox", "node_modules", ".ipynb_checkpoints"}
IGNORE_FILES = (".gitignore", ".rayignore")


@dataclass
class Package:
    root: Path
    files: list[tuple[Path, str]]  # (absolute path, name in the archive)
    size: int  # bytes before compression


def _spec_of(folder: Path):
    import pathspec

    lines: list[str] = []
    for name in IGNORE_FILES:
        try:
            lines += (folder / name).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
    if not lines:
        return None
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except Exception:  # a malformed ignore file: send everything rather than fail
        return None


def _ignored(rel_to_specs: list[tuple[Path, object]], path: Path, is_dir: bool) -> bool:
    for base, spec in rel_to_specs:
        rel = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        if spec.match_file(rel):
            return True
    return False


def collect(root: Path, leave_out: list[Path] = (), include: list[Path] = (),
            extras: list[tuple[Path, str]] = ()) -> Package:
    """The files of ``root`` to send: each folder honours its own ignore files and those
    above it; ``leave_out`` (the runs folder) never goes; ``include`` always does when it is
    inside ``root``; ``extras`` are (file, name in the archive) pairs from anywhere."""
    root = root.resolve()
    skip = {p.resolve() for p in leave_out}
    files: dict[Path, str] = {}
    specs: dict[Path, list] = {}

    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        inherited = specs.get(here.parent, []) if here != root else []
        own = _spec_of(here)
        active = inherited + ([(here, own)] if own is not None else [])
        specs[here] = active
        keep = []
        for d in sorted(dirs):
            path = here / d
            if d in ALWAYS_LEFT_OUT or path in skip or path.is_symlink() or _ignored(active, path, True):
                continue
            keep.append(d)
        dirs[:] = keep
        for name in sorted(names):
            path = here / name
            if path in skip or _ignored(active, path, False) or not path.is_file():
                continue
            files[path] = path.relative_to(root).as_posix()
    for extra in include:
        extra = extra.resolve()
        try:
            files.setdefault(extra, extra.relative_to(root).as_posix())
        except ValueError:
            continue
        if extra.is_dir():
            for sub in sorted(extra.rglob("*")):
                if sub.is_file():
                    files.setdefault(sub, sub.relative_to(root).as_posix())
            del files[extra]
    taken = {name for name, _ in extras}
    files = {path: name for path, name in files.items() if name not in taken}
    for path, name in extras:
        files[Path(path)] = name
    ordered = sorted(files.items(), key=lambda item: item[1])
    size = 0
    for path, _ in ordered:
        try:
            size += path.stat().st_size
        except OSError:
            pass
    return Package(root, ordered, size)


def check_size(package: Package, limit_mb: float) -> None:
    """LaunchError naming the biggest files and folders when the package is too big."""
    if package.size <= limit_mb * 1024 * 1024:
        return
    by_top: dict[str, int] = {}
    for path, name in package.files:
        top = name.split("/", 1)[0] + ("/" if "/" in name else "")
        try:
            by_top[top] = by_top.get(top, 0) + path.stat().st_size
        except OSError:
            pass
    biggest = sorted(by_top.items(), key=lambda item: -item[1])[:5]
    listed = ", ".join(f"{name} ({size / 2**20:.1f} MiB)" for name, size in biggest)
    raise LaunchError(
        f"{package.root}: the workspace is {package.size / 2**20:.1f} MiB to send to the Ray cluster, over the "
        f"limit of {limit_mb:g} MiB (setting launchers.ray.max_upload_mb). Biggest: {listed}. Leave data, "
        "checkpoints and outputs out with .gitignore or .rayignore (and read them from storage the cluster "
        "can reach), or raise the limit")


def write_zip(package: Package, folder: Path | None = None) -> Path:
    """The archive of ``package`` in a private temporary file (the caller removes it)."""
    fd, name = tempfile.mkstemp(prefix="ml-lsp-workspace-", suffix=".zip", dir=folder)
    os.close(fd)
    with zipfile.ZipFile(name, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path, arcname in package.files:
            info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
            mode = path.stat().st_mode
            info.external_attr = (mode & 0o777 | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as src, archive.open(info, "w") as dst:
                while True:
                    block = src.read(1 << 20)
                    if not block:
                        break
                    dst.write(block)
    return Path(name)
