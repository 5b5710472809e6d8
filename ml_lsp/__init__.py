"""ml-lsp: tensor shapes, PyTorch diagnostics and training runs in the editor.

This package must stay cheap to import: the language server imports it at start-up, and
it never imports torch (see ARCHITECTURE.md, rule 2).
"""

__version__ = "0.1.0"
