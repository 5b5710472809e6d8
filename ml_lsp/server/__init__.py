"""The language server layer: translates LSP to engine calls and results back to LSP.

Nothing here may import torch (ARCHITECTURE.md, rule 2)."""
