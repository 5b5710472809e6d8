"""The Ray launcher's settings: where they come from, and what the user must agree to.

Layers, highest first: the command line (``--address``, ``--num-gpus``, ``--num-nodes``,
``--runtime-env FILE``), the user's own settings (``[launchers.ray]`` in
``~/.config/ml-lsp/settings.toml``, ``launchers.ray`` in the editor's settings), the
``RAY_ADDRESS`` environment variable (for the address), then the repository's
``[tool.ml-lsp.launchers.ray]``. The user's own layers always win over the repository's.

The repository may suggest a cluster, never send the workspace to one on its own: an
address or a runtime environment taken from its pyproject.toml needs the user's consent
first (``NeedsConsent``; remembered per workspace, address and runtime environment), and
its runtime environment may not name local files outside the workspace (``working_dir``,
``py_modules`` and the like are refused: they would ship any folder of the user's).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlparse

from ml_lsp.runner.launch import LaunchContext, LaunchError, NeedsConsent
from ml_lsp.settings import normalise_key

KEYS = {  # key -> (type, default)
    "address": (str, None),
    "runtime_env": (dict, None),
    "num_gpus": ((int, float), 0),  # GPUs per node (the job's processes on that node share them)
    "num_cpus": ((int, float), 1),  # CPUs per node reserved for the job
    "num_nodes": (int, 1),
    "nproc_per_node": (int, None),  # processes per node (default: one per GPU, else 1)
    "resources": (dict, None),  # custom Ray resources per node, e.g. {"accelerator_type:A100": 1}
    "python": (str, "python"),  # the interpreter on the cluster
    "max_upload_mb": ((int, float), 100),  # the workspace sent as working_dir
    "artifacts_max_mb": ((int, float), 256),  # the job's output files brought home at its end
}
# What a repository's runtime_env may hold: packages and variables for the cluster, never a
# local folder to ship (working_dir is the workspace, chosen by us).
WORKSPACE_RUNTIME_ENV_KEYS = {"env_vars", "pip", "uv", "conda", "config", "image_uri", "container", "nsight"}
USER_ONLY_RUNTIME_ENV_KEYS = {"working_dir"}


def normalised(table: Mapping[str, Any]) -> dict[str, Any]:
    return {normalise_key(str(k)): v for k, v in table.items()}


def normalise_address(address: str, where: str) -> str:
    address = address.strip()
    if "://" not in address:
        address = "http://" + address
    parsed = urlparse(address)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise LaunchError(f"{where}: Ray address {address!r}: give the dashboard's address, "
                          "http://HOST:8265 (Ray Jobs are submitted there)")
    return address.rstrip("/")


def _typed(key: str, value: Any, where: str) -> Any:
    kind, _ = KEYS[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise LaunchError(f"{where}: launchers.ray.{key} should be {names}, got {value!r}")
    if key in ("num_nodes", "nproc_per_node") and value < 1:
        raise LaunchError(f"{where}: launchers.ray.{key} must be at least 1")
    if key in ("num_gpus", "num_cpus", "max_upload_mb", "artifacts_max_mb") and value < 0:
        raise LaunchError(f"{where}: launchers.ray.{key} must not be negative")
    return value


def read_runtime_env_file(path: str) -> dict:
    """A runtime environment from a JSON, TOML or YAML file (as ``ray job submit
    --runtime-env`` takes)."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise LaunchError(f"--runtime-env {path}: cannot read it ({exc.strerror})") from None
    try:
        if file.suffix == ".json":
            data = json.loads(text)
        elif file.suffix == ".toml":
            from ml_lsp.settings import tomllib
            data = tomllib.loads(text)
        else:
            import yaml  # a dependency of ray
            data = yaml.safe_load(text)
    except Exception as exc:
        raise LaunchError(f"--runtime-env {path}: not valid {file.suffix.lstrip('.') or 'YAML'} ({exc})") from None
    if not isinstance(data, dict):
        raise LaunchError(f"--runtime-env {path}: expected a table of runtime environment fields")
    return data


