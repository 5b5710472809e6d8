"""Loading the user's module inside the tracer child, as its package imports it, and past
module-level code that is not about the model.

- **As its package does.** A file inside a package (folders with ``__init__.py``) is
  imported as ``pkg.sub.mod`` with the package's root on ``sys.path``, so its relative
  imports work; the workspace roots go at the end of ``sys.path`` so ``from mypkg import
  ...`` in a script resolves as it does when the user runs it from the project. When a
  parent package's ``__init__`` cannot run at all, the parents become plain namespace
  packages (their ``__init__`` does not run; the siblings still import).
- **Definitions only.** Of the traced file, only the definitions run: imports, classes,
  functions, constants, argparse set-up. Its top-level loops and ``with`` blocks, its
  ``if __name__ == "__main__":`` block and bare calls of its own functions (``main()``) are
  left out, so tracing a model class defined in a training script does not start the
  training. Globals that the file's classes and functions read but that only the
  ``__main__`` block assigns (``hidden = 128`` under the guard) are taken from that block:
  its assignments of those names, and of the names those assignments read, run in order.
- **Tolerant.** Each top-level statement of a workspace file (the traced one, and every
  workspace module it imports) runs on its own. One that fails (an import of an absent
  package, argparse on a foreign ``sys.argv``, a download, a missing data file, a
  statement still running after ``STATEMENT_SECONDS``) leaves the names it would have bound
  as ``StandIn`` objects and the rest goes on; a stand-in that the model then uses raises
  ``StandInUsed``, which names the statement, its line and the original error (for an
  absent package: the package), so that is what gets reported, once, instead of a
  ``NameError`` somewhere in ``forward``. ``argparse`` answers its defaults instead of
  exiting when the command line does not fit.

Modules of the user's workspace are dropped from ``sys.modules`` before each request, so an
edited helper file is read afresh by a warm child.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import signal
import socket
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

TRACE_MODULE_PREFIX = "__ml_lsp_trace__"
#: a module-level statement that is not a definition gets this long (a training loop hidden
#: in a helper call, a dataset scan): then it is left out like one that failed
STATEMENT_SECONDS = 8.0


class NetworkBlocked(OSError):
    pass


def block_network() -> None:
    """A constructor that downloads weights fails at once with a clear message, instead of
    hanging on a socket (the child has no business on the network)."""

    def refuse(*args, **kwargs):
        raise NetworkBlocked(
            "network access is blocked while tracing (the constructor or forward tried to "
            "download something); pass a local path or weights-free config")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]


_REALPATHS: dict[str, str] = {}


def realpath(filename: str) -> str:
    """``os.path.realpath``, remembered: thousands of library module paths are checked on
    every request and each costs a dozen lstat calls."""
    try:
        return _REALPATHS[filename]
    except KeyError:
        path = _REALPATHS[filename] = os.path.realpath(filename)
        return path


def is_user_file(filename: str, roots: list[str]) -> bool:
    """A file of the user's workspace (not the standard library, site-packages or us)."""
    if not filename or filename.startswith("<"):
        return False
    if "site-packages" in filename or "dist-packages" in filename:
        return False
    path = realpath(filename)
    if "site-packages" in path or "dist-packages" in path:
        return False
    if path.startswith(_OWN_DIR):
        return False
    return any(path == r or path.startswith(r + os.sep) for r in roots)


_OWN_DIR = os.path.realpath(os.path.dirname(os.path.dirname(__file__))) + os.sep


def package_root(path: Path, relative_level: int = 0) -> tuple[Path, str]:
    """The folder to put on sys.path and the dotted module name of ``path``: a file inside
    a package (folders with ``__init__.py``) is imported as ``pkg.sub.mod`` so its relative
    imports work. A file whose relative imports reach ``relative_level`` packages up, in
    folders without ``__init__.py``, is a module of namespace packages that deep
    (``models/convnext_iso.py`` with ``from .convnext import Block`` is
    ``models.convnext_iso``)."""
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    if path.stem == "__init__":
        parts.pop()
    while len(parts) - 1 < relative_level and folder.parent != folder and folder.name.isidentifier():
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


