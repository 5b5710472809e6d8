"""Malformed input never crashes or hangs the server: every request gets a reply
(an error where the request is bad) and the server keeps serving afterwards."""

from __future__ import annotations

import pytest

from lsp_helpers import SERVER_COMMAND, server_env
from rawlsp import RawLspClient

INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601


@pytest.fixture
def raw(tmp_path):
    client = RawLspClient(SERVER_COMMAND, server_env(tmp_path))
    client.initialize(tmp_path.as_uri())
    yield client
    assert client.close() == 0  # still alive and exits cleanly after all the abuse


def _alive(raw: RawLspClient, tag: str) -> None:
    reply = raw.request("workspace/executeCommand", {"command": "ml-lsp.settings"}, msg_id=f"alive-{tag}")
    assert "result" in reply and reply["result"]["settings"]


def _open(raw, uri, text, version=1):
    raw.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "python", "version": version, "text": text}})


def test_bad_json_is_ignored_and_server_keeps_serving(raw):
    raw.send_bytes(b'{"jsonrpc": "2.0", "id": 7, "method": "textDocument/hover", "params": {')
    raw.send_bytes(b"\xff\xfe not even text")
    _alive(raw, "json")


@pytest.mark.parametrize("params", [
    {"textDocument": {"uri": "file:///x.py"}, "position": {"line": -1, "character": 0}},
    {"textDocument": {"uri": "file:///x.py"}, "position": None},
    {"textDocument": {"uri": "file:///x.py"}},
    {"position": {"line": 0, "character": 0}},
    "not an object",
], ids=["negative-line", "null-position", "missing-position", "missing-document", "string-params"])
def test_request_with_invalid_params_gets_invalid_params_error(raw, params):
    reply = raw.request("textDocument/hover", params, msg_id=11)
    assert reply["error"]["code"] == INVALID_PARAMS
    assert "textDocument/hover" in reply["error"]["message"]
    _alive(raw, "params")


@pytest.mark.parametrize("method,params", [
    ("textDocument/codeAction", {"textDocument": {"uri": "file:///x.py"}, "range": None,
                                 "context": {"diagnostics": []}}),
    ("textDocument/inlayHint", {"textDocument": {"uri": "file:///x.py"}, "range": None}),
    ("textDocument/codeLens", {"textDocument": None}),
])
def test_null_range_or_document_in_other_requests(raw, method, params):
    reply = raw.request(method, params, msg_id=12)
    assert reply["error"]["code"] == INVALID_PARAMS
    _alive(raw, method)


def test_unknown_method_gets_method_not_found(raw):
    reply = raw.request("textDocument/doSomethingNew", {}, msg_id=13)
    assert reply["error"]["code"] == METHOD_NOT_FOUND
    raw.notify("$/someExtensionNotification", {"x": 1})  # unknown notification: ignored
    _alive(raw, "unknown")


def test_notification_with_bad_params_is_ignored(raw):
    raw.notify("textDocument/didOpen", {"textDocument": {"uri": "file:///a.py"}})  # no text
    raw.notify("textDocument/didChange", {"textDocument": None, "contentChanges": None})
    raw.notify("workspace/didChangeConfiguration", "garbage")
    _alive(raw, "notif")


def test_non_file_uri_is_ignored_with_a_log_line(raw):
    uri = "git:/repo/model.py?HEAD"
    _open(raw, uri, "import torch\nx = torch.zeros(3)\n")
    log = raw.wait_for(lambda m: m.get("method") == "window/logMessage"
                       and "git:/repo/model.py" in m["params"]["message"])
    assert "not analysing" in log["params"]["message"]
    reply = raw.request("textDocument/hover", {"textDocument": {"uri": uri},
                                               "position": {"line": 1, "character": 0}}, msg_id=14)
    assert reply.get("result") is None and "error" not in reply
    _alive(raw, "scheme")


def test_document_that_is_not_utf8(raw, tmp_path):
    # JSON can carry a lone surrogate (what a Latin-1 file read as UTF-8 by a careless
    # client becomes); the server must take it, edit it and answer requests on it.
    uri = (tmp_path / "latin1.py").as_uri()
    raw.send_bytes(b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": '
                   b'{"uri": "%s", "languageId": "python", "version": 1, '
                   b'"text": "# caf\\udce9\\nimport torch\\nx = torch.zeros(2)\\n"}}}' % uri.encode())
    raw.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2},
        "contentChanges": [{"range": {"start": {"line": 0, "character": 0},
                                      "end": {"line": 0, "character": 2}}, "text": "##"}]})
    for i, method in enumerate(["textDocument/hover", "textDocument/inlayHint"]):
        params = {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 0}}
        if method == "textDocument/inlayHint":
            params = {"textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 0},
                                                              "end": {"line": 3, "character": 0}}}
        reply = raw.request(method, params, msg_id=20 + i)
        assert "error" not in reply, reply
    # A file on disk in Latin-1 next to the workspace pyproject: read with a log line, no crash.
    _alive(raw, "utf8")


def test_request_before_any_document_is_answered(raw):
    reply = raw.request("textDocument/hover", {"textDocument": {"uri": "file:///never/opened.py"},
                                               "position": {"line": 0, "character": 0}}, msg_id=30)
    assert "error" not in reply and reply.get("result") is None
