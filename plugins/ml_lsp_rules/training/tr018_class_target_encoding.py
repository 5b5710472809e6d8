"""TR018 class-target-encoding: a classification loss given targets in the other encoding:
one-hot (or float) targets where class indices are meant (``CrossEntropyLoss``,
``NLLLoss``), or integer class indices where float targets are meant (``BCELoss``,
``BCEWithLogitsLoss``)."""

import ast

from ml_lsp.analysis.lint import Related, Rule, TextFix
from ml_lsp.analysis.lint.script_facts import call_name, dotted, last_part

DOCS = """\
`CrossEntropyLoss` and `NLLLoss` take class indices: an integer tensor `(B,)`.
`CrossEntropyLoss` also takes class probabilities, but only as a float tensor of the
input's shape. `F.one_hot(y)` is neither (an integer `(B, C)` tensor): the loss raises.
`NLLLoss` never takes float targets. The binary losses (`BCELoss`, `BCEWithLogitsLoss`)
want the opposite: float targets of the input's shape; an integer target raises
"result type Float can't be cast to the desired output type Long".

Wrong:
    loss = F.cross_entropy(logits, F.one_hot(y, 10))
    loss = F.nll_loss(log_probs, y.float())
    loss = nn.BCEWithLogitsLoss()(logits, y.long())

Right:
    loss = F.cross_entropy(logits, y)                  # y: class indices
    loss = F.nll_loss(log_probs, y)
    loss = nn.BCEWithLogitsLoss()(logits, y.float())

The rule reads the target's encoding where the file shows it: a `one_hot` call, an
explicit `.float()`/`.long()` conversion (inline or on the name's last assignment). Where a
shape rule (SH016/SH017) already reports the call, it stays silent.

Fix: pass the indices the one-hot was built from; convert a binary target with `.float()`."""

INDEX_LOSSES = {"CrossEntropyLoss": "CrossEntropyLoss", "NLLLoss": "NLLLoss", "cross_entropy": "CrossEntropyLoss",
                "nll_loss": "NLLLoss"}
FLOAT_LOSSES = {"BCELoss", "BCEWithLogitsLoss", "binary_cross_entropy", "binary_cross_entropy_with_logits"}
TO_FLOAT = {"float", "double", "half", "bfloat16"}
TO_INT = {"long", "int"}
FLOAT_DTYPES = {"float", "float32", "float64", "double", "half", "float16", "bfloat16"}
INT_DTYPES = {"long", "int64", "int", "int32"}


def _loss_kind(sf, call: ast.Call, instances: dict[str, str]) -> str:
    name = call_name(call)
    if name in instances:
        return instances[name]
    if isinstance(call.func, ast.Call):
        return last_part(call_name(call.func)) if last_part(call_name(call.func)) in (*INDEX_LOSSES, *FLOAT_LOSSES) else ""
    base = last_part(name)
    if base in ("cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits") \
            and isinstance(call.func, ast.Attribute):
        return base
    return ""


