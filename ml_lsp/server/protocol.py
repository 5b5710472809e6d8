"""The JSON-RPC protocol layer, hardened so that every request gets an answer.

pygls 2.x drops a request whose params do not deserialize (a negative line, a ``null``
range, a missing field): it logs the error and never replies, and the client waits
forever. Here such a request is answered with ``InvalidParams`` naming the method, and a
notification with bad params is logged and ignored.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger(__name__)


class UnreadableRequest:
    """Stands in for a request whose params could not be structured."""

    jsonrpc = "2.0"

    def __init__(self, msg_id: Any, method: str, reason: str) -> None:
        self.id = msg_id if isinstance(msg_id, (int, str)) else None
        self.method = method
        self.reason = reason


class RobustProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            cause = exc.__cause__ or exc
            method = data.get("method")
            if "id" in data and isinstance(method, str):
                return UnreadableRequest(data["id"], method, _first_line(cause))
            log.warning("ignored a notification with bad params (%s): %s",
                        method, _first_line(cause))
            return {"ignored": True}  # not an RPC message: handle_message drops it

    def handle_message(self, message: Any) -> None:
        if isinstance(message, UnreadableRequest):
            log.warning("invalid params for %s (id %r): %s", message.method, message.id, message.reason)
            self._send_response(
                message.id,
                error=types.ResponseError(
                    code=types.ErrorCodes.InvalidParams,
                    message=f"invalid params for {message.method}: {message.reason}"),
            )
            return
        if not hasattr(message, "jsonrpc"):
            log.warning("ignored a message that is not JSON-RPC 2.0: %.200r", message)
            return
        super().handle_message(message)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # cattrs nests the real cause; the innermost message is the one that says what is wrong
    subs = getattr(exc, "exceptions", None)
    while subs:
        exc = subs[0]
        text = str(exc).strip() or text
        subs = getattr(exc, "exceptions", None)
    return text.splitlines()[0][:300]
