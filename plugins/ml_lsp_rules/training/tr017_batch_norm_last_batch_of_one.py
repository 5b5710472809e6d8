"""TR017 batch-norm-last-batch-of-one: a model with batch norm is trained on a DataLoader
whose last batch holds a single sample (``len(dataset) % batch_size == 1`` and no
``drop_last=True``)."""

import ast

from ml_lsp.analysis.lint import Rule, TextEdit, TextFix
from ml_lsp.analysis.lint.script_facts import (
    batch_norm_names, call_name, chain_base, dotted, last_part, method_call,
)

from ml_lsp_rules.training.tr001_missing_zero_grad import optimizer_steps

DOCS = """\
In training mode batch norm normalises each batch by its own mean and variance. A batch of
one sample has no variance: `BatchNorm1d` on a `(1, C)` batch raises "Expected more than 1
value per channel when training", and other batch norms train on a degenerate statistic. A
DataLoader without `drop_last=True` yields such a batch at the end of every epoch when the
dataset's length leaves a remainder of one.

Wrong:
    data = TensorDataset(torch.randn(1025, 16), torch.randint(0, 2, (1025,)))
    loader = DataLoader(data, batch_size=64, shuffle=True)     # 1025 = 16 * 64 + 1
    for x, y in loader:                                        # model has nn.BatchNorm1d
        ...

Right:
    loader = DataLoader(data, batch_size=64, shuffle=True, drop_last=True)

The rule fires only where the file shows the dataset's length (a `TensorDataset` of tensors
built with a literal first size, a `Subset` over a literal `range`), the batch size is a
literal and the trained model's layers (its class in the file or a workspace module, an
`nn.Sequential`) include batch norm.

Fix: pass `drop_last=True` to the DataLoader."""

FACTORIES = {"randn", "rand", "zeros", "ones", "empty", "full", "arange", "randperm"}


def _int(node) -> int | None:
    return node.value if isinstance(node, ast.Constant) and type(node.value) is int else None


def _bound(sf, node, depth=0):
    """The value a name holds, through the file's plain assignments and followed flows,
    when there is exactly one."""
    if depth > 4:
        return None
    if isinstance(node, ast.Call) or isinstance(node, (ast.Tuple, ast.List)):
        return node
    name = dotted(node)
    if not name:
        return None
    values = [v for t, v in sf.assignments + sf.flow_assignments if t == name]
    values = [v for v in values if not (sf.file_function(v) is not None)]
    return _bound(sf, values[0], depth + 1) if len(values) == 1 else None


def _bound_constant(sf, node):
    """``64`` for ``64`` or for a name the file assigns once, to ``64`` (``batch_size = 64``)."""
    if isinstance(node, ast.Name):
        values = [v for t, v in sf.assignments if t == node.id]
        return values[0] if len(values) == 1 else None
    return node


def _tensor_rows(sf, node) -> int | None:
    """The first size of a tensor built here: ``torch.randn(1025, 16)``, ``torch.randint(0, 2, (1025,))``."""
    call = _bound(sf, node)
    if not isinstance(call, ast.Call):
        return None
    name = call_name(call)
    base = last_part(name)
    if not name.startswith("torch."):
        return None
    if base in FACTORIES and call.args:
        first = call.args[0]
        if isinstance(first, (ast.Tuple, ast.List)) and first.elts:
            first = first.elts[0]
        if base == "arange":
            return _int(_bound_constant(sf, first)) if len(call.args) == 1 else None
        return _int(_bound_constant(sf, first))
    if base == "randint":
        size = next((k.value for k in call.keywords if k.arg == "size"), call.args[2] if len(call.args) > 2 else None)
        if isinstance(size, (ast.Tuple, ast.List)) and size.elts:
            return _int(size.elts[0])
    return None


