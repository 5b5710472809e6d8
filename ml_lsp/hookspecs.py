"""The plugin contract: every hook a plugin may implement.

Built-in plugins (the top-level ``plugins/`` folder) and third-party packages implement
these the same way: a module with ``@hookimpl`` functions, named by an entry point in the
``ml_lsp`` group::

    [project.entry-points.ml_lsp]
    my_plugin = "my_package.ml_lsp_plugin"

Every hook returns plain Python data (no LSP types), so one plugin serves the language
server, the command line and the tests alike. A hook that raises is reported and skipped;
it never takes the caller down (see ``ml_lsp.plugins.PluginHost.collect``).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import pluggy

PROJECT = "ml_lsp"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ml_lsp_shape_rules() -> Mapping[str, Callable[..., Any]]:
    """Shape rules for ops, keyed by the op's qualified name (``torch.nn.Linear``,
    ``torch.Tensor.view``, ``torch.nn.functional.relu``). The value is a rule that the
    static shape engine calls with the op's abstract arguments (see
    ``ml_lsp.analysis`` for the calling convention)."""


@hookspec
def ml_lsp_lint_rules() -> Sequence[Any]:
    """Lint rules (each with a code such as ``SH001``, a name, a category, a default
    severity, docs and a check function) contributed to ``ml-lsp check`` and to the
    editor's diagnostics."""


@hookspec
def ml_lsp_code_actions(path: str, text: str, line: int, diagnostics: Sequence[Any]) -> Sequence[Any]:
    """Extra code actions for a line of a document (plain dataclasses: a title, a kind
    and text edits)."""


@hookspec
def ml_lsp_code_lenses(path: str, text: str) -> Sequence[Any]:
    """Extra code lenses for a document (a line, a title and a command with arguments)."""


@hookspec
def ml_lsp_commands() -> Mapping[str, Callable[..., Any]]:
    """Commands the editor can run through ``workspace/executeCommand``, keyed by
    command name (``ml-lsp.run``). A command receives the server-side context and the
    command's JSON arguments and returns JSON data."""


@hookspec
def ml_lsp_launchers() -> Mapping[str, Any]:
    """Job launchers keyed by name (``local``, ``torchrun``): each turns a job spec into
    the command line and environment that start it. A launcher is a function
    ``launcher(spec: dict, devices: list[int]) -> {"argv": [str, ...], "env": {str: str}}``:
    ``spec`` is the run's spec.json, ``devices`` the GPU indices the runner gave the run
    (``[]`` on CPU). The runner adds the ``ML_LSP_*``/``CUDA_*`` variables and starts
    ``argv`` in a new process group (see docs/run-folder.md, plugins/ml_lsp_launchers).
    ``"reattach": True`` marks a process that only follows a job elsewhere (started again
    when a signal kills it); optional ``prepare``, ``configured`` and ``label`` attributes
    serve the command line and the editor (docs/launchers.md, plugins/ml_lsp_ray)."""


@hookspec
def ml_lsp_metric_capturers() -> Sequence[Any]:
    """Metric capturers installed inside the training process by the run bootstrap
    (each a callable that installs its hooks and returns an uninstall callable).

    A capturer is called with the process's ``ml_lsp.telemetry.capture.Capture``; it
    records through ``capture.metric(name, value, step, file, line)`` and
    ``capture.progress(file, line, current, total, unit, name)`` (1-based lines of the
    user's code; ``ml_lsp.telemetry.attribution.user_frame`` finds it), and should install
    its hooks only when its library is imported (``ml_lsp.telemetry.imports.when_imported``).
    See plugins/ml_lsp_hf_trainer."""
