"""``ml-lsp check PATH...``: the editor's diagnostics for terminals, CI and pre-commit.

Files are checked in parallel worker processes (one per core by default); the output is
text (``path:line:col: CODE message [name]``), JSON (a stable contract, see ``to_json``),
GitHub Actions annotations or SARIF. Exit status: 1 when any error is reported, 0
otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Iterable

FORMATS = ("text", "json", "github", "sarif")
# Per-file bounds of the shape analysis: a file that reaches one keeps what was found by
# then (the rest is unknown, with a note) and the run goes on, never stalled by one file.
DEFAULT_FILE_BUDGET_S = 30.0
DEFAULT_FILE_MEMORY_MB = 2048.0
# Folders never worth walking into (as ruff excludes them by default).
SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "__pycache__", "node_modules",
             "site-packages", "__pypackages__", ".mypy_cache", ".pytest_cache", ".ruff_cache",
             "build", "dist", ".eggs", ".ml-lsp", ".ipynb_checkpoints"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check", help="report shape errors and training-loop mistakes (exit 1 on errors)",
        description="Check Python files and folders (respecting .gitignore) for tensor shape errors "
                    "and training-loop and data mistakes. Exit status: 1 when an error is reported, "
                    "0 otherwise, 2 on bad usage. Rules: `ml-lsp rules`.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to check")
    p.add_argument("--entry", metavar="CLASS", help="class (or function) whose forward receives --input")
    p.add_argument("--init", metavar="ARGS", help="constructor arguments of --entry, in Python syntax")
    p.add_argument("--input", action="append", default=[], metavar="NAME=D1,...",
                   help="shape of a forward() parameter of --entry, e.g. x=B,3,32,32 (repeatable)")
    p.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    p.add_argument("--fix", action="store_true", help="apply the safe fixes and report what changed")
    p.add_argument("--select", action="append", default=[], metavar="CODES",
                   help="only these rule codes, prefixes or names (comma-separated; ALL for every rule)")
    p.add_argument("--ignore", action="append", default=[], metavar="CODES",
                   help="skip these rule codes, prefixes or names (comma-separated)")
    p.add_argument("--jobs", "-j", type=int, default=0, metavar="N",
                   help="worker processes (default: one per core)")
    p.add_argument("--no-cache", action="store_true",
                   help="do not read or write the result cache (~/.cache/ml-lsp/check)")
    from ml_lsp.workspace_index import add_workspace_arguments
    add_workspace_arguments(p)
    p.add_argument("--file-budget", type=float, default=None, metavar="SECONDS",
                   help=f"shape analysis time per file; what it has not reached by then is unknown, "
                        f"with a note (default {DEFAULT_FILE_BUDGET_S:g}; 0 for none; "
                        f"pyproject: [tool.ml-lsp] file-budget)")
    p.add_argument("--file-memory", type=float, default=None, metavar="MB",
                   help=f"memory one file's shape analysis may add, likewise (default {DEFAULT_FILE_MEMORY_MB:g}; "
                        f"0 for none; pyproject: [tool.ml-lsp] file-memory)")
    p.set_defaults(func=run)


# Inputs ---------------------------------------------------------------------------------
# Files ----------------------------------------------------------------------------------
def find_files(paths: Iterable[str]) -> list[Path]:
    """Python files under ``paths``: a file named on the command line is always checked; in
    a folder, .gitignore'd files and folders (and SKIP_DIRS) are skipped."""
    import pathspec
    from ml_lsp.cli import UsageError

    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UsageError(f"{raw}: no such file or folder")
        if path.is_file():
            found.append(path)
            continue
        # Each folder sees the .gitignore files above it and its own.
        # A folder named on the command line is checked even where a .gitignore above it
        # ignores it (a package inside an ignored virtual environment): those files drop out.
        above = [spec for spec in _ancestor_ignores(path.resolve()) if not _ignored(path, True, [spec])]
        specs_for: dict[Path, list] = {path: above}
        for dirpath, dirnames, filenames in os.walk(path):
            here = Path(dirpath)
            local = list(specs_for.pop(here, []))
            gi = here / ".gitignore"
            if gi.is_file():
                try:
                    lines = gi.read_text(errors="replace").splitlines()
                    local.append((here.resolve(), pathspec.GitIgnoreSpec.from_lines(lines)))
                except Exception:  # a malformed .gitignore: check everything rather than fail
                    pass
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")
                                 and not _ignored(here / d, True, local))
            for d in dirnames:
                specs_for[here / d] = local
            for name in sorted(filenames):
                if name.endswith((".py", ".pyi")) and not _ignored(here / name, False, local):
                    found.append(here / name)
    seen, unique = set(), []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _ancestor_ignores(start: Path) -> list:
    """.gitignore files of the folders above ``start`` up to the repository root."""
    import pathspec
    out = []
    for parent in [start, *start.parents][1:]:
        gi = parent / ".gitignore"
        if gi.is_file():
            try:
                out.append((parent, pathspec.GitIgnoreSpec.from_lines(gi.read_text(errors="replace").splitlines())))
            except Exception:
                pass
        if (parent / ".git").exists():
            break
    return list(reversed(out))


