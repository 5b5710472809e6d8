"""KR005 keras-validation-on-test-set: fit's validation_data is the test split."""

import ast

from ml_lsp.analysis.lint import Rule, TextFix
from ml_lsp.analysis.lint.script_facts import dotted

from ml_lsp_rules.keras.common import keras_facts, keyword

DOCS = """\
``validation_data`` steers training: early stopping, the checkpoint kept, the learning rate
on plateau and the choices you make from the curves all read it. Validating on the test set
tunes the model to it, and the final test score no longer measures unseen data. Hold out a
validation split of the training data instead.

Wrong:
    model.fit(x_train, y_train, validation_data=(x_test, y_test))
    model.evaluate(x_test, y_test)

Right:
    model.fit(x_train, y_train, validation_split=0.1)
    model.evaluate(x_test, y_test)"""


def _test_name(node) -> str:
    parts = node.elts if isinstance(node, (ast.Tuple, ast.List)) else [node]
    for part in parts:
        name = dotted(part)
        if name and "test" in name.rsplit(".", 1)[-1].lower():
            return name
    return ""


def check(ctx):
    kf = keras_facts(ctx)
    if kf is None:
        return
    for fit in kf.fits:
        node = fit.validation_node
        name = _test_name(node) if node is not None and fit.method == "fit" else ""
        if not name:
            continue
        kw = keyword(fit.node, "validation_data")
        fix = TextFix("Validate on a split of the training data (validation_split=0.1)",
                      (ctx.replace(kw, "validation_split=0.1"),), safe=False) if kw is not None else None
        yield RULE.at_node(ctx, node, f"validation_data={ctx.source(node)} validates on the test split: early "
                                      f"stopping and model choice then tune to it; hold out part of the "
                                      f"training data instead", fix=fix)


RULE = Rule(code="KR005", name="keras-validation-on-test-set", category="data", severity="warning",
            summary="validation_data is the test split", docs=DOCS, check=check, fixable=True)
