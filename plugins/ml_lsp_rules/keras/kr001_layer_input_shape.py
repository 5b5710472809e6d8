"""KR001 keras-layer-input-shape: a Keras layer is fed a shape it cannot take."""

from ml_lsp.analysis.lint import Rule, TextFix

from ml_lsp_rules.keras.common import keras_facts, set_keyword_edit

DOCS = """\
Each Keras layer takes inputs of a given rank and size: Conv2D wants (batch, rows, cols,
channels), LSTM (batch, timesteps, features), Reshape a target with as many values as its
input, Concatenate and Add inputs whose other dims agree, VGG16 with its classifier 224x224
images. Keras raises this only when the model is built; the static shapes catch it as you
type.

Wrong:
    keras.Sequential([keras.Input(shape=(784,)), layers.Conv2D(32, 3)])   # rank 2 into Conv2D

Right:
    keras.Sequential([keras.Input(shape=(28, 28, 1)), layers.Conv2D(32, 3)])"""


def check(ctx):
    kf = keras_facts(ctx)
    if kf is None:
        return
    for c in kf.conflicts:
        fix = None
        if c.fix is not None and c.call is not None:
            name, value = c.fix
            fix = TextFix(f"Set {name}={value!r}", (set_keyword_edit(ctx, c.call, name, repr(value)),), safe=False)
        yield RULE.finding(c.line, ctx.char_col(c.line, c.col), c.end_line, ctx.char_col(c.end_line, c.end_col),
                           c.message, fix=fix)


RULE = Rule(code="KR001", name="keras-layer-input-shape", category="shape", severity="error",
            summary="a Keras layer fed a shape it cannot take", docs=DOCS, check=check, fixable=True)