def _ignored(path: Path, is_dir: bool, specs) -> bool:
    full = path.resolve()
    for base, spec in specs:
        try:
            rel = full.relative_to(base).as_posix()
        except ValueError:
            continue
        if spec.match_file(rel + ("/" if is_dir else "")):
            return True
    return False


def project_root(paths: Iterable[str]) -> Path | None:
    """The nearest folder with a pyproject.toml above the first path (or the cwd)."""
    first = Path(next(iter(paths), ".")).resolve()
    for folder in [first if first.is_dir() else first.parent, *first.parents]:
        if (folder / "pyproject.toml").is_file():
            return folder
    return None


def module_resolver(overlay: dict[str, str] | None = None, root: str | None = None):
    """``resolve_module(name, from_path) -> (path, text) | None`` for the shape engine, the
    same look-up as ``ml-lsp shapes`` (``ml_lsp.resolve``: the file system, then jedi; only
    workspace files). ``overlay`` maps real paths to unsaved editor text, which wins."""
    from ml_lsp.resolve import make_resolver

    return make_resolver(root, overlay)


# Checking one file (runs in a worker) ------------------------------------------------------
@dataclass
class FileReport:
    path: str
    findings: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    fixed: list = field(default_factory=list)  # (line, code, fix title) applied by --fix
    input_error: str | None = None
    defines_entry: bool = False


@dataclass
class CheckOptions:
    select: list
    ignore: list
    entry: str | None = None
    init: str | None = None
    inputs: dict | None = None
    fix: bool = False
    cache: bool = True  # the on-disk result cache (check_cache); never with fix
    workspace: str | None = None  # --workspace DIR
    no_workspace: bool = False  # --no-workspace: inputs only from the file itself
    file_budget_s: float | None = DEFAULT_FILE_BUDGET_S  # None: unbounded
    file_memory_mb: float | None = DEFAULT_FILE_MEMORY_MB


_RULES = None
_RESOLVER = None
_BATCH = None

# A file that cannot be read or decoded is reported, as ruff does, with this code (an error:
# the file was not checked) and the others are still checked.
IO_ERROR = "E902"
# A file Python cannot parse is an error too (as ruff reports it), on the line of the
# syntax error; the shape engine still analyses the functions that parse.
SYNTAX_ERROR = "E999"
# A file whose worker process ended before checking it (killed for memory, stopped after
# overrunning its time): an error, the file was not checked.
NOT_CHECKED = "E903"


def _resolver():
    """One resolver per process: its look-ups (jedi's included) are cached across files."""
    global _RESOLVER
    if _RESOLVER is None:
        _RESOLVER = module_resolver()
    return _RESOLVER


def _batch():
    """One per process: each file parsed once, however many of the checked files import it."""
    global _BATCH
    if _BATCH is None:
        from ml_lsp.analysis import BatchCache
        from ml_lsp.analysis import interp
        # ML_LSP_SHARE_MODULES=0: every file interprets its imports itself and runs every
        # call (no memoised answers of library functions), to compare answers
        share = os.environ.get("ML_LSP_SHARE_MODULES", "1") != "0"
        interp.MEMO_CALLS = share
        _BATCH = BatchCache(share_modules=share)
    return _BATCH


_OUTLINES = None


def _outline_store():
    """One per process; None when ML_LSP_OUTLINES=0 (every module parsed whole)."""
    global _OUTLINES
    if os.environ.get("ML_LSP_OUTLINES", "1") == "0":
        return None
    if _OUTLINES is None:
        from ml_lsp.commands.outline_cache import OutlineStore
        _OUTLINES = OutlineStore()
    return _OUTLINES


