"""User settings, merged from (lowest to highest priority) the built-in defaults, the
user's own ``~/.config/ml-lsp/settings.toml``, the workspace's ``[tool.ml-lsp]`` table in
pyproject.toml, the client's ``initializationOptions`` and
``workspace/didChangeConfiguration``.

The workspace's table is a file the repository ships, so for the settings that decide
whether the workspace's code runs, how long and with what, and where run folders go
(``GUARDED``), it may only lower what the user's own layers say: ``trust`` down to
``untrusted``, ``traceOnSave`` off, limits smaller, ``runsDir`` inside the workspace.
Settings naming interpreters, environment variables or launchers are not taken from it
at all (``WORKSPACE_NEVER``). Each refusal is a problem line naming the key.

Keys are accepted in the spellings editors use (``inlayHints.shapes``,
``inlay-hints-shapes``, ``inlay_hints_shapes``) and normalised to snake_case.
Unknown keys are kept, so a plugin can read its own.
"""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "select": [],  # rule codes or prefixes; empty means every rule on by default
    "ignore": [],
    "inlay_hints_shapes": True,
    "inlay_hints_metrics": True,
    "runs_dir": ".ml-lsp/runs",
    "devices": "auto",
    "trust": "ask",  # ask | trusted | untrusted: guards running the user's code
    "trace_on_save": False,
    "inputs": {},  # entry class or function -> {param: "B,784"}
    # input shapes from the workspace's training scripts and tests (ml_lsp.workspace_index)
    "workspace_call_sites": True,
    "log_level": "info",
    # the end of a run the editor watched: "actions" (a notification with Show log,
    # Show traceback, Rerun: window/showMessageRequest), "message" (window/showMessage,
    # for a client whose requests are modal prompts) or "off"
    "run_notifications": "actions",
}

# Section names editors put our settings under.
SECTIONS = ("ml-lsp", "mlLsp", "ml_lsp")


def normalise_key(key: str) -> str:
    key = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key)
    return re.sub(r"[.\-\s]+", "_", key).lower()


def flatten(options: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"inlayHints": {"shapes": False}}`` -> ``{"inlay_hints_shapes": False}``; the
    ``inputs`` and ``launchers`` tables stay mappings because their keys are user names
    (a launcher's runtime environment holds environment variable names)."""
    flat: dict[str, Any] = {}
    for key, value in options.items():
        name = normalise_key(f"{prefix}_{key}" if prefix else str(key))
        if isinstance(value, Mapping) and name not in ("inputs", "launchers") and not name.startswith("finetune"):
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def unwrap_section(options: Any) -> Mapping[str, Any]:
    """Clients send either our settings or a dict that holds them under our section."""
    if not isinstance(options, Mapping):
        return {}
    for section in SECTIONS:
        if isinstance(options.get(section), Mapping):
            return options[section]
    return options


@dataclass
class Settings:
    values: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS))
    problems: list[str] = field(default_factory=list)
    # [tool.ml-lsp.launchers.NAME] of the workspace's pyproject.toml, kept apart from the
    # user's own ``launchers`` (in ``values``): a launcher decides what a repository may
    # choose, and asks the user before acting on it (ml_lsp.runner.launch).
    workspace_launchers: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(normalise_key(key), default)

    def merged(self, options: Any, source: str) -> "Settings":
        """A new Settings with ``options`` layered on top; values of the wrong type are
        dropped with a problem line naming the source and key."""
        values = dict(self.values)
        problems = list(self.problems)
        for key, value in flatten(unwrap_section(options)).items():
            expected = DEFAULTS.get(key)
            if expected is not None and value is not None and not _same_kind(expected, value):
                problems.append(
                    f"{source}: setting '{key}' should be {type(expected).__name__}, "
                    f"got {value!r}; using {values.get(key)!r}")
                continue
            if key == "launchers" and isinstance(value, Mapping):
                value = _merge_tables(values.get(key) or {}, value)
            values[key] = value
        return Settings(values, problems, self.workspace_launchers)


def _merge_tables(low: Mapping[str, Any], high: Mapping[str, Any]) -> dict[str, Any]:
    """``high`` over ``low``, table by table (one layer may set a launcher's address and
    another its resources)."""
    merged = dict(low)
    for key, value in high.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            value = _merge_tables(merged[key], value)
        merged[key] = value
    return merged


