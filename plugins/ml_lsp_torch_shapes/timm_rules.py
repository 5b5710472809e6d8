"""timm's small helpers that code outside timm imports (Swin, many ViT repositories:
``from timm.models.layers import DropPath, to_2tuple``). Inside timm's own tree its source
is read instead; these keep the same meaning for a file that only has timm installed."""

from __future__ import annotations

from ml_lsp.analysis.ops import UNK, LayerRule, OpCall, Seq, Tensor, same_as_input

# the names timm has exported these helpers under across releases
_MODULES = ("timm.layers", "timm.models.layers", "timm.layers.helpers", "timm.models.layers.helpers",
            "timm.layers.drop", "timm.models.layers.drop")


def _ntuple(n: int):
    def rule(call: OpCall):
        if not call.args:
            return UNK
        x = call.args[0]
        if isinstance(x, (Seq, Tensor)):
            return x  # an iterable is returned as it is
        if isinstance(x, str) or x is UNK:
            return UNK
        return Seq([x] * n, "tuple")
    return rule


_DROP = LayerRule(params=("drop_prob", "scale_by_keep"), forward=lambda layer, call: same_as_input(call),
                  keeps_shape=True, param_count=lambda c: 0, signature=lambda c: ("(*)", "(*)"))

RULES: dict = {}
for _mod in _MODULES:
    for _n, _name in ((1, "to_1tuple"), (2, "to_2tuple"), (3, "to_3tuple"), (4, "to_4tuple")):
        RULES[f"{_mod}.{_name}"] = _ntuple(_n)
    RULES[f"{_mod}.DropPath"] = _DROP
