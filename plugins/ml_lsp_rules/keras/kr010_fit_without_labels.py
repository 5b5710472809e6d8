"""KR010 keras-fit-without-labels: ``fit(x)``/``evaluate(x)`` with an array or DataFrame and
no labels, or ``validation_data`` that is one array."""

from ml_lsp.analysis.lint import Rule

from ml_lsp_rules.keras.common import keras_facts

DOCS = """\
Given an array or a DataFrame, ``fit`` and ``evaluate`` need the labels beside it:
``fit(x, y)``. Only a dataset or generator that yields ``(x, y)`` pairs may come alone.
``validation_data`` likewise is a tuple ``(x_val, y_val)``. Keras fails at run time
("Target data is missing"), after the data is loaded.

Wrong:
    model.fit(train_data, epochs=5, validation_data=test_data)

Right:
    x_train, y_train = train_data.drop(columns="label"), train_data["label"]
    model.fit(x_train, y_train, epochs=5, validation_data=(x_test, y_test))"""


def check(ctx):
    from ml_lsp.analysis.keras.model import KArray

    kf = keras_facts(ctx)
    if kf is None:
        return
    for fit in kf.fits:
        x = fit.x
        if isinstance(x, KArray) and fit.y is None and fit.x_node is not None:
            kind = "a DataFrame" if x.frame else "an array"
            yield RULE.at_node(ctx, fit.x_node, f"{fit.method}({ctx.source(fit.x_node)}) without labels: "
                                                f"{ctx.source(fit.x_node)} is {kind}, so Keras needs y beside "
                                                f"it: {fit.method}(x, y)")
        if isinstance(fit.validation_data, KArray) and fit.validation_node is not None:
            yield RULE.at_node(ctx, fit.validation_node,
                               f"validation_data={ctx.source(fit.validation_node)} is one "
                               f"{'DataFrame' if fit.validation_data.frame else 'array'}: pass (x_val, y_val)")


RULE = Rule(code="KR010", name="keras-fit-without-labels", category="data", severity="error",
            summary="fit(x) without labels when x is an array or DataFrame", docs=DOCS, check=check)