def _conversion(node) -> str:
    """'float' / 'int' for ``y.float()``, ``y.to(torch.long)``, ``y.type(torch.FloatTensor)``; else ''."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return ""
    attr = node.func.attr
    if attr in TO_FLOAT and not node.args:
        return "float"
    if attr in TO_INT and not node.args:
        return "int"
    if attr in ("to", "type"):
        for arg in list(node.args) + [k.value for k in node.keywords if k.arg == "dtype"]:
            dtype = last_part(dotted(arg))
            if dtype in FLOAT_DTYPES or dtype in ("FloatTensor", "DoubleTensor"):
                return "float"
            if dtype in INT_DTYPES or dtype in ("LongTensor", "IntTensor"):
                return "int"
    return ""


def _is_one_hot(node) -> bool:
    return isinstance(node, ast.Call) and last_part(call_name(node)) == "one_hot" \
        and call_name(node) in ("F.one_hot", "torch.nn.functional.one_hot", "nn.functional.one_hot",
                                "functional.one_hot", "one_hot")


def _origin(sf, target, loss_call):
    """The expression the target is (inline, or its name's last assignment before the loss in
    the same function), and that assignment (or None)."""
    name = dotted(target)
    if not name:
        return target, None
    scope = sf.enclosing_function(loss_call) or sf.tree
    best = None
    for node in sf.nodes_in(scope, ast.Assign):
        if node.lineno < loss_call.lineno and len(node.targets) == 1 and dotted(node.targets[0]) == name:
            if best is None or node.lineno > best.lineno:
                best = node
    if best is None:
        return None, None
    # a later rebinding of the name in a loop or branch we did not see: stay silent
    rebinds = [n for n in sf.nodes_in(scope, ast.AugAssign, ast.For)
               if dotted(getattr(n, "target", None)) == name]
    return (None, None) if rebinds else (best.value, best)


def _shape_rule_reports(ctx, line: int) -> bool:
    facts = ctx.facts
    return any(c.kind in ("cross_entropy_shapes", "loss_broadcast") and getattr(c, "line", None) == line
               for c in getattr(facts, "conflicts", None) or ())


def _finding(ctx, sf, call, target, kind):
    value, binding = _origin(sf, target, call)
    if value is None:
        return None
    loss = INDEX_LOSSES.get(kind, kind)
    where = [] if binding is None else [Related(binding.lineno, ctx.char_col(binding.lineno, binding.col_offset),
                                                f"{dotted(target)} is assigned here")]
    loss_text = ctx.source(call.func)
    if kind in INDEX_LOSSES:
        if _is_one_hot(value) and value.args:
            fix = None
            indices = value.args[0]
            if binding is None:
                fix = TextFix("Pass the class indices", (ctx.replace(value, ctx.source(indices)),))
            elif isinstance(indices, ast.Name):
                fix = TextFix("Pass the class indices", (ctx.replace(target, indices.id),))
            return (f"{ctx.source(target)} is a one-hot integer tensor; {loss_text} ({loss}) takes class "
                    f"indices: pass {ctx.source(indices)}", where, fix)
        conv = _conversion(value)
        if conv == "float" and loss == "NLLLoss":
            fix = TextFix("Pass the integer class indices",
                          (ctx.replace(value, ctx.source(value.func.value)),)) if binding is None else None
            return (f"{ctx.source(target)} is a float tensor; {loss_text} (NLLLoss) takes integer class "
                    f"indices", where, fix)
        if conv == "float" and _is_one_hot(value.func.value):
            return None  # one-hot as class probabilities: CrossEntropyLoss accepts it
    else:
        conv = _conversion(value)
        if conv == "int" or (isinstance(value, ast.Call) and last_part(call_name(value)) == "argmax"):
            fix = None
            if conv == "int" and binding is None and value.func.attr in TO_INT and not value.args:
                fix = TextFix("Convert the target with .float()",
                              (ctx.replace(value, f"{ctx.source(value.func.value)}.float()"),))
            return (f"{ctx.source(target)} is an integer tensor; {loss_text} takes float targets of the "
                    f"input's shape: use .float()", where, fix)
    return None


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    instances = {}
    for target, value in sf.assignments:
        base = last_part(call_name(value)) if isinstance(value, ast.Call) else ""
        if base in INDEX_LOSSES or base in FLOAT_LOSSES:
            instances[target] = base
    for call in sf.all_calls:
        kind = _loss_kind(sf, call, instances)
        if not kind:
            continue
        target = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "target"), None)
        if target is None:
            continue
        found = _finding(ctx, sf, call, target, kind)
        if found is None or _shape_rule_reports(ctx, call.lineno):
            continue
        message, related, fix = found
        yield RULE.at_node(ctx, target, message, related=related, fix=fix)


RULE = Rule(code="TR018", name="class-target-encoding", category="training", severity="error",
            summary="one-hot/float targets to CrossEntropyLoss/NLLLoss, or integer targets to BCE",
            docs=DOCS, check=check, fixable=True)
