"""Real VS Code (code-server 4.100.3 in Debian's chromium, driven by playwright-core) with
the ml-lsp extension built from editor-clients/vscode: shape inlay hints and hover on an
example model, a shape-error squiggle and its quick fix, ▶ Run with a live loss hint, and
stopping the run from the status bar. Screenshots go to a folder the test prints."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from headless_editors import HERE, REPO, Check, assert_check, make_workspace, require_executable, require_tool, stop_leftover_runs
from hostile import marker_script, plant_import_traps, sprung

EXTENSION = REPO / "editor-clients" / "vscode"
# ms-python.python cannot be installed offline: a test double with its environments API
PYTHON_EXTENSION_DOUBLE = HERE / "python_extension_double"
CHECKS = [
    "Python extension's interpreter used",
    "shape inlay hints",
    "hover shows a shape",
    "symbolic shape hint h: (B, 128)",
    "shape hints padded from the code",
    "symbolic hover names the concrete call",
    "Fine-tune code action",
    "Fine-tune asks for the checkpoint (quick pick)",
    "Fine-tune picker: an earlier run's last checkpoint, no metric files",
    "Fine-tune asks for the data (quick pick)",
    "Fine-tune spec written (server message)",
    "shape-error squiggle",
    "quick fix offered",
    "quick fix applied, squiggle gone",
    "▶ Run code lens",
    "loss hint appears",
    "loss hint updates",
    "status bar shows the running job",
    "status bar job opens the run",
    "status bar Stop button",
    "stopped from the status bar (job left the status bar)",
    "crash: ▶ Run code lens",
    "crash: notification with Show traceback, Show log, Rerun",
    "crash: diagnostic on the user's line, the user's frames only",
    "crash: the static check's fix offered",
    "palette lists Restart ml-lsp once",
    "Restart ml-lsp, seen in Show ml-lsp log",
    "Python extension interpreter change restarts the server",
]
USER_SETTINGS = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "telemetry.telemetryLevel": "off",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "editor.inlayHints.enabled": "on",
    "editor.codeLens": True,
    "editor.hover.delay": 100,
    "files.autoSave": "off",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"code-server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)  # polling interval while the port opens
    raise AssertionError(f"code-server not healthy at {url} within {deadline_s} s")


def make_cloned_repository(ws: Path, tmp: Path) -> None:
    """What a cloned repository can ship to make the editor run its code: files that shadow
    modules the server imports, an ``ml_lsp/`` package, settings (pyproject.toml and
    .vscode/settings.json) that trust it, trace on save, send runs outside it and name its
    own interpreter, and a model that leaves a mark when imported."""
    marks = tmp / "marks"
    plant_import_traps(ws, marks)
    evil_python = ws / "python"
    evil_python.write_text(f"#!/bin/sh\necho interpreter > {marks / 'workspace-interpreter'}\nexec {sys.executable} \"$@\"\n")
    evil_python.chmod(0o755)
    outside = tmp / "outside-runs"
    outside.mkdir()
    (ws / "pyproject.toml").write_text(
        f'[project]\nname = "cloned"\n\n[tool.ml-lsp]\ntrust = "trusted"\ntraceOnSave = true\nruns-dir = "{outside}"\n')
    (ws / ".vscode").mkdir()
    (ws / ".vscode" / "settings.json").write_text(json.dumps({
        "mlLsp.trust": "trusted", "mlLsp.traceOnSave": True, "mlLsp.runsDir": str(outside),
        "mlLsp.interpreter": str(evil_python)}, indent=1))
    (ws / "evil_model.py").write_text(marker_script(marks / "evil_model-imported") + (
        "from torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(4, 2)\n\n    def forward(self, x):\n        return self.fc(x)\n"))


def screenshot_folder(tmp: Path, mode: str) -> Path:
    """``$ML_LSP_EDITOR_OUT/vscode-MODE`` (the suite's output folder, .ci/editors.sh sets
    it), emptied first; else a folder of the test's own."""
    out = os.environ.get("ML_LSP_EDITOR_OUT")
    if not out:
        return tmp / "shots"
    folder = Path(out) / f"vscode-{mode}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def run_vscode(tmp: Path, mode: str, request, interpreter: str | None = sys.executable) -> tuple[dict[str, Check], str, Path]:
    """Builds and installs the .vsix into a fresh code-server profile, opens a copy of the
    fixture workspace, runs the playwright driver in MODE, stops code-server. With
    ``interpreter=None`` the setting is left out and the Python extension (double) answers.
    In ``untrusted`` and ``prompt`` modes the workspace is a cloned repository's
    (``make_cloned_repository``)."""
    node = require_executable("node", "Node.js 20")
    npm = require_executable("npm", "Node.js 20")
    code_server = require_tool("code-server", os.environ.get("ML_LSP_CODE_SERVER") or shutil.which("code-server"),
                               "set ML_LSP_CODE_SERVER; .ci/editors.sh installs 4.100.3")
    chromium = require_tool("chromium", os.environ.get("CHROMIUM") or shutil.which("chromium"), "apt-get install chromium")
    require_tool("editor-clients/vscode/node_modules", (EXTENSION / "node_modules" / ".bin" / "vsce").exists() or None,
                 "run npm ci in editor-clients/vscode")

    vsix = EXTENSION / "ml-lsp.vsix"
    if not getattr(run_vscode, "packaged", False):  # once per session
        subprocess.run([npm, "run", "package"], cwd=EXTENSION, check=True, capture_output=True, timeout=300)
        run_vscode.packaged = True
    ws = make_workspace(tmp)
    if mode in ("untrusted", "prompt"):
        make_cloned_repository(ws, tmp)
    # what the fine-tune quick picks list (their content matters only when a run starts):
    # a checkpoint, data, and an earlier run's last checkpoint beside its metric records
    (ws / "pretrained.pt").write_bytes(b"")
    (ws / "digits.npz").write_bytes(b"")
    earlier = ws / ".ml-lsp" / "runs" / "20260101-000000-earlier"
    (earlier / "checkpoints").mkdir(parents=True)
    (earlier / "frames.bin").write_bytes(b"")
    (earlier / "checkpoints" / "last.pt").write_bytes(b"")
    data, exts, shots = tmp / "data", tmp / "exts", screenshot_folder(tmp, mode)
    (data / "User").mkdir(parents=True)
    settings = dict(USER_SETTINGS, **{"security.workspace.trust.enabled": mode == "untrusted"})
    if interpreter:
        settings["mlLsp.interpreter"] = interpreter
    if mode == "trusted":  # Workspace Trust is off there: the user's own setting trusts
        settings["mlLsp.trust"] = "trusted"
    (data / "User" / "settings.json").write_text(json.dumps(settings, indent=1))
    extensions = [vsix]
    if interpreter is None:
        double = tmp / "python-double.vsix"
        subprocess.run([str(EXTENSION / "node_modules" / ".bin" / "vsce"), "package", "--no-dependencies",
                        "--allow-missing-repository", "-o", str(double)],
                       cwd=PYTHON_EXTENSION_DOUBLE, check=True, capture_output=True, timeout=120)
        extensions.append(double)
    for ext in extensions:
        subprocess.run([code_server, "--user-data-dir", str(data), "--extensions-dir", str(exts),
                        "--install-extension", str(ext)], check=True, capture_output=True, timeout=300)

    port = free_port()
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp / "xdg"), XDG_STATE_HOME=str(tmp / "xdg-state"),
               E2E_PYTHON_EXT_INTERPRETER=sys.executable)
    good_python = sys.executable
    if mode == "missing" and env.get("PYTHONPATH"):
        # An inherited PYTHONPATH would give the bare venv ml_lsp after all: the editor runs
        # without it, and the interpreter the user then picks is one that has ml_lsp (this
        # Python with the PYTHONPATH the tests run under).
        good_python = str(tmp / "python-with-ml-lsp")
        Path(good_python).write_text(f"#!/bin/sh\nPYTHONPATH={shlex.quote(env.pop('PYTHONPATH'))} "
                                     f"exec {shlex.quote(sys.executable)} \"$@\"\n")
        Path(good_python).chmod(0o755)
    trust_flag = ["--disable-workspace-trust"] if mode in ("trusted", "prompt") else []
    log = open(tmp / "code-server.log", "w")
    proc = subprocess.Popen([code_server, "--bind-addr", f"127.0.0.1:{port}", "--auth", "none",
                             "--disable-telemetry", "--disable-update-check", *trust_flag,
                             "--user-data-dir", str(data), "--extensions-dir", str(exts), str(ws)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, 120)
        if reporter:
            reporter.write_line(f"\nVS Code e2e ({mode}) screenshots: {shots}")
        driver = subprocess.run(
            [node, str(HERE / "vscode_e2e.js"), f"http://127.0.0.1:{port}/?folder={ws}", str(shots), mode],
            env=dict(os.environ, NODE_PATH=str(EXTENSION / "node_modules"), CHROMIUM=chromium,
                     E2E_GOOD_PYTHON=good_python,
                     E2E_WAIT_MS=os.environ.get("ML_LSP_EDITOR_WAIT_MS", "60000")),
            capture_output=True, text=True, timeout=900)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        stop_leftover_runs(ws)
    lines = [ln for ln in driver.stdout.splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"checks": []}
    checks = {c["name"]: Check(c["name"], c["ok"], c["detail"]) for c in result["checks"]}
    server_logs = sorted(data.glob("logs/**/server.log"))
    transcript = "\n".join([
        "--- checks", *(f"{'PASS' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in checks.values()),
        f"--- screenshots: {shots}",
        "--- driver stderr (tail)", driver.stderr[-2000:],
        "--- server log (tail)", server_logs[-1].read_text(errors="replace")[-2000:] if server_logs else "(none)",
    ])
    return checks, transcript, ws, shots


@pytest.fixture(scope="module")
def vscode_session(tmp_path_factory, request):
    return run_vscode(tmp_path_factory.mktemp("vscode"), "trusted", request, interpreter=None)


@pytest.fixture(scope="module")
def vscode_missing_session(tmp_path_factory, request):
    """The interpreter is a fresh virtualenv without ml-lsp."""
    tmp = tmp_path_factory.mktemp("vscode-missing")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")], check=True, timeout=120)
    return run_vscode(tmp, "missing", request, interpreter=str(tmp / "venv" / "bin" / "python"))


@pytest.fixture(scope="module")
def vscode_untrusted_session(tmp_path_factory, request):
    return run_vscode(tmp_path_factory.mktemp("vscode-untrusted"), "untrusted", request)


@pytest.mark.parametrize("name", CHECKS)
@pytest.mark.timeout(900)  # the first test also waits for the editor session (module fixture)
def test_vscode(vscode_session, name):
    checks, transcript, *_ = vscode_session
    extra = [c for c in checks.values() if c.name not in CHECKS and not c.ok]
    assert not extra, f"driver failure: {extra}\n{transcript}"
    assert_check(checks, name, transcript)


UNTRUSTED_CHECKS = [
    "Workspace Trust asks",
    "untrusted: diagnostics still shown",
    "untrusted: ▶ Run code lens shown",
    "untrusted: ▶ Run refused with a message",
    "untrusted: no job in the status bar",
]


@pytest.mark.parametrize("name", UNTRUSTED_CHECKS)
@pytest.mark.timeout(900)  # the first test also waits for the editor session (module fixture)
def test_vscode_untrusted_workspace(vscode_untrusted_session, name):
    checks, transcript, *_ = vscode_untrusted_session
    assert_check(checks, name, transcript)


@pytest.mark.timeout(900)
def test_vscode_untrusted_workspace_started_no_run(vscode_untrusted_session):
    checks, transcript, ws, _ = vscode_untrusted_session
    runs = [p.name for p in (ws / ".ml-lsp" / "runs").glob("*/status.json")]
    assert runs == [], f"an untrusted workspace ran code: {runs}\n{transcript}"


@pytest.mark.timeout(900)
def test_vscode_restricted_mode_runs_nothing_a_cloned_repository_ships(vscode_untrusted_session):
    """Restricted Mode, a repository that trusts itself in both its pyproject.toml and its
    .vscode/settings.json, names its own interpreter, shadows tokenize/secrets/pluggy/...
    and ml_lsp: starting the server, saving its model, ▶ Run and Trace shapes run none of it."""
    checks, transcript, ws, _ = vscode_untrusted_session
    for name in ("untrusted: model saved", "untrusted: Trace shapes refused"):
        assert_check(checks, name, transcript)
    marks = ws.parent / "marks"
    assert sprung(marks) == {}, f"workspace code ran: {sprung(marks)}\n{transcript}"
    assert list((ws.parent / "outside-runs").iterdir()) == []


PROMPT_CHECKS = [
    "prompt: ml-lsp asks before running",
    "prompt: Cancel runs nothing",
    "prompt: Trust and run starts the run",
    "prompt: the run stops from the status bar",
]


@pytest.fixture(scope="module")
def vscode_prompt_session(tmp_path_factory, request):
    """Workspace Trust turned off (VS Code decides nothing): ml-lsp's own prompt asks."""
    return run_vscode(tmp_path_factory.mktemp("vscode-prompt"), "prompt", request)


@pytest.mark.parametrize("name", PROMPT_CHECKS)
@pytest.mark.timeout(900)
def test_vscode_trust_prompt(vscode_prompt_session, name):
    checks, transcript, *_ = vscode_prompt_session
    assert_check(checks, name, transcript)


@pytest.mark.timeout(900)
def test_vscode_trust_prompt_answer_is_the_users_and_runs_stay_inside(vscode_prompt_session):
    """The one run the user allowed is in the workspace's own runs folder (not the one its
    settings name outside it), the answer is remembered in the user's state folder, and the
    workspace's interpreter setting was not used to start anything."""
    checks, transcript, ws, _ = vscode_prompt_session
    runs = [p.parent.name for p in (ws / ".ml-lsp" / "runs").glob("*/spec.json")]
    assert len(runs) == 1, f"{runs}\n{transcript}"
    assert list((ws.parent / "outside-runs").iterdir()) == []
    remembered = json.loads((ws.parent / "xdg-state" / "ml-lsp" / "trusted-workspaces.json").read_text())
    assert remembered["trusted"] == [str(ws)]
    # the run the user allowed may import the workspace's files by Python's own rules; no
    # other process may (the server, its probe, the runner, an interpreter the repository named)
    not_the_run = {k: v for k, v in sprung(ws.parent / "marks").items()
                   if any("ml_lsp.telemetry.bootstrap" not in line for line in v.splitlines())}
    assert not_the_run == {}, f"{not_the_run}\n{transcript}"


@pytest.mark.timeout(900)
def test_vscode_saves_screenshots_of_the_live_run_a_crash_and_a_symbolic_hover(vscode_session):
    checks, transcript, _, shots = vscode_session
    saved = sorted(p.name for p in shots.glob("*.png"))
    for name in ("run-loss-hint", "crash", "symbolic-hover"):
        assert any(re.fullmatch(rf"\d+-{name}\.png", p) for p in saved), f"no {name} screenshot in {shots}: {saved}"


def test_vscode_finetune_spec_has_the_picked_checkpoint_and_data(vscode_session):
    checks, transcript, ws, _ = vscode_session
    import tomllib
    pyproject = ws / "pyproject.toml"
    assert pyproject.exists(), f"no pyproject.toml written\n{transcript}"
    tables = tomllib.loads(pyproject.read_text())["tool"]["ml-lsp"]["finetune"]
    (spec,) = tables.values()
    assert (spec["checkpoint"], spec["data"]) == ("pretrained.pt", "digits.npz")
    assert spec["model"].endswith("mnist_mlp.py:MLP")


@pytest.mark.timeout(900)
def test_vscode_offers_the_pip_command_when_ml_lsp_is_missing(vscode_missing_session):
    checks, transcript, ws, _ = vscode_missing_session
    venv_python = ws.parent / "venv" / "bin" / "python"
    assert_check(checks, "missing ml_lsp: notification with the pip command", transcript)
    assert f"{venv_python} -m pip install -U ml-lsp" in checks["missing ml_lsp: notification with the pip command"].detail


@pytest.mark.timeout(900)
def test_vscode_choose_interpreter_restarts_the_server(vscode_missing_session):
    checks, transcript, *_ = vscode_missing_session
    assert_check(checks, "interpreter changed: server restarted, diagnostics shown", transcript)
