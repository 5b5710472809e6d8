"""The language server starts warm: what library functions computed in an earlier session
(or an earlier `ml-lsp check`) is read from the cache folder before the first analysis, so
opening a model that imports a big library is quick the second time, with the same
answers; and an edited library file is worked out again. End to end over stdio."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import os

from lsprotocol import types

from lsp_helpers import LspSession
from test_check_library_memo import make_workspace, width_module


# more library modules than the check tests' 20, so that the library's work, not the
# server's start-up that both sessions pay, is most of a cold session's CPU time
LIBRARY_MODULES = 50


def _cpu_seconds(pid: int) -> float:
    # utime + stime of the server process, in clock ticks (Linux /proc)
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _open_and_wait(tmp_path, root, cache, name="m0.py"):
    """(hover text on the model's output, its diagnostics' codes, server CPU seconds)."""
    path = root / "pkg" / "models" / name
    uri = path.as_uri()
    async with LspSession(tmp_path, root=root, env={"ML_LSP_CACHE_DIR": str(cache)}) as client:
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=path.read_text())))
        line = next(i for i, text in enumerate(path.read_text().splitlines()) if "return self.fc(x)" in text)
        hover = await asyncio.wait_for(client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, 20))), 300)
        for _ in range(600):  # diagnostics follow the analysis the hover waited for
            if uri in client.diagnostics:
                break
            await asyncio.sleep(0.1)
        codes = sorted(str(d.code) for d in client.diagnostics.get(uri, []))
        cpu = _cpu_seconds(client._server.pid)
    return (hover.contents.value if hover else None), codes, cpu


async def test_a_second_session_reads_the_library_answers_the_first_worked_out(tmp_path):
    root = make_workspace(tmp_path / "ws", LIBRARY_MODULES)
    cache = tmp_path / "cache"
    first = await _open_and_wait(tmp_path, root, cache)
    second = await _open_and_wait(tmp_path, root, cache)
    assert first[0] and "16" in first[0]  # Linear(WIDTH=16, 2) on x: the hover names the width
    assert second[:2] == first[:2]
    # again with another cache folder: each figure is the better of two, the cold and warm
    # sessions taking turns, so that a busy spell of the machine slows both alike
    again_first = await _open_and_wait(tmp_path, root, tmp_path / "cache-again")
    again_second = await _open_and_wait(tmp_path, root, tmp_path / "cache-again")
    cold_s, warm_s = min(first[2], again_first[2]), min(second[2], again_second[2])
    print(f"\nserver CPU to the first hover: cold {cold_s:.2f} s, second session {warm_s:.2f} s")
    # both sessions pay the same start-up (imports, jedi); the library's work is the rest
    assert warm_s < 0.7 * cold_s

    # the library changes: the width is worked out again, as a server with no cache gives it
    (root / "pkg" / "lib" / "width.py").write_text(width_module(12, LIBRARY_MODULES))
    edited = await _open_and_wait(tmp_path, root, cache)
    fresh = await _open_and_wait(tmp_path, root, tmp_path / "fresh-cache")
    assert edited[:2] == fresh[:2]
    assert "SH001" in edited[1]  # Linear(12, 2) on a (4, 16) input


async def test_the_server_reads_the_library_answers_a_check_worked_out(tmp_path):
    root = make_workspace(tmp_path / "ws", LIBRARY_MODULES)
    cache = tmp_path / "cache"
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "check", "pkg/models", "-j", "1"], cwd=root,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "ML_LSP_CACHE_DIR": str(cache)})
    assert done.returncode == 0, done.stdout + done.stderr
    cold = await _open_and_wait(tmp_path, root, tmp_path / "fresh-cache")
    after_check = await _open_and_wait(tmp_path, root, cache)
    assert after_check[:2] == cold[:2]
    # each figure the better of two, taking turns (as above)
    cold_again = await _open_and_wait(tmp_path, root, tmp_path / "fresh-cache-again")
    after_check_again = await _open_and_wait(tmp_path, root, cache)
    cold_s, warm_s = min(cold[2], cold_again[2]), min(after_check[2], after_check_again[2])
    print(f"\nserver CPU to the first hover: cold {cold_s:.2f} s, after a check {warm_s:.2f} s")
    assert warm_s < 0.7 * cold_s