def relative_import_level(tree: ast.Module) -> int:
    """How many packages up the file's relative imports reach (``from ..a import b``: 2)."""
    return max([node.level for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)] or [0])


def forget_user_modules(roots: list[str]) -> None:
    for name, module in list(sys.modules.items()):
        filename = getattr(module, "__file__", None)
        if name.startswith(TRACE_MODULE_PREFIX) or (filename and is_user_file(filename, roots)) \
                or getattr(module, "__ml_lsp_stub__", False):
            del sys.modules[name]
    importlib.invalidate_caches()


# ---------------------------------------------------------------------------------------
# Stand-ins for what a module could not define.

@dataclass
class Failure:
    """One top-level statement of a workspace file that did not run."""

    path: str
    line: int
    statement: str      # its first line, for messages
    error: str          # "ModuleNotFoundError: No module named 'einops'"
    names: list[str] = field(default_factory=list)
    missing_module: str | None = None   # the absent package, for an import that failed

    def note(self) -> str:
        what = f"line {self.line}: `{self.statement}` did not run ({self.error})"
        if self.names:
            what += "; " + ", ".join(self.names) + " left as stand-in" + ("s" if len(self.names) > 1 else "")
        return what


class StandInUsed(RuntimeError):
    """The model used a name its module could not define."""

    def __init__(self, name: str, failure: Failure):
        self.name, self.failure = name, failure
        super().__init__(f"'{name}' is not defined: `{failure.statement}` (line {failure.line}) "
                         f"failed: {failure.error}")


class StandIn:
    """What a failed statement leaves in place of each name it would have bound. Looking
    an attribute up gives another stand-in (``np.float32`` in a default argument); calling
    it, subclassing it, or anything else that needs the real value raises ``StandInUsed``."""

    def __init__(self, name: str, failure: Failure):
        object.__setattr__(self, "_ml_lsp_name", name)
        object.__setattr__(self, "_ml_lsp_failure", failure)

    def _used(self):
        return StandInUsed(object.__getattribute__(self, "_ml_lsp_name"),
                           object.__getattribute__(self, "_ml_lsp_failure"))

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        name = object.__getattribute__(self, "_ml_lsp_name")
        return StandIn(f"{name}.{attr}", object.__getattribute__(self, "_ml_lsp_failure"))

    def __call__(self, *args, **kwargs):
        raise self._used()

    def __mro_entries__(self, bases):
        raise self._used()

    def __iter__(self):
        raise self._used()

    def __bool__(self):
        raise self._used()

    def __getitem__(self, key):
        raise self._used()

    def __repr__(self):
        return f"<stand-in for {object.__getattribute__(self, '_ml_lsp_name')}>"

    def _op(self, *args):
        raise self._used()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _op
    __floordiv__ = __rfloordiv__ = __mod__ = __pow__ = __matmul__ = __rmatmul__ = __neg__ = _op
    __int__ = __float__ = __index__ = __len__ = __lt__ = __le__ = __gt__ = __ge__ = _op


def stand_in_used(exc: BaseException | None) -> StandInUsed | None:
    """The ``StandInUsed`` behind ``exc`` (itself, or a cause/context of it)."""
    seen = set()
    first = exc
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, StandInUsed):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    if first is not None and "StandIn" in str(first):
        # A C function that refused the stand-in by its type (``nn.Linear(4, nc)``:
        # "argument 'size' must be tuple of ints, but found element of type StandIn"):
        # the stand-in is a local of a frame the error went through.
        tb = first.__traceback__
        while tb is not None:
            for value in list(tb.tb_frame.f_locals.values()):
                if isinstance(value, StandIn):
                    return value._used()
            tb = tb.tb_next
    return None


