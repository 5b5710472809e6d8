"""Proof that a run folder's files were written by this user's ml-lsp on this machine.

A repository can ship any file in its own ``.ml-lsp/runs`` (a spec naming a script of its
choice, a queue entry, a ``status.json`` naming one of the user's processes), so the
runner believes none of them on sight. Each file that makes the runner act carries a seal:
an HMAC-SHA256 of its content with a key that lives in the user's config folder, outside
every workspace, readable by the user alone. Without the key a seal cannot be made; a
file without a valid seal is foreign: listed, never started, never signalled.

Seals are per kind (``spec``, ``queue``, ``process``, ``summary``) so that one kind's seal
cannot stand in for another's.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

KEY_FILE = "runner.key"
KEY_BYTES = 32


def key_path() -> Path:
    from ml_lsp.userdirs import config_dir
    return config_dir() / KEY_FILE


@functools.lru_cache(maxsize=4)
def _key(path: Path) -> bytes:
    """The key in ``path``, made on first use. Two processes making it at once: the first
    link wins and the other reads that one (the file is whole before it is linked)."""
    try:
        key = path.read_bytes()
        if len(key) >= KEY_BYTES:
            return key
    except FileNotFoundError:
        pass
    from ml_lsp.userdirs import private_folder
    private_folder(path.parent)
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(KEY_BYTES))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    key = path.read_bytes()
    if len(key) < KEY_BYTES:
        raise OSError(f"{path}: the runner key is shorter than {KEY_BYTES} bytes; delete it to make a new one")
    return key


def user_key() -> bytes:
    return _key(key_path())


def canonical(data: Any) -> bytes:
    """One byte string per JSON value, however it was written (key order, spacing, tuples)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def seal(kind: str, data: Any) -> str:
    return hmac.new(user_key(), kind.encode("ascii") + b"\0" + canonical(data), hashlib.sha256).hexdigest()


def verify(kind: str, data: Any, claimed: Any) -> bool:
    """Whether ``claimed`` is this user's seal of ``data``; False for anything else
    (missing, not a string, a key that cannot be read)."""
    if not isinstance(claimed, str):
        return False
    try:
        expected = seal(kind, data)
    except (OSError, TypeError, ValueError):
        return False
    return hmac.compare_digest(expected, claimed)


def sealed(kind: str, data: dict, field: str = "seal") -> dict:
    """``data`` with its seal in ``field`` (computed over everything else)."""
    body = {k: v for k, v in data.items() if k != field}
    return {**body, field: seal(kind, json.loads(canonical(body)))}


def is_sealed(kind: str, data: dict, field: str = "seal") -> bool:
    return verify(kind, {k: v for k, v in data.items() if k != field}, data.get(field))