def io_error(message: str):
    from ml_lsp.analysis.lint import Finding
    return Finding(IO_ERROR, "io-error", "io", "error", 1, 0, 1, 0, message)


def syntax_error(text: str, path: str):
    """The finding for the first syntax error of ``text``, or None when it parses."""
    import ast
    from ml_lsp.analysis.lint import Finding

    _tree, problems = _batch().parse(text, path)
    if not problems:
        return None
    try:
        ast.parse(text, filename=path)
    except SyntaxError as exc:
        lines = text.splitlines() or [""]
        line = min(max(exc.lineno or 1, 1), len(lines))
        col = min(max((exc.offset or 1) - 1, 0), len(lines[line - 1]))
        return Finding(SYNTAX_ERROR, "syntax-error", "syntax", "error", line, col, line, col,
                       f"syntax error: {exc.msg}")
    except (ValueError, RecursionError, MemoryError) as exc:
        return Finding(SYNTAX_ERROR, "syntax-error", "syntax", "error", 1, 0, 1, 0, f"cannot parse: {exc}")
    return None


def _rules():
    global _RULES
    if _RULES is None:
        from ml_lsp.analysis.lint import load_rules
        _RULES = load_rules()
    return _RULES


def check_file(path: str, options: CheckOptions) -> FileReport:
    from ml_lsp.analysis.parse import SourceDecodeError, decode_source, source_encoding
    from ml_lsp.analysis.lint import check_source, fix_text

    report = FileReport(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        report.findings.append(io_error(f"cannot read: {exc.strerror or exc}"))
        return report
    try:
        text = decode_source(raw)
    except SourceDecodeError as exc:
        report.findings.append(io_error(f"cannot decode: {exc}"))
        return report
    from ml_lsp.commands import check_cache
    from ml_lsp.workspace_env import installed_versions

    # the workspace's library versions decide some findings (DA003): part of the cache key
    versions = installed_versions(str(Path(path).resolve().parent))
    # the workspace's files that call this file's models give their inputs (ml_lsp.workspace_index)
    from ml_lsp.workspace_index import workspace_callers, workspace_root_for
    callers = workspace_callers(workspace_root_for(options, path), path, text)
    caller_key = {"ml-lsp:callers": check_cache.digest("\0".join(f"{p}\0{t}" for p, t in callers).encode())} \
        if callers else {}
    key = check_cache.entry_key(path, raw, options, {**(versions or {}), **caller_key}) \
        if options.cache and not options.fix else None
    if key is not None:
        cached = check_cache.load(key)
        if cached is not None:
            cached.path = path
            return cached
    reads = check_cache.Reads()
    resolve = reads.wrap(_resolver())
    from ml_lsp.commands import memo_cache
    if options.cache and not options.fix:
        memo_cache.load()  # the library answers earlier checks memoised (once per process)
    # imported library modules parsed as outlines where earlier runs stored where their
    # function bodies are (outline_cache); --no-cache: parsed whole, nothing stored
    _batch().outlines = _outline_store() if options.cache else None
    # --entry/--init/--input describe one class: files that do not define it are checked
    # as they are.
    defines_entry = bool(options.entry) and re.search(
        rf"^\s*(class|def)\s+{re.escape(options.entry)}\b", text, re.M) is not None
    entry_kw = dict(entry=options.entry, init=options.init, inputs=options.inputs) if defines_entry else {}
    report.defines_entry = defines_entry

    spent: list = []  # the budget notes of this file's analyses

    def lint(source: str):
        notes: list = []

        def facts_in_budget():
            facts, note = bounded_facts(source, path, resolve, entry_kw, options, callers or None)
            if note is not None:
                notes.append(note)
            return facts

        from ml_lsp.analysis.engine import InputError

        # The shape engine (nearly all of a model file's time) runs only when a selected rule
        # reads its facts: `--select TR,DA` is the syntax rules' speed. --entry/--init/--input
        # are about the engine, so it runs for them whatever is selected (a wrong --init is
        # a usage error, not silence).
        eager, input_error = None, None
        if entry_kw:
            try:
                eager = facts_in_budget()
            except InputError as exc:
                input_error = str(exc)
        result = check_source(source, path, rules=_rules(), select=options.select, ignore=options.ignore,
                              resolve_module=resolve, batch=_batch(), versions=versions,
                              shape_facts=eager, facts_source=None if entry_kw else facts_in_budget,
                              callers=callers or None, **entry_kw)
        report.problems[:] = result.problems
        report.input_error = input_error or result.input_error
        if notes:
            spent.append(notes[0])
            report.problems[:] = [p for p in report.problems if " spent: shapes not reached" not in p] + [notes[0]]
        return result.findings

    if options.fix:
        new_text, fixed = fix_text(text, lint, safe_only=True)
        if fixed and new_text != text:
            newline = "\r\n" if "\r\n" in text else None
            # in the file's own encoding (its coding line, its byte-order mark)
            with open(path, "w", encoding=source_encoding(raw), newline=newline) as fh:
                fh.write(new_text.replace("\r\n", "\n") if newline else new_text)
            report.fixed = [(f.line, f.code, f.fix.title) for f in fixed]
            text = new_text
    report.findings = lint(text)
    broken = syntax_error(text, path)
    if broken is not None:
        report.findings = sorted([broken, *report.findings], key=type(broken).sort_key)
        # the finding says it; the note that the training rules were skipped would repeat it
        report.problems = [p for p in report.problems if not p.startswith("syntax error, ")]
    if key is not None and report.input_error is None and not spent:  # a cut answer depends on the clock
        check_cache.store(key, report, reads)
    if options.cache and not options.fix:
        memo_cache.save()
    _settle_memory()
    return report


def _rss_mb() -> float | None:
    """This process's resident memory (Linux: /proc/self/statm; elsewhere None)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _file_limits(seconds: float | None, memory_mb: float | None):
    """The engine's ``Limits`` for one file: its clock, and the memory the analysis may add
    to what the process held when it began (caches shared with other files are not its own).
    Over either, the units still running end as at the clock: their shapes unknown."""
    from ml_lsp.analysis.interp import Limits

    class FileLimits(Limits):
        __slots__ = ("memory_mb", "start_mb", "over_memory")

        def __init__(self) -> None:
            super().__init__(seconds)
            self.start_mb = _rss_mb() if memory_mb else None
            self.memory_mb = memory_mb if self.start_mb is not None else None
            self.over_memory = False

        def poll(self) -> bool:
            if self.memory_mb is not None and not self.expired:
                now = _rss_mb()
                if now is not None and now - self.start_mb > self.memory_mb:
                    self.expired = self.over_memory = True
            return super().poll()

    return FileLimits()


def bounded_facts(source: str, path: str, resolve, entry_kw: dict, options: CheckOptions, callers=None):
    """The shape engine's facts for ``source`` within the file's time and memory budgets,
    and the note to print when a budget was spent (else None). (None, None) when the engine
    raises: the lint context then runs it again and reports that as it always does; but a
    bad --entry/--init/--input (``InputError``) is raised to the caller, a usage error."""
    from ml_lsp.analysis import analyze_source
    from ml_lsp.analysis.engine import InputError

    if not options.file_budget_s and not options.file_memory_mb:
        return None, None
    limits = _file_limits(options.file_budget_s or None, options.file_memory_mb or None)
    try:
        facts = analyze_source(source, path, resolve_module=resolve, batch=_batch(), limits=limits, callers=callers,
                               only_conflicts=True,
                               **entry_kw)
    except MemoryError:
        return None, ("shape analysis ran out of memory: its shapes are unknown "
                      "(lower --file-memory, or file-memory in [tool.ml-lsp])")
    except InputError:
        raise  # bad --entry/--init/--input: the caller reports it as a usage error
    except Exception:
        return None, None
    if not limits.expired:
        return facts, None
    if limits.over_memory:
        return facts, (f"shape analysis stopped at its memory budget of {options.file_memory_mb:g} MB: shapes "
                       f"not reached by then are unknown (raise it with --file-memory MB, or file-memory "
                       f"in [tool.ml-lsp] of pyproject.toml; 0 for none)")
    return facts, (f"shape analysis stopped at its time budget of {options.file_budget_s:g} s: shapes not "
                   f"reached by then are unknown (raise it with --file-budget SECONDS, or file-budget in "
                   f"[tool.ml-lsp] of pyproject.toml; 0 for none)")


def _settle_memory() -> None:
    """Move what survived this file (the shared parse cache above all: millions of tree
    nodes) out of the garbage collector's way: a full collection walks every tracked
    object, and with a big library's trees in memory that took half of each later file's
    time (modeling_mistral.py after modeling_llama.py: 2.8 s, 0.5 s with this). The
    collection before it is a full one: it walks only what is not frozen yet (mostly this
    file's objects), and this file's analysis (its copy of the imported modules above all:
    an object graph with cycles, tens of MB) is garbage that a young-generation collection
    left in place; frozen, it stayed until the worker was recycled (one reached 2.4 GB)."""
    import gc
    gc.collect()
    gc.freeze()


class Interrupted(Exception):
    """Ctrl-C during the check: ``reports`` holds the files finished before it, in order."""

    def __init__(self, reports: list[FileReport], total: int) -> None:
        super().__init__("interrupted")
        self.reports, self.total = reports, total


# A worker process is replaced by a fresh one after this many files: the memory one
# file's analysis leaves behind (jedi's caches, the parsed modules it imported) stays
# bounded however many files the command checks.
FILES_PER_WORKER = 250


def _worker_init() -> None:
    import signal
    # Ctrl-C is the parent's to handle (it tears the pool down); a terminal sends it to the
    # whole process group, and a worker would print a traceback for it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Its own process group, so that tearing it down also ends what it started (jedi's
    # helper process). The command sets it too, whichever runs first.
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    _die_with_parent()


def _die_with_parent() -> None:
    """The worker ends itself when the command dies without killing it (SIGKILL), so no
    worker outlives it. A thread watches the parent's pid rather than PR_SET_PDEATHSIG,
    which fires when the *thread* that forked the worker ends, not the process."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="ml-lsp-parent-watch", daemon=True).start()


def check_paths(files: list[Path], options: CheckOptions, jobs: int, progress=None) -> list[FileReport]:
    """Check every file, in ``jobs`` worker processes when there is enough work to pay for
    them. Ctrl-C raises ``Interrupted`` with the reports finished so far, and no worker is
    left running."""
    from ml_lsp.commands.check_progress import Progress

    names = [str(f) for f in files]
    progress = progress or Progress(len(names), None)
    done: dict[int, FileReport] = {}
    try:
        if jobs <= 1 or len(names) < 8:
            for index, name in enumerate(names):
                progress.working_on(name)
                done[index] = check_file(name, options)
                progress.finished(name)
        else:
            _check_in_workers(names, options, jobs, done, progress)
    except KeyboardInterrupt:
        raise Interrupted([done[i] for i in sorted(done)], len(names)) from None
    finally:
        progress.close()
    return [done[i] for i in range(len(names))]


def _check_in_workers(names: list[str], options: CheckOptions, jobs: int, done: dict, progress) -> None:
    import multiprocessing

    from ml_lsp.commands.check_workers import GRACE_S, WorkerRun

    _rules()  # loaded once here; forked workers inherit them
    if options.cache and not options.fix:
        from ml_lsp.commands import memo_cache
        from ml_lsp.commands.check_cache import code_fingerprint
        memo_cache.load()  # likewise the memoised library answers
        code_fingerprint()  # and the code's fingerprint
    fork = sys.platform.startswith("linux")
    if fork:
        _index_workspaces(names, options)  # likewise: built once here, not once per worker
        # what the workers inherit (the index, the rules) is left out of their collections:
        # each worker's full collection after a file walked the whole index again
        import gc
        gc.collect()
        gc.freeze()
    workers = WorkerRun(partial(check_file, options=options), jobs, tasks_per_worker=FILES_PER_WORKER,
                        init=_worker_init, context=multiprocessing.get_context("fork" if fork else None),
                        task_limit_s=options.file_budget_s + GRACE_S if options.file_budget_s else None)

    def finished(index: int, report: FileReport) -> None:
        done[index] = report
        progress.finished(report.path)

    def lost(what) -> None:
        finished(what.index, not_checked(what.item, what.reason))

    try:
        workers.run(names, finished, lost, on_start=progress.working_on, on_idle=progress.tick)
    except BaseException:
        # Ctrl-C (or an error): the workers are killed already; a second Ctrl-C must not
        # interrupt what is left with a traceback
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise
    workers.end_helpers()


def not_checked(path: str, reason: str) -> FileReport:
    """The report of a file whose worker ended before it was checked: an error, so that the
    command does not pass a file it never saw."""
    from ml_lsp.analysis.lint import Finding

    hint = " (rerun with a lower --file-memory, or -j 1)" if "memory" in reason else ""
    return FileReport(path, findings=[Finding(NOT_CHECKED, "not-checked", "io", "error", 1, 0, 1, 0,
                                              f"not checked: {reason}{hint}")])


def _index_workspaces(names: list[str], options: CheckOptions) -> None:
    """Build the call-site index of each workspace the files belong to (``workspace_callers``
    reads it for every file). Built in a worker, it was built again by every worker and by
    each one that replaced a recycled worker: 11 s each for a workspace of 15,000 files,
    27 times over for transformers' models/ folder."""
    from ml_lsp.workspace_index import index_for, workspace_root_for

    roots: dict = {}  # folder -> its workspace root: files of one folder share it
    for name in names:
        folder = os.path.dirname(name)
        if folder not in roots:
            roots[folder] = workspace_root_for(options, name)
    for root in dict.fromkeys(roots.values()):
        index_for(root)


# Output ---------------------------------------------------------------------------------
def display_path(path: str) -> str:
    """Relative to the working folder when under it (as the user typed it), else absolute."""
    full = os.path.abspath(path)
    cwd = os.getcwd()
    if full == cwd or full.startswith(cwd.rstrip(os.sep) + os.sep):
        return os.path.relpath(full, cwd)
    return full


def to_json(reports: list[FileReport]) -> dict:
    """The stable JSON contract: 1-based lines and columns."""
    out = []
    for report in reports:
        path = display_path(report.path)
        for f in report.findings:
            out.append({
                "path": path, "line": f.line, "column": f.col + 1,
                "end_line": f.end_line, "end_column": f.end_col + 1,
                "code": f.code, "category": f.category, "severity": f.severity, "message": f.message,
                "related": [{"path": display_path(r.path) if r.path else path, "line": r.line, "message": r.message}
                            for r in f.related],
            })
    return {"diagnostics": out}


def _github_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def to_sarif(reports: list[FileReport], rules) -> dict:
    from ml_lsp import __version__
    level = {"error": "error", "warning": "warning", "info": "note", "hint": "note"}
    results = []
    for report in reports:
        uri = Path(display_path(report.path)).as_posix()
        for f in report.findings:
            results.append({
                "ruleId": f.code, "level": level.get(f.severity, "warning"),
                "message": {"text": f.message},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri},
                    "region": {"startLine": f.line, "startColumn": f.col + 1,
                               "endLine": f.end_line, "endColumn": f.end_col + 1}}}],
                "relatedLocations": [{"id": i, "message": {"text": r.message}, "physicalLocation": {
                    "artifactLocation": {"uri": Path(display_path(r.path)).as_posix() if r.path else uri},
                    "region": {"startLine": r.line}}} for i, r in enumerate(f.related)],
            })
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
        "runs": [{"tool": {"driver": {
            "name": "ml-lsp", "version": __version__, "informationUri": "https://github.com/ml-lsp/ml-lsp",
            "rules": [{"id": r.code, "name": r.name, "shortDescription": {"text": r.summary},
                       "fullDescription": {"text": r.docs},
                       "defaultConfiguration": {"level": level.get(r.severity, "warning")},
                       "properties": {"category": r.category}} for r in rules]}},
            "results": results}],
    }