# ---------------------------------------------------------------------------------------
# Running a module's statements one at a time.

class _StatementTimeout(BaseException):
    """Raised in the main thread when a module-level statement runs too long (a
    BaseException so that the user's ``except Exception`` does not swallow it)."""


_BUDGET_ACTIVE = [False]


@contextlib.contextmanager
def _statement_budget(seconds: float):
    """SIGALRM after ``seconds`` (only the outermost statement is timed: a workspace module
    imported by a statement runs inside that statement's budget)."""
    if _BUDGET_ACTIVE[0] or seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise _StatementTimeout()

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:  # not the main thread
        yield
        return
    _BUDGET_ACTIVE[0] = True
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _BUDGET_ACTIVE[0] = False


#: the error of a name that only branches not taken assign
NO_BRANCH = "no branch that ran assigned it"
#: errors of module-level code run away from its setting (another command line, no data, no
#: network): the tracer's circumstances, not the user's mistake
ENVIRONMENT_ERRORS = (NO_BRANCH, "SystemExit", "FileNotFoundError", "NotADirectoryError", "PermissionError",
                      "OSError", "NetworkBlocked", "ConnectionError", "URLError", "still running after")

_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass
class LoadReport:
    """What loading the workspace's files left out, for notes and for the diagnosis of a
    failed trace."""

    failures: list[Failure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # script statements left out on purpose
    main_globals: list[str] = field(default_factory=list)  # names taken from the __main__ block
    stubbed: list[str] = field(default_factory=list)    # parent packages whose __init__ did not run

    def notes(self) -> list[str]:
        notes = [f.note() if not f.path else f"{os.path.basename(f.path)}:{f.note()}" for f in self.failures]
        if self.main_globals:
            notes.append("taken from the `if __name__ == \"__main__\":` block: " + ", ".join(self.main_globals))
        if self.stubbed:
            notes.append("package __init__ not run (it failed): " + ", ".join(self.stubbed))
        return notes


_REPORT: list[LoadReport] = [LoadReport()]


def current_report() -> LoadReport:
    return _REPORT[0]


def _statement_text(source_lines: list[str], node: ast.stmt) -> str:
    line = source_lines[node.lineno - 1].strip() if 0 < node.lineno <= len(source_lines) else ""
    return line if len(line) <= 80 else line[:77] + "..."


def bound_names(node: ast.stmt) -> list[str]:
    """Every name a top-level statement may bind in its module (all branches of an ``if``
    or ``try``; ``import a.b`` binds ``a``); not the names of nested scopes."""
    names: list[str] = []

    def add(name: str) -> None:
        if name not in names:
            names.append(name)

    def visit(sub: ast.AST) -> None:
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            add(sub.name)
            return
        if isinstance(sub, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return
        if isinstance(sub, (ast.Import, ast.ImportFrom)):
            for alias in sub.names:
                if alias.name != "*":
                    add(alias.asname or alias.name.split(".")[0])
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            add(sub.id)
        elif isinstance(sub, ast.ExceptHandler) and sub.name:
            add(sub.name)
        for child in ast.iter_child_nodes(sub):
            visit(child)

    visit(node)
    return names


def _missing_module(exc: BaseException) -> str | None:
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return exc.name
    used = stand_in_used(exc)
    if used is not None:
        return used.failure.missing_module
    return None


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, _StatementTimeout):
        return f"still running after {STATEMENT_SECONDS:g} s"
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r})"
    used = stand_in_used(exc)
    if used is not None and used is exc:
        return f"needs '{used.name}' ({used.failure.error})"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def exec_statements(tree: ast.Module, module: types.ModuleType, path: str, source_lines: list[str]) -> None:
    """Run each top-level statement of ``tree`` in ``module``; a statement that fails
    leaves stand-ins for its names (see the module's doc). A SyntaxError of the file
    itself is raised before (by ``ast.parse``)."""
    namespace = module.__dict__
    report = current_report()
    for statement in tree.body:
        code = compile(ast.Module(body=[statement], type_ignores=[]), path, "exec")
        budget = 0.0 if isinstance(statement, _DEFINITIONS) else STATEMENT_SECONDS
        try:
            with _statement_budget(budget):
                exec(code, namespace)
        except (Exception, SystemExit, _StatementTimeout) as exc:
            names = [n for n in bound_names(statement) if n not in namespace or isinstance(namespace[n], StandIn)]
            failure = Failure(path, statement.lineno, _statement_text(source_lines, statement), _error_text(exc),
                              names, _missing_module(exc))
            used = stand_in_used(exc)
            if used is not None and failure.missing_module is None:
                failure.error = _error_text(used)
            for name in names:
                namespace[name] = StandIn(name, used.failure if used is not None else failure)
            report.failures.append(failure)
        else:
            if isinstance(statement, (ast.If, ast.Try, getattr(ast, "Match", ast.If))):
                # A name only the branches not taken assign (``nc = 3`` under the
                # ``--dataset`` the command line did not give): a stand-in that says so,
                # rather than a NameError inside the model.
                unbound = [n for n in bound_names(statement) if n not in namespace]
                if unbound:
                    failure = Failure(path, statement.lineno, _statement_text(source_lines, statement),
                                      NO_BRANCH, unbound)
                    for name in unbound:
                        namespace[name] = StandIn(name, failure)


