"""Facts about a training script that the training and data rules share, read from the
``ast`` once per file: which names are optimizers, schedulers and models, which classes
are ``nn.Module`` subclasses (and what their ``__init__`` builds), parent links, loops and
``no_grad`` blocks. Heuristics stay on the side of silence: a name is an optimizer only if
it is built by an optimizer class or called like one.

Values are followed through the file's own code (``resolve``/``flow_assignments``): a call of
a function of the file stands for what it returns (a local it returns, each element of a
returned tuple), and a constant subscript of a literal dict/list/tuple for its element. The
held-out split, model and dropout/batch-norm facts read those flows; grad mode is followed
into a function every caller runs under ``no_grad``. A value that cannot be followed stays
unknown, and the rules stay silent on it.

Why here and not in the abstract interpreter (ml_lsp/analysis/interp.py): the rules ask
about names and statements of a training script (which loop, which loader, which line to
fix), the interpreter works on tensor shapes inside model code and runs per entry point;
following returns and containers at the AST level costs one pass and keeps the rules
independent of the shape engine's budget and its failures."""

from __future__ import annotations

import ast
import bisect
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator

LOOPS = (ast.For, ast.AsyncFor, ast.While)
FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)

OPTIMIZER_CLASSES = {
    "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
    "LBFGS", "SparseAdam", "ASGD", "Rprop", "Adafactor", "Lion", "AdamW8bit", "Adam8bit",
    "PagedAdamW", "PagedAdamW8bit", "FusedAdam", "LAMB", "Lamb",
}
SCHEDULER_CALL = re.compile(r"(lr_scheduler\.|Scheduler|LR$|LR\b|^get_\w*schedule|ReduceLROnPlateau|OneCycle|CosineAnnealing)")
GRAD_CONTEXTS = {"no_grad", "inference_mode", "set_grad_enabled", "enable_grad"}
NORM_OR_DROPOUT = re.compile(r"(Dropout|BatchNorm|SyncBatchNorm|InstanceNorm|AlphaDropout|FeatureAlphaDropout)")
NOT_MODELS = re.compile(r"(Loss|Loader|Dataset|Sampler|Scheduler|LR|Tokenizer|Processor|Trainer|Accelerator|"
                        r"Scaler|Writer|Logger|Path|Dict|List|Tensor|Parser|Config|Args|Fabric|Metric)$")
MODULE_BASES = {"Module", "nn.Module", "torch.nn.Module", "LightningModule", "pl.LightningModule",
                "PreTrainedModel", "Sequential", "nn.Sequential"}
EVAL_NAME = re.compile(r"(^|_)(val|valid|validation|test|testing|eval|evaluation|dev|holdout)(_|$|\d|loader|set|data|ds|dl)", re.I)
TRAIN_NAME = re.compile(r"(^|_)train(ing)?(_|$|\d|loader|set|data|ds|dl)", re.I)


def dotted(node: ast.AST | None) -> str:
    """``torch.optim.SGD`` for the expression ``torch.optim.SGD``; '' when not a plain chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def call_name(node: ast.AST) -> str:
    return dotted(node.func) if isinstance(node, ast.Call) else ""


def method_call(node: ast.AST, *names: str) -> bool:
    """``x.name(...)`` for one of ``names`` (any receiver)."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in names)


def receiver(node: ast.Call) -> str:
    return dotted(node.func.value) if isinstance(node.func, ast.Attribute) else ""


# Methods that return the module (or tensor) they are called on: `net.to(device).train()`
# switches `net`, and `Net().cuda().eval()` builds a model in eval mode.
SELF_RETURNING = {"to", "cuda", "cpu", "train", "eval", "float", "half", "double", "bfloat16",
                  "requires_grad_", "share_memory", "xpu", "mps", "npu", "type", "apply"}


