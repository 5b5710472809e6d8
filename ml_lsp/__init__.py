"""ml-lsp: tensor shapes, PyTorch diagnostics and training runs in the editor.

This package must stay cheap to import: the language server imports it at start-up, and
it never imports torch (see ARCHITECTURE.md, rule 2).
"""

__version__ = "0.1.0"


def __getattr__(name: str):  # ``ml_lsp.log`` without importing the telemetry up front
    if name == "log":
        from ml_lsp.telemetry import log
        return log
    raise AttributeError(f"module 'ml_lsp' has no attribute {name!r}")
