"""A bare JSON-RPC client over a server's stdio, for the malformed-input tests that a
well-behaved LSP client library cannot send (bad JSON, invalid params, raw bytes)."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from typing import Any


class RawLspClient:
    def __init__(self, command: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env)
        self.messages: "queue.Queue[dict]" = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                if line in (b"\r\n", b"\n"):
                    break
            self.messages.put(json.loads(out.read(length)))

    def send_bytes(self, body: bytes) -> None:
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def send(self, message: dict) -> None:
        self.send_bytes(json.dumps(message).encode("utf-8"))

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any, msg_id: int | str, timeout: float = 15) -> dict:
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return self.wait_for(lambda m: m.get("id") == msg_id and "method" not in m, timeout)

    def wait_for(self, predicate, timeout: float = 15) -> dict:
        for m in self.seen:
            if predicate(m):
                self.seen.remove(m)
                return m
        import time

        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching message from the server (it would hang a client)")
            try:
                m = self.messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if predicate(m):
                return m
            self.seen.append(m)

    def initialize(self, root_uri: str | None = None) -> dict:
        reply = self.request("initialize", {"processId": None, "rootUri": root_uri,
                                            "capabilities": {}}, msg_id="init")
        self.notify("initialized", {})
        return reply

    def close(self) -> int:
        try:
            self.request("shutdown", None, msg_id="bye", timeout=10)
            self.notify("exit", None)
            return self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            return self.proc.wait()
