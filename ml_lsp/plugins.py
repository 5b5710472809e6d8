"""The plugin host: loads plugins from the ``ml_lsp`` entry-point group and calls their
hooks so that one broken plugin never takes the server or the command line down.

pluggy does the registration and hook bookkeeping. ``collect`` calls each
implementation on its own (instead of pluggy's all-or-nothing ``hook.NAME()``) because a
hook that raises must be reported and skipped, not abort every other plugin's answer.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from ml_lsp import hookspecs

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "ml_lsp"


@dataclass
class PluginFailure:
    name: str
    source: str  # the entry point value, or "hook NAME" when a hook raised
    reason: str  # one line a user can act on
    details: str = ""  # the traceback, for the log file


@dataclass
class LoadedPlugin:
    name: str
    module: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)


class PluginHost:
    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.loaded: list[LoadedPlugin] = []
        self.failures: list[PluginFailure] = []
        self._listeners: list[Callable[[PluginFailure], None]] = []

    def on_failure(self, listener: Callable[[PluginFailure], None]) -> None:
        """Call ``listener`` for every failure, past and future (the server turns them
        into ``window/logMessage``)."""
        self._listeners.append(listener)
        for failure in self.failures:
            listener(failure)

    def _fail(self, failure: PluginFailure) -> None:
        self.failures.append(failure)
        log.warning("plugin %s failed: %s", failure.name, failure.reason)
        log.debug("plugin %s failure details:\n%s", failure.name, failure.details)
        for listener in self._listeners:
            try:
                listener(failure)
            except Exception:  # a listener must not break loading
                log.exception("plugin failure listener raised")

    def load_entry_points(self) -> None:
        seen: set[str] = set()
        # Built-in plugins first, so that a third-party plugin registered later can
        # override a built-in rule or command key by key.
        eps = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP),
                     key=lambda ep: (getattr(getattr(ep, "dist", None), "name", "") != "ml-lsp", ep.name))
        for ep in eps:
            if ep.name in seen:  # the same distribution found twice on sys.path
                continue
            seen.add(ep.name)
            dist = getattr(ep, "dist", None)
            try:
                obj = ep.load()
            except BaseException as exc:  # noqa: BLE001 - SystemExit in a plugin too
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self._fail(PluginFailure(
                    name=ep.name, source=ep.value,
                    reason=f"cannot import {ep.value}: {type(exc).__name__}: {exc}",
                    details=traceback.format_exc()))
                continue
            self.register(obj, ep.name,
                          distribution=dist.name if dist else "",
                          version=dist.version if dist else "")

    def register(self, obj: Any, name: str, distribution: str = "", version: str = "") -> None:
        try:
            self.manager.register(obj, name=name)
        except Exception as exc:  # e.g. a hookimpl whose arguments match no spec
            self._fail(PluginFailure(name=name, source=getattr(obj, "__name__", repr(obj)),
                                     reason=f"rejected by the plugin host: {exc}",
                                     details=traceback.format_exc()))
            return
        hooks = sorted(
            caller.name for caller in self.manager.get_hookcallers(obj) or [])
        self.loaded.append(LoadedPlugin(name=name, module=getattr(obj, "__name__", repr(obj)),
                                        distribution=distribution, version=version,
                                        hooks=hooks))

    def collect(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of ``hook_name``; return (plugin name, result) for
        each one that answered. One that raises is reported and left out."""
        caller = getattr(self.manager.hook, hook_name)
        results: list[tuple[str, Any]] = []
        for impl in caller.get_hookimpls():  # registration order
            args = {k: kwargs[k] for k in impl.argnames if k in kwargs}
            try:
                result = impl.function(**args)
            except Exception as exc:
                self._fail(PluginFailure(
                    name=impl.plugin_name, source=f"hook {hook_name}",
                    reason=f"{hook_name} raised {type(exc).__name__}: {exc}",
                    details=traceback.format_exc()))
                continue
            if result is not None:
                results.append((impl.plugin_name, result))
        return results

    def merged_mapping(self, hook_name: str, **kwargs: Any) -> dict[str, Any]:
        """Merge the dicts every plugin returns; a later plugin overrides an earlier one
        key by key, so a third-party plugin can replace a built-in rule."""
        merged: dict[str, Any] = {}
        for _name, result in self.collect(hook_name, **kwargs):
            merged.update(result)
        return merged

    def merged_sequence(self, hook_name: str, **kwargs: Any) -> list[Any]:
        items: list[Any] = []
        for _name, result in self.collect(hook_name, **kwargs):
            items.extend(result)
        return items


_default_host: PluginHost | None = None


def default_host() -> PluginHost:
    """The process-wide host, loaded from entry points on first use."""
    global _default_host
    if _default_host is None:
        _default_host = PluginHost()
        _default_host.load_entry_points()
    return _default_host
