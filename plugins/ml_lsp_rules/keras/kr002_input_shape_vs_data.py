"""KR002 keras-input-shape-vs-data: the model's input shape contradicts the data given to fit."""

from ml_lsp.analysis import dims
from ml_lsp.analysis.lint import Rule, TextFix

from ml_lsp_rules.keras.common import keras_facts

DOCS = """\
The input shape a model is built with (``input_shape=``, ``keras.Input(shape=...)``) must
match each sample of the data ``fit`` receives. MNIST images are (28, 28); a Dense stack
built for (784,) needs them flattened first.

Wrong:
    (x_train, y_train), _ = keras.datasets.mnist.load_data()
    model = keras.Sequential([layers.Dense(128, input_shape=(784,)), layers.Dense(10)])
    model.fit(x_train, y_train)

Right:
    model.fit(x_train.reshape(-1, 784), y_train)"""


def check(ctx):
    from ml_lsp.analysis.keras.model import KArray, KInstance, KModel

    kf = keras_facts(ctx)
    if kf is None:
        return
    for fit in kf.fits:
        model = fit.model.model if isinstance(fit.model, KInstance) else fit.model
        x = fit.x
        if not isinstance(model, KModel) or model.input_shape is None or not isinstance(x, KArray) \
                or x.shape is None or x.frame or fit.x_node is None:
            continue
        want, got = tuple(model.input_shape[1:]), tuple(x.shape[1:])
        if len(want) == len(got) and not any(dims.provably_different(a, b) for a, b in zip(want, got)):
            continue
        if len(want) == len(got) == 0:
            continue
        fix = None
        per_sample = dims.product(got)
        if len(want) == 1 and isinstance(want[0], int) and per_sample == want[0]:
            src = ctx.source(fit.x_node)
            fix = TextFix(f"Flatten the samples: {src}.reshape(-1, {want[0]})",
                          (ctx.replace(fit.x_node, f"{src}.reshape(-1, {want[0]})"),), safe=False)
        elif len(want) == len(got) + 1 and want[-1] == 1 and not any(
                dims.provably_different(a, b) for a, b in zip(want[:-1], got)):
            src = ctx.source(fit.x_node)
            fix = TextFix(f"Add the channel axis: {src}[..., None]", (ctx.replace(fit.x_node, f"{src}[..., None]"),),
                          safe=False)
        yield RULE.at_node(ctx, fit.x_node,
                           f"the model takes samples of shape {dims.format_shape(want)} "
                           f"(input {dims.format_shape(model.input_shape)}), but {ctx.source(fit.x_node)} holds "
                           f"{dims.format_shape(x.shape)}: reshape the data or change the input shape", fix=fix)


RULE = Rule(code="KR002", name="keras-input-shape-vs-data", category="shape", severity="error",
            summary="input_shape contradicts the data passed to fit", docs=DOCS, check=check, fixable=True)
