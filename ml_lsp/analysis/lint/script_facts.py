"""Facts about a training script that the training and data rules share, read from the
``ast`` once per file: which names are optimizers, schedulers and models, which classes
are ``nn.Module`` subclasses (and what their ``__init__`` builds), parent links, loops and
``no_grad`` blocks. Heuristics stay on the side of silence: a name is an optimizer only if
it is built by an optimizer class or called like one."""

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
            why = ""
            for k in value.keywords:
                if k.arg == "train" and isinstance(k.value, ast.Constant) and k.value.value is False:
                    why = f"{name}(train=False)"
                elif k.arg in ("split", "subset") and isinstance(k.value, ast.Constant) \
                        and isinstance(k.value.value, str) and is_eval_split_name(k.value.value):
                    why = f"{name}({k.arg}={k.value.value!r})"
            if why:
                for t in node.targets:
                    if dotted(t):
                        out[dotted(t)] = why
        changed = True
        while changed:  # through copies, loaders and chains
            changed = False
            for target, value in self.assignments:
                if target in out:
                    continue
                source = value
                if isinstance(source, ast.Call) and last_part(call_name(source)) in ("DataLoader", "iter", "tqdm", "enumerate"):
                    source = source.args[0] if source.args else None
                base = chain_base(source) if source is not None else ""
                if base in out:
                    out[target] = out[base]
                    changed = True
        return out

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

    def mode_layers(self, name: str, resolve=None, path: str | None = None, _depth: int = 0) -> bool | None:
        """Whether the model held by ``name`` contains dropout or batch norm (layers that
        behave differently in eval mode): True or False when the file (or a workspace module
        it imports) shows it, None when it cannot be known (a library model, an opaque
        function). A function parameter is answered from the arguments its callers pass."""
        if _depth > 3:
            return None
        builds = self.model_builds.get(name)
        if builds:
            answers = {self._build_mode_layers(call, resolve, path) for call in builds}
        else:
            answers = {self.mode_layers(arg, resolve, path, _depth + 1) for arg in self._arguments_for(name)} or {None}
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

    def _build_mode_layers(self, call: ast.Call, resolve, path) -> bool | None:
        name = call_name(call)
        base = last_part(name)
        if base in {"Sequential", "ModuleList", "ModuleDict"}:
            inner = [call_name(c) for c in ast.walk(call) if isinstance(c, ast.Call) and c is not call]
            return layer_names_mode(inner) if all(inner) else None
        if base in self.module_classes and name == base:
            return self._class_mode_layers(self.module_classes[base], self)
        if name.startswith(("torchvision.models.", "models.", "timm.")) or "from_pretrained" in name:
            return True  # library vision models use batch norm, pretrained transformers dropout
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
            return self._class_mode_layers(cls, other) if cls is not None else None
        return None

    @staticmethod
    def _class_mode_layers(cls: "ModuleClass", facts: "ScriptFacts") -> bool | None:
        if cls.has_train_eval_difference:
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
