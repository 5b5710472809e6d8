"""Rules for the loss modules (``nn.MSELoss()(pred, target)``, ``criterion = nn.CrossEntropyLoss()``):
each checks its call as the functional form does, with the constructor's options
(``reduction``, ``ignore_index``...)."""

from __future__ import annotations

from ml_lsp.analysis.ops import Ctor, LayerRule, OpCall
from ml_lsp_torch_shapes import functional

F = "torch.nn.functional."


def _loss_module(functional_name: str, params: tuple, defaults: dict) -> LayerRule:
    rule = functional.RULES[F + functional_name]

    def forward(layer: Ctor, call: OpCall):
        options = {k: layer.values[k] for k in params if k in layer.given or k in defaults}
        inner = OpCall(F + functional_name, call.args, {**options, **call.kwargs}, call.arg_nodes,
                       call.kw_nodes, layer=call.layer)
        out = rule(inner)
        call.conflicts.extend(inner.conflicts)
        return out

    return LayerRule(params=params, defaults=defaults, forward=forward, param_count=lambda c: 0)


_POINTWISE = {
    "MSELoss": "mse_loss", "L1Loss": "l1_loss", "SmoothL1Loss": "smooth_l1_loss",
    "HuberLoss": "huber_loss", "BCELoss": "binary_cross_entropy",
    "BCEWithLogitsLoss": "binary_cross_entropy_with_logits",
}

RULES = {
    "torch.nn.CrossEntropyLoss": _loss_module(
        "cross_entropy", ("weight", "size_average", "ignore_index", "reduce", "reduction", "label_smoothing"),
        {"reduction": "mean"}),
    "torch.nn.NLLLoss": _loss_module(
        "nll_loss", ("weight", "size_average", "ignore_index", "reduce", "reduction"), {"reduction": "mean"}),
}
for _name, _fn in _POINTWISE.items():
    _params = ("weight", "size_average", "reduce", "reduction") if _name.startswith("BCE") else (
        "size_average", "reduce", "reduction")
    RULES[f"torch.nn.{_name}"] = _loss_module(_fn, _params, {"reduction": "mean"})
