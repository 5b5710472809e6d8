"""Static shapes of Keras models, without Keras: a small interpreter over a module's ``ast``.

It follows the three ways Keras code builds a model — a ``Sequential`` list (and
``model.add``), the functional API (``keras.Input``, ``layer(tensor)``, ``Model(inputs,
outputs)``) and subclassed ``keras.Model``/``Layer`` with ``call()`` — and computes each
layer's output shape and parameter count with the rules of ``layers.py``. It understands
the spellings ``import tensorflow as tf; tf.keras...``, ``from tensorflow import keras``,
``import keras`` and ``from keras import layers``. On the way it records what the KR lint
rules read: ``compile`` and ``fit`` calls, the data they were given (known datasets,
``to_categorical``, ``train_test_split``), ``trainable`` changes and pretrained weights.

Pure: text in, ``KerasFacts`` out; never imports Keras, never runs user code.
"""

from __future__ import annotations

import ast
import contextlib
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from ml_lsp.analysis import dims
from ml_lsp.analysis.keras.layers import (APPLICATIONS, BATCH, FUNCTIONAL_MERGES, LAYERS, UNKNOWN,
                                          KerasShapeError, KLayerSpec, application_input_shape,
                                          application_name, attention_projections, snake_name)

MAX_STEPS = 20_000
NOT_LAYERS = {"Layer", "Input", "InputLayer", "InputSpec", "Wrapper"}  # keras.layers names that make no layer
MAX_DEPTH = 8

# ------------------------------------------------------------------------ values


@dataclass(eq=False)
class KRef:
    """A module or object reached through an import: its dotted name."""
    qual: str


@dataclass(eq=False)
class KTensor:
    shape: Optional[tuple]
    history: tuple = ()  # the layers that produced it, upstream first
    partial: bool = False  # after an if with an unknown test: which layers produced it is not known
    unbatched: bool = False  # ops.arange(...): no batch dim; Keras's trace shows its first dim as B


@dataclass(eq=False)
class KLayer:
    spec: KLayerSpec
    name: str
    node: ast.AST
    trainable: Any = True
    output: Optional[tuple] = None  # set once applied (an application: its own output)
    params: Optional[int] = None
    built: bool = False
    scope: str = "<module>"  # where it was created: Keras records a Sequential's layers there

    @property
    def is_application(self) -> bool:
        return self.spec.cls in APPLICATIONS

    @property
    def activation(self) -> Any:
        if self.spec.cls == "Activation":
            return self.spec.arg(0, "activation")
        if self.spec.cls == "Softmax":
            return "softmax"
        if self.is_application and self.spec.kwargs.get("include_top", True) is True:
            return self.spec.kwargs.get("classifier_activation", "softmax")
        return self.spec.kwargs.get("activation")


@dataclass(eq=False)
class KModel:
    kind: str  # sequential | functional | subclass
    node: ast.AST
    var: str = ""
    items: list = field(default_factory=list)  # Sequential: (value, node) in order
    input_shape: Optional[tuple] = None  # with the batch dim
    inputs: list = field(default_factory=list)
    output: Optional[tuple] = None
    layers: list = field(default_factory=list)  # KLayer (or KModel) in order
    params: Optional[int] = None
    trainable: Any = True
    instance: Any = None  # subclass: its KInstance
    name: str = ""
    scope: str = "<module>"  # where it was created

    @property
    def last_layer(self):
        return self.layers[-1] if self.layers else None


@dataclass(eq=False)
class KArray:
    """Data: an array or DataFrame whose shape (with the sample dim first) may be known;
    ``labels`` is "int" or "onehot" where the source says which."""
    shape: Optional[tuple]
    labels: Optional[str] = None
    frame: bool = False


@dataclass(eq=False)
class KLoss:
    name: str  # the snake-case loss name: categorical_crossentropy...
    from_logits: Any = False


@dataclass(eq=False)
class KFunc:
    node: ast.FunctionDef
    owner: Any = None  # KClass for a method
    closure: Any = None  # a nested function: the enclosing call's locals


@dataclass(eq=False)
class KClass:
    node: ast.ClassDef
    kind: str  # model | layer | other
    methods: dict = field(default_factory=dict)


@dataclass(eq=False)
class KInstance:
    cls: KClass
    attrs: dict = field(default_factory=dict)
    model: Optional[KModel] = None
    name: str = ""
    scope: str = "<module>"  # where it was created
    opaque: bool = False  # an attribute came from a call not followed: it may hold weights


@dataclass(eq=False)
class KBound:
    """A method bound to its object: ``model.fit``."""
    obj: Any
    name: str


@dataclass(eq=False)
class KLayerList:
    model: Any


@dataclass(eq=False)
class KLayerOutput:
    """``model.layers[-1]``: only its ``.output`` is followed."""
    model: Any


class KList(list):
    """A list the code builds: ``unknown`` once something changed it that is not followed
    (``skips.remove(x)``, ``a[i] = v`` with an unknown i): its length and items are then unknown."""
    unknown = False


def _known_seq(v) -> bool:
    return isinstance(v, (list, tuple, range)) and not getattr(v, "unknown", False)


@dataclass(eq=False)
class KBuiltin:
    """A Python builtin the interpreter evaluates on known values: ``range(n)``, ``len``..."""
    name: str


BUILTINS = ("range", "len", "int", "min", "max", "abs", "list", "tuple", "reversed", "enumerate", "zip")


class _Return(Exception):
    def __init__(self, value):
        self.value = value


class _Budget(Exception):
    pass


# ------------------------------------------------------------------------ facts


@dataclass
class KerasLayerFact:
    scope: str
    name: str  # the Keras name model.summary() prints
    cls: str
    line: int
    col: int
    end_line: int
    end_col: int
    shape: Optional[tuple]
    params: Optional[int]
    call: str  # the constructor's source
    var: str = ""  # the variable holding the layer, where there is one


@dataclass
class KerasModelFact:
    var: str
    kind: str
    line: int
    col: int
    end_line: int
    end_col: int
    params: Optional[int]
    input_shape: Optional[tuple]
    output_shape: Optional[tuple]


@dataclass
class KerasConflict:
    kind: str
    line: int
    col: int
    end_line: int
    end_col: int
    message: str
    fix: Optional[tuple] = None  # (constructor keyword, new value source)
    call: Optional[ast.Call] = None


@dataclass
class CompileEvent:
    model: Any
    node: ast.Call
    loss: Any  # KLoss, a str, or UNKNOWN
    loss_node: Optional[ast.AST]
    index: int = 0  # order among all events


@dataclass
class FitEvent:
    model: Any
    method: str  # fit | evaluate
    node: ast.Call
    x: Any
    y: Any
    x_node: Optional[ast.AST]
    y_node: Optional[ast.AST]
    validation_data: Any
    validation_node: Optional[ast.AST]
    compile: Optional[CompileEvent]  # the compile in force
    index: int = 0  # order among all events


@dataclass
class TrainableEvent:
    target: Any
    value: Any
    node: ast.AST
    index: int = 0


@dataclass
class KerasFacts:
    layers: list = field(default_factory=list)
    models: list = field(default_factory=list)
    tensors: list = field(default_factory=list)  # (line, col, end_line, end_col, shape, text)
    conflicts: list = field(default_factory=list)
    compiles: list = field(default_factory=list)
    fits: list = field(default_factory=list)
    trainable_sets: list = field(default_factory=list)
    sequential_tensors: list = field(default_factory=list)  # (node, source): a tensor given to Sequential
    applications: list = field(default_factory=list)  # (KLayer, ctor node)
    model_values: list = field(default_factory=list)  # every KModel built, in order
    problems: list = field(default_factory=list)


# ------------------------------------------------------------------------ names

_PREFIXES = (("tensorflow.python.keras.", "keras."), ("tensorflow.keras.", "keras."), ("tf_keras.", "keras."),
             ("keras.src.", "keras."), ("keras.api.", "keras."), ("tensorflow.losses.", "keras.losses."),
             ("tensorflow.optimizers.", "keras.optimizers."), ("tensorflow.metrics.", "keras.metrics."),
             ("keras.models.Sequential", "keras.Sequential"), ("keras.models.Model", "keras.Model"),
             ("keras.layers.Input", "keras.Input"), ("keras.layers.Layer", "keras.Layer"),
             ("keras.engine.", "keras."))


def normalise(qual: str) -> str:
    """One spelling per Keras name: ``tensorflow.keras.layers.Dense`` -> ``keras.layers.Dense``."""
    if qual in ("tensorflow.keras", "tf_keras"):
        return "keras"
    for _ in range(4):
        before = qual
        for old, new in _PREFIXES:
            if qual.startswith(old) and (old.endswith(".") or qual == old):
                qual = new + qual[len(old):]
        if qual == before:
            break
    parts = qual.split(".")
    if len(parts) >= 3 and parts[0] == "keras" and parts[1] == "applications" and parts[-1] in APPLICATIONS:
        return f"keras.applications.{parts[-1]}"
    if len(parts) >= 3 and parts[0] == "keras" and parts[1] == "layers" and parts[-1] in LAYERS:
        return f"keras.layers.{parts[-1]}"
    return qual