def dataset_length(sf, node) -> int | None:
    """The number of samples of a dataset the file builds with a visible size, else None."""
    ds = _bound(sf, node)
    if not isinstance(ds, ast.Call):
        return None
    base = last_part(call_name(ds))
    if base == "TensorDataset" and ds.args and not ds.keywords:
        sizes = {_tensor_rows(sf, a) for a in ds.args}
        return sizes.pop() if len(sizes) == 1 and None not in sizes else None
    if base == "Subset" and len(ds.args) == 2:
        idx = ds.args[1]
        if isinstance(idx, ast.Call) and call_name(idx) == "list" and idx.args:
            idx = idx.args[0]
        if isinstance(idx, ast.Call) and call_name(idx) == "range" and not idx.keywords:
            bounds = [_int(_bound_constant(sf, a)) for a in idx.args]
            if None in bounds or len(bounds) > 2:
                return None
            return len(range(*bounds))
        if isinstance(idx, (ast.List, ast.Tuple)) and not any(isinstance(e, ast.Starred) for e in idx.elts):
            return len(idx.elts)
    return None


def _loader_call(sf, iterable):
    while isinstance(iterable, ast.Call) and iterable.args and last_part(call_name(iterable)) in ("enumerate", "tqdm", "iter"):
        iterable = iterable.args[0]
    call = _bound(sf, iterable) if not isinstance(iterable, ast.Call) else iterable
    if isinstance(call, ast.Call) and last_part(call_name(call)) == "DataLoader":
        return call
    return None


def _last_batch_of_one(sf, loader: ast.Call) -> tuple[int, int] | None:
    """(dataset length, batch size) when the loader's last batch holds one sample."""
    kws = {k.arg: k.value for k in loader.keywords}
    if None in kws or "sampler" in kws or "batch_sampler" in kws:
        return None
    drop = kws.get("drop_last")
    if drop is not None and not (isinstance(drop, ast.Constant) and drop.value is False):
        return None
    size = kws.get("batch_size", loader.args[1] if len(loader.args) > 1 else None)
    batch = _int(_bound_constant(sf, size))
    dataset = loader.args[0] if loader.args else kws.get("dataset")
    if batch is None or batch < 2 or dataset is None:
        return None
    n = dataset_length(sf, dataset)
    if n is None or n <= batch or n % batch != 1:
        return None
    return n, batch


def _drop_last_fix(ctx, loader: ast.Call) -> TextFix:
    for k in loader.keywords:
        if k.arg == "drop_last":
            return TextFix("Pass drop_last=True to the DataLoader", (ctx.replace(k.value, "True"),))
    last = (loader.args + [k.value for k in loader.keywords])[-1]
    _, _, line, col = ctx.span(last)
    return TextFix("Pass drop_last=True to the DataLoader", (TextEdit(line, col, line, col, ", drop_last=True"),))


def check(ctx):
    sf = ctx.script
    if sf is None:
        return
    seen = set()
    for loop in sf.nodes_of(ast.For, ast.AsyncFor):
        calls = sf.calls_in(loop)
        if not (any(method_call(c, "backward") for c in calls) and optimizer_steps(sf, calls)):
            continue
        loader = _loader_call(sf, loop.iter)
        if loader is None or id(loader) in seen:
            continue
        sizes = _last_batch_of_one(sf, loader)
        if sizes is None:
            continue
        models = {chain_base(c.func) for c in calls if sf.is_model(chain_base(c.func))}
        normed = sorted(m for m in models
                        if sf.mode_layers(m, ctx.resolve_module, ctx.path, layers=batch_norm_names) is True)
        if not normed:
            continue
        seen.add(id(loader))
        n, batch = sizes
        yield RULE.at_node(
            ctx, loader,
            f"the last batch of this DataLoader holds 1 sample ({n} = {n // batch} * {batch} + 1) and "
            f"{normed[0]} has batch norm, trained at line {loop.lineno}: BatchNorm1d raises on a batch "
            f"of one, others train on a one-sample statistic; pass drop_last=True",
            fix=_drop_last_fix(ctx, loader))


RULE = Rule(code="TR017", name="batch-norm-last-batch-of-one", category="training", severity="warning",
            summary="batch norm trained on a DataLoader whose last batch has one sample", docs=DOCS,
            check=check, fixable=True)