class _TolerantLoader(importlib.abc.Loader):
    """Executes a workspace module statement by statement (see ``exec_statements``)."""

    def __init__(self, fullname: str, path: str):
        self.fullname, self.path = fullname, path

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        source = _SOURCES.get(realpath(self.path))
        if source is None:
            source = Path(self.path).read_bytes()
        tree = ast.parse(source, filename=self.path)
        text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
        exec_statements(tree, module, self.path, text.splitlines())

    def get_source(self, fullname):  # linecache and inspect read the source through this
        text = _SOURCES.get(realpath(self.path))
        return text if text is not None else Path(self.path).read_text(encoding="utf-8", errors="replace")

    def get_filename(self, fullname):
        return self.path


class _WorkspaceFinder(importlib.abc.MetaPathFinder):
    """Finds modules as Python does, and hands the workspace's own ``.py`` files to
    ``_TolerantLoader``."""

    def __init__(self, roots: list[str]):
        self.roots = roots

    def find_spec(self, fullname, path=None, target=None):
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not spec.origin or not spec.origin.endswith(".py") \
                or not is_user_file(spec.origin, self.roots):
            # Not the workspace's: the finders after this one answer (an import hook of the
            # user's environment must still see the modules it patches).
            return None
        spec.loader = _TolerantLoader(fullname, spec.origin)
        return spec


def _tolerant_parse_known_args(original):
    def parse_known_args(self, args=None, namespace=None):
        try:
            return original(self, args, namespace)
        except SystemExit:
            # The script's command line is not ours to give: its defaults (None for a
            # required option) are what its classes can use.
            namespace = namespace if namespace is not None else argparse.Namespace()
            for action in self._actions:
                if action.dest is argparse.SUPPRESS or action.default is argparse.SUPPRESS:
                    continue
                if not hasattr(namespace, action.dest):
                    default = action.default
                    if isinstance(default, str) and action.type is not None and callable(action.type):
                        try:
                            default = action.type(default)
                        except Exception:
                            pass
                    setattr(namespace, action.dest, default)
            return namespace, []

    parse_known_args.__ml_lsp_tolerant__ = True
    return parse_known_args


#: the editor's unsaved text of workspace files, by real path, for the current request
_SOURCES: dict[str, str] = {}


