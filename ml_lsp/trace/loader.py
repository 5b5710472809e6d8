"""Loading the user's module inside the tracer child.

Only the module's definitions run: imports, classes, functions, constants, argparse set-up.
Its top-level loops and ``with`` blocks, its ``if __name__ == "__main__":`` block and bare
calls of its own functions (``main()``, ``train(model)``) are left out, so tracing a model
class defined in a training script does not start the training. Modules of the user's
workspace are dropped from ``sys.modules`` before each request, so an edited helper file is
read afresh by a warm child.
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.util
import os
import socket
import sys
import types
from pathlib import Path

TRACE_MODULE_PREFIX = "__ml_lsp_trace__"


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


def package_root(path: Path) -> tuple[Path, str]:
    """The folder to put on sys.path and the dotted module name of ``path``: a file inside
    a package (folders with ``__init__.py``) is imported as ``pkg.sub.mod`` so its relative
    imports work."""
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").exists() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    if path.stem == "__init__":
        parts.pop()
    return folder, ".".join(parts)


def forget_user_modules(roots: list[str]) -> None:
    for name, module in list(sys.modules.items()):
        filename = getattr(module, "__file__", None)
        if name.startswith(TRACE_MODULE_PREFIX) or (filename and is_user_file(filename, roots)):
            del sys.modules[name]
    importlib.invalidate_caches()


def definitions_only(tree: ast.Module) -> ast.Module:
    own_functions = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    kept = [node for node in tree.body if not _is_script_statement(node, own_functions)]
    return ast.Module(body=kept, type_ignores=tree.type_ignores)


def _is_script_statement(node: ast.stmt, own_functions: set[str]) -> bool:
    if isinstance(node, (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)):
        return True
    if isinstance(node, ast.If) and _is_main_test(node.test):
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


def load_user_module(path: str, source: str | None = None) -> types.ModuleType:
    """Execute the definitions of the file at ``path`` (or of ``source``, the editor's
    unsaved text of it) as a module and return it. Errors (a syntax error, a failing
    import) propagate with their original traceback."""
    file = Path(path).resolve()
    folder, dotted = package_root(file)
    for entry in (str(folder), str(file.parent)):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    if "." in dotted:
        # Import the parent packages normally so relative imports resolve.
        importlib.import_module(dotted.rsplit(".", 1)[0])
        name = dotted
        package = dotted.rsplit(".", 1)[0]
    else:
        name = f"{TRACE_MODULE_PREFIX}.{dotted}" if dotted else TRACE_MODULE_PREFIX
        package = ""
    if source is None:
        source = file.read_bytes()
    tree = definitions_only(ast.parse(source, filename=str(file)))
    module = types.ModuleType(name)
    module.__file__ = str(file)
    module.__package__ = package
    module.__spec__ = importlib.util.spec_from_file_location(name, file)
    module.__ml_lsp_skipped__ = []
    # dataclasses and pickling look the class's module up in sys.modules.
    sys.modules[name] = module
    # One top-level statement at a time: in a script, a statement of the training part
    # that fails (data that is not there, a name defined further down) is skipped with a
    # note; a failing import, class or function definition is the user's error to see.
    for statement in tree.body:
        code = compile(ast.Module(body=[statement], type_ignores=[]), str(file), "exec")
        try:
            exec(code, module.__dict__)
        except Exception as exc:
            if isinstance(statement, _DEFINITIONS):
                raise
            module.__ml_lsp_skipped__.append(
                f"line {statement.lineno}: skipped ({type(exc).__name__}: {exc})")
    return module


_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
