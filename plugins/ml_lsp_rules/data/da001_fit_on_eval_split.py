"""DA001 fit-on-eval-split: a model is trained (``fit``, a training loop, a trainer's
``train_dataset``) on data named as a test or validation split."""

import ast

from ml_lsp.analysis.lint import Rule
from ml_lsp.analysis.lint.script_facts import (
    call_name, chain_base, dotted, is_eval_split_name, is_train_split_name, last_part, method_call,
)

from ml_lsp_rules.training.tr001_missing_zero_grad import optimizer_steps

DOCS = """\
Test and validation splits exist to measure how the model does on data it has not seen.
Training on them ("fine-tune on x_test") leaks that data into the weights: the reported
score becomes meaningless, usually too good. Fine-tune on a training split and keep the
held-out data for evaluation.

Wrong:
    model.fit(x_train, y_train, epochs=10)
    model.fit(x_test, y_test, epochs=10)     # "fine-tuning"

Right:
    model.fit(x_finetune, y_finetune, epochs=10)
    model.evaluate(x_test, y_test)

Besides names, the rule follows where data comes from: the test parts of
`train_test_split`, datasets built with `train=False` or `split="test"`, loaders over
those, and a training function of the file (`def fit(xs, ys, epochs)` whose body calls
`backward()` and an optimizer step) called on such data."""


def _split_name(node) -> str:
    """The held-out split ``node`` names (``x_test``, ``ds["validation"]``), or ''."""
    while isinstance(node, (ast.Subscript, ast.Call)):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and \
                isinstance(node.slice.value, str) and is_eval_split_name(node.slice.value):
            return ast.unparse(node)
        node = node.value if isinstance(node, ast.Subscript) else (node.args[0] if node.args else None)
    name = dotted(node) if node is not None else ""
    return name if name and is_eval_split_name(name) else ""


def _has_train_split(sf, node) -> bool:
    """Whether the function (or module code) around ``node`` also names a training split:
    "fit on x_test although x_train exists". A lone `test_data` in a unit test is just a name."""
    scope = sf.enclosing_function(node) or sf.tree
    cache = sf.__dict__.setdefault("_train_split_scopes", {})
    if id(scope) in cache:
        return cache[id(scope)]
    cache[id(scope)] = False
    for n in sf.nodes_in(scope, ast.Name, ast.Constant, ast.keyword, ast.Attribute):
        text = n.id if isinstance(n, ast.Name) else n.arg if isinstance(n, ast.keyword) else \
            n.attr if isinstance(n, ast.Attribute) else n.value if isinstance(n.value, str) else ""
        if text and is_train_split_name(text):
            cache[id(scope)] = True
            break
    return cache[id(scope)]


def _proven_split(sf, node) -> str:
    """``node`` is a name the data facts prove held out (``train_test_split``'s test part,
    a ``train=False`` dataset, a loader over one): 'x_b (a test part of train_test_split)'."""
    while isinstance(node, ast.Call) and node.args and last_part(call_name(node)) in ("enumerate", "tqdm", "iter", "zip"):
        node = node.args[0]
    found = sf.held_out_why(node)
    return f"{found[0]} ({found[1]})" if found else ""


def _names(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} if node is not None else set()


def _backward_slice(sf, func) -> set[str]:
    """The names the loss that ``backward()`` is called on depends on, inside ``func``
    (through assignments and loop targets): the data that is trained on."""
    seeds = set()
    for c in sf.nodes_in(func, ast.Call):
        if method_call(c, "backward"):
            seeds |= _names(c.func.value)
    if not seeds:
        return set()
    flows = []  # (names bound, names they are computed from)
    for node in sf.nodes_in(func, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For):
        if isinstance(node, ast.Assign):
            flows.append((set().union(*(_names(t) for t in node.targets)), _names(node.value)))
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            flows.append((_names(node.target), _names(node.value)))
        else:
            flows.append((_names(node.target), _names(node.iter)))
    found = set(seeds)
    changed = True
    while changed:
        changed = False
        for bound, used in flows:
            if bound & found and not used <= found:
                found |= used
                changed = True
    return found


