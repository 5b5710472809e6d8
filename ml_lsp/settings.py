"""User settings, merged from (lowest to highest priority) the built-in defaults, the
workspace's ``[tool.ml-lsp]`` table in pyproject.toml, the client's
``initializationOptions`` and ``workspace/didChangeConfiguration``.

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
    "log_level": "info",
}

# Section names editors put our settings under.
SECTIONS = ("ml-lsp", "mlLsp", "ml_lsp")


def normalise_key(key: str) -> str:
    key = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key)
    return re.sub(r"[.\-\s]+", "_", key).lower()


def flatten(options: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"inlayHints": {"shapes": False}}`` -> ``{"inlay_hints_shapes": False}``; the
    ``inputs`` table stays a mapping because its keys are user names."""
    flat: dict[str, Any] = {}
    for key, value in options.items():
        name = normalise_key(f"{prefix}_{key}" if prefix else str(key))
        if isinstance(value, Mapping) and name != "inputs" and not name.startswith("finetune"):
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
            values[key] = value
        return Settings(values, problems)


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


def load_settings(root: Path | None, *layers: tuple[Any, str]) -> Settings:
    settings = Settings()
    if root is not None:
        table, problem = read_pyproject_table(root)
        if problem:
            settings.problems.append(problem)
        settings = settings.merged(table, f"{root / 'pyproject.toml'} [tool.ml-lsp]")
    for options, source in layers:
        settings = settings.merged(options, source)
    return settings
