"""KR007 keras-pretrained-base-not-frozen: a pretrained application is fine-tuned without
freezing it first."""

from ml_lsp.analysis.lint import Related, Rule, TextFix

from ml_lsp_rules.keras.common import keras_facts

DOCS = """\
Transfer learning with ``keras.applications`` starts by freezing the pretrained base
(``base.trainable = False``) and training only the new head: the head's random weights
would otherwise send large gradients through the base and destroy what it learned. Unfreeze
(some of) the base afterwards, recompile with a low learning rate, and fit again.

Wrong:
    base = keras.applications.VGG16(weights="imagenet", include_top=False)
    model = keras.Sequential([base, layers.Flatten(), layers.Dense(10)])
    model.compile(...); model.fit(...)

Right:
    base.trainable = False
    model.compile(...); model.fit(...)"""


def _pretrained(layer) -> bool:
    weights = layer.spec.kwargs.get("weights", "imagenet")
    return weights is not None and weights is not False


def check(ctx):
    from ml_lsp.analysis.keras.model import KLayerOutput, model_uses

    kf = keras_facts(ctx)
    if kf is None:
        return
    for app, node in kf.applications:
        if not _pretrained(app):
            continue
        var = getattr(app, "var", "") or app.name
        for fit in kf.fits:
            if fit.method != "fit" or not model_uses(fit.model, app):
                continue
            frozen = any(ev.index < fit.index and ev.value is False and
                         (ev.target is app or isinstance(ev.target, KLayerOutput) and ev.target.model is app)
                         for ev in kf.trainable_sets)
            if frozen:
                break
            anchor = fit.compile.node if fit.compile is not None else fit.node
            stmt_line = anchor.lineno
            fix = TextFix(f"Freeze the base: {var}.trainable = False",
                          (ctx.insert_line_before(stmt_line, f"{var}.trainable = False"),), safe=False) \
                if getattr(app, "var", "") else None
            yield RULE.at_node(ctx, fit.node, f"{var} ({app.spec.cls}, pretrained) is trained with all its "
                                              f"weights: set {var}.trainable = False before compile() to train "
                                              f"the new head first",
                               related=[Related(node.lineno, ctx.char_col(node.lineno, node.col_offset),
                                                f"{var} loaded here")], fix=fix)
            break


RULE = Rule(code="KR007", name="keras-pretrained-base-not-frozen", category="training", severity="warning",
            summary="fine-tuning a pretrained base without freezing it", docs=DOCS, check=check, fixable=True)