LOSS_CLASSES = {"SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
                "CategoricalCrossentropy": "categorical_crossentropy",
                "BinaryCrossentropy": "binary_crossentropy", "MeanSquaredError": "mean_squared_error"}

DATASETS = {  # keras.datasets.X.load_data(): ((x_train, y_train), (x_test, y_test))
    "mnist": ((60000, 28, 28), (60000,), (10000, 28, 28), (10000,)),
    "fashion_mnist": ((60000, 28, 28), (60000,), (10000, 28, 28), (10000,)),
    "cifar10": ((50000, 32, 32, 3), (50000, 1), (10000, 32, 32, 3), (10000, 1)),
    "cifar100": ((50000, 32, 32, 3), (50000, 1), (10000, 32, 32, 3), (10000, 1)),
}


_CONVENTIONAL_MODULES = {"tf": "tensorflow", "keras": "keras"}


def mentions_keras(text: str) -> bool:
    return "keras" in text


# ------------------------------------------------------------------------ the interpreter


class KerasInterp:
    def __init__(self, text: str, tree: ast.Module):
        self.text = text
        self.tree = tree
        self.globals: dict = {}
        self.facts = KerasFacts()
        self.steps = 0
        self.depth = 0
        self.uids: dict[str, int] = {}
        self.uncertain_names: set = set()  # automatic names whose counter is not known
        self.layer_records: dict = {}
        self.model_records: dict = {}
        self.conflicts: dict = {}
        self.tensor_records: dict = {}
        self.called: set = set()
        self.compiled: dict = {}  # id(model) -> CompileEvent in force
        self.events = 0
        self.scope = "<module>"
        self.in_layer_call = 0  # inside a subclassed layer's or model's call()

    # names Keras gives unnamed layers: dense, dense_1, ...
    def auto_name(self, prefix: str) -> str:
        n = self.uids.get(prefix, 0)
        self.uids[prefix] = n + 1
        if prefix in self.uncertain_names:  # after an if whose branches made different layers
            return f"{prefix}_?"
        return prefix if n == 0 else f"{prefix}_{n}"

    def src(self, node) -> str:
        return ast.get_source_segment(self.text, node) or ""

    def tick(self):
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _Budget()

    # ------------------------------------------------------------------ running
    def run(self) -> KerasFacts:
        try:
            self.exec_block(self.tree.body, self.globals)
            # functions nobody called (def build_model(): ...): their layers still get shapes
            for value in list(self.globals.values()):
                if isinstance(value, KFunc) and value.owner is None and id(value.node) not in self.called:
                    self.call_func(value, [], {}, None)
        except _Budget:
            self.facts.problems.append("Keras analysis budget exceeded: later shapes unknown")
        except RecursionError:
            self.facts.problems.append("Keras analysis: too deeply nested")
        f = self.facts
        f.layers = sorted(self.layer_records.values(), key=lambda r: (r.line, r.col))
        f.models = sorted(self.model_records.values(), key=lambda r: (r.line, r.col))
        f.conflicts = sorted(self.conflicts.values(), key=lambda c: (c.line, c.col))
        f.tensors = sorted(self.tensor_records.values())
        return f

    def exec_block(self, body, env):
        for stmt in body:
            self.exec_stmt(stmt, env)

    def exec_stmt(self, stmt, env):
        self.tick()
        try:
            self._exec_stmt(stmt, env)
        except (_Return, _Budget, RecursionError):
            raise
        except Exception:  # a construct this small interpreter does not follow: what it assigns is unknown
            forget(stmt, env)

    def _exec_stmt(self, stmt, env):
        if isinstance(stmt, ast.Import):
            for a in stmt.names:
                if a.asname:
                    env[a.asname] = KRef(a.name)
                else:
                    env[a.name.split(".")[0]] = KRef(a.name.split(".")[0])
        elif isinstance(stmt, ast.ImportFrom):
            if stmt.module and not stmt.level:
                for a in stmt.names:
                    env[a.asname or a.name] = KRef(f"{stmt.module}.{a.name}")
        elif isinstance(stmt, ast.Assign):
            value = self.eval(stmt.value, env)
            for t in stmt.targets:
                self.assign(t, value, env, stmt)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            self.assign(stmt.target, self.eval(stmt.value, env), env, stmt)
        elif isinstance(stmt, ast.Expr):
            self.eval(stmt.value, env)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # def apply(x) inside def ResidualBlock(width): it reads width when called later
            env[stmt.name] = KFunc(stmt, closure=env if isinstance(env, _Scope) else None)
        elif isinstance(stmt, ast.ClassDef):
            env[stmt.name] = self.make_class(stmt, env)
        elif isinstance(stmt, ast.Return):
            raise _Return(self.eval(stmt.value, env) if stmt.value is not None else None)
        elif isinstance(stmt, ast.AugAssign):  # x *= 2: the target's value, then the operation
            load = ast.copy_location(_as_load(stmt.target), stmt.target)
            self.assign(stmt.target, self.binop(self.eval(load, env), stmt.op, self.eval(stmt.value, env)), env, stmt)
        elif isinstance(stmt, ast.If):
            test = _truth(self.eval(stmt.test, env))
            if test is True or (isinstance(stmt.test, ast.Compare) and _is_main_guard(stmt.test)):
                self.exec_block(stmt.body, env)
            elif test is False:
                self.exec_block(stmt.orelse, env)
            else:
                self.exec_both_branches(stmt, env)
        elif isinstance(stmt, (ast.For, ast.AsyncFor)):
            it = self.eval(stmt.iter, env)
            items = list(it) if _known_seq(it) and len(it) <= 64 else None
            if isinstance(it, range) and len(it) <= 64:
                items = list(it)
            if isinstance(it, KLayerList):  # for layer in base.layers[:-4]: one layer stands for all
                items = [KLayerOutput(it.model)]
            elif items is None or _leaves_early(stmt.body) or stmt.orelse:
                # how often it runs is unknown: the body once for its layers' entries, then what it
                # assigns is unknown (one pass would give a loop-carried shape or count wrongly)
                self.assign(stmt.target, UNKNOWN, env, stmt)
                self.exec_once_of_unknown_many(stmt, env)
                return
            for item in items:
                self.assign(stmt.target, item, env, stmt)
                self.exec_block(stmt.body, env)
        elif isinstance(stmt, ast.While):
            self.exec_once_of_unknown_many(stmt, env)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                v = self.eval(item.context_expr, env)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, v, env, stmt)
            self.exec_block(stmt.body, env)
        elif isinstance(stmt, ast.Try):
            self.exec_block(stmt.body, env)
            self.exec_block(stmt.orelse, env)
            self.exec_block(stmt.finalbody, env)

    def join_names(self, uids_before, uids_one):
        """After two alternatives ran (``self.uids`` holds the second's counts): a prefix whose
        count differs between them has later names that depend on which one Keras ran."""
        for prefix in set(uids_one) | set(self.uids):
            made_one = uids_one.get(prefix, 0) - uids_before.get(prefix, 0)
            made_other = self.uids.get(prefix, 0) - uids_before.get(prefix, 0)
            if made_one != made_other:
                self.uncertain_names.add(prefix)
            self.uids[prefix] = max(uids_one.get(prefix, 0), self.uids.get(prefix, 0))

    def exec_once_of_unknown_many(self, stmt, env):
        """A loop that runs an unknown number of times: its body once, for its layers' entries;
        then what it assigns, and the automatic names of the layers it makes, are unknown."""
        uids_before = dict(self.uids)
        self.exec_block(stmt.body, env)
        forget(stmt, env)
        self.uncertain_names.update(p for p, n in self.uids.items() if n != uids_before.get(p, 0))

    def exec_both_branches(self, stmt: ast.If, env):
        """An ``if`` whose test is unknown: both branches run (each one's layers get entries);
        afterwards a name keeps its value only where both branches leave it the same."""
        before = dict(env)
        uids_before = dict(self.uids)
        self.exec_block(stmt.body, env)
        after_body = dict(env)
        uids_body = dict(self.uids)
        env.clear()
        env.update(before)
        self.uids = dict(uids_before)  # the else branch names its layers as if it were the one taken
        self.exec_block(stmt.orelse, env)
        self.join_names(uids_before, uids_body)
        for name in _stored_names(stmt.body) | _stored_names(stmt.orelse):
            a, b = after_body.get(name, UNKNOWN), env.get(name, UNKNOWN) if dict.__contains__(env, name) else UNKNOWN
            if a is b or (type(a) is type(b) and isinstance(a, (int, float, str)) and a == b):
                continue
            if isinstance(a, KTensor) and isinstance(b, KTensor) and a.shape == b.shape:
                # the same shape either way; the layers behind it depend on the branch taken
                env[name] = KTensor(a.shape, a.history + tuple(h for h in b.history if h not in a.history), True)
                continue
            env[name] = KTensor(None) if isinstance(a, KTensor) or isinstance(b, KTensor) else UNKNOWN

    def assign(self, target, value, env, stmt):
        if isinstance(target, ast.Name):
            env[target.id] = value
            model = value.model if isinstance(value, KInstance) else value
            if isinstance(model, KModel) and not model.var:
                model.var = target.id
                self.record_model(model)
            if isinstance(value, KTensor) and value.shape is not None:
                self.tensor_records[(target.lineno, target.col_offset)] = (
                    target.lineno, target.col_offset, target.end_lineno, target.end_col_offset, value.shape, target.id)
            if isinstance(value, KLayer) and not getattr(value, "var", ""):
                value.var = target.id
        elif isinstance(target, (ast.Tuple, ast.List)):
            elts = target.elts
            if _known_seq(value) and len(value) == len(elts):
                for t, v in zip(elts, value):
                    self.assign(t, v, env, stmt)
            else:
                for t in elts:
                    self.assign(t, UNKNOWN, env, stmt)
        elif isinstance(target, ast.Subscript):
            obj = self.eval(target.value, env)
            key = self.eval(target.slice, env)
            if isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj) \
                    and not getattr(obj, "unknown", False):
                obj[key] = value
            elif isinstance(obj, dict) and isinstance(key, (str, int)):
                obj[key] = value
            elif isinstance(obj, KList):
                obj.unknown = True
            elif isinstance(obj, dict):
                obj.clear()  # an unknown key: what it holds is no longer known
        elif isinstance(target, ast.Attribute):
            obj = self.eval(target.value, env)
            if target.attr == "trainable":
                self.events += 1
                self.facts.trainable_sets.append(TrainableEvent(obj, value, stmt, self.events))
                if isinstance(obj, (KLayer, KModel)):
                    obj.trainable = value
            if isinstance(obj, KInstance):
                obj.attrs[target.attr] = value
                if value is UNKNOWN and isinstance(getattr(stmt, "value", None), ast.Call):
                    obj.opaque = True
                if isinstance(value, KLayer):
                    value.var = f"self.{target.attr}"

    # ------------------------------------------------------------------ classes
    def make_class(self, node: ast.ClassDef, env) -> KClass:
        kind = "other"
        for b in node.bases:
            base = self.eval(b, env)
            if isinstance(base, KRef):
                q = normalise(base.qual)
                if q in ("keras.Model",):
                    kind = "model"
                elif q in ("keras.Layer",) or q.startswith("keras.layers.Layer"):
                    kind = "layer"
            elif isinstance(base, KClass) and base.kind != "other":
                kind = base.kind
        cls = KClass(node, kind)
        for b in node.bases:
            base = self.eval(b, env)
            if isinstance(base, KClass):
                cls.methods.update(base.methods)
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                cls.methods[stmt.name] = KFunc(stmt, cls)
        return cls

    def instantiate(self, cls: KClass, args, kwargs, node) -> KInstance:
        inst = KInstance(cls, scope=self.scope)
        if cls.kind == "model":
            inst.model = KModel("subclass", node, instance=inst)
            self.facts.model_values.append(inst.model)
        name = kwargs.get("name")
        if cls.kind != "other":  # Keras names the layer in Layer.__init__, before its sublayers exist
            inst.name = name if isinstance(name, str) else self.auto_name(snake_name(cls.node.name))
        init = cls.methods.get("__init__")
        if init is not None:
            self.call_func(init, [inst] + list(args), kwargs, node)
        return inst

    def call_instance(self, inst: KInstance, args, kwargs, node):
        call = inst.cls.methods.get("call")
        if call is None:
            return UNKNOWN
        was = self.scope
        self.scope = f"{inst.cls.node.name}.call"
        self.in_layer_call += 1
        try:
            out = self.call_func(call, [inst] + list(args), kwargs, node)
        finally:
            self.scope = was
            self.in_layer_call -= 1
        if inst.model is not None:
            m = inst.model
            if args and isinstance(args[0], KTensor):
                m.input_shape = args[0].shape
            if isinstance(out, KTensor):
                m.output = out.shape
            m.layers = [v for v in inst.attrs.values() if isinstance(v, (KLayer, KInstance))]
            m.params = _sum_params(inst)
            self.record_model(m)
        shown = out[0] if isinstance(out, (list, tuple)) and out else out
        if node is not None and (isinstance(shown, KTensor) or shown is UNKNOWN):
            # a custom layer or model called: one entry, as model.summary() lists it (its shape
            # unknown where its call() was not followed to the end)
            self.layer_records[(node.lineno, node.col_offset, inst.name)] = KerasLayerFact(
                self.scope, inst.name, inst.cls.node.name, node.lineno, node.col_offset, node.end_lineno,
                node.end_col_offset, shown.shape if isinstance(shown, KTensor) else None, _sum_params(inst),
                self.src(node)[:200])
        return out

    # ------------------------------------------------------------------ functions
    def call_func(self, fn: KFunc, args, kwargs, node):
        if self.depth >= MAX_DEPTH:
            return UNKNOWN
        self.called.add(id(fn.node))
        a = fn.node.args
        params = a.posonlyargs + a.args
        env: dict = {}
        defaults = [None] * (len(params) - len(a.defaults)) + list(a.defaults)
        for i, p in enumerate(params):
            if i < len(args):
                env[p.arg] = args[i]
            elif p.arg in kwargs:
                env[p.arg] = kwargs[p.arg]
            elif defaults[i] is not None:
                env[p.arg] = self.eval(defaults[i], self.globals)
            else:
                env[p.arg] = UNKNOWN
        for p, d in zip(a.kwonlyargs, a.kw_defaults):
            env[p.arg] = kwargs.get(p.arg, self.eval(d, self.globals) if d is not None else UNKNOWN)
        local = _Scope(env, fn.closure if fn.closure is not None else self.globals)
        was = self.scope
        if fn.owner is None:
            self.scope = fn.node.name
        elif not self.scope.endswith(".call"):
            self.scope = f"{fn.owner.node.name}.{fn.node.name}"
        self.depth += 1
        try:
            self.exec_block(fn.node.body, local)
        except _Return as r:
            return r.value
        finally:
            self.depth -= 1
            self.scope = was
        return None

    # ------------------------------------------------------------------ expressions
    def eval(self, node, env):
        self.tick()
        try:
            return self._eval(node, env)
        except (_Return, _Budget, RecursionError):
            raise
        except Exception:
            return UNKNOWN

    def _eval(self, node, env):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            if node.id in BUILTINS:
                return KBuiltin(node.id)
            if node.id in _CONVENTIONAL_MODULES:
                # a code block cut from an article that imported them in an earlier block
                return KRef(_CONVENTIONAL_MODULES[node.id])
            return {"True": True, "False": False, "None": None}.get(node.id, UNKNOWN)
        if isinstance(node, (ast.Tuple, ast.List)):
            vals = []
            for e in node.elts:
                if isinstance(e, ast.Starred):
                    inner = self.eval(e.value, env)
                    if _known_seq(inner):
                        vals.extend(inner)
                    else:
                        return UNKNOWN
                else:
                    vals.append(self.eval(e, env))
            return tuple(vals) if isinstance(node, ast.Tuple) else KList(vals)
        if isinstance(node, ast.Attribute):
            return self.attribute(self.eval(node.value, env), node.attr, node)
        if isinstance(node, ast.Call):
            return self.eval_call(node, env)
        if isinstance(node, ast.BinOp):
            return self.binop(self.eval(node.left, env), node.op, self.eval(node.right, env))
        if isinstance(node, ast.BoolOp):
            return self.bool_op(node, env)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            v = _truth(self.eval(node.operand, env))
            return (not v) if isinstance(v, bool) else UNKNOWN
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            v = self.eval(node.operand, env)
            return -v if isinstance(v, (int, float)) and not isinstance(v, bool) else UNKNOWN
        if isinstance(node, ast.Subscript):
            return self.subscript(self.eval(node.value, env), node.slice, env)
        if isinstance(node, ast.Dict):
            return {self.eval(k, env): self.eval(v, env) for k, v in zip(node.keys, node.values) if k is not None}
        if isinstance(node, ast.IfExp):
            test = _truth(self.eval(node.test, env))
            if test is True or test is False:
                return self.eval(node.body if test else node.orelse, env)
            # both, each named as if taken (a layer made in one of them still gets its entry)
            uids_before = dict(self.uids)
            a = self.eval(node.body, env)
            uids_a = dict(self.uids)
            self.uids = dict(uids_before)
            b = self.eval(node.orelse, env)
            self.join_names(uids_before, uids_a)
            if a is b or (type(a) is type(b) and isinstance(a, (int, float, str)) and a == b):
                return a
            if isinstance(a, KTensor) and isinstance(b, KTensor) and a.shape == b.shape:
                return KTensor(a.shape, a.history + tuple(h for h in b.history if h not in a.history), True)
            return KTensor(None) if isinstance(a, KTensor) or isinstance(b, KTensor) else UNKNOWN
        if isinstance(node, ast.ListComp):
            return self.list_comprehension(node, env)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            return _compare(self.eval(node.left, env), node.ops[0], self.eval(node.comparators[0], env))
        return UNKNOWN

    def bool_op(self, node: ast.BoolOp, env):
        """``a and b`` / ``a or b`` as Python has them, while each operand's truth is known."""
        value = UNKNOWN
        for operand in node.values:
            value = self.eval(operand, env)
            truth = _truth(value)
            if not isinstance(truth, bool):
                return UNKNOWN
            if truth is (isinstance(node.op, ast.Or)):
                return value
        return value

    def list_comprehension(self, node: ast.ListComp, env):
        """``[Block(...) for _ in range(n)]``: each element built, in order, so the layers it
        makes take their automatic names in step with Keras. One ``for`` over a known list."""
        if len(node.generators) != 1 or node.generators[0].ifs or node.generators[0].is_async:
            return UNKNOWN
        gen = node.generators[0]
        items = self.eval(gen.iter, env)
        if not _known_seq(items) or len(items) > 64:
            return UNKNOWN
        local = _Scope({}, env)
        was = self.scope
        if sys.version_info < (3, 12):  # a comprehension is a frame of its own before PEP 709
            self.scope = "<listcomp>"
        try:
            out = KList()
            for item in items:
                self.assign(gen.target, item, local, node)
                out.append(self.eval(node.elt, local))
        finally:
            self.scope = was
        return out

    def call_builtin(self, name, args, kwargs):
        ints = all(isinstance(a, int) and not isinstance(a, bool) for a in args)
        if name == "range" and args and ints and not kwargs:
            return range(*args)
        if name == "len" and len(args) == 1 and (_known_seq(args[0]) or isinstance(args[0], (str, dict))):
            return len(args[0])
        if name == "int" and len(args) == 1 and isinstance(args[0], (int, float)) and not isinstance(args[0], bool):
            return int(args[0])
        if name in ("min", "max") and len(args) > 1 and all(isinstance(a, (int, float)) for a in args):
            return (min if name == "min" else max)(args)
        if name == "abs" and len(args) == 1 and isinstance(args[0], (int, float)):
            return abs(args[0])
        if name in ("list", "tuple") and len(args) == 1 and _known_seq(args[0]):
            return KList(args[0]) if name == "list" else tuple(args[0])
        if name == "reversed" and len(args) == 1 and _known_seq(args[0]):
            return tuple(reversed(args[0]))
        if name == "enumerate" and len(args) == 1 and _known_seq(args[0]):
            return tuple(enumerate(args[0]))
        if name == "zip" and args and all(_known_seq(a) for a in args):
            return tuple(zip(*args))
        return UNKNOWN

    def binop(self, a, op, b):
        if isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool) and not isinstance(b, bool):
            if isinstance(op, ast.Add):
                return a + b
            if isinstance(op, ast.Sub):
                return a - b
            if isinstance(op, ast.Mult):
                return a * b
            if isinstance(op, ast.FloorDiv) and b:
                return a // b
            if isinstance(op, ast.Mod) and b:
                return a % b
            if isinstance(op, ast.Pow) and 0 <= b <= 64 and abs(a) < 2 ** 32:
                return a ** b
            if isinstance(op, ast.Div) and b:
                return a / b
            return UNKNOWN
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            try:
                return {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                        ast.Div: lambda: a / b}[type(op)]()
            except (KeyError, ZeroDivisionError):
                return UNKNOWN
        if isinstance(a, tuple) and isinstance(b, tuple) and isinstance(op, ast.Add):
            return a + b
        for arr, other in ((a, b), (b, a)):
            if isinstance(arr, KArray):  # x / 255.0, (data - mean) / std: the data's shape, float
                labels = arr.labels if isinstance(other, (int, float)) and not isinstance(op, ast.Div) else None
                return KArray(arr.shape, labels, arr.frame)
            if isinstance(arr, KTensor):
                if isinstance(other, KTensor):
                    return KTensor(broadcast(arr.shape, other.shape), unbatched=arr.unbatched and other.unbatched)
                if isinstance(other, (int, float)) and not isinstance(other, bool):
                    return KTensor(arr.shape, unbatched=arr.unbatched)
                return KTensor(None)  # a value of unknown shape may broadcast the tensor up
        return UNKNOWN

    def subscript(self, value, sl, env):
        if isinstance(value, (tuple, list)):
            if not _known_seq(value):
                return UNKNOWN
            if isinstance(sl, ast.Slice):
                parts = [self.eval(p, env) if p is not None else None for p in (sl.lower, sl.upper, sl.step)]
                if all(p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in parts) and parts[2] != 0:
                    cut = value[slice(*parts)]
                    return KList(cut) if isinstance(value, list) else cut
                return UNKNOWN
            idx = self.eval(sl, env)
            if isinstance(idx, int) and -len(value) <= idx < len(value):
                return value[idx]
            return UNKNOWN
        if isinstance(value, dict):
            idx = self.eval(sl, env)
            return value.get(idx, UNKNOWN) if isinstance(idx, (str, int)) else UNKNOWN
        if isinstance(value, KLayerList):
            return KLayerList(value.model) if isinstance(sl, ast.Slice) else KLayerOutput(value.model)
        if isinstance(value, KArray):
            if isinstance(sl, ast.Slice):
                return KArray(None if value.shape is None else (None,) + tuple(value.shape[1:]), value.labels,
                              value.frame)
            if isinstance(sl, ast.Tuple) and value.shape is not None:
                if any(isinstance(e, ast.Constant) and e.value is None for e in sl.elts):
                    # x[..., None] / x[:, :, :, np.newaxis]: one more dim
                    return KArray(tuple(value.shape) + (1,), value.labels)
            if value.frame:
                return KArray((None,) if isinstance(sl, ast.Constant) else (None, None), None, True)
            return KArray(None, value.labels)
        if isinstance(value, KTensor):
            return self.index_tensor(value, sl, env)
        return UNKNOWN

    def index_tensor(self, t: KTensor, sl, env) -> KTensor:
        """Basic indexing, ``t[:, None, None, :]``, ``t[..., 0]``, ``t[:, 1:3]``: its shape
        where each index is a full or known slice, None, an int or one Ellipsis."""
        shape = t.shape
        elts = list(sl.elts) if isinstance(sl, ast.Tuple) else [sl]
        if shape is None:
            return KTensor(None)
        if sum(1 for e in elts if isinstance(e, ast.Constant) and e.value is Ellipsis) > 1:
            return KTensor(None)
        consuming = sum(1 for e in elts if not (isinstance(e, ast.Constant) and e.value in (None, Ellipsis)))
        if consuming > len(shape):
            return KTensor(None)
        out, dim, unbatched = [], 0, t.unbatched
        for e in elts:
            if isinstance(e, ast.Constant) and e.value is Ellipsis:
                rest = len(shape) - dim - (consuming - sum(1 for x in elts[:elts.index(e)] if not (
                    isinstance(x, ast.Constant) and x.value in (None, Ellipsis))))
                out.extend(shape[dim:dim + rest])
                dim += rest
                continue
            if isinstance(e, ast.Constant) and e.value is None:
                out.append(1)
                if not out[:-1] and dim == 0:
                    unbatched = True  # a new first dim: the batch is no longer first
                continue
            if isinstance(e, ast.Slice):
                parts = [self.eval(p, env) if p is not None else None for p in (e.lower, e.upper, e.step)]
                n = shape[dim]
                if parts == [None, None, None]:
                    out.append(n)
                elif isinstance(n, int) and all(p is None or (isinstance(p, int) and not isinstance(p, bool))
                                                for p in parts) and parts[2] != 0:
                    out.append(len(range(n)[slice(*parts)]))
                elif dim == 0:
                    return KTensor(None)
                else:
                    out.append(None)
                dim += 1
                continue
            idx = self.eval(e, env)
            if not (isinstance(idx, int) and not isinstance(idx, bool)):
                return KTensor(None)
            if dim == 0:
                unbatched = True  # t[0]: one sample
            dim += 1
        out.extend(shape[dim:])
        return KTensor(tuple(out), unbatched=unbatched)

    def attribute(self, obj, attr, node):
        if isinstance(obj, KRef):
            return KRef(f"{obj.qual}.{attr}")
        if isinstance(obj, KInstance):
            if attr in obj.attrs:
                return obj.attrs[attr]
            if attr in obj.cls.methods:
                return KBound(obj, attr)
            if obj.model is not None:
                return self.attribute(obj.model, attr, node)
            return UNKNOWN
        if isinstance(obj, KModel):
            if attr == "layers":
                return KLayerList(obj)
            if attr == "input":
                return KTensor(obj.input_shape)
            if attr == "output":
                return KTensor(obj.output)
            if attr == "trainable":
                return obj.trainable
            return KBound(obj, attr)
        if isinstance(obj, KLayer):
            if attr == "input" and obj.is_application:
                shape = application_input_shape(obj.spec)
                return KTensor(None if shape is None else (BATCH,) + tuple(shape), (obj,))
            if attr == "output":
                if obj.is_application and obj.output is None:
                    self.apply_layer(obj, [None], None, record=False)
                return KTensor(obj.output, (obj,))
            if attr == "layers":
                return KLayerList(obj)
            if attr == "trainable":
                return obj.trainable
            return KBound(obj, attr)
        if isinstance(obj, KLayerOutput) and attr == "output":
            m = obj.model
            if isinstance(m, KLayer):
                if m.output is None:
                    self.apply_layer(m, [None], None, record=False)
                return KTensor(m.output, (m,))
            if isinstance(m, KModel):
                return KTensor(m.output, tuple(m.layers))
            return KTensor(None)
        if isinstance(obj, KArray):
            if attr == "shape" and obj.shape is not None:
                return tuple(obj.shape)
            if attr in ("values", "T"):
                return KArray(obj.shape if attr == "values" else None, obj.labels)
            if attr in ("data", "target", "images"):
                return UNKNOWN
            return KBound(obj, attr)
        if isinstance(obj, list):
            return KBound(obj, attr)
        if isinstance(obj, dict) and attr in obj:
            return obj[attr]
        if isinstance(obj, KTensor) and attr == "shape":
            return obj.shape
        return UNKNOWN

    # ------------------------------------------------------------------ calls
    def eval_call(self, node: ast.Call, env):
        func = self.eval(node.func, env)
        args, kwargs = [], {}
        for a in node.args:
            if isinstance(a, ast.Starred):
                v = self.eval(a.value, env)
                if isinstance(v, (tuple, list)):
                    args.extend(v)
                else:
                    args.append(UNKNOWN)
            else:
                args.append(self.eval(a, env))
        for k in node.keywords:
            if k.arg is not None:
                kwargs[k.arg] = self.eval(k.value, env)
        return self.call(func, args, kwargs, node)

    def call(self, func, args, kwargs, node):
        if isinstance(func, KRef):
            return self.call_library(normalise(func.qual), args, kwargs, node)
        if isinstance(func, KFunc):
            return self.call_func(func, args, kwargs, node)
        if isinstance(func, KClass):
            return self.instantiate(func, args, kwargs, node)
        if isinstance(func, KLayer):
            if func.spec.cls == "MultiHeadAttention":  # (query, value, key), each by position or keyword
                args = [args[i] if i < len(args) else kwargs.get(k) for i, k in enumerate(("query", "value", "key"))]
            elif not args and "inputs" in kwargs:
                args = [kwargs["inputs"]]
            return self.apply_layer(func, args, node)
        if isinstance(func, KModel):
            return self.apply_model(func, args, node)
        if isinstance(func, KInstance):
            if func.cls.kind in ("model", "layer"):
                return self.call_instance(func, args, kwargs, node)
            return UNKNOWN
        if isinstance(func, KBound):
            return self.call_method(func.obj, func.name, args, kwargs, node)
        if isinstance(func, KBuiltin):
            return self.call_builtin(func.name, args, kwargs)
        return UNKNOWN

    def call_library(self, q: str, args, kwargs, node):
        parts = q.split(".")
        last = parts[-1]
        if q == "keras.Sequential":
            return self.make_sequential(args, kwargs, node)
        if q == "keras.Model":
            return self.make_functional(args, kwargs, node)
        if q == "keras.Input":
            shape = kwargs.get("shape", args[0] if args else None)
            batch = kwargs.get("batch_size")
            b = batch if isinstance(batch, int) else BATCH
            self.auto_name("input_layer")
            if isinstance(shape, (tuple, list)):
                return KTensor((b,) + tuple(d if isinstance(d, int) else None for d in shape))
            return KTensor(None)
        if q.startswith("keras.layers.") and last in FUNCTIONAL_MERGES:
            layer = self.make_layer(FUNCTIONAL_MERGES[last], [], {k: v for k, v in kwargs.items()
                                                                   if k != "inputs"}, node)
            inputs = args[0] if args else kwargs.get("inputs")
            return self.apply_layer(layer, [inputs], node)
        if (q.startswith("keras.layers.") or q.startswith("keras.applications.")) and last in LAYERS:
            return self.make_layer(last, args, kwargs, node)
        if q.startswith("keras.layers.") and last[:1].isupper() and last not in NOT_LAYERS:
            # a layer class without a rule: its shape is unknown, but it takes its automatic
            # name as in Keras, so the names of the layers after it stay in step
            return self.make_layer(last, args, kwargs, node)
        if q.startswith("keras.ops."):
            return keras_op(q[len("keras.ops."):], args, kwargs)
        if q.startswith("tensorflow.") and q[len("tensorflow."):] in TF_OPS:  # the same op, TensorFlow's spelling
            name = q[len("tensorflow."):]
            if name == "transpose" and "perm" in kwargs:
                kwargs = dict(kwargs, axes=kwargs.pop("perm"))
            return keras_op(TF_OPS[name], args, kwargs)
        if q.startswith("keras.activations.") and args and isinstance(args[0], KTensor):
            return KTensor(args[0].shape, unbatched=args[0].unbatched)
        if q.startswith("keras.losses.") and last in LOSS_CLASSES:
            return KLoss(LOSS_CLASSES[last], kwargs.get("from_logits", False))
        if q == "keras.utils.to_categorical" or q.endswith("np_utils.to_categorical"):
            y = args[0] if args else kwargs.get("y")
            n = args[1] if len(args) > 1 else kwargs.get("num_classes")
            n = n if isinstance(n, int) else None
            base = y.shape[:1] if isinstance(y, KArray) and y.shape is not None else (None,)
            return KArray(tuple(base) + (n,), "onehot")
        if len(parts) >= 4 and parts[0] == "keras" and parts[1] == "datasets" and last == "load_data":
            spec = DATASETS.get(parts[2])
            if spec is None:
                return UNKNOWN
            xtr, ytr, xte, yte = spec
            return ((KArray(xtr), KArray(ytr, "int")), (KArray(xte), KArray(yte, "int")))
        if q in ("sklearn.datasets.load_digits", "sklearn.datasets.load_iris"):
            n, f, c = (1797, 64, 10) if last == "load_digits" else (150, 4, 3)
            data, target = KArray((n, f)), KArray((n,), "int")
            if kwargs.get("return_X_y") is True:
                return (data, target)
            bunch = {"data": data, "target": target}
            if last == "load_digits":
                bunch["images"] = KArray((n, 8, 8))
            bunch["frame"] = KArray((n, f + 1), None, frame=True)  # as_frame=True: features and the target
            return bunch
        if q == "sklearn.model_selection.train_test_split":
            out = []
            for a in args:
                if isinstance(a, KArray):
                    part = KArray(None if a.shape is None else (None,) + tuple(a.shape[1:]), a.labels, a.frame)
                    out.extend([part, KArray(part.shape, a.labels, a.frame)])
                else:
                    out.extend([UNKNOWN, UNKNOWN])
            return tuple(out)
        if q in ("pandas.read_csv", "pandas.read_parquet", "pandas.DataFrame", "pandas.read_excel"):
            return KArray((None, None), None, frame=True)
        if q in ("numpy.expand_dims",) and args and isinstance(args[0], KArray) and args[0].shape is not None:
            axis = args[1] if len(args) > 1 else kwargs.get("axis")
            shape = list(args[0].shape)
            if isinstance(axis, int):
                shape.insert(axis if axis >= 0 else len(shape) + 1 + axis, 1)
                return KArray(tuple(shape), args[0].labels)
            return KArray(None)
        if q in ("numpy.array", "numpy.asarray", "numpy.float32") and args and isinstance(args[0], KArray):
            return args[0]
        if q in ("numpy.zeros", "numpy.ones", "numpy.random.rand", "numpy.random.random", "numpy.random.randn"):
            shape = args[0] if args and isinstance(args[0], tuple) else tuple(args) if args else None
            if shape and all(isinstance(d, int) for d in shape):
                return KArray(tuple(shape))
            return KArray(None)
        if q == "numpy.random.randint":
            shape = kwargs.get("size")
            if isinstance(shape, int):
                shape = (shape,)
            return KArray(tuple(shape) if isinstance(shape, tuple) else None, "int")
        return UNKNOWN

    def list_method(self, items: list, name, args, kwargs):
        """skips.append(x), skips.pop(): the list's own methods, on the list itself."""
        if getattr(items, "unknown", False):
            return UNKNOWN
        if name == "append" and len(args) == 1:
            items.append(args[0])
            return None
        if name == "extend" and len(args) == 1 and _known_seq(args[0]):
            items.extend(args[0])
            return None
        if name == "insert" and len(args) == 2 and isinstance(args[0], int):
            items.insert(args[0], args[1])
            return None
        if name == "pop" and len(args) <= 1 and items and all(isinstance(a, int) for a in args) \
                and (not args or -len(items) <= args[0] < len(items)):
            return items.pop(*args)
        if name == "reverse" and not args:
            items.reverse()
            return None
        if name in ("copy", "index", "count"):
            try:
                return KList(items) if name == "copy" else getattr(items, name)(*args)
            except (ValueError, TypeError):
                return UNKNOWN
        if isinstance(items, KList):  # a change this does not follow: the list is unknown from here
            items.unknown = True
        return UNKNOWN

    def call_method(self, obj, name, args, kwargs, node):
        if isinstance(obj, list):
            return self.list_method(obj, name, args, kwargs)
        if isinstance(obj, KInstance):
            fn = obj.cls.methods.get(name)
            if fn is not None:
                return self.call_func(fn, [obj] + list(args), kwargs, node)
            if obj.model is not None:
                return self.call_method(obj.model, name, args, kwargs, node)
            return UNKNOWN
        if isinstance(obj, KModel):
            return self.model_method(obj, name, args, kwargs, node)
        if isinstance(obj, KLayer) and obj.is_application:
            return self.model_method(obj, name, args, kwargs, node)
        if isinstance(obj, KArray):
            if name == "reshape":
                shape = args[0] if len(args) == 1 and isinstance(args[0], tuple) else tuple(args)
                return KArray(_reshape(obj.shape, shape), obj.labels)
            if name in ("astype",):
                kind = args[0] if args else kwargs.get("dtype")
                labels = obj.labels
                if isinstance(kind, str) and "int" in kind and obj.shape is not None and len(obj.shape) == 1:
                    labels = "int"
                return KArray(obj.shape, labels, obj.frame)
            if name in ("copy", "dropna", "fillna", "to_numpy", "squeeze") and name != "squeeze":
                return KArray(obj.shape, obj.labels, obj.frame and name != "to_numpy")
            if name == "drop":
                return KArray((None, None), None, obj.frame)
            return UNKNOWN
        return UNKNOWN

    def model_method(self, model, name, args, kwargs, node):
        if name == "add" and isinstance(model, KModel) and model.kind == "sequential":
            if args:
                model.items.append((args[0], node.args[0] if node.args else node))
                self.build_sequential(model)
            return None
        if name == "build" and isinstance(model, KModel):
            shape = args[0] if args else kwargs.get("input_shape")
            if isinstance(shape, (tuple, list)):
                full = tuple(BATCH if d is None else (d if isinstance(d, int) else None) for d in shape)
                if model.kind == "sequential":
                    model.input_shape = full
                    self.build_sequential(model)
                elif model.instance is not None:
                    self.call_instance(model.instance, [KTensor(full)], {}, node)
            return None
        if name == "compile":
            loss = kwargs.get("loss", args[1] if len(args) > 1 else None)
            loss_node = next((k.value for k in node.keywords if k.arg == "loss"), node.args[1] if len(node.args) > 1 else None)
            self.events += 1
            event = CompileEvent(model, node, loss, loss_node, self.events)
            self.facts.compiles.append(event)
            self.compiled[id(model)] = event
            return None
        if name in ("fit", "evaluate", "train_on_batch", "fit_generator"):
            x = args[0] if args else kwargs.get("x", UNKNOWN)
            y = args[1] if len(args) > 1 else kwargs.get("y", None if not node.args or len(node.args) < 2 else UNKNOWN)
            if len(node.args) < 2 and "y" not in kwargs:
                y = None
            x_node = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "x"), None)
            y_node = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "y"), None)
            vnode = next((k.value for k in node.keywords if k.arg == "validation_data"), None)
            self.events += 1
            self.facts.fits.append(FitEvent(model, name, node, x, y, x_node, y_node, kwargs.get("validation_data"),
                                            vnode, self.compiled.get(id(model)), self.events))
            return UNKNOWN
        if name == "summary":
            if isinstance(model, KModel) and model.kind == "sequential":
                self.build_sequential(model)
            return None
        if name == "get_layer":
            return UNKNOWN
        return UNKNOWN

    # ------------------------------------------------------------------ layers and models
    def make_layer(self, cls: str, args, kwargs, node) -> KLayer:
        spec = KLayerSpec(cls, list(args), dict(kwargs))
        given = kwargs.get("name")
        if cls in APPLICATIONS:
            name = given if isinstance(given, str) else application_name(spec)
        else:
            name = given if isinstance(given, str) else self.auto_name(snake_name(cls))
        layer = KLayer(spec, name, node, scope=self.scope)
        layer.var = ""
        if cls in APPLICATIONS:
            self.facts.applications.append((layer, node))
            self.apply_layer(layer, [None], node)
        return layer

    def apply_layer(self, layer: KLayer, inputs, node, record=True):
        """``layer(x)``: the output tensor; records the layer's shape and count at ``node``."""
        shapes = []
        for x in inputs:
            if isinstance(x, (list, tuple)) and layer.spec.cls in ("Concatenate", "Add", "Subtract", "Multiply",
                                                                   "Average", "Maximum", "Minimum"):
                shapes.extend(v.shape if isinstance(v, KTensor) else None for v in x)
            else:
                shapes.append(x.shape if isinstance(x, KTensor) else None)
        if not layer.built:
            layer.built = True
            if layer.spec.cls == "MultiHeadAttention":
                # its build() makes a Softmax and a Dropout, which take the next automatic names
                self.auto_name("softmax")
                self.auto_name("dropout")
        if layer.is_application and (not shapes or shapes[0] is None):
            app_in = application_input_shape(layer.spec)
            shapes = [None if app_in is None else (BATCH,) + tuple(app_in)]
        unbatched = any(isinstance(v, KTensor) and v.unbatched
                        for x in inputs for v in (x if isinstance(x, (list, tuple)) else [x]))
        try:
            out, params = LAYERS.get(layer.spec.cls, _no_rule)(layer.spec, shapes or [None])
        except KerasShapeError as exc:
            out, params = None, None
            if node is not None:
                self.conflict(exc, node, layer)
        except Exception:
            out, params = None, None
        layer.output, layer.params = out, params
        if record and node is not None:
            # a tensor without a batch dim (ops.arange): the trace names its first dim B, so the
            # entry leaves that dim open rather than contradict it
            self.record_layer(layer, node, (None,) + tuple(out[1:]) if unbatched and out else out, params)
            if layer.spec.cls == "MultiHeadAttention" and self.in_layer_call:
                # Keras (torch backend) runs a custom layer's call() on placeholder tensors, so the
                # attention's projections are called and listed; a functional-API attention only
                # computes its output shape
                self.record_attention_projections(layer, shapes, node)
        history: list = []
        partial = False
        for x in inputs:
            for v in (x if isinstance(x, (list, tuple)) else [x]):
                if isinstance(v, KTensor):
                    history.extend(h for h in v.history if h not in history)
                    partial = partial or v.partial
        if layer not in history:
            history.append(layer)
        return KTensor(out, tuple(history), partial, unbatched)

    def record_attention_projections(self, layer: KLayer, shapes, node):
        """MultiHeadAttention's own EinsumDense layers (query, key, value, attention_output):
        Keras calls them on the user's line, and the trace lists them there."""
        for name, shape, params in attention_projections(layer.spec, shapes):
            self.layer_records[(node.lineno, node.col_offset, f"{layer.name}/{name}")] = KerasLayerFact(
                self.scope, name, "EinsumDense", node.lineno, node.col_offset, node.end_lineno, node.end_col_offset,
                shape, params, self.src(layer.node)[:200])

    def conflict(self, exc: KerasShapeError, node, layer):
        self.conflicts[(node.lineno, node.col_offset, exc.kind)] = KerasConflict(
            exc.kind, node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, exc.message, exc.fix,
            layer.node if isinstance(layer.node, ast.Call) else None)

    def record_layer(self, layer: KLayer, node, out, params, scope=None):
        self.layer_records[(node.lineno, node.col_offset, layer.name)] = KerasLayerFact(
            scope or self.scope, layer.name, layer.spec.cls, node.lineno, node.col_offset, node.end_lineno,
            node.end_col_offset, out, params, self.src(layer.node)[:200], getattr(layer, "var", ""))

    def record_model(self, model: KModel):
        node = model.node
        if node is None or not hasattr(node, "lineno"):
            return
        self.model_records[(node.lineno, node.col_offset)] = KerasModelFact(
            model.var, model.kind, node.lineno, node.col_offset, node.end_lineno, node.end_col_offset,
            model.params, model.input_shape, model.output)

    @contextlib.contextmanager
    def in_scope(self, scope):
        was, self.scope = self.scope, scope
        try:
            yield
        finally:
            self.scope = was

    def make_sequential(self, args, kwargs, node) -> KModel:
        model = KModel("sequential", node, scope=self.scope)
        self.facts.model_values.append(model)
        given_name = kwargs.get("name")
        model.name = given_name if isinstance(given_name, str) else self.auto_name("sequential")
        given = args[0] if args else kwargs.get("layers")
        list_node = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "layers"), None)
        if _known_seq(given):
            nodes = list_node.elts if isinstance(list_node, (ast.List, ast.Tuple)) and \
                len(list_node.elts) == len(given) else [list_node] * len(given)
            model.items = list(zip(given, nodes))
        self.build_sequential(model)
        return model

    def build_sequential(self, model: KModel):
        shape = model.input_shape
        layers = []
        total: Optional[int] = 0
        for i, (item, item_node) in enumerate(model.items):
            if isinstance(item, KTensor):
                if i == 0 and isinstance(item_node, ast.Call) and "Input" in self.src(item_node.func):
                    shape = item.shape  # keras.Input(shape=...) as the first element
                    if model.input_shape is None:
                        model.input_shape = shape
                    continue
                key = (item_node.lineno, item_node.col_offset)
                if key not in {(n.lineno, n.col_offset) for n, _ in self.facts.sequential_tensors}:
                    self.facts.sequential_tensors.append((item_node, self.src(item_node)))
                shape = None
                continue
            if isinstance(item, KLayer):
                if i == len(layers) == 0 or shape is None and not layers:
                    given = item.spec.kwargs.get("input_shape")
                    if isinstance(given, (tuple, list)):
                        shape = (BATCH,) + tuple(d if isinstance(d, int) else None for d in given)
                    elif isinstance(item.spec.kwargs.get("input_dim"), int):
                        shape = (BATCH, item.spec.kwargs["input_dim"])
                    if model.input_shape is None and shape is not None:
                        model.input_shape = shape
                with self.in_scope(item.scope):  # Keras records a Sequential's layers where they were made
                    out = self.apply_layer(item, [KTensor(shape)], item_node)
                shape = out.shape
                layers.append(item)
                total = total + item.params if isinstance(total, int) and isinstance(item.params, int) else None
            elif isinstance(item, KModel):
                with self.in_scope(item.scope):
                    out = self.apply_model(item, [KTensor(shape)], item_node)
                shape = out.shape if isinstance(out, KTensor) else None
                layers.append(item)
                total = total + item.params if isinstance(total, int) and isinstance(item.params, int) else None
            elif isinstance(item, KInstance) and item.cls.kind in ("layer", "model"):
                with self.in_scope(item.scope):
                    out = self.call_instance(item, [KTensor(shape)], {}, item_node)
                shape = out.shape if isinstance(out, KTensor) else None
                layers.append(item)
                n = _sum_params(item)
                total = total + n if isinstance(total, int) and isinstance(n, int) else None
            else:
                shape, total = None, None
        model.layers = layers
        model.output = shape
        model.params = total if layers else None
        self.record_model(model)

    def make_functional(self, args, kwargs, node) -> KModel:
        inputs = kwargs.get("inputs", args[0] if args else None)
        outputs = kwargs.get("outputs", args[1] if len(args) > 1 else None)
        model = KModel("functional", node, scope=self.scope)
        self.facts.model_values.append(model)
        given_name = kwargs.get("name")
        model.name = given_name if isinstance(given_name, str) else self.auto_name("functional")
        ins = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        outs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        model.inputs = ins
        if ins and isinstance(ins[0], KTensor):
            model.input_shape = ins[0].shape
        if outs and isinstance(outs[0], KTensor):
            model.output = outs[0].shape
        before = {id(h) for t in ins if isinstance(t, KTensor) for h in t.history}
        layers: list = []
        for t in outs:
            if isinstance(t, KTensor):
                layers.extend(h for h in t.history if id(h) not in before and h not in layers)
        model.layers = layers
        total: Optional[int] = 0
        for layer in layers:
            n = layer.params
            total = total + n if isinstance(total, int) and isinstance(n, int) else None
        model.params = total if layers and not any(isinstance(t, KTensor) and t.partial for t in outs) else None
        return model

    def apply_model(self, model: KModel, args, node):
        x = args[0] if args else None
        if model.kind == "subclass" and model.instance is not None:
            return self.call_instance(model.instance, args, {}, node)
        if model.kind == "sequential":
            if model.input_shape is None and isinstance(x, KTensor) and x.shape is not None:
                model.input_shape = x.shape
                self.build_sequential(model)
            out = KTensor(model.output)
        else:
            out = KTensor(model.output, (x.history if isinstance(x, KTensor) else ()) + (model,))
        if node is not None and model.name:  # a model called like a layer: one entry, as Keras lists it
            self.layer_records[(node.lineno, node.col_offset, model.name)] = KerasLayerFact(
                self.scope, model.name, "Sequential" if model.kind == "sequential" else "Functional", node.lineno,
                node.col_offset, node.end_lineno, node.end_col_offset, model.output, model.params,
                self.src(node)[:200])
        return out