def _check_workspace_runtime_env(env: Mapping[str, Any], root: Path | None, where: str) -> dict:
    refused = sorted(set(env) - WORKSPACE_RUNTIME_ENV_KEYS)
    if refused:
        raise LaunchError(f"{where}: runtime_env {', '.join(refused)} not allowed from a repository's own "
                          f"file (only {', '.join(sorted(WORKSPACE_RUNTIME_ENV_KEYS))}); set it in your own "
                          "settings (~/.config/ml-lsp/settings.toml [launchers.ray]) or give --runtime-env")
    for key in ("pip", "uv", "conda"):
        value = env.get(key)
        if isinstance(value, str) and (value.endswith((".txt", ".yaml", ".yml", ".toml")) or "/" in value):
            path = (root / value) if root and not os.path.isabs(value) else Path(value)
            try:
                path.resolve().relative_to((root or Path("/nonexistent")).resolve())
            except ValueError:
                raise LaunchError(f"{where}: runtime_env {key} = {value!r} names a file outside the "
                                  "workspace; a repository's own file may only name its own files") from None
    return dict(env)


def resolve(context: LaunchContext) -> dict[str, Any]:
    """The launcher's settings in force, with where the address came from; NeedsConsent
    when the repository chose the address or the runtime environment and the user has not
    agreed to it for this workspace."""
    options = {normalise_key(k): v for k, v in context.options.items() if v is not None}
    user = normalised(context.user)
    workspace = normalised(context.workspace)
    user_source = "your settings (launchers.ray)"
    ws_source = context.workspace_source or "the workspace's pyproject.toml [tool.ml-lsp.launchers.ray]"
    unknown = sorted((set(user) | set(workspace)) - set(KEYS))
    if unknown:
        where = ws_source if set(unknown) & set(workspace) else user_source
        raise LaunchError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})")

    config: dict[str, Any] = {}
    chosen_by_repository: list[str] = []
    for key, (_kind, default) in KEYS.items():
        if key in ("address", "runtime_env"):
            continue
        for layer, where in ((options, "command line"), (user, user_source), (workspace, ws_source)):
            if key in layer and layer[key] is not None:
                config[key] = _typed(key, layer[key], where)
                break
        else:
            config[key] = default

    address, source = None, None
    for value, where in ((options.get("address"), "--address"), (user.get("address"), user_source),
                         (os.environ.get("RAY_ADDRESS") or None, "$RAY_ADDRESS"),
                         (workspace.get("address"), ws_source)):
        if value is not None:
            if not isinstance(value, str):
                raise LaunchError(f"{where}: launchers.ray.address should be a string, got {value!r}")
            address, source = normalise_address(value, where), where
            break
    if address is None:
        raise LaunchError("no Ray cluster to run on: give --address http://HOST:8265, or set the address in "
                          "~/.config/ml-lsp/settings.toml ([launchers.ray] address = ...) or your editor's "
                          "settings (ml-lsp launchers.ray.address)")
    if source == ws_source:
        chosen_by_repository.append(f"the cluster {address}")

    runtime_env, env_source = {}, None
    if isinstance(options.get("runtime_env"), str):
        runtime_env, env_source = read_runtime_env_file(options["runtime_env"]), "--runtime-env"
    elif isinstance(options.get("runtime_env"), Mapping):
        runtime_env, env_source = dict(options["runtime_env"]), "command line"
    elif user.get("runtime_env") is not None:
        runtime_env, env_source = dict(_typed("runtime_env", user["runtime_env"], user_source)), user_source
    elif workspace.get("runtime_env") is not None:
        runtime_env = _check_workspace_runtime_env(_typed("runtime_env", workspace["runtime_env"], ws_source),
                                                   context.root, ws_source)
        env_source = ws_source
        chosen_by_repository.append(f"its runtime environment ({', '.join(sorted(runtime_env)) or 'empty'})")
    if "working_dir" in runtime_env:
        raise LaunchError(f"{env_source}: runtime_env working_dir is the workspace, sent by ml-lsp; leave it out")

    config.update(address=address, address_source=source, runtime_env=runtime_env,
                  runtime_env_source=env_source)
    if chosen_by_repository:
        digest = hashlib.sha256(json.dumps(runtime_env if env_source == ws_source else None,
                                           sort_keys=True).encode()).hexdigest()[:16]
        key = f"ray:{address}:{digest}"
        if key not in context.consented:
            root = context.root or "this workspace"
            raise NeedsConsent(
                key,
                f"ml-lsp: send the workspace {root} to the Ray cluster at {address} and run it there? "
                f"{' and '.join(chosen_by_repository).capitalize()} come from {ws_source}, which the "
                "repository wrote, not from your settings.",
                action="Send to this cluster",
                refusal=(f"the Ray cluster {address} comes from {ws_source} (the repository's own file): "
                         "give --yes to send the workspace there, or --address (or set launchers.ray.address "
                         "in ~/.config/ml-lsp/settings.toml) to choose the cluster yourself"))
    return config
