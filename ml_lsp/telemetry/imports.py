"""Run a callback right after a module is imported (a post-import hook), so that the
capture hooks for torch, TensorBoard or Lightning are installed only if and when the
user's script imports them: a script that never imports torch never pays for it."""

from __future__ import annotations

import importlib.abc
import sys
import threading
from typing import Callable

_callbacks: dict[str, list[Callable]] = {}
_lock = threading.RLock()


def when_imported(name: str, callback: Callable) -> None:
    """``callback(module)`` once ``name`` is imported; at once if it already is."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    with _lock:
        _callbacks.setdefault(name, []).append(callback)
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in _callbacks:
            return None
        # Find the real spec with the other finders, then wrap its loader's exec_module
        # (the loader object is per module, so the wrapper touches nothing else).
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module):
            original(module)
            with _lock:
                callbacks = _callbacks.pop(fullname, [])
            for callback in callbacks:
                callback(module)

        loader.exec_module = exec_module
        return spec


_finder = _PostImportFinder()
