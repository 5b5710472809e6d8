"""The stdio transport survives broken clients, and the LSP lifecycle rules hold.

A frame whose Content-Length is wrong (counted in characters, too long, absurdly large) or
bytes that are not a frame at all cost only that message: the server logs it, answers a
parse error where it can read the request id, and goes on from the next header."""

from __future__ import annotations

import json

import pytest

from lsp_helpers import SERVER_COMMAND, server_env
from rawlsp import RawLspClient

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
SERVER_NOT_INITIALIZED = -32002


@pytest.fixture
def raw(tmp_path):
    client = RawLspClient(SERVER_COMMAND, server_env(tmp_path))
    client.initialize(tmp_path.as_uri())
    yield client
    assert client.close() == 0  # still alive and exits cleanly after all the abuse


@pytest.fixture
def fresh(tmp_path):
    """A server that has not been initialized."""
    client = RawLspClient(SERVER_COMMAND, server_env(tmp_path))
    yield client
    if client.proc.poll() is None:
        client.proc.kill()
    client.proc.wait()


def _char_counted(message: dict) -> bytes:
    """A frame from a client that counts Content-Length in characters, not UTF-8 bytes."""
    text = json.dumps(message, ensure_ascii=False)
    return b"Content-Length: %d\r\n\r\n" % len(text) + text.encode("utf-8")


def _hover(raw, uri, line, msg_id) -> dict:
    return raw.request("textDocument/hover", {"textDocument": {"uri": uri},
                                              "position": {"line": line, "character": 0}}, msg_id)


def _alive(raw, tag) -> None:
    reply = raw.request("workspace/executeCommand", {"command": "ml-lsp.settings"}, msg_id=f"alive-{tag}")
    assert reply["result"]["settings"], reply


def test_character_counted_frame_costs_only_that_message(raw, tmp_path):
    uri = (tmp_path / "model.py").as_uri()
    raw.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": 1,
        "text": "import torch\nx = torch.zeros(2, 3)\n"}})
    # An edit with é and ✓ in it, its length counted in characters: the body is cut short
    # and its tail lands in front of the next frame's header.
    raw.send_raw(_char_counted({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": uri, "version": 2},
        "contentChanges": [{"text": "import torch\n# café ✓\nx = torch.zeros(4, 5)\n"}]}}))
    # A request counted the same way is answered with a parse error carrying its id.
    raw.send_raw(_char_counted({"jsonrpc": "2.0", "id": "cut", "method": "textDocument/hover", "params": {
        "textDocument": {"uri": f"file://{tmp_path}/café.py"}, "position": {"line": 0, "character": 0}}}))
    # The messages after them, counted right, are read and handled.
    raw.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 3},
        "contentChanges": [{"text": "import torch\n# café ✓\nx = torch.zeros(6, 7)\n"}]})
    hover = _hover(raw, uri, 2, msg_id="after")
    assert "(6, 7)" in hover["result"]["contents"]["value"], hover

    cut = raw.reply("cut")
    assert cut["error"]["code"] == PARSE_ERROR
    assert "bytes" in cut["error"]["message"]  # says what the client got wrong
    log = raw.wait_for(lambda m: m.get("method") == "window/logMessage"
                       and "not JSON" in m["params"]["message"])
    assert "Content-Length" in log["params"]["message"]


def test_huge_content_length_is_refused_and_the_server_answers_the_next_request(raw):
    raw.send_raw(b"Content-Length: 1000000000000\r\n\r\n"
                 b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {}}')
    _alive(raw, "huge")
    assert raw.proc.poll() is None
    log = raw.wait_for(lambda m: m.get("method") == "window/logMessage"
                       and "1000000000000" in m["params"]["message"])
    assert "limit" in log["params"]["message"]


def test_length_counted_too_long_does_not_lose_the_next_message(raw):
    body = json.dumps({"jsonrpc": "2.0", "method": "$/someNotification", "params": {}}).encode()
    raw.send_raw(b"Content-Length: %d\r\n\r\n" % (len(body) + 30) + body)  # swallows the next header
    _alive(raw, "long-1")
    _alive(raw, "long-2")


@pytest.mark.parametrize("garbage", [
    b"garbage without a newline",
    b"\x00\xff\xfe" * 50,
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n<html>",
    b"Content-Length: twelve\r\n\r\n{}",
    b"Content-Type: application/json\r\n\r\n{}",
    b"x" * 20000,
], ids=["no-newline", "binary", "http", "bad-length", "no-length", "long-line"])
def test_garbage_between_frames_is_skipped(raw, garbage):
    _alive(raw, "before")
    raw.send_raw(garbage)
    _alive(raw, "after-1")
    raw.send_raw(garbage)
    _alive(raw, "after-2")


def test_request_that_is_not_json_gets_a_parse_error_with_its_id(raw):
    raw.send_bytes(b'{"jsonrpc": "2.0", "id": 41, "method": "textDocument/hover", "params": {')
    reply = raw.reply(41)
    assert reply["error"]["code"] == PARSE_ERROR
    # A broken notification whose params hold an "id" (a cancel) is not answered as a request.
    raw.send_bytes(b'{"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 42}')
    _alive(raw, "cancel")
    assert not [m for m in raw.drain() if m.get("id") == 42]


# -- the lifecycle rules ------------------------------------------------------------------


def test_request_before_initialize_gets_server_not_initialized(fresh, tmp_path):
    reply = fresh.request("workspace/executeCommand", {"command": "ml-lsp.settings"}, msg_id=1)
    assert reply["error"]["code"] == SERVER_NOT_INITIALIZED
    assert "result" in fresh.initialize(tmp_path.as_uri())  # and the session starts normally after
    # the server sent nothing of its own before initialize (no window/logMessage either):
    # its first frame is the refusal
    head, _, rest = bytes(fresh.received).partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    first = json.loads(rest[:length])
    assert first.get("id") == 1 and "error" in first, first
    assert fresh.close() == 0


def test_second_initialize_is_refused(raw, tmp_path):
    reply = raw.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}}, msg_id=2)
    assert reply["error"]["code"] == INVALID_REQUEST
    assert "once" in reply["error"]["message"]
    settings = raw.request("workspace/executeCommand", {"command": "ml-lsp.settings"}, msg_id=3)
    assert settings["result"]["root"] == str(tmp_path)  # the first initialize still stands


def test_request_after_shutdown_gets_invalid_request(fresh, tmp_path):
    fresh.initialize(tmp_path.as_uri())
    assert fresh.request("shutdown", None, msg_id="down")["result"] is None
    reply = fresh.request("workspace/executeCommand", {"command": "ml-lsp.settings"}, msg_id=5)
    assert reply["error"]["code"] == INVALID_REQUEST
    fresh.notify("exit", None)
    assert fresh.proc.wait(timeout=10) == 0


def test_exit_without_shutdown_exits_with_status_1(fresh, tmp_path):
    fresh.initialize(tmp_path.as_uri())
    fresh.notify("exit", None)
    assert fresh.proc.wait(timeout=10) == 1
