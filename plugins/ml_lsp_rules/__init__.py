"""The built-in lint rules (``SH``: shapes, ``TR``: training loops, ``DA``: data,
``KR``: Keras),
contributed through the ``ml_lsp_lint_rules`` hook like any third-party rule pack."""

from ml_lsp.hookspecs import hookimpl


@hookimpl
def ml_lsp_lint_rules():
    from ml_lsp_rules.registry import RULES
    return list(RULES)