def _same_kind(expected: Any, value: Any) -> bool:
    if isinstance(expected, bool):
        return isinstance(value, bool)
    if isinstance(expected, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(expected, list):
        return isinstance(value, (list, tuple)) or isinstance(value, str)
    return isinstance(value, type(expected))


def read_pyproject_table(root: Path) -> tuple[dict[str, Any], str | None]:
    """The ``[tool.ml-lsp]`` table of ``root/pyproject.toml`` and a problem line, if any
    (a broken pyproject is reported, never fatal)."""
    path = root / "pyproject.toml"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"{path}: cannot read ({exc.strerror})"
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return {}, f"{path}: not UTF-8 (byte {exc.start}); [tool.ml-lsp] ignored"
    except tomllib.TOMLDecodeError as exc:
        return {}, f"{path}: {exc}; [tool.ml-lsp] ignored"
    table = data.get("tool", {}).get("ml-lsp", {})
    return (table if isinstance(table, dict) else {}), None


TRUST_ORDER = ("untrusted", "ask", "trusted")
# Prefixes of keys a repository's file never sets: what runs its code, and with what.
# (Its [tool.ml-lsp.launchers.NAME] tables are read, but kept apart: see Settings.)
WORKSPACE_NEVER = ("python", "interpreter", "env", "launcher", "server_args")


def _lower_trust(user: Any, workspace: Any, root: Path) -> Any:
    rank = {t: i for i, t in enumerate(TRUST_ORDER)}
    if workspace not in rank:
        return user
    return workspace if rank[workspace] <= rank.get(user, rank["ask"]) else user


def _switch_off_only(user: Any, workspace: Any, root: Path) -> Any:
    return False if workspace is False else user


def _limit_down_only(default: float):
    def lower(user: Any, workspace: Any, root: Path) -> Any:
        ceiling = user if isinstance(user, (int, float)) and not isinstance(user, bool) else default
        ok = isinstance(workspace, (int, float)) and not isinstance(workspace, bool) and 0 < workspace <= ceiling
        return workspace if ok else user
    return lower


def _runs_dir_in_workspace(user: Any, workspace: Any, root: Path) -> Any:
    return workspace if runs_dir_inside(root, workspace) else user


def runs_dir_inside(root: Path, configured: Any) -> bool:
    """Whether ``configured`` (a runs_dir setting from the workspace's own file) names a
    folder inside ``root``: a repository may move its run folders, not out of itself."""
    if not isinstance(configured, str) or not configured.strip():
        return False
    path = Path(configured)
    if path.is_absolute() or configured.startswith("~"):
        return False
    try:
        (root / path).resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


# Settings the workspace's own file may lower but never raise: key -> (user value, its value)
# -> the value in force. Limits are the tracer's defaults (ml_lsp.trace.session).
GUARDED = {
    "trust": (_lower_trust, "only lower it (to \"ask\" or \"untrusted\")"),
    "trace_on_save": (_switch_off_only, "only turn it off"),
    "trace_cpu_fallback": (_switch_off_only, "only turn it off"),
    "trace_timeout": (_limit_down_only(20.0), "only make it smaller"),
    "trace_memory_mb": (_limit_down_only(4096), "only make it smaller"),
    "runs_dir": (_runs_dir_in_workspace, "only name a folder inside the workspace"),
}


def user_settings_file() -> Path:
    from ml_lsp.userdirs import config_dir
    return config_dir() / "settings.toml"


def read_user_settings(path: Path | None = None) -> tuple[dict[str, Any], str | None]:
    """The user's own settings file (top-level keys, as in ``[tool.ml-lsp]``), and a
    problem line if it cannot be read."""
    path = path or user_settings_file()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, f"{path}: {exc}; ignored"
    return data, None


def load_settings(root: Path | None, *layers: tuple[Any, str], user_file: bool = True) -> Settings:
    """Defaults, then the user's settings file, then the workspace's ``[tool.ml-lsp]``,
    then ``layers`` (the client's settings, each ``(options, source)``), with the
    workspace's say on ``GUARDED`` keys limited to lowering (see the module's doc)."""
    settings = Settings()
    if user_file:
        table, problem = read_user_settings()
        if problem:
            settings.problems.append(problem)
        settings = settings.merged(table, str(user_settings_file()))
    guarded: dict[str, Any] = {}
    workspace_launchers: dict[str, Any] = {}
    if root is not None:
        source = f"{root / 'pyproject.toml'} [tool.ml-lsp]"
        table, problem = read_pyproject_table(root)
        if problem:
            settings.problems.append(problem)
        ordinary = {}
        table = dict(table)
        launchers = table.pop("launchers", None)
        if isinstance(launchers, Mapping):
            workspace_launchers = {str(k): dict(v) for k, v in launchers.items() if isinstance(v, Mapping)}
        elif launchers is not None:
            settings.problems.append(f"{source}: 'launchers' should be a table of launcher tables; ignored")
        for key, value in flatten(table).items():
            if key in GUARDED:
                guarded[key] = value
            elif key.startswith(WORKSPACE_NEVER):
                settings.problems.append(
                    f"{source}: setting '{key}' ignored: a repository's own file cannot choose what "
                    "runs its code; set it in your editor's user settings or ~/.config/ml-lsp/settings.toml")
            else:
                ordinary[key] = value
        settings = settings.merged(ordinary, source)
    settings.workspace_launchers = workspace_launchers
    for options, source_name in layers:
        settings = settings.merged(options, source_name)
    for key, value in guarded.items():
        user = settings.values.get(key)
        guard, rule = GUARDED[key]
        kept = guard(user, value, root)
        if kept is not value and value != user:
            settings.problems.append(
                f"{source}: setting '{key}' = {value!r} ignored: a repository's own file can {rule}; "
                "set it in your editor's user settings or ~/.config/ml-lsp/settings.toml")
        if kept is None:
            settings.values.pop(key, None)
        else:
            settings.values[key] = kept
    return settings