@contextlib.contextmanager
def loading(roots: list[str], sources: dict[str, str] | None = None):
    """While the user's code runs: the workspace finder first on ``sys.meta_path`` (with
    the editor's unsaved texts), argparse tolerant."""
    _SOURCES.clear()
    _SOURCES.update({realpath(p): t for p, t in (sources or {}).items()})
    finder = _WorkspaceFinder(roots)
    sys.meta_path.insert(0, finder)
    original = argparse.ArgumentParser.parse_known_args
    if not getattr(original, "__ml_lsp_tolerant__", False):
        argparse.ArgumentParser.parse_known_args = _tolerant_parse_known_args(original)
    try:
        yield
    finally:
        argparse.ArgumentParser.parse_known_args = original
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)


def new_report() -> LoadReport:
    _REPORT[0] = LoadReport()
    return _REPORT[0]


# ---------------------------------------------------------------------------------------
# The traced file.

def definitions_only(tree: ast.Module) -> tuple[ast.Module, list[ast.stmt]]:
    """The file's statements without its script part, and its ``__main__`` blocks."""
    own_functions = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    kept, main_blocks = [], []
    for node in tree.body:
        if isinstance(node, ast.If) and _is_main_test(node.test):
            main_blocks.append(node)
        elif not _is_script_statement(node, own_functions):
            kept.append(node)
    return ast.Module(body=kept, type_ignores=tree.type_ignores), main_blocks


