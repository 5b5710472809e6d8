"""KR004 keras-loss-label-encoding: categorical_crossentropy with integer labels, or
sparse_categorical_crossentropy with one-hot labels."""

from ml_lsp.analysis.lint import Related, Rule, TextFix

from ml_lsp_rules.keras.common import keras_facts, source

DOCS = """\
``sparse_categorical_crossentropy`` takes class ids (``y = [3, 0, 7, ...]``);
``categorical_crossentropy`` takes one-hot rows (``to_categorical(y)``). The wrong pairing
fails with a shape error, or, with a single label column, trains on nonsense.

Wrong:
    model.compile(loss="categorical_crossentropy")
    model.fit(x_train, y_train)            # y_train: integer class ids

Right:
    model.compile(loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train)"""

_OTHER = {"sparse_categorical_crossentropy": "categorical_crossentropy",
          "categorical_crossentropy": "sparse_categorical_crossentropy"}
_WANTS = {"sparse_categorical_crossentropy": "int", "categorical_crossentropy": "onehot"}


def _loss_name(loss):
    from ml_lsp.analysis.keras.model import KLoss

    if isinstance(loss, str):
        return loss
    if isinstance(loss, KLoss):
        return loss.name
    return None


def check(ctx):
    import ast

    from ml_lsp.analysis.keras.model import KArray

    kf = keras_facts(ctx)
    if kf is None:
        return
    flagged = set()
    seen_losses: dict = {}  # source of x -> (loss name, fit) the data was trained with before
    for fit in kf.fits:
        event = fit.compile
        name = _loss_name(event.loss) if event is not None else None
        x_src = source(ctx, fit.x_node)
        if name in _WANTS and event.loss_node is not None and id(event) not in flagged:
            y = fit.y
            labels = y.labels if isinstance(y, KArray) else None
            before = seen_losses.get(x_src)
            message = None
            related = []
            if labels is not None and labels != _WANTS[name]:
                what = "integer class ids" if labels == "int" else "one-hot rows"
                message = f"{name} expects {'one-hot rows' if labels == 'int' else 'integer class ids'}, but " \
                          f"{source(ctx, fit.y_node)} holds {what}: use {_OTHER[name]}"
            elif labels is None and fit.y is None and before is not None and before[0] == _OTHER[name]:
                other, earlier = before
                message = (f"{x_src} was trained with {other} on line {earlier.node.lineno}, so its labels are "
                           f"{'class ids' if other.startswith('sparse') else 'one-hot'}; {name} expects "
                           f"{'one-hot rows' if name.startswith('categorical') else 'class ids'}: use {other}")
                related = [Related(earlier.node.lineno, ctx.char_col(earlier.node.lineno, earlier.node.col_offset),
                                   f"{x_src} trained with {other} here")]
            if message:
                flagged.add(id(event))
                node = event.loss_node
                fix = None
                if isinstance(node, ast.Constant):
                    fix = TextFix(f"Use '{_OTHER[name]}'", (ctx.replace(node, repr(_OTHER[name])),), safe=False)
                yield RULE.at_node(ctx, node, message, related=related, fix=fix)
        if name in _WANTS and x_src:
            seen_losses.setdefault(x_src, (name, fit))


RULE = Rule(code="KR004", name="keras-loss-label-encoding", category="training", severity="error",
            summary="categorical_crossentropy with integer labels (or sparse with one-hot)", docs=DOCS,
            check=check, fixable=True)
