"""DA002 train-loader-not-shuffled: a DataLoader over training data without
``shuffle=True`` (or a sampler)."""

import ast
import re

from ml_lsp.analysis.lint import Rule, TextEdit, TextFix
from ml_lsp.analysis.lint.script_facts import call_name, dotted, is_train_split_name, last_part

DOCS = """\
Without `shuffle=True` a DataLoader yields the training set in the same order every
epoch. Datasets are often stored sorted (by class, by date, by source), so batches are
not representative and SGD sees long runs of one class: training is slower and ends worse.

Wrong:
    train_loader = DataLoader(train_set, batch_size=64)

Right:
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)

Fix: add `shuffle=True`."""


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    for call in sf.all_calls:
        if last_part(call_name(call)) != "DataLoader":
            continue
        kws = {k.arg for k in call.keywords}
        if None in kws or kws & {"shuffle", "sampler", "batch_sampler"} or any(isinstance(a, ast.Starred) for a in call.args):
            continue
        if len(call.args) >= 3:  # DataLoader(ds, 64, True): shuffle given positionally
            continue
        dataset = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "dataset"), None)
        parent = sf.parent.get(call)
        target = dotted(parent.targets[0]) if isinstance(parent, ast.Assign) and len(parent.targets) == 1 else ""
        ds_name = dotted(dataset) if dataset is not None else ""
        if not (is_train_split_name(ds_name) or is_train_split_name(target)):
            continue
        # An IterableDataset (a stream) cannot be shuffled by the loader: shuffle=True raises.
        built = [ctx.source(v) for t, v in sf.assignments if t == ds_name]
        if any(re.search(r"Iterable|Stream|streaming\s*=\s*True|IterDataPipe|\.iter\(", b) for b in built):
            continue
        # Named as a stream (`train_iterator = Multi30k(split="train")`): the same.
        if re.search(r"(^|_)(iter|iterator|stream|pipe|datapipe)s?$", last_part(ds_name), re.I):
            continue
        last = max([*call.args, *(k.value for k in call.keywords)], key=lambda n: (n.end_lineno, n.end_col_offset))
        _, _, line, col = ctx.span(last)
        fix = TextFix("Add shuffle=True", (TextEdit(line, col, line, col, ", shuffle=True"),))
        yield RULE.at_node(ctx, call, f"training DataLoader over {ds_name or target} without shuffle=True: "
                           f"every epoch sees the samples in the same order", fix=fix)


RULE = Rule(code="DA002", name="train-loader-not-shuffled", category="data", severity="warning",
            summary="training DataLoader without shuffle=True", docs=DOCS, check=check, fixable=True)