def chain_base(node: ast.AST | None) -> str:
    """The name a chain of self-returning calls starts from: ``transformer`` for
    ``transformer.to(device)``; '' when the chain starts elsewhere."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SELF_RETURNING:
        node = node.func.value
    return dotted(node)


def mode_target(node: ast.AST, *modes: str) -> str:
    """For ``x.train()`` / ``x.to(d).eval()`` (a call of one of ``modes``): the model it
    switches, through self-returning calls; '' otherwise."""
    if not method_call(node, *modes):
        return ""
    return chain_base(node.func.value)


def is_mode_switch(call: ast.Call) -> bool:
    """``m.train()``, ``m.train(False)``, ``m.eval()``: not a user ``layer.train(x_pos, x_neg)``."""
    if call.keywords and not (len(call.keywords) == 1 and call.keywords[0].arg == "mode"):
        return False
    return not call.args or (len(call.args) == 1 and not isinstance(call.args[0], ast.Starred))


def _first_argument(call: ast.Call, keyword: str) -> ast.AST | None:
    """The first positional argument, or the keyword that names it (``DataLoader(dataset=ds)``)."""
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _held_out_build(value: ast.Call) -> str:
    """Why the dataset ``value`` builds is held out (``MNIST(train=False)``), or ''."""
    name = last_part(call_name(value))
    for k in value.keywords:
        if k.arg == "train" and isinstance(k.value, ast.Constant) and k.value.value is False:
            return f"{name}(train=False)"
        if k.arg in ("split", "subset") and isinstance(k.value, ast.Constant) \
                and isinstance(k.value.value, str) and is_eval_split_name(k.value.value):
            return f"{name}({k.arg}={k.value.value!r})"
    return ""


def last_part(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def is_eval_split_name(name: str) -> bool:
    base = last_part(name)
    return bool(EVAL_NAME.search(base)) and not TRAIN_NAME.search(base)


def is_train_split_name(name: str) -> bool:
    return bool(TRAIN_NAME.search(last_part(name)))


@dataclass
class ModuleClass:
    name: str
    node: ast.ClassDef
    layer_calls: list[str] = field(default_factory=list)  # callee names built in __init__

    @property
    def has_train_eval_difference(self) -> bool:
        return bool(layer_names_mode(self.layer_calls))


def batch_norm_names(names: list[str]) -> bool:
    """True when one of the called names builds a batch norm layer."""
    return any("BatchNorm" in last_part(c) for c in names)


def layer_names_mode(names: list[str]) -> bool:
    """True when one of the called names builds dropout or batch norm."""
    return any(NORM_OR_DROPOUT.search(c) for c in names) or any("dropout" in c.lower() for c in names)


_FACTS_OF: dict[str, "ScriptFacts | None"] = {}


def _facts_of(text: str) -> "ScriptFacts | None":
    """Facts of an imported workspace module's text (cached by text)."""
    if text not in _FACTS_OF:
        if len(_FACTS_OF) > 256:
            _FACTS_OF.clear()
        try:
            _FACTS_OF[text] = ScriptFacts(ast.parse(text))
        except (SyntaxError, ValueError):
            _FACTS_OF[text] = None
    return _FACTS_OF[text]


