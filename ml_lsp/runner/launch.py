"""What happens to a spec between the user's command and the queue, for launchers that
need more than a command line: checking it against the launcher's settings, and the
user's consent when those settings come from the repository rather than from the user.

A launcher (see docs/launchers.md) is a callable ``launcher(spec, devices)``; it may also
have

- ``prepare(spec, context) -> spec``: called by the command line and the language server
  before the spec is queued, in the submitting process. It checks the spec and the
  launcher's settings and returns the spec with what the job will need (the cluster's
  address, resources...). ``spec`` is None when only the settings are to be checked (the
  server asks for consent before it hands a fine-tune to its child process). It raises
  ``LaunchError`` for bad input and ``NeedsConsent`` when the user must first agree to
  something the repository chose (where the workspace is sent).
- ``configured(context) -> bool``: whether the editor should offer "Run on <label>".
- ``label``: the name the editor shows ("Ray").

Consent is remembered per workspace in the user's state folder (outside every
workspace), like trust: ``~/.local/state/ml-lsp/launcher-consents.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

log = logging.getLogger(__name__)


class LaunchError(ValueError):
    """A run this launcher cannot take; the message says what to change."""


class NeedsConsent(Exception):
    """The user must agree before the run is handed over: ``question`` says what would
    happen and where the choice came from; ``key`` is what is remembered once they agree
    (per workspace); ``action`` is the button that agrees."""

    def __init__(self, key: str, question: str, action: str = "Allow", refusal: str = "") -> None:
        super().__init__(question)
        self.key, self.question, self.action = key, question, action
        self.refusal = refusal or question


@dataclass
class LaunchContext:
    """What ``prepare`` may read. ``user`` is the launcher's table from the user's own
    settings (settings.toml, the editor's user settings); ``workspace`` the same table from
    the repository's pyproject.toml (``workspace_source`` names it); ``options`` what the
    command line gave (``address``, ``num_gpus``...)."""

    root: Path | None
    user: Mapping[str, Any] = field(default_factory=dict)
    workspace: Mapping[str, Any] = field(default_factory=dict)
    workspace_source: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    consented: set[str] = field(default_factory=set)


def launchers() -> dict[str, Callable]:
    from ml_lsp.plugins import default_host
    return default_host().merged_mapping("ml_lsp_launchers")


def context_for(name: str, root: Path | None, settings: Any, options: Mapping[str, Any] | None = None,
                consented: set[str] | None = None) -> LaunchContext:
    """The context of launcher ``name`` from a ``Settings`` (``ml_lsp.settings``)."""
    user = (settings.get("launchers") or {}).get(name) or {}
    workspace = (getattr(settings, "workspace_launchers", None) or {}).get(name) or {}
    source = f"{root / 'pyproject.toml'} [tool.ml-lsp.launchers.{name}]" if root else ""
    remembered = consents(root) if root is not None else set()
    return LaunchContext(root=root, user=user if isinstance(user, Mapping) else {},
                         workspace=workspace if isinstance(workspace, Mapping) else {},
                         workspace_source=source, options=dict(options or {}),
                         consented=remembered | set(consented or ()))


def prepare(spec: dict | None, name: str, context: LaunchContext) -> dict | None:
    """The spec as launcher ``name`` wants it queued (unchanged for a launcher without
    ``prepare``). LaunchError for an unknown launcher."""
    found = launchers()
    launcher = found.get(name)
    if launcher is None:
        raise LaunchError(f"unknown launcher {name!r} (installed: {', '.join(sorted(found)) or 'none'}; "
                          "`ml-lsp plugins` lists the plugins that failed to load)")
    hook = getattr(launcher, "prepare", None)
    return spec if hook is None else hook(spec, context)


# -- remembered consent ---------------------------------------------------------------------

def consent_file() -> Path:
    from ml_lsp.userdirs import state_dir
    return state_dir() / "launcher-consents.json"


def _read() -> dict[str, list[str]]:
    try:
        data = json.loads(consent_file().read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {root: [k for k in keys if isinstance(k, str)] for root, keys in data.items()
            if isinstance(root, str) and isinstance(keys, list)}


def consents(root: Path | str) -> set[str]:
    return set(_read().get(str(root), []))


def remember_consent(root: Path | str, key: str) -> None:
    from ml_lsp.userdirs import write_private
    data = _read()
    keys = set(data.get(str(root), [])) | {key}
    data[str(root)] = sorted(keys)
    try:
        write_private(consent_file(), json.dumps(data, indent=1, sort_keys=True).encode())
    except OSError as exc:  # still consented for this submission
        log.warning("cannot remember the consent in %s: %s", consent_file(), exc)
