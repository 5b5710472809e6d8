"""Launchers that hand a run to a cluster, in the editor: their ``prepare`` step (settings,
checks) and the consent it may ask for, as a ``window/showMessageRequest``; and which of
them the ▶ lenses offer ("Run on Ray" when a cluster is configured).

The workspace's trust is asked first, by the caller (``WorkspaceTrust.require``): consent
to a cluster the repository named comes on top of it, never instead. Both are remembered
in the user's state folder, outside the workspace. Never imports ray (``prepare`` does
not either; the follower does, in its own process).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

log = logging.getLogger(__name__)

LOCAL = ("local", "torchrun")


def installed(ls) -> dict[str, Any]:
    """The launchers the plugins contribute (read once per server)."""
    found = getattr(ls, "_launchers", None)
    if found is None:
        found = ls._launchers = ls.plugins.merged_mapping("ml_lsp_launchers")
    return found


def offered(ls) -> list[tuple[str, str]]:
    """(name, label) of the launchers besides the local ones that are configured for this
    workspace: each gets a "▶ Run on LABEL" lens."""
    from ml_lsp.runner.launch import LaunchContext

    settings = ls.settings
    out = []
    for name, launcher in sorted(installed(ls).items()):
        check = getattr(launcher, "configured", None)
        if name in LOCAL or check is None:
            continue
        user = (settings.get("launchers") or {}).get(name) or {}
        workspace = (getattr(settings, "workspace_launchers", {}) or {}).get(name) or {}
        try:
            if check(LaunchContext(root=ls.root, user=user, workspace=workspace)):
                out.append((name, getattr(launcher, "label", name)))
        except Exception:
            log.exception("launcher %s: configured() failed", name)
    return out


async def prepare(ls, spec: dict | None, name: str, options: dict | None = None) -> Any:
    """``launch.prepare`` for the editor: a consent the launcher needs is asked for (and
    remembered per workspace); a refusal or bad settings answer the command with an error
    naming why."""
    from ml_lsp.runner import launch

    if name in LOCAL:
        return spec
    context = launch.context_for(name, ls.root, ls.settings, options)
    loop = asyncio.get_running_loop()
    while True:
        try:
            return await loop.run_in_executor(None, launch.prepare, spec, name, context)
        except launch.LaunchError as exc:
            raise JsonRpcInvalidParams(str(exc)) from None
        except launch.NeedsConsent as ask:
            if ask.key in context.consented:  # asked and agreed, yet asked again: a launcher bug
                raise JsonRpcInvalidParams(str(ask)) from None
            answer = await ls.window_show_message_request_async(types.ShowMessageRequestParams(
                type=types.MessageType.Warning, message=ask.question,
                actions=[types.MessageActionItem(title=ask.action), types.MessageActionItem(title="Cancel")]))
            if answer is None or answer.title != ask.action:
                raise JsonRpcInvalidParams(f"not sent: {ask.refusal}") from None
            if ls.root is not None:
                launch.remember_consent(ls.root, ask.key)
            context.consented.add(ask.key)