def _is_script_statement(node: ast.stmt, own_functions: set[str]) -> bool:
    if isinstance(node, (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        func = node.value.func
        return isinstance(func, ast.Name) and func.id in own_functions
    return False


def _is_main_test(test: ast.expr) -> bool:
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__" and len(test.comparators) == 1
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def _loaded_names(tree: ast.Module) -> set[str]:
    """Names the file's functions and classes read (a superset of the globals they need)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                    names.add(sub.id)
    return names


def _read_names(node: ast.AST) -> set[str]:
    return {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load)}


def main_block_globals(tree: ast.Module, main_blocks: list[ast.stmt], namespace: dict) -> list[ast.stmt]:
    """The statements of the ``__main__`` blocks that assign (or import) a global the
    file's code reads and the module does not define, with the ones they depend on, in
    order. Calls, loops and everything else in the block stay out."""
    needed = {n for n in _loaded_names(tree) if n not in namespace and not hasattr(builtins, n)}
    if not needed or not main_blocks:
        return []
    candidates = [s for block in main_blocks for s in block.body
                  if isinstance(s, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Import, ast.ImportFrom))]
    chosen: list[ast.stmt] = []
    for statement in reversed(candidates):
        binds = set(bound_names(statement))
        if binds & needed:
            chosen.append(statement)
            value = statement if isinstance(statement, (ast.Import, ast.ImportFrom)) else statement.value
            if value is not None and not isinstance(value, (ast.Import, ast.ImportFrom)):
                needed |= {n for n in _read_names(value) if n not in namespace and not hasattr(builtins, n)}
    return list(reversed(chosen))


def _import_parents(dotted: str, folder: Path) -> list[str]:
    """Import the parent packages of ``dotted``; when one cannot be imported at all, make
    them plain namespace packages instead. Returns the stubbed names."""
    parent = dotted.rsplit(".", 1)[0]
    try:
        importlib.import_module(parent)
        return []
    except (Exception, SystemExit):
        pass
    parts = parent.split(".")
    stubbed = []
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        module = sys.modules.get(name)
        if module is not None and not getattr(module, "__ml_lsp_stub__", False) and name != parent:
            continue
        stub = types.ModuleType(name)
        stub.__path__ = [str(folder.joinpath(*parts[:depth]))]
        stub.__file__ = None
        stub.__ml_lsp_stub__ = True
        stub.__package__ = name
        sys.modules[name] = stub
        if depth > 1:
            setattr(sys.modules[".".join(parts[:depth - 1])], parts[depth - 1], stub)
        stubbed.append(name)
    return stubbed


def import_folders(root: str) -> list[str]:
    """The folders a workspace puts on ``sys.path`` besides its root, as its tools are told
    to: a ``src/`` layout, and the paths its ``pyproject.toml`` gives pytest
    (``[tool.pytest.ini_options] pythonpath``) and pyright (``[tool.pyright] extraPaths``);
    only folders inside the workspace."""
    base = Path(root)
    named: list[str] = ["src"]
    try:
        import tomllib
        with open(base / "pyproject.toml", "rb") as handle:
            tool = tomllib.load(handle).get("tool") or {}
    except (ImportError, OSError, ValueError):
        tool = {}
    for value in (((tool.get("pytest") or {}).get("ini_options") or {}).get("pythonpath"),
                  (tool.get("pyright") or {}).get("extraPaths")):
        if isinstance(value, str):
            value = value.split()
        if isinstance(value, list):
            named += [v for v in value if isinstance(v, str)]
    folders: list[str] = []
    for name in named:
        folder = (base / name).resolve()
        inside = folder == base.resolve() or base.resolve() in folder.parents
        if inside and folder.is_dir() and str(folder) not in folders and str(folder) != str(base):
            folders.append(str(folder))
    return folders


def load_user_module(path: str, source: str | None = None, roots: list[str] | None = None) -> types.ModuleType:
    """Execute the definitions of the file at ``path`` (or of ``source``, the editor's
    unsaved text of it) as a module and return it, in a ``loading`` context. A syntax
    error in the file propagates; every other failure is left to stand-ins (see the
    module's doc) and recorded in ``current_report()``."""
    file = Path(path).resolve()
    if source is None:
        source = _SOURCES.get(str(file))
    if source is None:
        source = file.read_bytes()
    full_tree = ast.parse(source, filename=str(file))
    folder, dotted = package_root(file, relative_import_level(full_tree))
    # As Python does: a script's own folder first; for a module of a package, the
    # package's root only (its folder would shadow the package by a module of the same
    # name: x_transformers/x_transformers.py).
    entry = str(folder)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)
    for root in roots or []:
        for extra in [root] + import_folders(root):
            if extra not in sys.path:
                sys.path.append(extra)
    report = current_report()
    text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
    tree, main_blocks = definitions_only(full_tree)
    lines = text.splitlines()
    if "." in dotted:
        report.stubbed = _import_parents(dotted, folder)
        loaded = sys.modules.get(dotted)
        if loaded is not None and realpath(getattr(loaded, "__file__", None) or "") == str(file):
            # Its package imported it already (``from .model import Net`` in __init__):
            # that module is the one its siblings use, so it is the one to trace.
            _take_main_globals(tree, main_blocks, loaded, str(file), lines)
            return loaded
        name = dotted
        package = dotted.rsplit(".", 1)[0]
    else:
        name = f"{TRACE_MODULE_PREFIX}.{dotted}" if dotted else TRACE_MODULE_PREFIX
        package = ""
    report.skipped = [f"line {n.lineno}: {type(n).__name__}" for n in full_tree.body
                      if n not in tree.body and n not in main_blocks]
    module = types.ModuleType(name)
    module.__file__ = str(file)
    module.__package__ = package
    module.__spec__ = importlib.util.spec_from_file_location(name, file)
    # dataclasses and pickling look the class's module up in sys.modules.
    sys.modules[name] = module
    if "." in dotted:
        setattr(sys.modules[package], dotted.rsplit(".", 1)[1], module)
    exec_statements(tree, module, str(file), lines)
    _take_main_globals(tree, main_blocks, module, str(file), lines)
    return module


def _take_main_globals(tree, main_blocks, module, path: str, lines: list[str]) -> None:
    from_main = main_block_globals(tree, main_blocks, module.__dict__)
    if from_main:
        exec_statements(ast.Module(body=from_main, type_ignores=[]), module, path, lines)
        current_report().main_globals = [n for s in from_main for n in bound_names(s) if n in module.__dict__
                                         and not isinstance(module.__dict__[n], StandIn)]
