"""May this workspace's code run now? One answer, asked by every path that runs it.

Trust is the user's to give, never the workspace's: the ``trust`` setting in force
(``ml_lsp.settings`` lets a repository's own pyproject.toml only lower it), the editor's
own decision where the client reports it (the VS Code extension sends ``untrusted`` for a
folder VS Code has not trusted and ``trusted`` for one it has), and the user's answer to
the prompt, remembered per folder in the user's state folder, outside every workspace.

``CODE_RUNNING`` lists every path in the server that runs the workspace's code; each calls
``require`` (or ``granted`` where no prompt can be shown), and the tests enumerate them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

log = logging.getLogger(__name__)

# Every way the server runs workspace code, and what the user is told it does.
CODE_RUNNING = {
    "ml-lsp.run": "run the script",
    "ml-lsp.rerun": "rerun the script",
    "ml-lsp.finetune": "fine-tune (imports the model and data code)",
    "ml-lsp.resume": "resume the fine-tune (imports the model and data code)",
    "ml-lsp.traceShapes": "trace shapes (imports the model file and runs its forward)",
    "trace on save": "trace shapes on save (imports the model file and runs its forward)",
}

TRUST_AND_RUN = "Trust and run"


class TrustRefused(JsonRpcInvalidParams):
    """The workspace's code may not run; the message says why and how to allow it (a
    command that raises it answers the client with that error)."""


def trust_file() -> Path:
    """Outside every workspace (a repository must not be able to trust itself): the
    user's state folder, e.g. ~/.local/state/ml-lsp/trusted-workspaces.json."""
    from ml_lsp.userdirs import state_dir
    return state_dir() / "trusted-workspaces.json"


def trusted_roots() -> set[str]:
    try:
        data = json.loads(trust_file().read_text())
    except (OSError, ValueError):
        return set()
    return {r for r in data.get("trusted", []) if isinstance(r, str)} if isinstance(data, dict) else set()


def _write_roots(roots: set[str]) -> None:
    from ml_lsp.userdirs import write_private
    write_private(trust_file(), json.dumps({"trusted": sorted(roots)}, indent=1).encode())


def remember_trusted(root: str) -> None:
    try:
        _write_roots(trusted_roots() | {root})
    except OSError as exc:  # still trusted for this session
        log.warning("cannot remember the trusted workspace in %s: %s", trust_file(), exc)


def forget_trusted(root: str) -> bool:
    """Take ``root`` off the trusted list; True if it was on it."""
    roots = trusted_roots()
    if root not in roots:
        return False
    _write_roots(roots - {root})
    return True


class WorkspaceTrust:
    """The trust decision for one server's workspace."""

    def __init__(self, server) -> None:
        self.server = server
        self.session: set[str] = set()  # roots trusted in this session (the prompt's answers)

    @property
    def root(self) -> str:
        return str(self.server.root or "")

    def setting(self) -> str:
        trust = self.server.settings.get("trust") or "ask"
        return trust if trust in ("ask", "trusted", "untrusted") else "ask"

    def granted(self) -> bool:
        """Whether the workspace's code may run without asking: the user trusted it (by a
        setting, the editor, or an earlier answer) and nothing lowered that since."""
        setting = self.setting()
        if setting == "untrusted":
            return False
        if setting == "trusted" or self.root in self.session:
            return True
        return bool(self.root) and self.root in trusted_roots()

    async def require(self, what: str) -> None:
        """Return when the workspace's code may run for ``what``; ask the user when the
        setting is ``ask`` and no answer is remembered. TrustRefused otherwise."""
        if self.granted():
            return
        if self.setting() == "untrusted":
            raise TrustRefused(
                f"not run: this workspace is not trusted to run code (ml-lsp.trust = \"untrusted\", or the "
                f"editor has not trusted the folder); {what} needs a trusted workspace")
        root = self.root
        answer = await self.server.window_show_message_request_async(types.ShowMessageRequestParams(
            type=types.MessageType.Warning,
            message=f"ml-lsp: run code from the workspace {root or '(no folder)'}? It would {what}, "
                    "with your permissions.",
            actions=[types.MessageActionItem(title=TRUST_AND_RUN), types.MessageActionItem(title="Cancel")]))
        if answer is None or answer.title != TRUST_AND_RUN:
            raise TrustRefused(f"not run: the workspace is not trusted (answer \"{TRUST_AND_RUN}\" "
                               "or set ml-lsp.trust = \"trusted\" in your user settings)")
        self.session.add(root)
        if root:
            remember_trusted(root)

    def forget(self) -> bool:
        """The next run asks again."""
        root = self.root
        self.session.discard(root)
        return forget_trusted(root) if root else False

