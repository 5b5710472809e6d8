"""Running real editors headless for the tests in this folder.

The real-editor tests run in the editor suite, ``.ci/editors.sh``, which installs the
editors and sets ``ML_LSP_EDITOR_TESTS=1``; there a missing editor is a failure. A plain
``pytest`` skips them, saying how to run them.
Each editor script writes one ``PASS name: detail`` / ``FAIL name: detail`` line per check.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIXTURE_WORKSPACE = HERE / "fixtures" / "workspace"
EXAMPLE_MODEL = REPO / "examples" / "models" / "mnist_mlp.py"
REQUIRED = os.environ.get("ML_LSP_EDITOR_TESTS") == "1"
# Per-condition deadline inside the editors (ms): generous, since a wait ends as soon as
# its condition holds.
WAIT_MS = os.environ.get("ML_LSP_EDITOR_WAIT_MS", "60000")


def require_tool(name: str, found: str | None, how: str) -> str:
    # Real editors run in the editor suite only (.ci/editors.sh sets ML_LSP_EDITOR_TESTS=1),
    # so the plain `pytest` of the README never runs them a second time in CI.
    if not REQUIRED:
        pytest.skip(f"real-editor test ({name}): run .ci/editors.sh, or set ML_LSP_EDITOR_TESTS=1")
    if found:
        return found
    pytest.fail(f"{name} is not available ({how}); ML_LSP_EDITOR_TESTS=1 makes this a failure: "
                "run .ci/editors.sh")


def require_executable(name: str, how: str) -> str:
    return require_tool(name, shutil.which(name), how)


def make_workspace(root: Path, traps: bool = False) -> Path:
    """A fresh copy of the fixture workspace plus an example model, so edits made by quick
    fixes and run folders stay out of the repository. With ``traps``, it also holds files
    that shadow what the server imports (tokenize.py, ml_lsp/...), marking ``root/marks``
    when imported (see ``imported_from_workspace``)."""
    ws = root / "ws"
    shutil.copytree(FIXTURE_WORKSPACE, ws)
    shutil.copy(EXAMPLE_MODEL, ws / EXAMPLE_MODEL.name)
    if traps:
        from hostile import plant_import_traps
        plant_import_traps(ws, root / "marks")
    return ws


def imported_from_workspace(root: Path) -> dict[str, str]:
    """The traps ``make_workspace(root, traps=True)`` planted that a process other than a
    run the user started imported (a run imports by Python's own rules, with consent)."""
    from hostile import sprung
    return {name: lines for name, lines in sprung(root / "marks").items()
            if any("ml_lsp.telemetry.bootstrap" not in line for line in lines.splitlines())}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def parse_checks(text: str) -> dict[str, Check]:
    checks: dict[str, Check] = {}
    for line in text.splitlines():
        m = re.match(r"(PASS|FAIL) (.+?): ?(.*)$", line)
        if m:
            checks[m.group(2)] = Check(m.group(2), m.group(1) == "PASS", m.group(3))
    return checks


def server_env(log_file: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["ML_LSP_LOG_FILE"] = str(log_file)
    env["ML_LSP_PY"] = sys.executable
    env["ML_LSP_WAIT_MS"] = WAIT_MS
    return env


def run_editor(cmd: list[str], env: dict[str, str], out_file: Path, timeout: float) -> tuple[dict[str, Check], str]:
    """Runs an editor script; returns its checks and a transcript for failure messages."""
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        tail = (proc.stdout + proc.stderr)[-3000:]
    except subprocess.TimeoutExpired as exc:
        tail = f"timed out after {timeout} s\n{(exc.stdout or b'')[-2000:]!r}"
    text = out_file.read_text(encoding="utf-8") if out_file.exists() else ""
    log = env.get("ML_LSP_LOG_FILE")
    server_log = Path(log).read_text(errors="replace")[-3000:] if log and Path(log).exists() else ""
    return parse_checks(text), f"--- results\n{text}\n--- editor output\n{tail}\n--- server log (tail)\n{server_log}"


def stop_leftover_runs(ws: Path) -> None:
    """A failed test must not leave its training run going: stop every run still active."""
    import json
    for status in (ws / ".ml-lsp" / "runs").glob("*/status.json"):
        try:
            state = json.loads(status.read_text()).get("state")
        except (OSError, ValueError):
            continue
        if state in ("queued", "starting", "running"):
            subprocess.run([sys.executable, "-m", "ml_lsp", "stop", status.parent.name], cwd=ws,
                           capture_output=True, timeout=60)


def assert_check(checks: dict[str, Check], name: str, transcript: str) -> None:
    check = checks.get(name)
    assert check is not None, f"check '{name}' was not reached\n{transcript}"
    assert check.ok, f"{name}: {check.detail}\n{transcript}"
