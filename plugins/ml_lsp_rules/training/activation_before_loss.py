"""Shared by TR008/TR009: an activation's output fed to a loss that applies that
activation itself (softmax into CrossEntropyLoss, sigmoid into BCEWithLogitsLoss), found in
three forms: the call inline, a name bound to the activation, or a model of this file whose
``forward`` returns the activation (or an ``nn.Sequential`` that ends with it)."""

import ast
from dataclasses import dataclass

from ml_lsp.analysis.lint import Related, TextEdit, TextFix
from ml_lsp.analysis.lint.script_facts import call_name, dotted, last_part


@dataclass
class ActivationUse:
    loss_call: ast.Call
    arg: ast.AST
    activation: ast.Call  # the activation call (or the nn.Softmax(...) element)
    input_text: str | None  # what the activation was applied to, when it can replace it
    where: str  # "inline" | "name" | "model"
    related: list
    binding: ast.Assign | None = None  # where="name": the assignment of the activation's output
    input_is_name: bool = False  # the activation is applied to a plain name (logits), not a call


def activation_input(ctx, call: ast.Call, activations: set[str], modules: set[str]) -> str | None:
    """The tensor an activation call is applied to, or None when ``call`` is not one."""
    name = call_name(call)
    base = last_part(name)
    if base in activations and isinstance(call.func, ast.Attribute) and dotted(call.func.value) in (
            "torch", "F", "nn.functional", "torch.nn.functional", "functional"):
        return ctx.source(call.args[0]) if call.args else None
    if base in activations and isinstance(call.func, ast.Attribute) and not dotted(call.func.value) in ("torch", "F"):
        return ctx.source(call.func.value)  # x.softmax(dim=1)
    if isinstance(call.func, ast.Call) and last_part(call_name(call.func)) in modules:  # nn.Softmax(1)(x)
        return ctx.source(call.args[0]) if call.args else None
    return None


def _loss_calls(sf, classes: set[str], functions: set[str]):
    instances = set()
    for target, value in sf.assignments:
        if isinstance(value, ast.Call) and last_part(call_name(value)) in classes:
            instances.add(target)
    for call in sf.all_calls:
        name = call_name(call)
        if name in instances or last_part(name) in functions or (
                isinstance(call.func, ast.Call) and last_part(call_name(call.func)) in classes):
            arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "input"), None)
            if arg is not None:
                yield call, arg


def _last_binding(sf, name: str, before: ast.AST):
    func = sf.enclosing_function(before) or sf.tree
    best = None
    for n in sf.walk_no_defs(func):
        if isinstance(n, ast.Assign) and n.lineno < before.lineno and any(dotted(t) == name for t in n.targets):
            if best is None or n.lineno > best.lineno:
                best = n
    return best


def _forward_activation(ctx, sf, class_name, activations, modules):
    """(return statement, activation call) when every return of forward applies the activation."""
    cls = sf.module_classes.get(class_name)
    if cls is None:
        return None
    attrs = {}
    for n in ast.walk(cls.node):
        if not (isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)):
            continue
        built = n.value
        # `self.model = nn.Sequential(..., nn.Sigmoid())`: calling it ends in the activation
        if last_part(call_name(built)) == "Sequential" and built.args and isinstance(built.args[-1], ast.Call):
            built = built.args[-1]
        if last_part(call_name(built)) in modules:
            for t in n.targets:
                attrs[dotted(t)] = built
    forward = next((n for n in cls.node.body if isinstance(n, ast.FunctionDef) and n.name == "forward"), None)
    if forward is None:
        return None
    returns = [n for n in ast.walk(forward) if isinstance(n, ast.Return) and n.value is not None]
    if not returns:
        return None
    found = []
    for ret in returns:
        v = ret.value
        if isinstance(v, ast.Name):  # `validity = self.model(x); return validity`
            bound = [n for n in ast.walk(forward) if isinstance(n, ast.Assign) and n.lineno < ret.lineno
                     and any(isinstance(t, ast.Name) and t.id == v.id for t in n.targets)]
            v = max(bound, key=lambda n: n.lineno).value if bound else v
        if isinstance(v, ast.Call) and (activation_input(ctx, v, activations, modules) is not None
                                        or dotted(v.func) in attrs):
            found.append((ret, v))
        else:
            return None
    return found[0]


def _sequential_activation(ctx, sf, model, modules):
    for target, value in sf.assignments:
        if target == model and isinstance(value, ast.Call) and last_part(call_name(value)) == "Sequential" and value.args:
            last = value.args[-1]
            if isinstance(last, ast.Call) and last_part(call_name(last)) in modules:
                return value, last
    return None


