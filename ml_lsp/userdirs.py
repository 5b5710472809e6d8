"""The user's own folders, outside every workspace and readable by the user alone.

A workspace is input a stranger may have written (ARCHITECTURE.md, rule 11); what decides
whether its code may run lives here instead: the runner's key (``config_dir``), the
remembered trust decisions (``state_dir``), the user-level settings file, the logs
(``cache_dir``), and the neutral working folder our child processes start in.
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "ml-lsp"


def private_folder(path: Path) -> Path:
    """``path`` made if missing, mode 0700 (only the user may list or enter it)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o700)
    except OSError:  # not ours to change (a shared mount): use it as it is
        pass
    return path


def config_dir() -> Path:
    """``~/.config/ml-lsp`` on Linux: the runner key and ``settings.toml``."""
    import platformdirs  # only when asked for: the server's start-up does not need it
    return Path(platformdirs.user_config_dir(APP))


def state_dir() -> Path:
    """``~/.local/state/ml-lsp`` on Linux: trusted workspaces, run environments."""
    import platformdirs
    return Path(platformdirs.user_state_dir(APP))


def cache_dir() -> Path:
    """``~/.cache/ml-lsp`` on Linux: the server log, caches."""
    import platformdirs
    return Path(platformdirs.user_cache_dir(APP))


def neutral_cwd() -> Path:
    """An empty folder of the user's for the working folder of the processes we start
    (runner, tracer, probes): never a workspace, whose files Python would import first."""
    return private_folder(state_dir() / "cwd")


def write_private(path: Path, data: bytes) -> None:
    """Write ``path`` atomically with mode 0600 (a temporary file renamed into place)."""
    private_folder(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
