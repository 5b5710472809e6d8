"""Facts about a training script that the training and data rules share, read from the
``ast`` once per file: which names are optimizers, schedulers and models, which classes
are ``nn.Module`` subclasses (and what their ``__init__`` builds), parent links, loops and
``no_grad`` blocks. Heuristics stay on the side of silence: a name is an optimizer only if
it is built by an optimizer class or called like one."""

from __future__ import annotations

import ast
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
        return any(NORM_OR_DROPOUT.search(c) for c in self.layer_calls) or any(
            "dropout" in c.lower() for c in self.layer_calls)


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
        for n in self.nodes_of(*types):
            if n.lineno < first:
                continue
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

    def in_grad_context(self, node: ast.AST) -> bool:
        """Inside ``with torch.no_grad()`` / ``inference_mode()`` or a function decorated so."""
        for anc in self.ancestors(node):
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
        for target, value in self.assignments:
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
                           "load_state_dict", "zero_grad") and receiver(call):
                rec = receiver(call)
                if not self.is_optimizer(rec) and not self.is_scheduler(rec) and rec not in out:
                    out[rec] = None
        return out

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
