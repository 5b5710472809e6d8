"""``ml-lsp serve --tcp`` is safe to leave on: only a client that shows the session token
(printed at start and kept in a file only the user can read) gets a session, an HTTP
request (what a web page can send to a local port) is never answered, and one client
holds the session."""

from __future__ import annotations

import json
import queue
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lsp_helpers import server_env
from rawlsp import RawLspClient

INVALID_REQUEST = -32600


class TcpServer:
    def __init__(self, tmp_path: Path):
        runtime = tmp_path / "runtime"
        runtime.mkdir(mode=0o700)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ml_lsp", "serve", "--tcp", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=server_env(tmp_path, XDG_RUNTIME_DIR=str(runtime)))
        lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=lambda: [lines.put(raw.decode()) for raw in self.proc.stderr],
                         daemon=True).start()
        said: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while "token file" not in said:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            key, _, value = line.removeprefix("ml-lsp serve: ").partition(": ")
            said[key] = value.strip()
        self.token = said["session token"]
        self.token_file = Path(said["token file"].split(" (")[0])

    def client(self) -> RawLspClient:
        return RawLspClient.connect(self.port)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def server(tmp_path):
    srv = TcpServer(tmp_path)
    yield srv
    srv.stop()


def _initialize(client, token=None, msg_id="init", root=None) -> dict:
    params = {"processId": None, "rootUri": root, "capabilities": {}}
    if token is not None:
        params["initializationOptions"] = {"tcpToken": token}
    return client.request("initialize", params, msg_id=msg_id, timeout=10)


def _closed(client: RawLspClient) -> bool:
    return client.eof.wait(10)


def test_token_is_printed_and_kept_in_a_file_only_the_user_can_read(server):
    assert len(server.token) >= 32
    assert server.token_file.read_text().strip() == server.token
    assert stat.S_IMODE(server.token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(server.token_file.parent.stat().st_mode) == 0o700


def test_http_post_gets_no_jsonrpc_answer_and_the_connection_is_closed(server):
    # What a web page can send to a local port without a CORS preflight; even with the
    # right token inside, it is not LSP and gets nothing back.
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "processId": None, "rootUri": None, "capabilities": {},
        "initializationOptions": {"tcpToken": server.token}}}).encode()
    http = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\nOrigin: http://evil.example\r\n\r\n" % (server.port, len(body)) + body)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(http)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass  # closed with our request unread: that is a close too
    assert b"jsonrpc" not in received and b"capabilities" not in received
    assert server.proc.poll() is None
    # The refused connection did not take the session: a real client still gets it.
    client = server.client()
    assert "capabilities" in _initialize(client, server.token)["result"]


@pytest.mark.parametrize("token", [None, "not-the-token"], ids=["no-token", "wrong-token"])
def test_client_without_the_token_gets_nothing_useful(server, token):
    client = server.client()
    reply = _initialize(client, token)
    assert "result" not in reply and reply["error"]["code"] == INVALID_REQUEST
    assert "token" in reply["error"]["message"] and server.token not in reply["error"]["message"]
    assert _closed(client)
    assert b"capabilities" not in client.received


def test_first_message_other_than_initialize_needs_the_token_too(server):
    client = server.client()
    reply = client.request("workspace/executeCommand", {"command": "ml-lsp.settings"}, msg_id=7, timeout=10)
    assert "result" not in reply and reply["error"]["code"] == INVALID_REQUEST
    assert _closed(client)


def test_client_with_the_token_works_end_to_end(server, tmp_path):
    model = tmp_path / "model.py"
    model.write_text("import torch\nx = torch.zeros(2, 3)\n")
    client = server.client()
    init = _initialize(client, server.token, root=tmp_path.as_uri())
    assert init["result"]["serverInfo"]["name"] == "ml-lsp"
    client.notify("initialized", {})
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": model.as_uri(), "languageId": "python", "version": 1, "text": model.read_text()}})
    hover = client.request("textDocument/hover", {"textDocument": {"uri": model.as_uri()},
                                                  "position": {"line": 1, "character": 0}}, msg_id=2)
    assert "(2, 3)" in hover["result"]["contents"]["value"]
    settings = client.request("workspace/executeCommand", {"command": "ml-lsp.settings"}, msg_id=3)
    assert settings["result"]["root"] == str(tmp_path)
    assert client.request("shutdown", None, msg_id=4)["result"] is None
    client.notify("exit", None)
    assert server.proc.wait(timeout=10) == 0
    assert not server.token_file.exists()  # the token dies with the server


def test_token_in_a_header_of_the_first_frame(server):
    client = server.client()
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"processId": None, "rootUri": None, "capabilities": {}}}).encode()
    client.send_bytes(body, headers=b"ML-LSP-Token: %s\r\n" % server.token.encode())
    assert "capabilities" in client.reply(1, timeout=10)["result"]


def test_second_connection_does_not_share_the_session(server, tmp_path):
    model = tmp_path / "model.py"
    first = server.client()
    _initialize(first, server.token)
    first.notify("initialized", {})
    first.notify("textDocument/didOpen", {"textDocument": {
        "uri": model.as_uri(), "languageId": "python", "version": 1,
        "text": "import torch\nx = torch.zeros(2, 3)\n"}})

    # Even with the token, a second client is refused rather than handed the first one's
    # documents and settings; it is told why.
    second = server.client()
    reply = _initialize(second, server.token)
    assert "result" not in reply and "another client" in reply["error"]["message"]
    assert _closed(second)
    assert b"model.py" not in second.received

    hover = first.request("textDocument/hover", {"textDocument": {"uri": model.as_uri()},
                                                 "position": {"line": 1, "character": 0}}, msg_id=2)
    assert "(2, 3)" in hover["result"]["contents"]["value"]


def test_bad_frames_over_tcp_cost_one_message(server):
    client = server.client()
    _initialize(client, server.token)
    client.send_raw(b"Content-Length: 1000000000000\r\n\r\n{}garbage")
    reply = client.request("workspace/executeCommand", {"command": "ml-lsp.settings"}, msg_id=9)
    assert reply["result"]["settings"]


def test_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "ml_lsp", "serve", "--tcp", str(port)],
                              capture_output=True, text=True, timeout=60, env=server_env(tmp_path))
    assert done.returncode == 1
    assert f"127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
    assert "session token" not in done.stderr  # no token for a server that never listened