class ScriptFacts:
    def __init__(self, tree: ast.Module) -> None:
        # One pass over the tree: parent links and the nodes of each type in source order,
        # so that rules ask for "every loop" or "the calls in this loop" without re-walking.
        self.tree = tree
        self.parent: dict[ast.AST, ast.AST] = {}
        self.by_type: dict[type, list[ast.AST]] = {}
        stack = [tree]
        parent = self.parent
        by_type = self.by_type
        while stack:
            node = stack.pop()
            by_type.setdefault(type(node), []).append(node)
            for child in ast.iter_child_nodes(node):
                parent[child] = node
                stack.append(child)
        for nodes in by_type.values():
            if nodes and hasattr(nodes[0], "lineno"):
                nodes.sort(key=lambda n: (n.lineno, n.col_offset))
        self._inside: dict[tuple, list] = {}

    def nodes_of(self, *types: type) -> list[ast.AST]:
        if len(types) == 1:
            return self.by_type.get(types[0], [])
        key = ("of", types)
        if key not in self._inside:
            self._inside[key] = sorted((n for t in types for n in self.by_type.get(t, [])),
                                       key=lambda n: (n.lineno, n.col_offset))
        return self._inside[key]

    def nodes_in(self, node: ast.AST, *types: type) -> list[ast.AST]:
        """Nodes of ``types`` under ``node``, not inside nested function or class bodies."""
        key = (id(node), types)
        if key in self._inside:
            return self._inside[key]
        first, last = getattr(node, "lineno", 0), getattr(node, "end_lineno", None) or 10 ** 9
        out = []
        candidates = self.nodes_of(*types)
        # the list is in source order: start at the first line of ``node``, not at the top
        # of the file (a scan from the top for each function was quadratic in a big file)
        lines = self._inside.get(("lines", types))
        if lines is None:
            lines = self._inside[("lines", types)] = [n.lineno for n in candidates]
        for n in candidates[bisect.bisect_left(lines, first):]:
            if n.lineno > last:
                break
            anc = self.parent.get(n)
            while anc is not None and anc is not node and not isinstance(anc, (*FUNCS, ast.ClassDef)):
                anc = self.parent.get(anc)
            if anc is node:
                out.append(n)
        self._inside[key] = out
        return out

    # Structure ------------------------------------------------------------------------
    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        while node in self.parent:
            node = self.parent[node]
            yield node

    def enclosing_loop(self, node: ast.AST) -> ast.AST | None:
        """The innermost loop around ``node`` within the same function."""
        for anc in self.ancestors(node):
            if isinstance(anc, FUNCS):
                return None
            if isinstance(anc, LOOPS) and node_in_body(anc, node, self):
                return anc
        return None

    def enclosing_function(self, node: ast.AST) -> ast.AST | None:
        for anc in self.ancestors(node):
            if isinstance(anc, FUNCS):
                return anc
        return None

    def statement_of(self, node: ast.AST) -> ast.stmt:
        while not isinstance(node, ast.stmt):
            node = self.parent[node]
        return node

    def in_grad_context(self, node: ast.AST, _seen: tuple = ()) -> bool:
        """Inside ``with torch.no_grad()`` / ``inference_mode()`` or a function decorated so,
        or inside a function of the file that is only ever called from such a place
        (``with torch.no_grad(): evaluate()``): grad mode is followed through calls."""
        for anc in self.ancestors(node):
            if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)) and anc not in _seen \
                    and self._called_only_without_grad(anc, (*_seen, anc)):
                return True
            if isinstance(anc, (ast.With, ast.AsyncWith)):
                for item in anc.items:
                    expr = item.context_expr
                    name = call_name(expr) if isinstance(expr, ast.Call) else dotted(expr)
                    if last_part(name) in GRAD_CONTEXTS - {"enable_grad"}:
                        return True
            if isinstance(anc, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for dec in anc.decorator_list:
                    name = call_name(dec) if isinstance(dec, ast.Call) else dotted(dec)
                    if last_part(name) in GRAD_CONTEXTS - {"enable_grad"}:
                        return True
        return False

    def _called_only_without_grad(self, func: ast.AST, seen: tuple) -> bool:
        if len(seen) > 4 or isinstance(self.parent.get(func), ast.ClassDef) or self.functions.get(func.name) is not func:
            return False
        calls = [c for c in self.all_calls if isinstance(c.func, ast.Name) and c.func.id == func.name]
        # a function also passed around by name (a callback) may be called from anywhere
        named = [n for n in self.nodes_of(ast.Name) if n.id == func.name and isinstance(n.ctx, ast.Load)]
        if not calls or len(named) != len(calls):
            return False
        return all(self.in_grad_context(c, seen) for c in calls)

    def walk_no_defs(self, node: ast.AST) -> Iterator[ast.AST]:
        """Every node under ``node`` except those inside nested function/class bodies."""
        stack = list(ast.iter_child_nodes(node))
        while stack:
            n = stack.pop()
            yield n
            if not isinstance(n, (*FUNCS, ast.ClassDef)):
                stack.extend(ast.iter_child_nodes(n))

    def calls_in(self, node: ast.AST) -> list[ast.Call]:
        if node is self.tree:
            return [c for c in self.all_calls if self.enclosing_function(c) is None]
        return self.nodes_in(node, ast.Call)

    @property
    def all_calls(self) -> list[ast.Call]:
        return self.nodes_of(ast.Call)

    @cached_property
    def functions(self) -> dict[str, ast.AST]:
        return {n.name: n for n in self.nodes_of(ast.FunctionDef, ast.AsyncFunctionDef)}

    # Names ----------------------------------------------------------------------------
    @cached_property
    def assignments(self) -> list[tuple[str, ast.AST]]:
        """(target dotted name, value) for every simple assignment in the file."""
        out = []
        for node in self.nodes_of(ast.Assign, ast.AnnAssign):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if dotted(target):
                        out.append((dotted(target), node.value))
            elif isinstance(node, (ast.AnnAssign,)) and node.value is not None and dotted(node.target):
                out.append((dotted(node.target), node.value))
        return out

    # Values through the file's functions and containers -------------------------------------
    def file_function(self, call: ast.AST) -> ast.AST | None:
        """The module-level (or nested) function of this file that ``call`` calls by name,
        when it returns values (not a method, not a generator)."""
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
            return None
        return self._returning_functions.get(call.func.id)

    @cached_property
    def _returning_functions(self) -> dict[str, ast.AST]:
        return {name: func for name, func in self.functions.items()
                if not isinstance(self.parent.get(func), ast.ClassDef)
                and not any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in self.walk_no_defs(func))}

    @cached_property
    def values_of(self) -> dict[str, list[ast.AST]]:
        """Target dotted name -> every value the file assigns to it."""
        out: dict[str, list[ast.AST]] = {}
        for target, value in self.assignments:
            out.setdefault(target, []).append(value)
        return out

    def _local_value(self, name: str, scope: ast.AST) -> ast.AST | None:
        """The value of the one plain assignment of ``name`` in function ``scope``."""
        found = [n for n in self.nodes_in(scope, ast.Assign)
                 if len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) and n.targets[0].id == name]
        return found[0].value if len(found) == 1 else None

    def _element(self, sub: ast.Subscript, scope: ast.AST | None, depth: int) -> list | None:
        """``loaders["val"]`` / ``pair[1]`` where the container is a literal dict, list or
        tuple (bound to a name, or returned by a function of the file): the element's values."""
        if not isinstance(sub.slice, ast.Constant):
            return None
        key = sub.slice.value
        containers = []
        base = sub.value
        if isinstance(base, ast.Name) and scope is not None and self._local_value(base.id, scope) is not None:
            containers = self.resolve(self._local_value(base.id, scope), scope, depth + 1)
        elif dotted(base):
            bound = self.values_of.get(dotted(base), [])
            if len(bound) != 1:
                return None
            containers = self.resolve(bound[0], None, depth + 1)
        else:
            containers = self.resolve(base, scope, depth + 1)
        out = []
        for value, where in containers:
            if isinstance(value, ast.Dict):
                hits = [v for k, v in zip(value.keys, value.values) if isinstance(k, ast.Constant) and k.value == key]
                if len(hits) != 1:
                    return None
                out += self.resolve(hits[0], where, depth + 1)
            elif isinstance(value, (ast.Tuple, ast.List)) and isinstance(key, int) \
                    and not any(isinstance(e, ast.Starred) for e in value.elts) and -len(value.elts) <= key < len(value.elts):
                out += self.resolve(value.elts[key], where, depth + 1)
            else:
                return None
        return out or None

    def resolve(self, expr: ast.AST, scope: ast.AST | None = None, depth: int = 0) -> list[tuple[ast.AST, ast.AST | None]]:
        """What ``expr`` evaluates to, as (expression, function it is read in) pairs: through
        calls of the file's functions (each return), a function's locals it returns,
        self-returning chains around such a call (``make_model().to(device)``) and constant
        subscripts of literal containers. An expression that cannot be followed is its own
        answer, so callers keep their own (silent) judgement of it."""
        if depth > 6:
            return [(expr, scope)]
        inner = expr
        while isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and inner.func.attr in SELF_RETURNING:
            inner = inner.func.value
        func = self.file_function(inner)
        if func is not None:
            returns = [r.value for r in self.nodes_in(func, ast.Return)]
            if returns and all(v is not None for v in returns):
                return [pair for v in returns for pair in self.resolve(v, func, depth + 1)]
            return [(expr, scope)]
        if isinstance(inner, ast.Subscript):
            element = self._element(inner, scope, depth)
            if element is not None:
                return element
        if isinstance(expr, ast.Name) and scope is not None:
            value = self._local_value(expr.id, scope)
            if value is not None:
                return self.resolve(value, scope, depth + 1)
        return [(expr, scope)]

    @cached_property
    def flow_assignments(self) -> list[tuple[str, ast.AST]]:
        """(target, value) pairs that plain assignments hide: ``model = build()`` -> what
        ``build`` returns, ``train_l, test_l = get_loaders()`` -> each element of the returned
        tuple, ``val = loaders["val"]`` -> the dict's entry. Only values that were followed."""
        out = []
        for node in self.nodes_of(ast.Assign):
            value = node.value
            if not isinstance(value, (ast.Call, ast.Subscript, ast.Tuple, ast.List)):
                continue
            scope = self.enclosing_function(node)
            for target in node.targets:
                if dotted(target):
                    for leaf, _ in self.resolve(value, scope):
                        if leaf is not value:
                            out.append((dotted(target), leaf))
                elif isinstance(target, (ast.Tuple, ast.List)) and not any(isinstance(e, ast.Starred) for e in target.elts):
                    for leaf, where in self.resolve(value, scope):
                        if isinstance(leaf, (ast.Tuple, ast.List)) and len(leaf.elts) == len(target.elts):
                            for t, elt in zip(target.elts, leaf.elts):
                                if dotted(t):
                                    out += [(dotted(t), v) for v, _ in self.resolve(elt, where)]
                        elif isinstance(leaf, ast.Call) and last_part(call_name(leaf)) == "train_test_split":
                            for i, t in enumerate(target.elts):
                                if i % 2 == 1 and dotted(t):
                                    out.append((dotted(t), leaf))
        return out

    def _built_by(self, predicate) -> set[str]:
        names = set()
        for target, value in self.assignments:
            inner = value
            # `model = Net().to(device)` and friends: look through chained method calls.
            while isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and isinstance(inner.func.value, ast.Call):
                inner = inner.func.value
            if isinstance(inner, ast.Call) and predicate(call_name(inner)):
                names.add(target)
        return names

    @cached_property
    def optimizers(self) -> set[str]:
        built = self._built_by(lambda n: bool(n) and (
            last_part(n) in OPTIMIZER_CLASSES or ".optim." in f".{n}." and n[:1] != "_"
            and not SCHEDULER_CALL.search(n) and last_part(n)[:1].isupper()))
        return built - self.schedulers

    @cached_property
    def schedulers(self) -> set[str]:
        return self._built_by(lambda n: bool(n) and bool(SCHEDULER_CALL.search(n)))

    def is_optimizer(self, name: str) -> bool:
        if not name:
            return False
        if name in self.optimizers:
            return True
        if name in self.schedulers:
            return False
        base = last_part(name).lower()
        return base in {"optimizer", "optim", "opt", "optimiser"} or base.endswith(("_optimizer", "_optim", "_opt"))

    def is_scheduler(self, name: str) -> bool:
        if not name:
            return False
        if name in self.schedulers:
            return True
        if name in self.optimizers:
            return False
        base = last_part(name).lower()
        return "scheduler" in base or base in {"sched", "lr_sched"}

    @cached_property
    def module_classes(self) -> dict[str, ModuleClass]:
        classes: dict[str, ModuleClass] = {}
        defs = self.nodes_of(ast.ClassDef)
        changed = True
        while changed:  # bases defined later in the file, or subclasses of our own modules
            changed = False
            for cls in defs:
                if cls.name in classes:
                    continue
                bases = {dotted(b) for b in cls.bases}
                if bases & MODULE_BASES or bases & set(classes) or any(b.endswith(".Module") for b in bases):
                    mc = ModuleClass(cls.name, cls)
                    for node in ast.walk(cls):
                        if isinstance(node, ast.Call) and call_name(node):
                            mc.layer_calls.append(call_name(node))
                    for b in bases & set(classes):
                        mc.layer_calls.extend(classes[b].layer_calls)
                    classes[cls.name] = mc
                    changed = True
        return classes

    @cached_property
    def models(self) -> dict[str, str | None]:
        """Names that hold a model -> the class name when it is defined in this file."""
        out: dict[str, str | None] = {}
        for target, value in self.assignments + self.flow_assignments:
            inner = value
            while isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and isinstance(inner.func.value, ast.Call):
                inner = inner.func.value
            if not isinstance(inner, ast.Call):
                continue
            name = call_name(inner)
            base = last_part(name)
            if base in self.module_classes:
                out[target] = base
            elif base in {"Sequential", "ModuleList"} or base.startswith("from_pretrained") or (
                    name.startswith(("models.", "torchvision.models.", "timm.")) and base[:1].islower()):
                out.setdefault(target, None)
        for target, value in self.flow_assignments:  # `def build(): net = Net(); return net`
            if target not in out and dotted(value) in out:
                out[target] = out[dotted(value)]
        # `net = ResNet(...).to(device)` with the class imported: an instance of a capitalised
        # class that is moved to a device is taken for a model.
        moved = {dotted(c.func.value) for c in self.all_calls if method_call(c, "to", "cuda")}
        for target, value in self.assignments:
            inner, chained_move = value, False
            while isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and isinstance(inner.func.value, ast.Call):
                chained_move = chained_move or inner.func.attr in ("to", "cuda")
                inner = inner.func.value
            base = last_part(call_name(inner)) if isinstance(inner, ast.Call) else ""
            if base[:1].isupper() and (chained_move or target in moved) and target not in out \
                    and not NOT_MODELS.search(base) and base not in OPTIMIZER_CLASSES:
                out[target] = None
        for call in self.all_calls:
            if method_call(call, "parameters", "named_parameters", "eval", "train", "state_dict",
                           "load_state_dict", "zero_grad") and chain_base(call.func.value) \
                    and not (call.func.attr in ("train", "eval") and not is_mode_switch(call)):
                rec = chain_base(call.func.value)
                if not self.is_optimizer(rec) and not self.is_scheduler(rec) and rec not in out:
                    out[rec] = None
        return out

    # Data facts: which names hold a held-out split? ----------------------------------------
    @cached_property
    def held_out(self) -> dict[str, str]:
        """Names proven to hold held-out data -> why: the test parts of ``train_test_split``
        (``a, b, c, d = train_test_split(X, y)``: b and d), a dataset built with
        ``train=False`` or ``split="test"``, and what is built from those (a DataLoader, a
        plain copy, a self-returning chain)."""
        out: dict[str, str] = {}
        for node in self.nodes_of(ast.Assign):
            value = node.value
            if not isinstance(value, ast.Call):
                continue
            name = last_part(call_name(value))
            if name == "train_test_split" and len(node.targets) == 1 and isinstance(node.targets[0], (ast.Tuple, ast.List)):
                for i, elt in enumerate(node.targets[0].elts):
                    if i % 2 == 1 and dotted(elt):
                        out[dotted(elt)] = "a test part of train_test_split"
                continue
            why = _held_out_build(value)
            if why:
                for t in node.targets:
                    if dotted(t):
                        out[dotted(t)] = why
        # through the file's functions and containers: `_, test_l = get_loaders()`
        for target, value in self.flow_assignments:
            if target not in out and isinstance(value, ast.Call):
                if last_part(call_name(value)) == "train_test_split":
                    out[target] = "a test part of train_test_split"
                elif _held_out_build(value):
                    out[target] = _held_out_build(value)
        pairs = self.assignments + self.flow_assignments
        changed = True
        while changed:  # through copies, loaders and chains
            changed = False
            for target, value in pairs:
                if target in out:
                    continue
                source = value
                if isinstance(source, ast.Call) and last_part(call_name(source)) in ("DataLoader", "iter", "tqdm", "enumerate"):
                    source = _first_argument(source, "dataset" if last_part(call_name(source)) == "DataLoader" else "iterable")
                base = chain_base(source) if source is not None else ""
                if base in out:
                    out[target] = out[base]
                    changed = True
                elif source is not value and isinstance(source, ast.Call) and _held_out_build(source):
                    out[target] = _held_out_build(source)  # DataLoader(MNIST(train=False))
                    changed = True
        return out

    def held_out_why(self, node: ast.AST) -> tuple[str, str] | None:
        """(what, why) when the expression ``node`` is proven held-out data: a name of
        ``held_out``, or an expression the file's functions and containers lead to one
        (``loaders[1]``, ``get_loaders()[1]``) with every path held out."""
        name = chain_base(node)
        if name in self.held_out:
            return name, self.held_out[name]
        leaves = self.resolve(node, self.enclosing_function(node)) if isinstance(node, (ast.Subscript, ast.Call)) else []
        whys = []
        for leaf, _ in leaves:
            if leaf is node:
                return None
            base = chain_base(leaf)
            if base in self.held_out:
                whys.append(self.held_out[base])
            elif isinstance(leaf, ast.Call) and last_part(call_name(leaf)) == "DataLoader" \
                    and chain_base(_first_argument(leaf, "dataset")) in self.held_out:
                whys.append(self.held_out[chain_base(_first_argument(leaf, "dataset"))])
            elif isinstance(leaf, ast.Call) and _held_out_build(leaf):
                whys.append(_held_out_build(leaf))
            else:
                return None
        return (ast.unparse(node), whys[0]) if whys else None

    # Model facts: does a model hold dropout or batch norm? ---------------------------------
    @cached_property
    def model_builds(self) -> dict[str, list[ast.Call]]:
        """Name -> the calls that build what is assigned to it, through self-returning chains
        (``net = Net().to(device)`` -> ``Net()``)."""
        out: dict[str, list[ast.Call]] = {}
        for target, value in self.assignments:
            inner = value
            while isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) \
                    and inner.func.attr in SELF_RETURNING and isinstance(inner.func.value, ast.Call):
                inner = inner.func.value
            if isinstance(inner, ast.Call):
                out.setdefault(target, []).append(inner)
        return out

    @cached_property
    def imported_names(self) -> dict[str, tuple[str, str]]:
        """Local name -> (module, name) for ``from module import name [as local]``."""
        out = {}
        for node in self.nodes_of(ast.ImportFrom):
            module = "." * (node.level or 0) + (node.module or "")
            for alias in node.names:
                out[alias.asname or alias.name] = (module, alias.name)
        return out

    def mode_layers(self, name: str, resolve=None, path: str | None = None, _depth: int = 0,
                    layers=None) -> bool | None:
        """Whether the model held by ``name`` contains dropout or batch norm (layers that
        behave differently in eval mode): True or False when the file (or a workspace module
        it imports) shows it, None when it cannot be known (a library model, an opaque
        function). A function parameter is answered from the arguments its callers pass.
        ``layers`` (a test on the layer names a model builds) asks about other layers; it
        defaults to "dropout or batch norm"."""
        layers = layers or layer_names_mode
        if _depth > 3:
            return None
        builds = self.model_builds.get(name)
        flows = [v for t, v in self.flow_assignments if t == name]
        if builds:
            answers = {self._build_mode_layers(call, resolve, path, _depth, layers) for call in builds}
        elif flows:  # `gen, disc = build_models()`
            answers = {self._value_mode_layers(v, resolve, path, _depth, layers) for v in flows}
        else:
            answers = {self.mode_layers(arg, resolve, path, _depth + 1, layers)
                       for arg in self._arguments_for(name)} or {None}
        if True in answers:
            return True
        return False if answers == {False} else None

    def is_model(self, name: str) -> bool:
        """A model by its own facts, or a function parameter every caller passes a model for
        (``def evaluate(model, loader)`` called as ``evaluate(net, val_loader)``)."""
        if not name:
            return False
        if name in self.models:
            return True
        args = self._arguments_for(name)
        return bool(args) and all(a in self.models for a in args)

    def _arguments_for(self, param: str) -> list[str]:
        """The names passed for parameter ``param`` at the calls of the file's functions that
        take it (``evaluate(net, loader)`` for ``def evaluate(model, loader)``)."""
        memo = self.__dict__.setdefault("_arguments_memo", {})
        if param not in memo:
            memo[param] = self._find_arguments_for(param)
        return memo[param]

    def _find_arguments_for(self, param: str) -> list[str]:
        out = []
        for fname, func in self.functions.items():
            params = [a.arg for a in func.args.args]
            if param not in params:
                continue
            index = params.index(param)
            for call in self.all_calls:
                if not (isinstance(call.func, ast.Name) and call.func.id == fname):
                    continue
                arg = call.args[index] if index < len(call.args) else next(
                    (k.value for k in call.keywords if k.arg == param), None)
                if arg is None or not chain_base(arg):
                    return []  # a caller passes something we cannot follow: unknown
                out.append(chain_base(arg))
        return out

    def _value_mode_layers(self, value: ast.AST, resolve, path, depth: int, layers) -> bool | None:
        if isinstance(value, ast.Call):
            return self._build_mode_layers(value, resolve, path, depth, layers)
        if dotted(value):
            return self.mode_layers(dotted(value), resolve, path, depth + 1, layers)
        return None

    def _build_mode_layers(self, call: ast.Call, resolve, path, depth: int = 0, layers=layer_names_mode) -> bool | None:
        if self.file_function(call) is not None:  # `def build(): return nn.Sequential(...)`
            leaves = self.resolve(call)
            if leaves == [(call, None)] or depth > 3:
                return None
            answers = {self._value_mode_layers(v, resolve, path, depth + 1, layers) for v, _ in leaves}
            if True in answers:
                return True
            return False if answers == {False} else None
        name = call_name(call)
        base = last_part(name)
        if base in {"Sequential", "ModuleList", "ModuleDict"}:
            inner = [call_name(c) for c in ast.walk(call) if isinstance(c, ast.Call) and c is not call]
            return layers(inner) if all(inner) else None
        if base in self.module_classes and name == base:
            return self._class_mode_layers(self.module_classes[base], self, layers)
        if name.startswith(("torchvision.models.", "models.", "timm.")) or "from_pretrained" in name:
            # library vision models use batch norm, pretrained transformers dropout
            return True if layers is layer_names_mode else None
        if resolve is not None and name == base and base in self.imported_names:
            module, original = self.imported_names[base]
            try:
                found = resolve(module, path)
            except Exception:
                return None
            if not found:
                return None
            other = _facts_of(found[1])
            cls = other.module_classes.get(original) if other is not None else None
            return self._class_mode_layers(cls, other, layers) if cls is not None else None
        return None

    @staticmethod
    def _class_mode_layers(cls: "ModuleClass", facts: "ScriptFacts", layers=layer_names_mode) -> bool | None:
        if layers(cls.layer_calls):
            return True
        bases = {dotted(b) for b in cls.node.bases}
        # a base from elsewhere (a torchvision ResNet subclass) may hold what we cannot see
        if all(b in MODULE_BASES or b in facts.module_classes or b.endswith(".Module") for b in bases):
            return False
        return None

    def model_class(self, name: str) -> ModuleClass | None:
        cls = self.models.get(name)
        return self.module_classes.get(cls) if cls else None

    @cached_property
    def imports_torch(self) -> bool:
        for node in self.nodes_of(ast.Import):
            if any(a.name == "torch" and a.asname is None for a in node.names):
                return True
        return False


def node_in_body(loop: ast.AST, node: ast.AST, facts: ScriptFacts) -> bool:
    """True when ``node`` is in the loop's body (not its iterable or else-clause)."""
    body_ids = {id(s) for s in loop.body}
    for anc in (node, *facts.ancestors(node)):
        if id(anc) in body_ids:
            return True
        if anc is loop:
            return False
    return False


def loop_statements(loop: ast.AST) -> list[ast.stmt]:
    return list(loop.body)
