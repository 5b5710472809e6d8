"""TR011 batch-not-on-model-device: the model is moved to a device, but the loop feeds it
batches straight from the loader, never moved."""

import ast

from ml_lsp.analysis.lint import Related, Rule
from ml_lsp.analysis.lint.script_facts import call_name, dotted, method_call

DOCS = """\
`model.to(device)` moves the parameters only. Batches from a DataLoader stay on the CPU
until moved, so on a GPU the first forward pass raises `Expected all tensors to be on the
same device`. (On a CPU-only machine it runs, which is why the bug ships.)

Wrong:
    model = Net().to(device)
    for x, y in loader:
        loss = criterion(model(x), y)

Right:
    model = Net().to(device)
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = criterion(model(x), y)"""

# `x.type(torch.cuda.FloatTensor)` (old scripts) moves a batch too
MOVES = ("to", "cuda", "to_device", "npu", "xpu", "mps", "type")


def _is_cpu(call: ast.Call) -> bool:
    text = ast.dump(call)
    return "'cpu'" in text and "cuda" not in text


def _cpu_names(sf) -> set[str]:
    """Names only ever assigned the CPU device (``device = "cpu"``, ``torch.device("cpu")``)."""
    values: dict[str, list] = {}
    for target, value in sf.assignments:
        values.setdefault(target, []).append(value)
    return {name for name, vs in values.items()
            if all((isinstance(v, ast.Constant) and v.value == "cpu")
                   or (isinstance(v, ast.Call) and call_name(v).endswith("device") and len(v.args) == 1
                       and isinstance(v.args[0], ast.Constant) and v.args[0].value == "cpu") for v in vs)}


def _moved_models(sf) -> dict[str, ast.Call]:
    moved = {}
    cpu = _cpu_names(sf)
    for call in sf.all_calls:
        if method_call(call, "to") and call.args and dotted(call.args[0]) in cpu:
            continue  # moved to the CPU, where the batches are
        if method_call(call, "to", "cuda") and not _is_cpu(call):
            target = call.func.value
            name = dotted(target)
            if name in sf.models:
                moved.setdefault(name, call)
            parent = sf.parent.get(call)
            if isinstance(parent, ast.Assign):  # model = Net().to(device)
                for t in parent.targets:
                    if dotted(t) in sf.models:
                        moved.setdefault(dotted(t), call)
    # through the file's functions: `model = build(device)` where build returns `net.to(device)`
    for target, value in sf.flow_assignments:
        if target in sf.models and method_call(value, "to", "cuda") and not _is_cpu(value) \
                and not (value.args and dotted(value.args[0]) in cpu):
            moved.setdefault(target, value)
    return moved


def _batch_helper(sf, call, movers) -> bool:
    """``call`` is inside a function of the file that moves things and is only ever called
    from loops (`to_gpu(batch)` per step): it moves batches, not the data before the loop."""
    func = sf.enclosing_function(call)
    name = getattr(func, "name", None)
    if name not in movers:
        return False
    uses = [c for c in sf.all_calls if isinstance(c.func, ast.Name) and c.func.id == name]
    return bool(uses) and all(sf.enclosing_loop(c) is not None for c in uses)


def _moving_functions(sf) -> set[str]:
    """The file's functions that move something to a device (`def to_gpu(batch)`): a loop
    that calls one may move its batch there."""
    out = set()
    for name, func in sf.functions.items():
        if any(method_call(c, *MOVES) for c in sf.nodes_in(func, ast.Call)):
            out.add(name)
    return out


def _batch_names(loop) -> set[str]:
    names = {n.id for n in ast.walk(loop.target) if isinstance(n, ast.Name)}
    for stmt in loop.body:  # inputs, labels = data / x = batch[0]
        if isinstance(stmt, ast.Assign):
            used = {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)}
            if used and used <= names and not isinstance(stmt.value, ast.Call):
                for t in stmt.targets:
                    names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def _delivers_on_device(sf, loop) -> bool:
    """The loop iterates (through enumerate/tqdm/zip) a loader built with a ``device=``
    argument (torchtext's iterators, a custom loader): its batches arrive on the device."""
    names = set()
    node = loop.iter
    for n in ast.walk(node):
        if isinstance(n, (ast.Name, ast.Attribute)) and dotted(n):
            names.add(dotted(n))
    if isinstance(node, ast.Call) and any(k.arg == "device" for k in node.keywords):
        return True
    for target, value in sf.assignments:
        if target in names and isinstance(value, ast.Call) and any(k.arg == "device" for k in value.keywords):
            return True
    # `train_iter, dev_iter = BucketIterator.splits(..., device=device)`
    for assign in sf.nodes_of(ast.Assign):
        value = assign.value
        if isinstance(value, ast.Call) and any(k.arg == "device" for k in value.keywords):
            bound = {dotted(t) for tgt in assign.targets for t in ast.walk(tgt) if isinstance(t, ast.Name)}
            if bound & names:
                return True
    return False


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    # (`torch.accelerator.current_accelerator()` is PyTorch's own device API, not a library
    # that moves batches)
    if any(("accelerator" in call_name(c) and not call_name(c).startswith("torch.accelerator."))
           or call_name(c).endswith(("prepare", "Fabric")) for c in sf.all_calls):
        return  # accelerate/Lightning Fabric move batches for you
    moved = _moved_models(sf)
    if not moved:
        return
    # Data put on the device before any loop (`X = X.to(device)`, a TensorDataset of GPU
    # tensors): batches may well arrive there already.
    movers = _moving_functions(sf)
    if any(method_call(c, "to", "cuda") and dotted(c.func.value) and dotted(c.func.value) not in sf.models
           and sf.enclosing_loop(c) is None and not _is_cpu(c) and not _batch_helper(sf, c, movers)
           for c in sf.all_calls):
        return
    for loop in sf.nodes_of(ast.For, ast.AsyncFor):
        calls = sf.calls_in(loop)
        if any(method_call(c, *MOVES) or call_name(c).endswith(("to_device", "move_to", "send_to_device"))
               or call_name(c) in movers for c in calls):
            continue
        if _delivers_on_device(sf, loop):
            continue
        batch = _batch_names(loop)
        for c in calls:
            model = dotted(c.func)
            if model not in moved or sf.enclosing_loop(c) is not loop:
                continue
            args = [a for a in [*c.args, *(k.value for k in c.keywords)]  # model(x), model(**batch)
                    if isinstance(a, ast.Name) and a.id in batch]
            if not args:
                continue
            move = moved[model]
            name = args[0].id
            as_kwargs = any(k.arg is None and k.value is args[0] for k in c.keywords)
            example = (f"{name} = {{k: v.to(device) for k, v in {name}.items()}}" if as_kwargs
                       else f"{name} = {name}.to(device)")
            yield RULE.at_node(
                ctx, args[0],
                f"{model} is moved with {ctx.source(move.func).split('.')[-1]}(...) at line {move.lineno} "
                f"but {name} comes from the loader as loaded: move it too (e.g. `{example}`)",
                related=[Related(move.lineno, ctx.char_col(move.lineno, move.col_offset),
                                 f"{model} is moved here")])


RULE = Rule(code="TR011", name="batch-not-on-model-device", category="training", severity="warning",
            summary="model moved to a device but the batch is not", docs=DOCS, check=check)
