"""The JSON-RPC protocol layer, hardened so that every request gets an answer.

pygls 2.x drops a request whose params do not deserialize (a negative line, a ``null``
range, a missing field): it logs the error and never replies, and the client waits
forever. Here such a request is answered with ``InvalidParams`` naming the method, and a
notification with bad params is logged and ignored.

It also keeps the LSP lifecycle rules, which pygls does not: a request before
``initialize`` gets ``ServerNotInitialized`` (pygls answers it as if initialized), a second
``initialize`` and any request after ``shutdown`` get ``InvalidRequest`` (pygls accepts the
first and drops the others unanswered); notifications out of turn are dropped, ``exit``
always goes through.
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
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.initialize_received = False
        self.shutdown_received = False

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
        if not self._in_turn(message):
            return
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

    def _in_turn(self, message: Any) -> bool:
        """Whether ``message`` may be handled at this point of the session; a request that
        may not is answered with the error the LSP specification names."""
        method = getattr(message, "method", None)
        if not isinstance(method, str) or method == types.EXIT:
            return True  # responses to our requests, and exit, are always in turn
        msg_id = getattr(message, "id", None)
        is_request = msg_id is not None
        if not self.initialize_received:
            if method == types.INITIALIZE and is_request:
                # initialize with unreadable params is answered InvalidParams; the client may retry
                self.initialize_received = not isinstance(message, UnreadableRequest)
                return True
            refusal = (types.ErrorCodes.ServerNotInitialized,
                       f"{method} before initialize: the server is not initialized yet")
        elif self.shutdown_received:
            refusal = (types.ErrorCodes.InvalidRequest,
                       f"{method} after shutdown: only the exit notification is accepted now")
        elif method == types.INITIALIZE:
            refusal = (types.ErrorCodes.InvalidRequest, "initialize may be sent only once per session")
        else:
            if method == types.SHUTDOWN and is_request:
                self.shutdown_received = True
            return True
        if is_request:
            log.warning("refused request %r (id %r): %s", method, msg_id, refusal[1])
            self._send_response(msg_id, error=types.ResponseError(code=refusal[0], message=refusal[1]))
        else:
            log.info("dropped notification %r: %s", method, refusal[1])
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # cattrs nests the real cause; the innermost message is the one that says what is wrong
    subs = getattr(exc, "exceptions", None)
    while subs:
        exc = subs[0]
        text = str(exc).strip() or text
        subs = getattr(exc, "exceptions", None)
    return text.splitlines()[0][:300]