def broadcast(a, b):
    """NumPy broadcasting of two shapes, dims aligned from the right; a dim that cannot be
    proven is None, and so is the whole shape when a rank is unknown."""
    if a is None or b is None:
        return None
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x is y or (type(x) is type(y) and x == y):
            out.append(x)
        elif x == 1 and isinstance(x, int):
            out.append(y)
        elif y == 1 and isinstance(y, int):
            out.append(x)
        else:
            out.append(None)
    return tuple(reversed(out))


def _dim(v):
    return v if (isinstance(v, int) and not isinstance(v, bool)) or isinstance(v, dims.Sym) else None


def keras_op(name, args, kwargs):
    """``keras.ops.X(...)`` on tensors: the output shape where the op's rule is certain,
    else a tensor of unknown shape (or UNKNOWN when it is not given a tensor)."""
    out = _keras_op(name, args, kwargs)
    x = args[0] if args else kwargs.get("x")
    if isinstance(out, KTensor) and isinstance(x, KTensor) and x.unbatched:
        out.unbatched = True
    return out


def _keras_op(name, args, kwargs):
    x = args[0] if args else kwargs.get("x")
    shape = x.shape if isinstance(x, KTensor) else None
    if name == "shape":
        return tuple(shape) if isinstance(x, KTensor) and shape is not None else UNKNOWN
    if name == "convert_to_tensor" and _known_seq(x):
        return x  # a list of numbers stays one (ops.pad's widths)
    if name in _SHAPE_KEEPING_OPS:
        return KTensor(shape) if isinstance(x, KTensor) else UNKNOWN
    if name in ("add", "subtract", "multiply", "divide", "maximum", "minimum", "power"):
        y = args[1] if len(args) > 1 else kwargs.get("x2")
        if isinstance(x, KTensor) and isinstance(y, KTensor):
            return KTensor(broadcast(x.shape, y.shape), unbatched=x.unbatched and y.unbatched)
        for t, other in ((x, y), (y, x)):
            if isinstance(t, KTensor):
                return KTensor(t.shape if isinstance(other, (int, float)) and not isinstance(other, bool) else None)
        return UNKNOWN
    if name == "concatenate":
        return _concatenate(x, kwargs.get("axis", args[1] if len(args) > 1 else 0))
    if not isinstance(x, KTensor) and name not in ("arange",):
        return UNKNOWN
    if name == "pad":
        widths = args[1] if len(args) > 1 else kwargs.get("pad_width")
        if shape is None or not _known_seq(widths) or len(widths) != len(shape):
            return KTensor(None if shape is None else tuple(None for _ in shape))
        out = []
        for d, w in zip(shape, widths):
            if _known_seq(w) and len(w) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in w):
                out.append(d if w[0] == w[1] == 0 else d + w[0] + w[1] if isinstance(d, int) else None)
            else:
                out.append(None)
        return KTensor(tuple(out))
    if name == "reshape":
        target = args[1] if len(args) > 1 else kwargs.get("newshape", kwargs.get("new_shape"))
        return KTensor(_reshape_tensor(shape, target))
    if name == "transpose":
        axes = args[1] if len(args) > 1 else kwargs.get("axes")
        if shape is None:
            return KTensor(None)
        if axes is None:
            return KTensor(tuple(reversed(shape)))
        if isinstance(axes, (list, tuple)) and sorted(a for a in axes if isinstance(a, int)) == list(range(len(shape))):
            return KTensor(tuple(shape[a] for a in axes))
        return KTensor(None)
    if name == "expand_dims":
        axis = args[1] if len(args) > 1 else kwargs.get("axis")
        if shape is None or not isinstance(axis, int) or not -len(shape) - 1 <= axis <= len(shape):
            return KTensor(None)
        at = axis if axis >= 0 else len(shape) + 1 + axis
        return KTensor(tuple(shape[:at]) + (1,) + tuple(shape[at:]))
    if name == "arange":
        bounds = [v for v in args] or [kwargs.get(k) for k in ("start", "stop", "step") if k in kwargs]
        if "start" in kwargs and "stop" in kwargs:
            bounds = [kwargs["start"], kwargs["stop"], kwargs.get("step", 1)]
        if bounds and all(isinstance(v, int) and not isinstance(v, bool) for v in bounds) and len(bounds) <= 3 \
                and (len(bounds) < 3 or bounds[2] != 0):
            return KTensor((len(range(*bounds)),), unbatched=True)
        return KTensor(None, unbatched=True)
    if name == "image.extract_patches":
        size = args[1] if len(args) > 1 else kwargs.get("size")
        size = (size, size) if isinstance(size, int) else tuple(size) if isinstance(size, (list, tuple)) else None
        strides = kwargs.get("strides", args[2] if len(args) > 2 else None)
        padding = kwargs.get("padding", "valid")
        if shape is None or len(shape) != 4 or size is None or strides is not None or padding != "valid" \
                or kwargs.get("dilation_rate", 1) != 1 or kwargs.get("data_format") is not None:
            return KTensor(None if shape is None else (shape[0], None, None, None))
        rows, cols = (n // k if isinstance(n, int) and isinstance(k, int) else None for n, k in zip(shape[1:3], size))
        depth = size[0] * size[1] * shape[3] if all(isinstance(v, int) for v in (*size, shape[3])) else None
        return KTensor((shape[0], rows, cols, depth))
    return KTensor(None)


def _concatenate(xs, axis):
    """ops.concatenate / tf.concat: the dims along ``axis`` add up; the others must agree."""
    if not _known_seq(xs) or not xs or not all(isinstance(t, KTensor) for t in xs):
        return KTensor(None)
    shapes = [t.shape for t in xs]
    if any(sh is None for sh in shapes) or len({len(sh) for sh in shapes}) != 1 or not isinstance(axis, int):
        return KTensor(None)
    rank = len(shapes[0])
    if not -rank <= axis < rank:
        return KTensor(None)
    ax = axis % rank
    out = []
    for i in range(rank):
        vals = [sh[i] for sh in shapes]
        if i == ax:
            out.append(sum(vals) if all(isinstance(v, int) for v in vals) else None)
        else:
            first = vals[0]
            out.append(first if all(v is first or (type(v) is type(first) and v == first) for v in vals) else None)
    return KTensor(tuple(out), unbatched=all(t.unbatched for t in xs) or ax == 0)


TF_OPS = {n: n for n in ("cast", "exp", "sin", "cos", "reshape", "transpose", "sigmoid", "tanh", "square", "sqrt",
                         "abs", "expand_dims", "pad", "convert_to_tensor")}
TF_OPS.update({"concat": "concatenate", "nn.relu": "relu", "nn.gelu": "gelu", "nn.silu": "silu",
               "nn.softmax": "softmax", "math.exp": "exp", "math.sin": "sin", "math.cos": "cos",
               "math.sigmoid": "sigmoid", "math.tanh": "tanh", "math.sqrt": "sqrt", "math.square": "square"})

_SHAPE_KEEPING_OPS = {
    "cast", "convert_to_tensor", "relu", "gelu", "sigmoid", "tanh", "silu", "swish", "softplus", "exp", "log",
    "sqrt", "square", "abs", "negative", "sin", "cos", "erf", "softmax", "log_softmax", "stop_gradient", "clip",
    "leaky_relu", "elu", "selu", "relu6", "hard_sigmoid", "floor", "ceil", "round", "sign", "reciprocal"}


def _reshape_tensor(shape, target):
    """ops.reshape: the target with its -1 worked out where the element count allows; a
    batch dim given as -1 or ``ops.shape(x)[0]`` stays the batch."""
    if not isinstance(target, (list, tuple)) or not all(_dim(t) is not None for t in target):
        return None
    target = tuple(target)
    if shape is None:
        return tuple(t if not (isinstance(t, int) and t == -1) else None for t in target)
    rest = shape[1:]
    known_rest = all(isinstance(d, int) for d in rest)
    total = 1
    for d in rest:
        total = total * d if known_rest else None
    if target and ((isinstance(target[0], dims.Sym) and target[0] == shape[0])
                   or (isinstance(target[0], int) and target[0] == -1)):
        tail = target[1:]
        if isinstance(target[0], int) and target[0] == -1:
            # -1 first: the batch only when the other dims hold exactly one sample's values
            if not (known_rest and all(isinstance(t, int) and t > 0 for t in tail)):
                return (None,) + tuple(t if isinstance(t, int) and t > 0 else None for t in tail)
            per = 1
            for t in tail:
                per *= t
            return ((shape[0] if per == total else None),) + tail
        if sum(1 for t in tail if isinstance(t, int) and t == -1) == 1 and known_rest \
                and all(isinstance(t, int) for t in tail):
            known = 1
            for t in tail:
                if t != -1:
                    known *= t
            if known and total % known == 0:
                return (shape[0],) + tuple(total // known if t == -1 else t for t in tail)
        return (shape[0],) + tuple(None if (isinstance(t, int) and t == -1) or not isinstance(t, int) else t
                                   for t in tail)
    return tuple(None if not isinstance(t, int) or t == -1 else t for t in target)


def _no_rule(spec, inputs):
    return None, None


def model_uses(model, part) -> bool:
    """Whether ``part`` (a layer, an application) is inside ``model``: one of its layers, an
    item of its Sequential list, or upstream of a tensor given to it."""
    if model is part:
        return True
    if isinstance(model, KInstance):
        model = model.model
    if not isinstance(model, KModel):
        return False
    if any(layer is part for layer in model.layers):
        return True
    for item, _ in model.items:
        if item is part or (isinstance(item, KTensor) and any(h is part for h in item.history)):
            return True
    return any(isinstance(layer, KModel) and model_uses(layer, part) for layer in model.layers)


class _Scope(dict):
    """A function's locals, falling back to the module's globals on lookup."""

    def __init__(self, local: dict, globals_: dict):
        super().__init__(local)
        self.globals = globals_

    def __contains__(self, key):
        return dict.__contains__(self, key) or key in self.globals

    def __getitem__(self, key):
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        return self.globals[key]


def _compare(a, op, b):
    """A comparison of two known constants, else UNKNOWN."""
    if not all(isinstance(v, (int, float, str)) or v is None for v in (a, b)):
        return UNKNOWN
    import operator

    fn = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
          ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not}.get(type(op))
    try:
        return fn(a, b) if fn is not None else UNKNOWN
    except TypeError:
        return UNKNOWN


def _truth(value):
    """An if test's truth where Python's is certain: a layer or model object is true, None
    and known constants as Python has them; anything else stays as it is (unknown)."""
    if value is None or isinstance(value, (bool, int, float, str, list, tuple, dict, range)):
        return bool(value)
    if isinstance(value, (KLayer, KModel, KFunc, KClass, KRef)) or (
            isinstance(value, KInstance) and value.cls.kind in ("layer", "model")):
        return True
    return value


def _stored_names(body) -> set:
    """The names a block assigns (outside nested functions and classes)."""
    names: set = set()
    todo = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            if not isinstance(node, ast.Lambda):
                names.add(node.name)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        todo.extend(ast.iter_child_nodes(node))
    return names


def forget(stmt, env):
    """What ``stmt`` assigns becomes unknown (a tensor: of unknown shape, still a tensor)."""
    for name in _stored_names([stmt]):
        if dict.__contains__(env, name) or not isinstance(env, _Scope):
            old = env.get(name) if dict.__contains__(env, name) else None
            env[name] = KTensor(None) if isinstance(old, KTensor) else UNKNOWN
        else:
            env[name] = UNKNOWN


def _leaves_early(body) -> bool:
    """A ``break`` or ``continue`` of this loop (not of a loop inside it)."""
    todo = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Break, ast.Continue)):
            return True
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While, ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)):
            continue
        todo.extend(ast.iter_child_nodes(node))
    return False


