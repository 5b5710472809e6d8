"""KR003 keras-from-logits-mismatch: a softmax output with from_logits=True, or logits without it."""

from ml_lsp.analysis.lint import Rule, TextFix

from ml_lsp_rules.keras.common import final_activation, keras_facts, keras_prefix, keyword

DOCS = """\
A cross-entropy loss must know what the model outputs. ``from_logits=True`` means raw scores
(the last Dense has no activation); the default, ``from_logits=False``, means probabilities
(the last layer applies softmax or sigmoid). Softmax twice flattens the gradients and the
model learns slowly; logits read as probabilities give a wrong loss.

Wrong:
    model = keras.Sequential([..., layers.Dense(10, activation="softmax")])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

Right:
    model = keras.Sequential([..., layers.Dense(10)])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))"""

_CLASS_OF = {"sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
             "categorical_crossentropy": "CategoricalCrossentropy",
             "binary_crossentropy": "BinaryCrossentropy"}


def check(ctx):
    import ast

    from ml_lsp.analysis.keras.model import KLoss

    kf = keras_facts(ctx)
    if kf is None:
        return
    for event in kf.compiles:
        loss, node = event.loss, event.loss_node
        act = final_activation(event.model)
        if node is None or act is None:
            continue
        if isinstance(loss, KLoss) and loss.name in _CLASS_OF and loss.from_logits is True \
                and act in ("softmax", "sigmoid"):
            kw = keyword(node, "from_logits") if isinstance(node, ast.Call) else None
            fix = TextFix("Set from_logits=False", (ctx.replace(kw.value, "False"),)) if kw is not None else None
            yield RULE.at_node(ctx, node, f"from_logits=True, but the model's last layer already applies {act}: "
                                          f"the loss applies softmax a second time", fix=fix)
        elif act == "linear" and (isinstance(loss, str) and loss in _CLASS_OF or
                                  isinstance(loss, KLoss) and loss.name in _CLASS_OF and loss.from_logits is False):
            name = loss if isinstance(loss, str) else loss.name
            replacement = f"{keras_prefix(ctx)}.losses.{_CLASS_OF[name]}(from_logits=True)"
            yield RULE.at_node(ctx, node, f"the model's last layer has no activation (it outputs logits), but "
                                          f"{name} reads probabilities: pass from_logits=True",
                               fix=TextFix(f"Use {replacement}", (ctx.replace(node, replacement),)))


RULE = Rule(code="KR003", name="keras-from-logits-mismatch", category="training", severity="error",
            summary="softmax output with from_logits=True, or logits without it", docs=DOCS, check=check,
            fixable=True)
