"""TR016 optimizer-state-before-move: an optimizer's saved state is loaded, and then the
model is moved to a device: the state stays where the parameters were."""

import ast

from ml_lsp.analysis.lint import Related, Rule
from ml_lsp.analysis.lint.script_facts import call_name, chain_base, last_part, method_call, receiver

DOCS = """\
`optimizer.load_state_dict(...)` casts the saved state (Adam's moment estimates, SGD's
momentum buffers) to the device the parameters are on *at that moment*. Moving the model
afterwards (`model.to(device)`, `model.cuda()`) moves the parameters but not that state, so
the first `optimizer.step()` on the GPU fails with tensors on two devices (or, with the
fused/foreach kernels, an error about devices). PyTorch's docs: move the model before
building, and before restoring, its optimizer. Only optimizers that keep per-parameter state
are checked (Adam and its kin, RMSprop, Adagrad, SGD with momentum).

Wrong:
    optimizer.load_state_dict(ckpt["optimizer"])
    model.to(device)

Right:
    model.to(device)
    optimizer.load_state_dict(ckpt["optimizer"])"""

STATEFUL = {"Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"}


def _is_cpu(call: ast.Call) -> bool:
    return "'cpu'" in ast.dump(call) and "cuda" not in ast.dump(call)


def _stateful_optimizers(sf) -> dict[str, str]:
    """Optimizer name -> the model whose parameters it holds, for stateful optimizers."""
    out = {}
    for node in sf.nodes_of(ast.Assign):
        value = node.value
        if not isinstance(value, ast.Call) or len(node.targets) != 1:
            continue
        cls = last_part(call_name(value))
        momentum = any(k.arg == "momentum" and not (isinstance(k.value, ast.Constant) and not k.value.value)
                       for k in value.keywords)
        if cls not in STATEFUL and not (cls == "SGD" and momentum):
            continue
        params = value.args[0] if value.args else next((k.value for k in value.keywords if k.arg == "params"), None)
        if isinstance(params, ast.Call) and method_call(params, "parameters"):
            model = chain_base(params.func.value)
            if model in sf.models:
                out[chain_base(node.targets[0])] = model
    return out


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    optimizers = _stateful_optimizers(sf)
    if not optimizers:
        return
    for load in sf.all_calls:
        if not method_call(load, "load_state_dict") or receiver(load) not in optimizers:
            continue
        model = optimizers[receiver(load)]
        scope = sf.enclosing_function(load)
        for move in sf.all_calls:
            if not (method_call(move, "to", "cuda") and chain_base(move.func.value) == model) or _is_cpu(move):
                continue
            if sf.enclosing_function(move) is not scope or move.lineno <= load.lineno:
                continue
            if sf.enclosing_loop(move) is not None or sf.enclosing_loop(load) is not None:
                continue
            yield RULE.at_node(
                ctx, move, f"{model} is moved after {receiver(load)}'s state was loaded (line {load.lineno}): "
                f"the restored state stays on the old device and the first step mixes devices; move "
                f"{model} before loading the optimizer state",
                related=[Related(load.lineno, ctx.char_col(load.lineno, load.col_offset),
                                 f"{receiver(load)} state loaded here")])
            break


RULE = Rule(code="TR016", name="optimizer-state-before-move", category="training", severity="warning",
            summary="model moved to a device after its optimizer's state was loaded", docs=DOCS, check=check)