def _as_load(target):
    """``x`` / ``self.x`` / ``a[i]`` as read: an AugAssign's current value."""
    if isinstance(target, ast.Name):
        return ast.Name(target.id, ast.Load())
    if isinstance(target, ast.Attribute):
        return ast.Attribute(target.value, target.attr, ast.Load())
    if isinstance(target, ast.Subscript):
        return ast.Subscript(target.value, target.slice, ast.Load())
    raise ValueError("not a target")


def _is_main_guard(test: ast.Compare) -> bool:
    return isinstance(test.left, ast.Name) and test.left.id == "__name__"


def _reshape(shape, target):
    if not isinstance(target, tuple) or not all(isinstance(d, int) for d in target):
        return None
    if shape is None or not all(isinstance(d, int) for d in shape):
        if target.count(-1) == 1 and target[0] == -1:
            return (None,) + target[1:]
        return tuple(None if d == -1 else d for d in target)
    total = dims.product(shape)
    if -1 in target:
        known = 1
        for d in target:
            if d != -1:
                known *= d
        if known and isinstance(total, int) and total % known == 0:
            return tuple(total // known if d == -1 else d for d in target)
        return tuple(None if d == -1 else d for d in target)
    return target


def _sum_params(inst: KInstance, seen=None) -> Optional[int]:
    """A custom layer's or model's parameter count: its sublayers' and submodels'. None where
    it may own weights this does not see: ``add_weight``, a ``build()`` (which may make
    layers), or an attribute set from a call the interpreter could not follow."""
    seen = set() if seen is None else seen
    if inst.opaque or _makes_own_weights(inst.cls):
        return None
    total = 0
    for v in inst.attrs.values():
        items = list(v.values()) if isinstance(v, dict) else v if isinstance(v, (list, tuple)) else [v]
        for item in items:
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, KLayer):
                n = item.params
            elif isinstance(item, KInstance):
                n = _sum_params(item, seen)
            elif isinstance(item, KModel):
                n = _sum_params(item.instance, seen) if item.instance is not None else item.params
            else:
                continue
            if not isinstance(n, int):
                return None
            total += n
    return total


def _makes_own_weights(cls: KClass) -> bool:
    if "build" in cls.methods:
        return True
    for fn in cls.methods.values():
        for node in ast.walk(fn.node):
            if isinstance(node, ast.Attribute) and node.attr in ("add_weight", "add_variable", "Variable"):
                return True
    return False


def analyze_keras(text: str, tree: ast.Module) -> KerasFacts:
    """The Keras models of one module: layer shapes and counts, and the events KR rules read."""
    return KerasInterp(text, tree).run()
