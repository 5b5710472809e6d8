"""The static tensor-shape engine: pure (source text in, plain dataclasses out).

No LSP types, no I/O (imports of other workspace files come through the caller's
``resolve_module`` callback), never imports torch, never runs user code. See
``analyze_source`` and the contract in the team's ANALYSIS_API notes.
"""

# Imported on first use (PEP 562): the language server imports ``ml_lsp.analysis.lint`` at
# start-up, and that must not pay for the interpreter and the rule tables before the first
# document arrives.
_EXPORTS = {
    "Dim": "dims", "Sym": "dims", "dim_json": "dims", "format_shape": "dims",
    "InputError": "engine", "analyze_source": "engine", "default_rules": "engine",
    "MAX_SOURCE_BYTES": "parse", "too_large": "parse", "AnalysisCancelled": "interp",
    "BatchCache": "batch", "SourceDecodeError": "parse", "decode_source": "parse",
    "Binding": "facts", "LayerFact": "facts", "ModuleClassFact": "facts", "ModuleFacts": "facts",
    "Related": "facts", "ShapeConflict": "facts", "ShapeHover": "facts", "TextEdit": "facts",
    "TextFix": "facts",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ml_lsp.analysis' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"ml_lsp.analysis.{module}"), name)
    globals()[name] = value
    return value


__all__ = ["analyze_source", "default_rules", "InputError", "MAX_SOURCE_BYTES", "too_large", "AnalysisCancelled",
           "BatchCache", "SourceDecodeError", "decode_source", "ModuleFacts", "Binding", "ShapeHover",
           "LayerFact", "ModuleClassFact", "ShapeConflict", "Related", "TextFix", "TextEdit", "Dim", "Sym",
           "dim_json", "format_shape"]