def print_report(reports: list[FileReport], fmt: str, rules, fixing: bool) -> None:
    import json
    if fmt == "json":
        print(json.dumps(to_json(reports), indent=2))
    elif fmt == "sarif":
        print(json.dumps(to_sarif(reports, rules), indent=2))
    elif fmt == "github":
        for report in reports:
            path = display_path(report.path)
            for f in report.findings:
                kind = "error" if f.severity == "error" else "warning" if f.severity == "warning" else "notice"
                print(f"::{kind} file={_github_escape(path, True)},line={f.line},col={f.col + 1},"
                      f"endLine={f.end_line},endColumn={f.end_col + 1},"
                      f"title={_github_escape(f'{f.code} {f.name}', True)}::{_github_escape(f.message)}")
    else:
        for report in reports:
            path = display_path(report.path)
            for f in report.findings:
                print(f"{path}:{f.line}:{f.col + 1}: {f.code} {f.message} [{f.name}]")
                for r in f.related:
                    print(f"    {display_path(r.path) if r.path else path}:{r.line}: note: {r.message}")
    stream = sys.stderr if fmt != "text" else sys.stdout
    for report in reports:
        path = display_path(report.path)
        for line, code, title in report.fixed:
            print(f"fixed {path}:{line}: {code} {title}", file=sys.stderr)
        for problem in report.problems:
            if not problem.startswith("shape engine unavailable"):
                print(f"{path}: note: {problem}", file=sys.stderr)
    if fmt == "text":
        findings = [f for r in reports for f in r.findings]
        errors = sum(f.severity == "error" for f in findings)
        fixable = sum(1 for f in findings if f.fix and f.fix.safe)
        fixed = sum(len(r.fixed) for r in reports)
        parts = [f"{len(reports)} file{'s' * (len(reports) != 1)} checked",
                 f"{errors} error{'s' * (errors != 1)}", f"{len(findings) - errors} warning{'s' * (len(findings) - errors != 1)}"]
        if fixed:
            parts.append(f"{fixed} fixed")
        if fixable and not fixing:
            parts.append(f"{fixable} fixable with --fix")
        print(", ".join(parts) + ".", file=stream)


