"""What the KR rules share: the module's Keras facts, a model's last activation, the
source of the prefix (``tf.keras`` or ``keras``) a fix should spell, and edits of a call's
keyword arguments."""

from __future__ import annotations

import ast
import re

from ml_lsp.analysis.lint import TextEdit

FINETUNE_WORDS = re.compile(r"(微调|fine[-_ ]?tun|finetun)", re.I)


def keras_facts(ctx):
    """The Keras facts of the module, None when it builds no Keras model."""
    if "keras" not in ctx.text:
        return None
    facts = ctx.facts
    return getattr(facts, "keras", None) if facts is not None else None


def keras_prefix(ctx) -> str:
    return "tf.keras" if "tf.keras" in ctx.text else "keras"


def last_layer(model):
    from ml_lsp.analysis.keras.model import KInstance, KLayer, KModel

    if isinstance(model, KInstance):
        return None  # call() decides what comes last: not followed
    if not isinstance(model, KModel) or model.kind == "subclass" or not model.layers:
        return None
    last = model.layers[-1]
    return last if isinstance(last, KLayer) else None


def final_activation(model):
    """'softmax', 'sigmoid', 'linear' (no activation) or None when unknown."""
    layer = last_layer(model)
    if layer is None:
        return None
    act = layer.activation
    if layer.spec.cls in ("Dense", "Conv1D", "Conv2D", "Conv3D") and act is None:
        return "linear"
    if layer.spec.cls == "Dropout":
        return None
    return act if isinstance(act, str) else None


def keyword(call: ast.Call, name: str):
    return next((k for k in call.keywords if k.arg == name), None)


def set_keyword_edit(ctx, call: ast.Call, name: str, value_src: str) -> TextEdit:
    """Replace ``name=...`` in ``call``, or add it before the closing parenthesis."""
    kw = keyword(call, name)
    if kw is not None:
        return ctx.replace(kw.value, value_src)
    line, col, end_line, end_col = ctx.span(call)
    sep = ", " if call.args or call.keywords else ""
    return TextEdit(end_line, end_col - 1, end_line, end_col - 1, f"{sep}{name}={value_src}")


def comment_above(ctx, line: int, lines: int = 3) -> str:
    """The comments on the ``lines`` lines before ``line`` (and on it), joined."""
    out = []
    for ln in range(max(1, line - lines), line + 1):
        text = ctx.lines[ln - 1] if ln - 1 < len(ctx.lines) else ""
        if "#" in text:
            out.append(text[text.index("#"):])
    return " ".join(out)


def source(ctx, node) -> str:
    return ctx.source(node) if node is not None else ""
