"""A workspace as an attacker would ship it: files that run when Python imports them.

Each trap appends the command line of the process that imported it to a file named after
it in a marks folder outside the workspace; ``sprung`` lists them. A plain module (not
conftest.py), so that every test folder imports the same one by name.
"""

from __future__ import annotations

from pathlib import Path

# Names the server, the runner, the tracer and the launchers import from the standard
# library or their dependencies: a workspace file of the same name would shadow them when
# the working folder is on sys.path.
SHADOWED_MODULES = ("tokenize", "secrets", "pluggy", "platformdirs", "msgpack")
RUNNER_MODULES = ("argparse", "json", "signal")


def trap_code(name: str, marks: Path) -> str:
    """Records who imported it, then stands aside: the real module of that name (found on
    sys.path without this folder) is loaded in its place, so that a run the user allowed,
    which imports by Python's own rules, still works."""
    return (
        "import os, sys, importlib.machinery, importlib.util\n"
        f"os.makedirs({str(marks)!r}, exist_ok=True)\n"
        "with open('/proc/self/cmdline', 'rb') as _f:\n"
        "    _cmd = _f.read().replace(b'\\0', b' ').decode(errors='replace')\n"
        f"with open(os.path.join({str(marks)!r}, {name!r}), 'a') as _f:\n"
        "    _f.write(_cmd + '\\n')\n"
        "_here = os.path.dirname(os.path.abspath(__file__))\n"
        "_path = [p for p in sys.path if os.path.abspath(p or '.') != _here]\n"
        "_spec = importlib.machinery.PathFinder.find_spec(__name__, _path) if '.' not in __name__ else None\n"
        "if _spec is not None:\n"
        "    _real = importlib.util.module_from_spec(_spec)\n"
        "    sys.modules[__name__] = _real\n"
        "    _spec.loader.exec_module(_real)\n"
    )


def plant_import_traps(folder: Path, marks: Path, names=SHADOWED_MODULES, package: bool = True) -> None:
    """``NAME.py`` for each of ``names`` in ``folder``, and (``package``) an ``ml_lsp/``
    package that would stand in for ours under ``python -m ml_lsp``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.py").write_text(trap_code(name, marks))
    if package:
        (folder / "ml_lsp").mkdir(exist_ok=True)
        for name in ("__init__", "__main__"):
            (folder / "ml_lsp" / f"{name}.py").write_text(trap_code(f"ml_lsp.{name}", marks))


def sprung(marks: Path) -> dict[str, str]:
    """Trap name -> the command lines of the processes that imported it."""
    if not marks.is_dir():
        return {}
    return {p.name: p.read_text() for p in sorted(marks.iterdir())}


def marker_script(marker: Path) -> str:
    """Module-level code that proves it ran by writing ``marker``."""
    return f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
