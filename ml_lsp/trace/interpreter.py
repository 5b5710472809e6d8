"""Which Python the tracer child runs in: the user's, so that their installed packages (timm,
einops, transformers) are there. Never imports torch.

In order, the first that has torch:

1. the one the user named: ``--python`` on the command line, or the ``interpreter`` setting
   (``mlLsp.interpreter``, or the editor's Python, sent by the client). A repository's own
   ``pyproject.toml`` cannot name it (``ml_lsp.settings.WORKSPACE_NEVER``); a named
   interpreter without torch is an error that says so, not a silent fallback;
2. the one ml-lsp itself runs in (the editor started the server with the user's Python);
3. the active environment of the shell that started us (``$VIRTUAL_ENV``, ``$CONDA_PREFIX``);
4. ``python3`` and ``python`` on ``PATH`` (absolute ``PATH`` entries only: a relative one
   would find a workspace's own ``python3``).

A candidate other than our own is probed once (``python -c``, in the neutral working
folder, the working folder dropped from ``sys.path``): its version, torch's version, and
whether it has msgpack (else the child speaks JSON). The child loads this ml-lsp's own
tracer by its file location, so an interpreter without ml-lsp (or with another version of
it) runs ours.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass

from ml_lsp.pathsafe import DROP_WORKING_FOLDER

PROBE_TIMEOUT = 30.0

_PROBE = (
    "import importlib.util as u, json, sys\n"
    "def version(name):\n"
    "    if u.find_spec(name) is None: return None\n"
    "    try:\n"
    "        from importlib.metadata import version as v; return v(name)\n"
    "    except Exception: return '?'\n"
    "print(json.dumps({'executable': sys.executable, 'version': '%d.%d.%d' % sys.version_info[:3],"
    " 'torch': version('torch'), 'msgpack': u.find_spec('msgpack') is not None}))\n"
)


class NoInterpreter(Exception):
    """No interpreter with torch; the message says which were looked at and what to do."""


@dataclass(frozen=True)
class Interpreter:
    python: str             # the command the child is started with (absolute path)
    source: str             # why this one, for messages: "--python", "the interpreter setting", ...
    version: str            # "3.11.7"
    torch: str | None       # torch's version; None when it is not installed
    msgpack: bool = True    # whether the child can speak msgpack (else JSON)

    def describe(self) -> str:
        return f"{self.python} (Python {self.version}, torch {self.torch or 'not installed'})"

    def to_json(self) -> dict:
        return {"python": self.python, "source": self.source, "version": self.version, "torch": self.torch}

    def install_command(self, package: str) -> str:
        return f"{shlex.quote(self.python)} -m pip install {package}"

    def name_missing_package(self, problem: dict) -> None:
        """Say a ``missing-package`` problem of the child with this interpreter's path as
        the user named it (a venv's ``bin/python``), not the executable it resolved to."""
        package = problem.get("package")
        if problem.get("kind") == "missing-package" and package:
            problem["install"], problem["message"] = missing_package_text(package, self.python)


def missing_package_text(package: str, python: str) -> tuple[str, str]:
    """The command that installs ``package`` into ``python``, and the problem's message."""
    command = f"{shlex.quote(python)} -m pip install {package}"
    return command, (f"not traced: needs the package '{package}', which is not installed in {python}; "
                     f"install it with: {command}")


_PROBED: dict[tuple[str, float], Interpreter | str] = {}


def own_interpreter() -> Interpreter | None:
    """The interpreter ml-lsp runs in, when it has torch (found without importing it)."""
    if importlib.util.find_spec("torch") is None:
        return None
    try:
        from importlib.metadata import version
        torch_version = version("torch")
    except Exception:
        torch_version = "?"
    return Interpreter(sys.executable, "ml-lsp's own interpreter", "%d.%d.%d" % sys.version_info[:3],
                       torch_version, importlib.util.find_spec("msgpack") is not None)


def probe(python: str, source: str) -> Interpreter:
    """Run ``python`` once to read its version and torch's; raises NoInterpreter when it
    cannot be run. Remembered per executable and modification time."""
    resolved = which(python)
    if resolved is None:
        raise NoInterpreter(f"the interpreter '{python}' ({source}) was not found")
    try:
        stamp = os.stat(resolved).st_mtime
    except OSError:
        stamp = 0.0
    key = (resolved, stamp)
    known = _PROBED.get(key)
    if isinstance(known, Interpreter):
        return Interpreter(known.python, source, known.version, known.torch, known.msgpack)
    if isinstance(known, str):
        raise NoInterpreter(known)
    from ml_lsp.userdirs import neutral_cwd
    try:
        done = subprocess.run([resolved, "-c", DROP_WORKING_FOLDER + _PROBE], capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT, cwd=str(neutral_cwd()), stdin=subprocess.DEVNULL)
        data = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        tail = ""
        if isinstance(exc, (ValueError, IndexError)):
            tail = " ".join((done.stderr or "").strip().splitlines()[-2:])[-200:]
        message = f"the interpreter '{python}' ({source}) could not be run: {tail or type(exc).__name__}"
        _PROBED[key] = message
        raise NoInterpreter(message) from None
    found = Interpreter(resolved, source, data.get("version") or "?", data.get("torch"), bool(data.get("msgpack")))
    _PROBED[key] = found
    return found


def which(command: str) -> str | None:
    """``command`` as an absolute path: itself when it has a slash, else looked up in the
    absolute entries of ``PATH`` only."""
    if os.sep in command or (os.altsep and os.altsep in command):
        path = os.path.abspath(os.path.expanduser(command))
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not folder or not os.path.isabs(folder):
            continue
        path = os.path.join(folder, command)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def find_interpreter(configured: str | None = None, source: str = "the interpreter setting") -> Interpreter:
    """The interpreter to trace in (see the module's doc); NoInterpreter says why none."""
    if configured and str(configured).strip():
        found = probe(str(configured).strip(), source)
        if not found.torch:
            raise NoInterpreter(
                f"{found.python} ({source}) has no torch; the tracer runs the model there. "
                f"Install it: {found.install_command('torch')}")
        return found
    own = own_interpreter()
    if own is not None:
        return own
    looked = [f"{sys.executable} (ml-lsp's own)"]
    candidates = []
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        prefix = os.environ.get(variable)
        if prefix and os.path.isabs(prefix):
            candidates.append((os.path.join(prefix, "bin", "python"), f"${variable}"))
    for name in ("python3", "python"):
        candidates.append((name, "PATH"))
    seen = {os.path.realpath(sys.executable)}
    for command, where in candidates:
        path = which(command)
        if path is None or os.path.realpath(path) in seen:
            continue
        seen.add(os.path.realpath(path))
        try:
            found = probe(path, f"from {where}")
        except NoInterpreter:
            continue
        if found.torch:
            return found
        looked.append(f"{path} (from {where})")
    raise NoInterpreter(
        "no Python interpreter with torch to trace in (looked at: " + ", ".join(looked) + "). "
        "Name the one your project uses with --python (command line) or the `interpreter` setting, "
        f"or install torch: {shlex.quote(sys.executable)} -m pip install torch")
