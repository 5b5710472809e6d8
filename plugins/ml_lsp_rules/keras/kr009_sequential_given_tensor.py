"""KR009 keras-sequential-given-tensor: a tensor (``base.input``, ``base.output``) in a
Sequential list, which takes layers."""

from ml_lsp.analysis.lint import Rule

from ml_lsp_rules.keras.common import keras_facts

DOCS = """\
``keras.Sequential`` takes layers (or a ``keras.Input`` first). A model's ``.input`` or
``.output`` is a tensor, and Keras rejects it. To put a head on a pretrained model, either
list the model itself as a layer, or connect tensors with the functional API.

Wrong:
    keras.Sequential([base.input, base.layers[-1].output, layers.Dense(10)])

Right:
    keras.Sequential([base, layers.Dense(10)])
    # or
    outputs = layers.Dense(10)(base.output)
    model = keras.Model(base.input, outputs)"""


def check(ctx):
    kf = keras_facts(ctx)
    if kf is None:
        return
    for node, src in kf.sequential_tensors:
        yield RULE.at_node(ctx, node, f"{src} is a tensor, not a layer: Sequential takes layers. List the "
                                      f"model itself, or use the functional API: "
                                      f"keras.Model(base.input, head(base.output))")


RULE = Rule(code="KR009", name="keras-sequential-given-tensor", category="shape", severity="error",
            summary="a Sequential given a tensor instead of layers", docs=DOCS, check=check)
