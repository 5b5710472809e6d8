"""Command lines that start Python code of ours without importing from the working folder.

``python -m ml_lsp...`` puts the working folder first on ``sys.path`` before anything of
ours can run, so when that folder is a workspace (a job's working folder is the user's
project) its ``ml_lsp/`` or ``torch/`` folder would be found in place of ours. ``-P``
(Python 3.11+) stops that, but a job may run on 3.10; this ``-c`` prefix works on every
version: with ``-c`` the working folder is the entry ``''``, dropped before any import.
"""

from __future__ import annotations

import os

# Also what editor clients without a working-folder option run (see editor-clients/).
DROP_WORKING_FOLDER = "import sys; sys.path[:] = [p for p in sys.path if p]; "


def module_command(python: str, module: str, function: str = "main") -> list[str]:
    """``[python, "-c", ...]`` that runs ``module.function()`` and exits with its result;
    arguments appended to it reach the function as ``sys.argv[1:]``."""
    return [python, "-c", f"{DROP_WORKING_FOLDER}from {module} import {function}; sys.exit({function}())"]


def own_module_command(python: str, module: str, function: str = "main") -> list[str]:
    """``module_command`` for an interpreter that may not have this ml-lsp installed (or has
    another version of it): the ``ml_lsp`` package is loaded from this one's folder, by its
    file location, before anything else, and ``module`` comes from it."""
    package = os.path.dirname(os.path.abspath(__file__))
    return [python, "-c", DROP_WORKING_FOLDER
            + "import importlib.util as _u; "
            + f"_s = _u.spec_from_file_location('ml_lsp', {os.path.join(package, '__init__.py')!r}, "
            + f"submodule_search_locations=[{package!r}]); "
            + "_m = _u.module_from_spec(_s); sys.modules['ml_lsp'] = _m; _s.loader.exec_module(_m); "
            + f"from {module} import {function}; sys.exit({function}())"]
