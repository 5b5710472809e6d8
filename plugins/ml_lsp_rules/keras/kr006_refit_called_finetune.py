"""KR006 keras-refit-called-finetune: the same data fitted again and called fine-tuning."""

from ml_lsp.analysis.lint import Related, Rule

from ml_lsp_rules.keras.common import FINETUNE_WORDS, comment_above, keras_facts, source

DOCS = """\
Fine-tuning adapts a trained model to new data (or trains a new head on a frozen base),
usually with a lower learning rate. Calling ``fit`` again on the same data with the same
settings is just more epochs of the first training: nothing is fine-tuned, and the model
may overfit.

Wrong:
    model.fit(x_train, y_train, epochs=5)
    # fine-tune
    model.fit(x_train, y_train, epochs=5)

Right:
    model.fit(x_train, y_train, epochs=10)          # train longer, or:
    model.optimizer.learning_rate = 1e-5
    model.fit(x_new, y_new, epochs=3)               # fine-tune on the new task's data"""


def check(ctx):
    kf = keras_facts(ctx)
    if kf is None:
        return
    seen: dict = {}
    for fit in kf.fits:
        if fit.method != "fit":
            continue
        key = (id(fit.model), source(ctx, fit.x_node), source(ctx, fit.y_node))
        earlier = seen.get(key)
        if earlier is None:
            seen[key] = fit
            continue
        # a compile or a trainable change in between makes the second fit a stage of its own
        # (unfreeze, recompile with a low learning rate, fit again): that is fine-tuning
        if any(earlier.index < ev.index < fit.index for ev in (*kf.compiles, *kf.trainable_sets)):
            continue
        line = fit.node.lineno
        if FINETUNE_WORDS.search(comment_above(ctx, line)) or FINETUNE_WORDS.search(source(ctx, fit.node.func)):
            yield RULE.at_node(ctx, fit.node, f"this fits {key[1]}, {key[2]} again, as on line "
                                              f"{earlier.node.lineno}: that is more epochs of the same "
                                              f"training, not fine-tuning (fine-tune on new data, with a "
                                              f"lower learning rate)",
                               related=[Related(earlier.node.lineno, ctx.char_col(earlier.node.lineno,
                                                                                  earlier.node.col_offset),
                                                "the first fit on the same data")])


RULE = Rule(code="KR006", name="keras-refit-called-finetune", category="training", severity="warning",
            summary="the same data fitted twice and called fine-tuning", docs=DOCS, check=check)
