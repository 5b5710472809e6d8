"""Loaded at start-up by every Python process of ``run.py --trace`` (it is on their
PYTHONPATH): in a process that goes on to import torchvision, first apply runtime.py's
workaround for the PyPI torchvision wheel whose C++ ops do not load with the venv's CPU
torch (see the benchmark's README). Nothing happens in a process that never imports
torchvision (the ml-lsp command itself)."""

import importlib.abc
import os
import sys


class _PatchBeforeTorchvision(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            sys.meta_path.remove(self)
            sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # runtime.py
            try:
                from runtime import _tolerate_cpu_torchvision
            finally:
                sys.path.pop(0)
            _tolerate_cpu_torchvision()
        return None


sys.meta_path.insert(0, _PatchBeforeTorchvision())
