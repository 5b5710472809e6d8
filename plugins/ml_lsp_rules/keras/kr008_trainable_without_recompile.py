"""KR008 keras-trainable-without-recompile: ``trainable`` changed after compile() and the
model fitted without compiling again."""

from ml_lsp.analysis.lint import Related, Rule, TextFix

from ml_lsp_rules.keras.common import keras_facts

DOCS = """\
Keras reads which weights are trainable when ``compile()`` runs. Setting
``layer.trainable`` afterwards has no effect on the next ``fit`` until the model is compiled
again: a base you "unfroze" stays frozen (or the reverse).

Wrong:
    model.compile(optimizer="adam", loss=...)
    model.fit(...)
    base.trainable = True
    model.fit(...)

Right:
    base.trainable = True
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss=...)
    model.fit(...)"""


def _target_in(model, target) -> bool:
    from ml_lsp.analysis.keras.model import KLayerOutput, model_uses

    if isinstance(target, KLayerOutput):
        target = target.model
    return model_uses(model, target)


def check(ctx):
    kf = keras_facts(ctx)
    if kf is None:
        return
    for ev in kf.trainable_sets:
        for fit in kf.fits:
            if fit.method != "fit" or fit.index < ev.index or fit.compile is None:
                continue
            if not _target_in(fit.model, ev.target):
                continue
            if fit.compile.index < ev.index:
                compile_src = ctx.source(fit.compile.node)
                fix = TextFix("Compile again after changing trainable",
                              (ctx.insert_line_before(fit.node.lineno, compile_src,
                                                      indent=ctx.indent_of(fit.node.lineno)),), safe=False)
                yield RULE.at_node(ctx, ev.node, f"trainable changed after compile() on line "
                                                 f"{fit.compile.node.lineno}: the fit on line {fit.node.lineno} "
                                                 f"ignores it until the model is compiled again",
                                   related=[Related(fit.node.lineno, ctx.char_col(fit.node.lineno,
                                                                                  fit.node.col_offset),
                                                    "fitted without compiling again")], fix=fix)
            break


RULE = Rule(code="KR008", name="keras-trainable-without-recompile", category="training", severity="warning",
            summary="trainable changed without recompiling", docs=DOCS, check=check, fixable=True)
