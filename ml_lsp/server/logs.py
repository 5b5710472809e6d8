"""Server logging: a log file under the user's cache dir, and warnings mirrored to the
client as ``window/logMessage``."""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path

from lsprotocol import types

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}


def default_log_file() -> Path:
    override = os.environ.get("ML_LSP_LOG_FILE")
    if override:
        return Path(override)
    from ml_lsp.userdirs import cache_dir  # only when logging is set up, not at import

    return cache_dir() / "server.log"


class PrivateLogFile(RotatingFileHandler):
    """A rotated log file only the user can read: it holds document text and paths."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if os.fstat(fd).st_mode & 0o077:  # an older, wider file: narrow it
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, self.mode, encoding=self.encoding, errors=self.errors)


def setup_file_logging(path: Path, level: str = "info") -> Path | None:
    """Log ``ml_lsp`` and ``pygls`` records to ``path`` (rotated at 5 MB, mode 0600). Returns
    the path, or None when it cannot be written (the server still runs, logging to the client)."""
    try:
        if not path.parent.exists():
            from ml_lsp.userdirs import private_folder
            private_folder(path.parent)
        handler = PrivateLogFile(path, maxBytes=5_000_000, backupCount=2, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    for name, lvl in (("ml_lsp", LEVELS.get(level, logging.INFO)), ("pygls", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(min(logger.level or lvl, lvl) if logger.level else lvl)
    return path


class ClientLogHandler(logging.Handler):
    """Sends ``ml_lsp`` log records to the client as ``window/logMessage``."""

    _TYPES = {logging.ERROR: types.MessageType.Error, logging.WARNING: types.MessageType.Warning,
              logging.INFO: types.MessageType.Info}

    def __init__(self, server, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.server = server

    def emit(self, record: logging.LogRecord) -> None:
        try:
            protocol = self.server.protocol
            # nothing goes to the client before it sent initialize (the LSP lifecycle)
            if getattr(protocol, "writer", None) is None or not getattr(protocol, "initialize_received", True):
                return
            kind = self._TYPES.get(record.levelno, types.MessageType.Log)
            message = record.getMessage()
            if record.exc_info and record.levelno >= logging.ERROR:
                message += "\n" + self.format(record).split("\n", 1)[-1]
            self.server.window_log_message(types.LogMessageParams(type=kind, message=message))
        except Exception:  # logging must never raise into the caller
            pass