def _budget(given, configured, option: str, key: str, unit: str, default: float) -> float | None:
    """A per-file budget from the command line, else pyproject's [tool.ml-lsp], else the
    default; 0 means none (None)."""
    from ml_lsp.cli import UsageError
    import math

    if given is not None:
        value, where = given, option
    elif configured is not None:
        value, where = configured, f"[tool.ml-lsp] {key}"
    else:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise UsageError(f"{where} {value!r}: expected a number of {unit} (0 for no limit), e.g. {option} {default:g}")
    return float(value) or None


def run(args: argparse.Namespace) -> int:
    from ml_lsp.analysis.lint import as_list, unknown_selectors
    from ml_lsp.cli import UsageError, parse_input_option
    from ml_lsp.settings import load_settings

    inputs = parse_input_option(args.input)
    root = project_root(args.paths)
    settings = load_settings(root)
    for problem in settings.problems:
        print(f"ml-lsp check: note: {problem}", file=sys.stderr)
    select = as_list(args.select) or as_list(settings.get("select"))
    ignore = as_list(settings.get("ignore")) + as_list(args.ignore)
    rules = _rules()
    if not rules:
        raise UsageError("no lint rules are installed (is the ml_lsp_rules plugin registered? "
                         "run `pip install -e .` and `ml-lsp plugins`)")
    bad = unknown_selectors(rules, select + ignore)
    if bad:
        raise UsageError(f"unknown rule code or name: {', '.join(bad)} (see `ml-lsp rules`)")
    if args.entry and not inputs:
        configured = (settings.get("inputs") or {}).get(args.entry)
        if isinstance(configured, dict):
            inputs = parse_input_option(configured, f"[tool.ml-lsp.inputs] {args.entry}:")
    if (args.init or inputs) and not args.entry:
        raise UsageError("--init and --input describe the --entry class: name it with --entry CLASS")
    files = find_files(args.paths)
    options = CheckOptions(select=select, ignore=ignore, entry=args.entry, init=args.init,
                           inputs=inputs or None, fix=args.fix, cache=not args.no_cache,
                           workspace=args.workspace, no_workspace=args.no_workspace,
                           file_budget_s=_budget(args.file_budget, settings.get("file_budget"), "--file-budget",
                                                 "file-budget", "SECONDS", DEFAULT_FILE_BUDGET_S),
                           file_memory_mb=_budget(args.file_memory, settings.get("file_memory"), "--file-memory",
                                                  "file-memory", "MB", DEFAULT_FILE_MEMORY_MB))
    if args.jobs < 0:
        raise UsageError(f"--jobs {args.jobs}: expected a number of worker processes, or 0 for one per core")
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    from ml_lsp.commands.check_progress import Progress

    progress = Progress.for_output(len(files), args.format)
    try:
        reports = check_paths(files, options, jobs, progress)
    except Interrupted as stop:
        # what was found so far, then how far it got; 130 as for any command stopped by Ctrl-C
        print_report(stop.reports, args.format, rules, args.fix)
        print(f"ml-lsp check: interrupted: {len(stop.reports)} of {stop.total} files checked", file=sys.stderr)
        return 130
    if args.entry and not any(r.defines_entry for r in reports):
        raise UsageError(f"--entry {args.entry}: no class or function of that name in the checked files")
    bad_input = next((r for r in reports if r.input_error), None)
    if bad_input is not None:
        raise UsageError(f"{display_path(bad_input.path)}: {bad_input.input_error}")
    print_report(reports, args.format, rules, args.fix)
    return 1 if any(f.severity == "error" for r in reports for f in r.findings) else 0