def find_uses(ctx, activations: set[str], modules: set[str], loss_classes: set[str], loss_functions: set[str]):
    sf = ctx.script
    for loss_call, arg in _loss_calls(sf, loss_classes, loss_functions):
        if isinstance(arg, ast.Call):
            inp = activation_input(ctx, arg, activations, modules)
            if inp is not None:
                yield ActivationUse(loss_call, arg, arg, inp, "inline", [])
                continue
        returned = _returned_activation(ctx, sf, arg, loss_call, activations, modules)
        if returned is not None:
            yield returned
            continue
        if isinstance(arg, ast.Call) and dotted(arg.func) in sf.models:
            value = arg  # loss(discriminator(x), y): the model's output itself
        elif not isinstance(arg, (ast.Name, ast.Attribute)):
            continue
        else:
            binding = _last_binding(sf, dotted(arg), loss_call)
            if binding is None or not isinstance(binding.value, ast.Call):
                continue
            value = binding.value
        inp = activation_input(ctx, value, activations, modules)
        if inp is not None:
            applied_to = _activation_operand(value)
            yield ActivationUse(loss_call, arg, value, inp, "name",
                                [Related(value.lineno, ctx.char_col(value.lineno, value.col_offset),
                                         f"{dotted(arg)} is the {last_part(call_name(value))} output")],
                                binding=binding, input_is_name=isinstance(applied_to, ast.Name))
            continue
        model = dotted(value.func)
        if model in sf.models:
            cls = sf.models[model]
            hit = _forward_activation(ctx, sf, cls, activations, modules) if cls else None
            if hit:
                ret, act = hit
                act_in = activation_input(ctx, act, activations, modules)
                yield ActivationUse(loss_call, arg, act, act_in, "model",
                                    [Related(ret.lineno, ctx.char_col(ret.lineno, ret.col_offset),
                                             f"{cls}.forward returns {ctx.source(act)}")])
                continue
            seq = _sequential_activation(ctx, sf, model, modules)
            if seq:
                _, last = seq
                yield ActivationUse(loss_call, arg, last, None, "model",
                                    [Related(last.lineno, ctx.char_col(last.lineno, last.col_offset),
                                             f"{model} ends with {ctx.source(last)}")])


def _returned_activation(ctx, sf, arg, loss_call, activations, modules):
    """``loss(predict(x), y)`` or ``out = predict(x); loss(out, y)`` where every return of
    the file's function ``predict`` is the activation (directly or through a local)."""
    call = arg
    if isinstance(arg, (ast.Name, ast.Attribute)):
        binding = _last_binding(sf, dotted(arg), loss_call)
        call = binding.value if binding is not None else None
    func = sf.file_function(call)
    if func is None:
        return None
    leaves = sf.resolve(call)
    acts = [v for v, _ in leaves if isinstance(v, ast.Call) and activation_input(ctx, v, activations, modules) is not None]
    if not acts or len(acts) != len(leaves):
        return None
    act = acts[0]
    return ActivationUse(loss_call, arg, act, None, "function",
                         [Related(act.lineno, ctx.char_col(act.lineno, act.col_offset),
                                  f"{func.name}() returns {ctx.source(act)}")])


def _activation_operand(call: ast.Call) -> ast.AST | None:
    """What the activation is applied to: F.softmax(x) and nn.Softmax(1)(x) -> x, x.softmax(1) -> x."""
    if isinstance(call.func, ast.Attribute) and dotted(call.func.value) not in (
            "torch", "F", "nn.functional", "torch.nn.functional", "functional"):
        return call.func.value
    return call.args[0] if call.args else None


def _other_uses(ctx, use: ActivationUse) -> int:
    """How many times the bound name is read in its function besides the loss argument."""
    sf = ctx.script
    name = dotted(use.arg)
    func = sf.enclosing_function(use.loss_call) or sf.tree
    return sum(1 for n in sf.walk_no_defs(func)
               if isinstance(n, (ast.Name, ast.Attribute)) and isinstance(n.ctx, ast.Load) and n is not use.arg
               and dotted(n) == name and n.lineno > use.binding.lineno)


def removal_fix(ctx, use: ActivationUse, title: str) -> TextFix | None:
    """Replace the activation call by its input (inline and in forward). For a bound name:
    when the activation was applied to a plain name (probs = softmax(logits)), feed the loss
    that name; else edit the definition (out = softmax(model(x)) -> out = model(x)), never
    repeating the expression (a second forward pass). Editing the definition changes what
    the name holds for its other readers: safe only when the loss is its one reader."""
    if use.input_text is None:
        return None
    if use.where == "inline":
        return TextFix(title, (ctx.replace(use.activation, use.input_text),))
    if use.where == "name":
        if use.input_is_name:
            return TextFix(title, (ctx.replace(use.arg, use.input_text),))
        return TextFix(title, (ctx.replace(use.activation, use.input_text),), safe=_other_uses(ctx, use) == 0)
    # In forward: the model's output changes for every caller, so not a safe fix.
    return TextFix(title, (ctx.replace(use.activation, use.input_text),), safe=False)
