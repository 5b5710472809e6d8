"""A bare JSON-RPC client over a server's stdio or a TCP socket, for the tests that a
well-behaved LSP client library cannot write (bad JSON, invalid params, raw bytes, frames
counted wrong, HTTP on the LSP port)."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import threading
import time
from typing import Any


class RawLspClient:
    def __init__(self, command: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env)
        self._start(self.proc.stdout)

    @classmethod
    def connect(cls, port: int, timeout: float = 10) -> "RawLspClient":
        """A client on a TCP connection to 127.0.0.1:``port`` (no process of its own)."""
        client = cls.__new__(cls)
        client.proc = None
        client.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        client.sock.settimeout(None)
        client._start(client.sock.makefile("rb"))
        return client

    def _start(self, stream) -> None:
        self.messages: "queue.Queue[dict]" = queue.Queue()
        self.seen: list[dict] = []
        self.received = bytearray()  # every byte the server sent, frames or not
        self.eof = threading.Event()  # set when the server closes the stream
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, out) -> None:
        try:
            while True:
                length = None
                while True:
                    line = out.readline()
                    self.received += line
                    if not line:
                        return
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                    if line in (b"\r\n", b"\n"):
                        break
                body = out.read(length)
                self.received += body
                self.messages.put(json.loads(body))
        except (OSError, ValueError):
            return
        finally:
            self.eof.set()

    def send_raw(self, data: bytes) -> None:
        """Bytes exactly as given: no header is added."""
        if self.proc is None:
            self.sock.sendall(data)
        else:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def send_bytes(self, body: bytes, headers: bytes = b"") -> None:
        self.send_raw(b"Content-Length: %d\r\n" % len(body) + headers + b"\r\n" + body)

    def send(self, message: dict) -> None:
        self.send_bytes(json.dumps(message).encode("utf-8"))

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any, msg_id: int | str, timeout: float = 15) -> dict:
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return self.reply(msg_id, timeout)

    def reply(self, msg_id: int | str, timeout: float = 15) -> dict:
        return self.wait_for(lambda m: m.get("id") == msg_id and "method" not in m, timeout)

    def wait_for(self, predicate, timeout: float = 15) -> dict:
        for m in self.seen:
            if predicate(m):
                self.seen.remove(m)
                return m
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

    def drain(self) -> list[dict]:
        """Every message received so far and not yet taken by a wait."""
        while True:
            try:
                self.seen.append(self.messages.get_nowait())
            except queue.Empty:
                return list(self.seen)

    def initialize(self, root_uri: str | None = None, init_options: Any = None) -> dict:
        params = {"processId": None, "rootUri": root_uri, "capabilities": {}}
        if init_options is not None:
            params["initializationOptions"] = init_options
        reply = self.request("initialize", params, msg_id="init")
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