def _param_trains(sf, func, param: str, seen=()) -> bool:
    """Data passed as ``param`` reaches a training step: the loss of a ``backward()`` in
    ``func`` is computed from it and ``func`` steps an optimizer, or it is passed on to a
    function of the file that trains on it."""
    calls = sf.nodes_in(func, ast.Call)
    if param in _backward_slice(sf, func) and optimizer_steps(sf, calls):
        return True
    for c in calls:
        if not (isinstance(c.func, ast.Name) and c.func.id in sf.functions):
            continue
        helper = sf.functions[c.func.id]
        if helper in (*seen, func):
            continue
        params = [a.arg for a in helper.args.args]
        passed = [(params[i] if i < len(params) else None, a) for i, a in enumerate(c.args)]
        passed += [(k.arg, k.value) for k in c.keywords if k.arg]
        for target, arg in passed:
            if target and param in _names(arg) and _param_trains(sf, helper, target, (*seen, func)):
                return True
    return False


def _user_training_calls(ctx, sf):
    """``fit(x_test, y_test, 10)`` where ``def fit(xs, ys, epochs)`` in this file trains."""
    for call in sf.all_calls:
        if not (isinstance(call.func, ast.Name) and call.func.id in sf.functions):
            continue
        func = sf.functions[call.func.id]
        if sf.enclosing_function(call) is func:
            continue
        params = [a.arg for a in func.args.args]
        passed = [(params[i] if i < len(params) else None, a) for i, a in enumerate(call.args)]
        passed += [(k.arg, k.value) for k in call.keywords if k.arg]
        hit = None
        for param, arg in passed:
            name = (_split_name(arg) if _has_train_split(sf, call) else "") or _proven_split(sf, arg)
            if name and param and _param_trains(sf, func, param):
                hit = (arg, name)
                break
        if hit is None:
            continue
        arg, name = hit
        yield RULE.at_node(ctx, arg, f"{call.func.id}() trains (backward + optimizer step, line "
                           f"{func.lineno}) on {name}, a held-out split: its score no longer measures "
                           f"unseen data")


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    yield from _user_training_calls(ctx, sf)
    for call in sf.all_calls:
        if not (method_call(call, "fit", "fit_generator", "partial_fit") or call.keywords) \
                or not _has_train_split(sf, call):
            continue
        if method_call(call, "fit", "fit_generator", "partial_fit"):
            rec = dotted(call.func.value).lower()
            if "trainer" in rec:  # Lightning: fit(model, train_dataloaders, val_dataloaders)
                candidates = call.args[1:2] + [k.value for k in call.keywords if k.arg in ("train_dataloaders", "datamodule")]
            else:
                candidates = call.args[:1] + [k.value for k in call.keywords if k.arg in ("x", "X")]
            for arg in candidates:
                name = _split_name(arg)
                if name:
                    yield RULE.at_node(ctx, arg, f"{ctx.source(call.func)}() trains on {name}, a held-out "
                                       f"split: its score no longer measures unseen data")
                    break
        for kw in call.keywords:
            if kw.arg in ("train_dataset", "train_data", "train_dataloader") and _split_name(kw.value):
                yield RULE.at_node(ctx, kw.value, f"{kw.arg}={ctx.source(kw.value)} trains on a held-out split")
    for loop in sf.nodes_of(ast.For, ast.AsyncFor):
        name = (_split_name(loop.iter) if _has_train_split(sf, loop) else "") or _proven_split(sf, loop.iter)
        calls = sf.calls_in(loop) if name else ()
        if name and any(method_call(c, "backward") for c in calls) and optimizer_steps(sf, calls):
            yield RULE.at_node(ctx, loop.iter, f"training loop (backward + optimizer step) over {name}, a "
                               f"held-out split: its score no longer measures unseen data")


RULE = Rule(code="DA001", name="fit-on-eval-split", category="data", severity="warning",
            summary="training on a split named test/val", docs=DOCS, check=check)
