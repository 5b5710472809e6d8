"""The built-in shape rules for PyTorch, registered through the ``ml_lsp`` entry point
exactly as a third-party plugin would. Rules are grouped by family, each family a
table-like module: ``layers`` (``torch.nn`` modules), ``shaping`` (view/permute/cat/
indexing...), ``math_ops`` (arithmetic, matmul, einsum, reductions), ``functional``
(``torch.nn.functional``), ``creation`` (randn/zeros/arange...), ``losses`` (the loss
modules), ``einops_rules``, ``einx_rules``, ``timm_rules`` (timm's helpers),
``diffusers_rules`` (its attention dispatch), ``data`` (datasets, loaders, torchvision),
``arrays`` (numpy, scikit-learn loaders) and ``layout`` (contiguity, for view)."""

from __future__ import annotations

from ml_lsp.hookspecs import hookimpl


def all_rules() -> dict:
    from ml_lsp_torch_shapes import (
        arrays, creation, data, diffusers_rules, einops_rules, einx_rules, functional, layers, layout, losses,
        math_ops, shaping, timm_rules,
    )
    rules: dict = {}
    # `layout` wraps some rules of the families before it: it comes after them
    for family in (shaping, math_ops, creation, functional, layers, losses, einops_rules, einx_rules, timm_rules,
                   diffusers_rules, data, arrays, layout):
        rules.update(family.RULES)
    return rules


@hookimpl
def ml_lsp_shape_rules():
    return all_rules()
