"""The static tensor-shape engine: pure (source text in, plain dataclasses out).

No LSP types, no I/O (imports of other workspace files come through the caller's
``resolve_module`` callback), never imports torch, never runs user code. See
``analyze_source`` and the contract in the team's ANALYSIS_API notes.
"""

from ml_lsp.analysis.dims import Dim, Sym, dim_json, format_shape
from ml_lsp.analysis.engine import InputError, analyze_source, default_rules
from ml_lsp.analysis.facts import (Binding, LayerFact, ModuleClassFact, ModuleFacts, Related, ShapeConflict,
                                   ShapeHover, TextEdit, TextFix)

__all__ = ["analyze_source", "default_rules", "InputError", "ModuleFacts", "Binding", "ShapeHover",
           "LayerFact", "ModuleClassFact", "ShapeConflict", "Related", "TextFix", "TextEdit", "Dim", "Sym",
           "dim_json", "format_shape"]
