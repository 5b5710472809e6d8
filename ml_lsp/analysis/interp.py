"""Abstract interpretation of a module's Python over the shape domain.

The same small interpreter runs module-level code (imports, constants, config classes,
argparse defaults, call sites), ``__init__`` (which layers a module stores on ``self``)
and ``forward`` with everything it calls. Values are abstract (see ``values``); op shapes
come from the rules table (the ``ml_lsp_shape_rules`` plugins). Nothing is executed.

Precision rules: a loop over a known ``ModuleList``/``range`` is unrolled, any other loop
runs twice and joins; both arms of an undecidable ``if`` run and join; every recorded
binding is joined with earlier records of the same statement at the same input quality,
so a shape that differs between iterations or call sites becomes unknown, never a wrong
int. A step budget and a call depth bound make pathological input end in unknown.
"""

from __future__ import annotations

import ast
import functools
import math
import re
import sys
import threading
import time
from collections import OrderedDict
from typing import Callable, Optional

from ml_lsp.analysis import dims
from ml_lsp.analysis.dims import Sym
from ml_lsp.analysis.einops_pattern import axis_name, parse_side
from ml_lsp.analysis.facts import Related, ShapeConflict, TextEdit, TextFix
from ml_lsp.analysis.ops import Args, Ctor, LayerRule, LayerSpec, OpCall
from ml_lsp.analysis import provenance, pyregex
from ml_lsp.analysis.provenance import SourceValue
from ml_lsp.analysis.symconfig import field_value
from ml_lsp.analysis.values import (NUM, UNK, Bound, Choice, ClassVal, DictVal, Func, Instance, Layer, Obj, Partial,
                                    join_unknown_key,
                                    Ref, Repeated, Seq, SeqPrefix, Tensor, as_dim, join)

# input qualities: a record made with better-known inputs replaces a worse one
EXPLICIT, COMMENT, ANNOTATION, CALLSITE, INFERRED = 5, 4, 3, 2, 1
TIED = "__tied__"  # Layer.attrs key: {attr: (Layer, attr)} of weights shared with another layer

STEP_LIMIT = 60_000
MAX_DEPTH = 24
MAX_UNROLL = 64


class BudgetExceeded(Exception):
    pass


class AnalysisCancelled(BaseException):
    """The caller no longer wants this analysis (the text changed, the request was
    cancelled). A BaseException, like ``asyncio.CancelledError``, so that the guards that
    make an engine bug cost one statement (``except Exception``) let it through."""


CHECK_EVERY = 1024  # steps between two looks at the clock and the cancel flag


class Limits:
    """What ends an analysis early, shared by the interpreters of one analysis (the file's,
    its imports', its callers'): a wall-clock budget, after which every unit still running
    or not yet started ends as the step budget ends it (its shapes unknown), and a
    ``cancelled()`` callable, after which the whole analysis is abandoned."""

    __slots__ = ("seconds", "deadline", "cancelled", "expired")

    def __init__(self, seconds: Optional[float] = None, cancelled: Optional[Callable[[], bool]] = None):
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds if seconds is not None else None
        self.cancelled = cancelled
        self.expired = False

    def poll(self) -> bool:
        """Whether the time is up; raises AnalysisCancelled when the caller gave up."""
        if self.cancelled is not None and self.cancelled():
            raise AnalysisCancelled()
        if self.deadline is not None and not self.expired and time.monotonic() > self.deadline:
            self.expired = True
        return self.expired

    def check(self) -> None:
        if self.poll():
            raise BudgetExceeded()


class _Return(Exception):
    pass


class ProbeDone(Exception):
    """Every probed parameter has its first consumer: the probe run can stop early."""


class SliceVal:
    __slots__ = ("lower", "upper", "step")

    def __init__(self, lower, upper, step):
        self.lower, self.upper, self.step = lower, upper, step


class Frame:
    __slots__ = ("env", "scope", "returns", "dead", "func", "self_val", "cls", "jumps")

    def __init__(self, env, scope, func=None, self_val=None, cls=None):
        self.env = env
        self.scope = scope
        self.returns: list = []
        self.dead = False
        # ("continue" | "break", names) of the paths that left the current loop's body
        # early: the loop joins them in (its next trip, or after the loop)
        self.jumps: list = []
        self.func = func
        self.self_val = self_val
        self.cls = cls


BUILTIN_NAMES = {"len", "range", "int", "float", "bool", "str", "min", "max", "abs", "sum", "list",
                 "tuple", "dict", "zip", "enumerate", "reversed", "sorted", "isinstance", "getattr",
                 "setattr", "hasattr", "super", "print", "round", "type", "iter", "next", "map",
                 "filter", "any", "all", "set", "object", "property", "staticmethod", "classmethod", "issubclass",
                 "divmod", "pow", "slice", "hash", "id", "callable", "open", "repr", "format", "vars",
                 "NotImplementedError", "ValueError", "TypeError", "RuntimeError", "Exception",
                 "AssertionError", "KeyError", "IndexError", "__name__", "True", "False", "None", "__import__"}


def _qual_of(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        q = _qual_of(node.value)
        return f"{q}.{node.attr}" if q else ""
    return ""


class Recorder:
    """Bindings, hovers, layers and conflicts, merged by input quality."""

    def __init__(self):
        self.bindings: dict = {}
        self.hovers: dict = {}
        self.layers: dict = {}
        self.layer_uses: dict = {}
        self.conflicts: dict = {}
        self.tentative: dict = {}  # conflicts from inferred-rank inputs, not yet proven
        self.run = 0  # which run records now (engine._real_run counts them)
        self.guess_runs: set = set()  # the runs of a forward on guessed inputs
        self.run_of: dict = {}  # (store id, key) -> the run that last recorded it
        # (store id, key) of the star shapes (``(*, 768)``) a parent's run recorded
        self.nested_star: set = set()
        self.blurred: set = set()  # (store id, key) whose shape is unknown because runs differed
        # id(store) -> keys written since engine._scrub_unranked last read them: a scrub after
        # each run reads what changed, not every binding of every class (quadratic in a file)
        self.written: dict = {}
        self.vague: set = set()  # (store id, key) recorded from vague values alone (see _merge)

    def wrote(self, store, key) -> None:
        self.written.setdefault(id(store), set()).add(key)

    def take_written(self, store) -> set:
        return self.written.pop(id(store), set())

    def other_run(self, store, key) -> bool:
        """Whether ``key`` was last recorded by another run of a forward on guessed inputs
        than this one (two guesses at the same values; a constructor's own call of a helper
        is not one of them: Swin's window_partition of its mask in __init__)."""
        last = self.run_of.get((id(store), key), self.run)
        return last != self.run and last in self.guess_runs and self.run in self.guess_runs

    def _merge(self, store, key, quality, shape, dtype, make, nested=False, vague=False):
        """``nested``: what records runs inside another model's forward (a caller's run).
        ``vague``: a known layer's answer on a value the engine could not follow: it stands
        where nothing else is known of the line, never against what a call it could follow
        found (Kandinsky's blocks: a ``(*, C, ?, ?)`` from a conditional norm nobody followed
        beside a parent's ``(B, C, H, W)``)."""
        old = store.get(key)
        other_run = self.other_run(store, key)
        self.wrote(store, key)
        mark = (id(store), key)
        if old is not None and quality == old[0]:
            if vague and mark not in self.vague and old[1] is not None:
                return
            if not vague and mark in self.vague:
                old = None  # what a vague value said gives way
        if old is None or quality >= old[0]:
            if vague:
                self.vague.add(mark)
            else:
                self.vague.discard(mark)
        if shape is not None and nested and dims.STAR in shape:
            self.nested_star.add((id(store), key))
        if old is None or quality > old[0]:
            store[key] = (quality, shape, dtype, make)
        elif quality == old[0]:
            # within one run two calls of a layer may differ (GCN's gc1 and gc2): joined;
            # between runs on guessed inputs, one knowing more than another is kept
            if quality <= INFERRED and other_run and (old[1] is None) != (shape is None) and \
                    (id(store), key) not in self.blurred:
                # two runs on guessed inputs, one of which knew nothing of this value (a
                # parent's run whose input was unknown): the one that knows something stands,
                # and stays the other run's (this run's later calls do not join with it)
                if old[1] is None:
                    store[key] = (quality, shape, dtype, make)
                    self.run_of[(id(store), key)] = self.run
                return
            if quality <= INFERRED and other_run and shape is not None and old[1] is not None and \
                    (dims.STAR in old[1]) != (dims.STAR in shape):
                # (*, 768) from the class's own run, (B, T, 768) from a parent's: both guesses,
                # the one that knows the rank stands, its last dims joined with the other's;
                # unless the star is a parent's too: the callers differ on the rank (diffusers'
                # text projection, called on a pooled (B, D) by one block and on (*, D) by
                # others), and so the rank is not known
                star, ranked, kept = (old[1], shape, make) if dims.STAR in old[1] else (shape, old[1], old[3])
                tail = tuple(star[1:])
                star_of_parent = (id(store), key) in self.nested_star if star is old[1] else nested
                if star_of_parent:
                    common = dims.common_tail([ranked, tail])
                    store[key] = (quality, (dims.STAR, *common) if common else None,
                                  old[2] if old[2] == dtype else None, old[3])
                    self.nested_star.add((id(store), key))
                    if not common:
                        self.blurred.add((id(store), key))
                    self.run_of[(id(store), key)] = self.run
                    return
                if len(ranked) >= len(tail):
                    cut = len(ranked) - len(tail)
                    joined = tuple(ranked[:cut]) + (dims.join_shape(tuple(ranked[cut:]), tail) or ())
                    store[key] = (quality, joined, old[2] if old[2] == dtype else None, kept)
                    self.run_of[(id(store), key)] = self.run
                    return
            if quality <= INFERRED and (old[1] is None) != (shape is None):
                # one call of this run on guessed inputs could not follow the value: its rank
                # is taken to be the others', its dims unknown (GCN's gc1 and gc2)
                shape2 = _rank_only(old[1] if shape is None else shape)
            else:
                shape2 = _join_batches(old[1], shape)
            dtype2 = old[2] if old[2] == dtype else None
            store[key] = (quality, shape2, dtype2, old[3])
        self.run_of[(id(store), key)] = self.run


def _rank_only(shape):
    """``shape`` with every dim unknown (None for a star shape or none)."""
    if shape is None or dims.STAR in shape:
        return None
    return (None,) * len(shape)


def _join_batches(a, b):
    """Two runs' shapes of one binding: dims that differ are unknown, except a batch that
    varies (``B``, the training loader's) against a fixed one (the test loader's 1000),
    which stays ``B``: one batch size among those ``B`` stands for."""
    joined = dims.join_shape(a, b)
    if joined is None or a is None or b is None:
        return joined
    out = []
    for x, y, j in zip(a, b, joined):
        if j is None and (isinstance(y, int) and dims.same(x, provenance.BATCH)
                          or isinstance(x, int) and dims.same(y, provenance.BATCH)):
            j = provenance.BATCH
        out.append(j)
    return tuple(out)


IMPORT_DEPTH = 4
# deeper for same-folder relative imports (`from .x import`), looked up while running code the
# analysed file called (or by the top-level code of a module such a look-up loaded): timm's
# layers built from a name (``act_layer='swish'``: byobnet -> layers -> conv_bn_act ->
# create_norm_act -> norm_act -> create_act, whose name table is built from activations.py
# at its top level). Only same-folder ones: transformers' imports of other packages at that
# depth (the kernels hub's downloads) cost `check` 10-16% more; same-folder ones cost 6-8%
# (the loss functions its LOSS_MAPPING table names).
CALL_IMPORT_DEPTH = 6

_RULE_FILES: list = []  # [(rules, {file suffix: {name: rule name}})], one per rule table


def _rules_by_file(rules) -> dict:
    """The rules for functions of libraries read from source (not those of ``_LIBRARY_ROOTS``,
    whose names are Refs already), by the file that defines each: ``/pkg/mod.py`` and
    ``/pkg/mod/__init__.py`` for ``pkg.mod.f``."""
    for table, found in _RULE_FILES:
        if table is rules:
            return found
    found: dict = {}
    for qual in rules:
        mod, _, name = qual.rpartition(".")
        if "." not in mod or mod.split(".")[0] in _LIBRARY_ROOTS:
            continue
        for suffix in (f"/{mod.replace('.', '/')}.py", f"/{mod.replace('.', '/')}/__init__.py"):
            found.setdefault(suffix, {})[name] = qual
    _RULE_FILES.append((rules, found))
    del _RULE_FILES[:-4]
    return found


def _is_package_init(path: str) -> bool:
    return path.replace("\\", "/").rsplit("/", 1)[-1] == "__init__.py"


def _below(init: str, parent_init: str) -> bool:
    """Whether the package of ``init`` lies inside the package of ``parent_init``."""
    parent = parent_init.replace("\\", "/").rsplit("/", 1)[0] + "/"
    return init.replace("\\", "/").startswith(parent)


class _NotBound:
    """What a module's look-up of a name no statement binds gives (``module_global``):
    unlike ``UNK``, which is a value nobody knows."""
    __slots__ = ()

    def __repr__(self):
        return "<not bound>"

    def __reduce__(self):
        return "_NOT_BOUND"


_NOT_BOUND = _NotBound()


class LazyImport:
    """A name bound by ``from M import name`` whose module M is interpreted only when the
    name is first looked up (``e_name``), not at the import statement: a model file of
    transformers imports about 150 library modules, and its shapes need a handful (a base
    class, an activation table); the logging, configuration and hub modules it also imports
    were most of the time of ``ml-lsp check``. The value is the one the import statement
    would have bound, looked up once and kept."""

    __slots__ = ("interp", "stmt", "name", "value", "state")

    def __init__(self, interp, stmt: ast.ImportFrom, name: str) -> None:
        self.interp, self.stmt, self.name = interp, stmt, name
        self.value, self.state = UNK, 0  # 0 not looked up, 1 being looked up, 2 done

    def resolve(self):
        if self.state == 2:
            return self.value
        if self.state == 1:  # a cycle of re-exports (a imports x from b, b from a)
            return UNK
        self.state = 1
        stmt, interp = self.stmt, self.interp
        try:
            other = interp.load_workspace_module(("." * stmt.level) + (stmt.module or ""))
            v = interp.imported_value(stmt, self.name, other)
            if type(v) is LazyImport:  # re-exported by an __init__: its own import, looked up now
                v = v.resolve()
        except (BudgetExceeded, _Return, ProbeDone, AnalysisCancelled):
            self.state = 0  # cut by the budget: looked up again if anything is left to run
            raise
        except RecursionError:
            self.state = 0
            raise BudgetExceeded()
        except Exception as exc:  # as an engine bug at the import statement: the name unknown
            interp.problems.append(f"line {stmt.lineno}: internal: {type(exc).__name__}: {exc}")
            v = UNK
        self.value, self.state = v, 2
        return v


def _rank_test(test, op):
    """(name node, k) for a test ``len(x.shape) OP k``, ``x.ndim OP k``, ``x.dim() OP k`` or
    ``x.ndimension() OP k`` (either side), else None."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) is op):
        return None
    for side, other in ((test.left, test.comparators[0]), (test.comparators[0], test.left)):
        if not (isinstance(other, ast.Constant) and type(other.value) is int and 0 < other.value <= 8):
            continue
        if isinstance(side, ast.Attribute) and side.attr == "ndim":
            return side.value, other.value
        if isinstance(side, ast.Call) and not side.keywords:
            f = side.func
            if isinstance(f, ast.Name) and f.id == "len" and len(side.args) == 1 \
                    and isinstance(side.args[0], ast.Attribute) and side.args[0].attr == "shape":
                return side.args[0].value, other.value
            if isinstance(f, ast.Attribute) and f.attr in ("dim", "ndimension") and not side.args:
                return f.value, other.value
    return None


def resolved(v):
    """``v``, or the value a lazy import stands for."""
    return v.resolve() if type(v) is LazyImport else v


def _tests_a_rank(test) -> int:
    """1 when an if's test compares something to a small int (``input_ndim == 4``,
    ``x.dim() != 3``, ``len(x.shape) == 2``): a test of a tensor's rank, most likely."""
    return int(isinstance(test, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in test.ops)
               and any(isinstance(c, ast.Constant) and type(c.value) is int and 1 <= c.value <= 6
                       for c in test.comparators))


def _hinted_slice(key) -> tuple:
    """A slice's bounds, a size made up from a default as its hint: the list was built by
    ``range`` of the same hint (``self.layers[: config.num_hidden_layers]`` over a
    ModuleList of ``range(config.num_hidden_layers)`` blocks is all of them)."""
    bounds = []
    for x in (key.lower, key.upper, key.step):
        hint = dims.size_hint(x) if isinstance(x, Sym) else None
        bounds.append(x if hint is None else hint)
    return tuple(bounds)


_NOT_PLAIN = object()  # _plain_index: not an index Python's own indexing can answer here


def _plain_index(items, key):
    """``items[key]`` for a list or a str, where ``key`` is an int in range or a slice of
    ints (a size made up from a default counting as its hint); else ``_NOT_PLAIN``."""
    if isinstance(key, int) and not isinstance(key, bool):
        return items[key] if -len(items) <= key < len(items) else _NOT_PLAIN
    if isinstance(key, SliceVal):
        bounds = _hinted_slice(key)
        if all(x is None or (isinstance(x, int) and not isinstance(x, bool)) for x in bounds) and bounds[2] != 0:
            return items[slice(*bounds)]
    return _NOT_PLAIN


class Interp:
    def __init__(self, text: str, path: Optional[str], rules: dict, resolve_module=None,
                 recorder: Optional[Recorder] = None, module_cache: Optional[dict] = None,
                 import_depth: int = 0, limits: Optional[Limits] = None, parse=None):
        self.text = text
        self.limits = limits
        self.parse = parse  # (text, path) -> (tree, problems): a batch shares its parsed files
        self.lines = text.split("\n")
        self.path = path
        self.rules = rules
        self._rule_defs = None
        self.resolve_module = resolve_module
        self.rec = recorder if recorder is not None else Recorder()
        self.module_cache = module_cache if module_cache is not None else {}
        self.import_depth = import_depth
        # modules on the import chain, for the IMPORT_DEPTH bound: the ``__init__`` of a package
        # the analysed file imports (``from timm.layers import create_conv2d``) re-exports its
        # submodules' names, so it is not counted (``load_workspace_module``)
        self.import_hops = import_depth
        # loaded by a look-up made while code the analysed file called ran (CALL_IMPORT_DEPTH)
        self.for_call = False
        self.globals: dict = {"__name__": "__main__"}
        # ``from M import *`` statements of a library module (or a package's __init__), run
        # on the first look-up of a name the module's own statements did not bind
        # (``star_lookup``): transformers' ``__init__`` star-imports every model under
        # ``TYPE_CHECKING``, and a file reading ``PreTrainedModel`` from it interpreted all
        # 2,600 of its modules (20 s)
        self.pending_stars: list = []
        self.star_found: dict = {}  # name -> value found through pending_stars (UNK: not there)
        self.steps = 0
        self.until_check = CHECK_EVERY
        self.step_limit = STEP_LIMIT
        self.depth = 0
        self.quality = CALLSITE
        self.recording = True
        # False where only proven conflicts are wanted (``ml-lsp check``): neither bindings nor
        # hovers are recorded (no conflict is derived from them)
        self.shapes_wanted = True
        self.hints: Optional[dict] = None  # probe name -> (shape, dtype, origin)
        self.probe_wanted: set = set()  # the parameters a probe run is after
        self.trial_conflicts: Optional[list] = None  # set while trying candidate input ranks
        self.run_raised = False  # the last recorded forward run raised on every path (engine._real_run)
        # set while running on an input of unknown rank (*, 256): input -> the names of the
        # leading dims an unpacking ``b, n, _ = h.shape`` of a tensor keeping its star showed
        self.star_ranks: Optional[dict] = None
        # while inputs are guessed: what asserts say an input's dim symbol must be
        # (timm's PatchEmbed: _assert(H == self.img_size[0]) -> {H: 224})
        self.size_facts: Optional[dict] = None
        # engine._recorded_run on inputs it inferred: the last run's dims.CONTRACT_FACTS
        self.contracts: Optional[dict] = None
        self.undecided_ifs = 0  # undecided ifs entered (their branches run both)
        self.absent_modules: set = set()  # names an import of a module not installed would bind
        self.rank_branches = 0  # undecided ifs entered whose test compares a count (a rank) to a small int
        self.first_instance: dict = {}  # ClassVal -> the first Instance built anywhere
        self.instances: dict = {}  # ClassVal -> first Instance built by script code
        self.forward_quality: dict = {}  # ClassVal name -> best quality its forward ran with
        self.forward_io: dict = {}  # class name -> (quality, inputs, output)
        # class name -> (line of the constructor call, the inputs dict of forward_io): the
        # model a script call ran (a `__main__` demo), while those inputs are still its answer
        self.forward_built: dict = {}
        self.call_stack: list = []
        self.cut_calls = 0  # calls not followed (depth bound, recursion): what they built is unknown
        # places that may have raised: a `raise` reached, an import, a name, call, attribute or
        # subscript the engine could not evaluate. A try body that adds none cannot raise, so
        # its handlers are not a path (transformers' `try: self._sdpa_can_dispatch() except
        # ValueError: attn = "eager"` would otherwise make the chosen attention unknown)
        self.may_raise = 0
        self.none_calls = 0  # layers called on None (torch raises): see _call_func_body
        self.open_ctor_kwargs = 0  # constructors running with **kwargs nobody knows (see _construct)
        self.memo: dict = {}
        self.problems: list = []
        self.classes: list = []  # ClassVal in definition order
        self.standalone: dict = {}  # ClassVal -> Instance built from defaults by the driver
        self.called: set = set()  # functions run with recording on
        self.callsite_args: dict = {}  # class name -> Args of the first script call with known inputs
        self.callsite_lines: dict = {}  # class name -> the line of that call
        self.layer_weights: dict = {}  # id(tensor) -> (Layer, attr, tensor): a layer's weight read in code
        self.callsite_by_path: dict = {}  # (defining file, class name) -> Args, for other files' classes
        self.ctor_by_path: dict = {}  # (defining file, class name) -> constructor Args from script code
        # while a call from the analysed file runs here: that file's interpreter, so that an
        # import of it inside the call (litgpt's `import litgpt.model` in a config property)
        # gives its classes, not a second reading whose runs nobody records. Never kept
        # between calls: a stored copy of this module must not reach the file.
        self.calling_root: Optional["Interp"] = None

    # ------------------------------------------------------------------ utilities
    def module_names(self) -> frozenset:
        """Every name the file binds anywhere (``_ModuleNames``), parsed on first need; all
        names when that cannot be told."""
        names = getattr(self, "_module_names", None)
        if names is None:
            try:
                if self.parse is not None:  # the batch's parse of this text, shared
                    tree, repaired = self.parse(self.text, self.path, library=self.import_depth > 0)
                    tree = None if repaired else tree  # a repaired text may have lost statements
                else:
                    tree = ast.parse(self.text)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                tree = None
            found = _ModuleNames.of(tree) if tree is not None else None
            names = self._module_names = found.bound if found is not None else _ALL_NAMES
        return names

    def tick(self):
        self.steps += 1
        if self.steps > self.step_limit:
            raise BudgetExceeded()
        # a countdown of its own: ``steps`` restarts at 0 for every unit, and a file of
        # many small units would never reach a multiple of CHECK_EVERY
        self.until_check -= 1
        if not self.until_check:
            self.check_clock()

    def check_clock(self):
        self.until_check = CHECK_EVERY
        if self.limits is not None:
            self.limits.check()

    def src(self, node) -> str:
        try:
            if node.lineno == node.end_lineno:
                return self.lines[node.lineno - 1][node.col_offset:node.end_col_offset]
            # from the split lines: ast.get_source_segment re-splits the whole file per call
            first = self.lines[node.lineno - 1][node.col_offset:]
            middle = self.lines[node.lineno:node.end_lineno - 1]
            last = self.lines[node.end_lineno - 1][:node.end_col_offset]
            return " ".join(" ".join([first, *middle, last]).split())
        except Exception:
            return ""

    def rule_defs(self) -> dict:
        """Name -> rule name of the functions this module defines that have a rule (diffusers'
        ``dispatch_attention_fn`` in ``diffusers/models/attention_dispatch.py``)."""
        if self._rule_defs is None:
            path = (self.path or "").replace("\\", "/")
            self._rule_defs = {}
            for suffix, names in _rules_by_file(self.rules).items():
                if path.endswith(suffix):
                    self._rule_defs.update(names)
        return self._rule_defs

    def lookup_rule(self, qual: str):
        r = self.rules.get(qual)
        if r is None and qual.startswith("torch.nn.modules."):
            r = self.rules.get("torch.nn." + qual.rsplit(".", 1)[-1])
        return r

    # ------------------------------------------------------------------ module level
    def run_module(self, tree: ast.Module):
        frame = Frame(self.globals, "<module>")
        self.module_frame = frame
        self.quality = CALLSITE
        for stmt in tree.body:
            if self.steps > self.step_limit:
                break
            self.exec_stmt_safe(stmt, frame)

    # ------------------------------------------------------------------ statements
    def exec_block(self, stmts, frame: Frame):
        for stmt in stmts:
            if frame.dead:
                return
            self.exec_stmt_safe(stmt, frame)

    def exec_stmt_safe(self, stmt, frame):
        try:
            self.exec_stmt(stmt, frame)
        except (BudgetExceeded, _Return, ProbeDone):
            raise
        except RecursionError:
            raise BudgetExceeded()
        except _NameErrorPath:
            frame.dead = True  # the statement raises NameError: nothing after it runs
        except Exception as exc:  # an engine bug must cost one statement, not the file
            self.problems.append(f"line {getattr(stmt, 'lineno', '?')}: internal: {type(exc).__name__}: {exc}")
            for t in _assigned_names(stmt):
                frame.env[t] = UNK

    def exec_stmt(self, stmt, frame: Frame):
        self.tick()
        t = type(stmt)
        if t is ast.Assign:
            value = self.eval(stmt.value, frame)
            if value is UNK and self.star_ranks is not None:
                self.note_star_rank(stmt, frame)
            for target in stmt.targets:
                self.assign(target, value, frame, stmt)
        elif t is ast.Expr:
            self.eval(stmt.value, frame)
        elif t is ast.Return:
            frame.returns.append(self.eval(stmt.value, frame) if stmt.value else None)
            frame.dead = True
        elif t is ast.AugAssign:
            cur = self.eval(stmt.target, frame) if not isinstance(stmt.target, ast.Name) \
                else resolved(frame.env.get(stmt.target.id, self.globals.get(stmt.target.id, UNK)))
            rhs = self.eval(stmt.value, frame)
            value = self.binop(stmt.op, cur, rhs, stmt)
            self.assign(stmt.target, value, frame, stmt)
        elif t is ast.AnnAssign:
            if stmt.value is not None:
                value = self.eval(stmt.value, frame)
                self.assign(stmt.target, value, frame, stmt)
        elif t is ast.If:
            if len(stmt.body) == 1 and isinstance(stmt.body[0], ast.Raise) and not stmt.orelse:
                self.note_asserted_rank(stmt.test, frame, ast.NotEq)
                if self.size_facts is not None:
                    self.note_guard_facts(stmt.test, frame)
            self.exec_if(stmt, frame)
        elif t is ast.For or t is ast.AsyncFor:
            self.exec_for(stmt, frame)
        elif t is ast.While:
            self.exec_while(stmt, frame)
        elif t is ast.FunctionDef or t is ast.AsyncFunctionDef:
            qual = self.rule_defs().get(stmt.name) if frame.env is self.globals else None
            # a library function the rules know, read in its own source: the rule's
            frame.env[stmt.name] = Ref(qual) if qual is not None else self.make_func(stmt, frame)
        elif t is ast.ClassDef:
            frame.env[stmt.name] = self.make_class(stmt, frame)
        elif t is ast.Import:
            self.may_raise += 1  # a module that is not installed
            if self.undecided_ifs and any(self.not_installed(alias.name) for alias in stmt.names):
                # `if is_torch_npu_available(): import torch_npu` with the test undecided: the
                # module is not installed here, so that is not the path this program takes
                self.absent_modules.update(alias.asname or alias.name.split(".")[0] for alias in stmt.names)
                frame.dead = True
                return
            for alias in stmt.names:
                if alias.asname:
                    frame.env[alias.asname] = self.import_module(alias.name)
                else:
                    top = alias.name.split(".")[0]
                    frame.env[top] = self.import_module(top)
        elif t is ast.ImportFrom:
            self.may_raise += 1
            self.exec_import_from(stmt, frame)
        elif t is ast.With or t is ast.AsyncWith:
            for item in stmt.items:
                v = self.eval(item.context_expr, frame)
                if item.optional_vars is not None:
                    self.assign(item.optional_vars, UNK if not isinstance(v, Tensor) else v, frame, stmt)
            self.exec_block(stmt.body, frame)
        elif t is ast.Try or getattr(ast, "TryStar", None) is t:
            before = dict(frame.env)
            raised_before = self.may_raise
            self.exec_block(stmt.body, frame)
            body_dead = frame.dead
            envs = [] if body_dead else [frame.env]
            for h in (stmt.handlers if self.may_raise != raised_before else ()):
                hf = self.branch(frame, before)
                if h.name:
                    hf.env[h.name] = UNK
                self.exec_block(h.body, hf)
                if not hf.dead:
                    envs.append(hf.env)
                frame.returns.extend(hf.returns)
                frame.jumps.extend(hf.jumps)
            if envs:
                _set_env(frame, _join_envs(envs))
                frame.dead = False
            if not frame.dead:
                self.exec_block(stmt.orelse, frame)
            self.exec_block(stmt.finalbody, frame)
        elif t is ast.Raise:
            self.may_raise += 1
            frame.dead = True
        elif t is ast.Continue or t is ast.Break:
            frame.jumps.append(("continue" if t is ast.Continue else "break", dict(frame.env)))
            frame.dead = True
        elif t is ast.Assert:
            self.may_raise += 1
            self.note_asserted_rank(stmt.test, frame, ast.Eq)
            if self.size_facts is not None:
                self.note_size_facts(self.eval_quiet(stmt.test, frame))
            self.check_constructor_assert(stmt, frame)
            self.give_demanded_argument(stmt, frame)
        elif t is ast.Delete:
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    frame.env.pop(target.id, None)
        # pass / break / continue / global / nonlocal / match: no shape effect we model

    def note_guard_facts(self, test, frame: Frame) -> None:
        """``if self.sample_width != width or self.sample_height != height: raise ValueError``
        (CogVideoX's learned positional table): the path that goes on has width and height
        equal to them, as an ``assert`` of the negation would say."""
        kept = self.negated_guard(test, frame)
        if kept is not None:
            self.note_size_facts(self.eval_quiet(kept, frame))

    def negated_guard(self, test, frame: Frame):
        """An expression true on the paths where ``test`` is false, for the forms whose
        negation is a conjunction of ``==`` (see note_guard_facts); else None."""
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) is ast.NotEq:
            return ast.copy_location(ast.Compare(test.left, [ast.Eq()], test.comparators), test)
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            return test.operand
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
            parts = [self.negated_guard(v, frame) for v in test.values]
            if all(p is not None for p in parts):
                return ast.copy_location(ast.BoolOp(ast.And(), parts), test)
            return None
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            # `flag and (w != W or h != H)` with the flag known true: the rest decides
            open_ = [v for v in test.values if self.truth(self.eval_quiet(v, frame)) is not True]
            return self.negated_guard(open_[0], frame) if len(open_) == 1 else None
        return None

    def note_size_facts(self, v) -> None:
        """``assert H == 224`` on a guessed input's dim: the input must have that size
        there (the first fact said of a symbol counts)."""
        if isinstance(v, SizeFacts) and not self.rank_branches:
            for sym, value in v.pairs:
                self.size_facts.setdefault(sym, value)

    def give_demanded_argument(self, stmt, frame: Frame) -> None:
        """``assert exists(depth), 'depth must be passed in'`` in a constructor the engine
        built with made-up arguments (``depth=None``, its default): the caller must give
        it, so it is made up as a required one would be (a size named ``depth``)."""
        if not getattr(self, "assumed_ctor_args", False) or frame.func is None or frame.func.node.name != "__init__":
            return
        test = stmt.test
        if isinstance(test, ast.Call) and len(test.args) == 1 and not test.keywords:
            test = test.args[0]  # exists(depth), bool(depth)
        elif isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.IsNot) \
                and isinstance(test.comparators[0], ast.Constant) and test.comparators[0].value is None:
            test = test.left
        if isinstance(test, ast.Name) and test.id in frame.env and frame.env[test.id] is None:
            frame.env[test.id] = field_value(test.id)

    def check_constructor_assert(self, stmt, frame: Frame) -> None:
        """An ``assert`` in a constructor that is false for the arguments it was given
        (``assert n_embd % n_head == 0`` with 64 and 6) raises when the model is built: a
        conflict on the assert line, naming the values. Only a test whose value is known
        (never a guess about a symbol) is reported."""
        if not self.recording or frame.func is None or not str(frame.scope).endswith("__init__") \
                or getattr(self, "assumed_ctor_args", False) or self.open_ctor_kwargs:
            return
        if self.truth(self.eval(stmt.test, frame)) is not False:
            return
        known = []
        for sub in ast.walk(stmt.test):
            if isinstance(sub, (ast.Name, ast.Attribute)) and not isinstance(getattr(sub, "ctx", None), ast.Store):
                value = self.eval(sub, frame)
                text = ast.unparse(sub)
                if (value is None or isinstance(value, (int, float, str))) and f"{text} = {value!r}" not in known:
                    known.append(f"{text} = {value!r}")
        key = (stmt.lineno, stmt.col_offset, "constructor_assert")
        if key in self.rec.conflicts:
            return
        where = ", ".join(known) if known else "the given arguments"
        self.rec.conflicts[key] = ShapeConflict(
            kind="constructor_assert", line=stmt.lineno, col=stmt.col_offset, end_line=stmt.end_lineno,
            end_col=stmt.end_col_offset,
            message=f"assert {ast.unparse(stmt.test)} fails when the model is built ({where})",
            expected="true", got="false")

    def branch(self, frame: Frame, env=None) -> Frame:
        f = Frame(dict(frame.env if env is None else env), frame.scope, frame.func, frame.self_val, frame.cls)
        return f

    def exec_if(self, stmt, frame):
        cond = self.truth(self.eval(stmt.test, frame))
        if cond is True:
            self.exec_block(stmt.body, frame)
            return
        if cond is False:
            self.exec_block(stmt.orelse, frame)
            return
        # each path mutates its own copy of the lists and dicts it may append to: both
        # appending to one list made `if w < lo: out.append(f) else: out.append(f / 8)`
        # a list of two items per trip (torchtune's Llama3ScaledRoPE); the copies are then
        # merged back into the list or dict itself (``_merge_back``)
        copies_a, copies_b = {}, {}
        rank_test = _tests_a_rank(stmt.test)
        self.rank_branches += rank_test
        self.undecided_ifs += 1
        # a size one path needs is not a size of the input (CogVideoX's patch embedding
        # takes any height: its stored positional table on one path, a new one on the other)
        token = dims.CONTRACT_FACTS.set(None) if self.contracts is not None else None
        try:
            a = self.branch(frame, _copy_containers(frame.env, copies_a))
            self.exec_block(stmt.body, a)
            b = self.branch(frame, _copy_containers(frame.env, copies_b))
            self.exec_block(stmt.orelse, b)
        finally:
            self.rank_branches -= rank_test
            self.undecided_ifs -= 1
            if token is not None:
                dims.CONTRACT_FACTS.reset(token)
        frame.returns.extend(a.returns)
        frame.returns.extend(b.returns)
        frame.jumps.extend(a.jumps + b.jumps)
        live = [f for f in (a, b) if not f.dead]
        if not live:
            frame.dead = True
            return
        _merge_back(live, [copies_a if f is a else copies_b for f in live])
        _set_env(frame, _join_envs([f.env for f in live]))

    def truth(self, v):
        """True/False when the value's truth is known, else None."""
        if isinstance(v, Tensor) and v.fill is not None and v.shape is not None and all(d == 1 for d in v.shape):
            # a one-element tensor whose value is known: vector-quantize's `if self.initted:`,
            # a buffer torch.tensor(not kmeans_init)
            return bool(v.fill)
        if v is UNK or v is NUM or isinstance(v, (Tensor, Sym, SizeFacts)):
            return None
        if v is None:
            return False
        if isinstance(v, (bool, int, float, str)):
            return bool(v)
        if isinstance(v, Seq):
            return bool(v.items) if v.kind != "size" else None
        if isinstance(v, (Layer, Instance, Func, ClassVal, Ref, Bound, Partial, Obj, pyregex.RegexMatch)):
            return True
        if isinstance(v, DictVal):
            return bool(v.items)
        return None

    def mapping_keys(self, inst):
        """The keys of a user mapping, from its ``__iter__``, else None."""
        it = inst.cls.lookup("__iter__")
        if not isinstance(it, Func):
            return None
        keys = self.iter_items(self.call_func(it, Args([inst]), None))
        return keys if keys is not None and all(_hashable(k) and k is not UNK for k in keys) else None

    def call_mapping_method(self, fn, a: Args, node):
        inst, name = fn.inst, fn.name
        if fn.raw:
            stored = inst.attrs["__dict_items__"].items
            keys = list(stored)

            def item(k):
                return stored.get(k, UNK)
        else:
            keys = self.mapping_keys(inst)
            if keys is None:
                return UNK
            getitem = inst.cls.lookup("__getitem__")

            def item(k):
                return self.call_func(getitem, Args([inst, k]), node) if isinstance(getitem, Func) else UNK

        if name == "keys":
            return Seq(list(keys), "list")
        if name == "values":
            return Seq([item(k) for k in keys], "list")
        if name == "items":
            return Seq([Seq([k, item(k)], "tuple") for k in keys], "list")
        key = a.arg(0, "key", UNK)
        if fn.raw and name in ("__setitem__", "__delitem__"):
            if key is UNK or not _hashable(key) or isinstance(key, Sym):
                inst.attrs.pop("__dict_items__", None)  # which item changed is unknown: all are
            elif name == "__setitem__":
                stored[key] = a.arg(1, "value", UNK)
            else:
                stored.pop(key, None)
            return None
        if key is UNK or not _hashable(key) or isinstance(key, Sym):
            return UNK
        if name == "__contains__":
            return key in keys
        if name == "__getitem__":
            return item(key) if key in keys else UNK
        # get(key, default=None)
        return item(key) if key in keys else a.arg(1, "default", None)

    def iter_items(self, v):
        """The items of a known finite iterable, else None."""
        if isinstance(v, Seq):
            return list(v.items)
        if isinstance(v, Instance) and _container_base(v.cls) is not None:
            if v.attrs.get("__incomplete__"):
                return None
            mods = _registered_modules(v)
            return [k for k, _ in mods] if _container_base(v.cls) == "ModuleDict" else [m for _, m in mods]
        if isinstance(v, Layer) and v.children is not None:
            if v.qual.endswith("ModuleDict"):
                return list(v.child_names or [])
            return list(v.children)
        if isinstance(v, DictVal):
            return list(v.items.keys())
        if isinstance(v, str):
            return list(v)
        if isinstance(v, Tensor) and v.shape and isinstance(v.shape[0], int) and not isinstance(v.shape[0], bool) \
                and 0 <= v.shape[0] <= MAX_UNROLL:
            # [r.item() for r in torch.linspace(0, rate, depth)]: one item per row
            return [Tensor(v.shape[1:], v.dtype, fill=v.fill) for _ in range(v.shape[0])]
        if isinstance(v, Instance) and not v.cls.is_module and isinstance(v.cls.lookup("__getitem__"), Func) \
                and isinstance(v.cls.lookup("__len__"), Func) and v.cls.lookup("__iter__") is None:
            return self.sequence_items(v)
        if isinstance(v, Choice) and v.options:
            # (norm, block) = self.layers[i], the layer either of two ModuleLists: where all
            # have as many items, each item is either one
            options = [self.iter_items(o) for o in v.options]
            if all(o is not None and len(o) == len(options[0]) for o in options):
                return [functools.reduce(join, column) for column in zip(*options)]
        return None

    def sequence_items(self, v: Instance):
        """The items of an object of the sequence protocol (``__len__`` and ``__getitem__``,
        as ``collections.abc.Sequence`` iterates it): transformers' per-layer config view,
        ``for layer_config in config.per_layer_config``. None when its length is unknown."""
        n = self.call_func(v.cls.lookup("__len__"), Args([v]), None)
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_UNROLL:
            return None
        getitem = v.cls.lookup("__getitem__")
        return [self.call_func(getitem, Args([v, i]), None) for i in range(n)]

    def exec_for(self, stmt, frame):
        it = self.eval(stmt.iter, frame)
        items = self.iter_items(it)
        if items is not None and len(items) <= MAX_UNROLL:
            outer, frame.jumps = frame.jumps, []
            exits = []  # the names of the paths that broke out
            try:
                for item in items:
                    if frame.dead:
                        break
                    self.assign(stmt.target, item, frame, stmt)
                    self.exec_block(stmt.body, frame)
                    self.end_of_trip(frame, exits)
                if not frame.dead:
                    self.exec_block(stmt.orelse, frame)
                self.after_loop(frame, exits)
            finally:
                frame.jumps = outer + frame.jumps
            return
        elem = UNK
        if _is_repeated(it):  # for blk in self.blocks (built for a depth unknown)
            elem = _repeated_item(it)
        elif isinstance(it, SourceValue):  # a DataLoader, a dataset: its batches
            elem = provenance.element_of(it, self)
            elem = UNK if elem is None else elem
        elif isinstance(it, Tensor):
            elem = Tensor(it.shape[1:] if it.shape else None, it.dtype)
        elif items is not None:  # long list: join of its items
            elem = items[0]
            for x in items[1:8]:
                elem = join(elem, x)
        self.exec_loop_body(stmt.body, frame, stmt.target, elem, stmt)
        self.exec_block(stmt.orelse, frame)

    def end_of_trip(self, frame, exits: list) -> None:
        """After one trip of a loop body run in ``frame``: the paths that continued join the
        one that reached the end; those that broke out are kept in ``exits``."""
        jumps, frame.jumps = frame.jumps, []
        exits.extend(env for kind, env in jumps if kind == "break")
        live = ([] if frame.dead else [frame.env]) + [env for kind, env in jumps if kind == "continue"]
        if live:
            frame.dead = False
            _set_env(frame, _join_envs(live))

    def after_loop(self, frame, exits: list) -> None:
        """The loop is over: the paths that broke out join the one that ran to its end."""
        if not exits:
            return
        live = ([] if frame.dead else [frame.env]) + exits
        frame.dead = False
        _set_env(frame, _join_envs(live))

    def exec_while(self, stmt, frame):
        """A loop whose test the engine can decide runs as Python runs it
        (``while len(e.shape) < len(h.shape): e = e[..., None]``), up to MAX_UNROLL trips;
        a test it cannot decide, or a body that may break out, is a loop of unknown trips."""
        if not _leaves_loop(stmt.body):
            for _ in range(MAX_UNROLL):
                cond = self.truth(self.eval(stmt.test, frame))
                if cond is False:
                    self.exec_block(stmt.orelse, frame)
                    return
                if cond is not True:
                    break
                self.exec_block(stmt.body, frame)
                if frame.dead:
                    return
        self.exec_loop_body(stmt.body, frame, None, None, stmt)
        self.exec_block(stmt.orelse, frame)

    def exec_loop_body(self, body, frame, target, elem, stmt):
        """Unknown trip count: the body may run zero or more times. Run it twice from
        the joined state so a value changed by one iteration is joined into the next."""
        env0 = dict(frame.env)
        envs = [env0]
        cur = env0
        lists = {name: (v, len(v.items)) for name, v in env0.items() if isinstance(v, Seq) and v.kind == "list"}
        for _ in range(2):
            f = self.branch(frame, cur)
            if target is not None:
                self.assign(target, elem, f, stmt)
            self.exec_block(body, f)
            frame.returns.extend(f.returns)
            if not f.dead:
                envs.append(f.env)
            envs.extend(env for _, env in f.jumps)  # continued or broke out: a state after the loop too
            cur = _join_envs(envs)
        for name, (v, n) in lists.items():
            if cur.get(name) is v and len(v.items) > n and not all(_alike(v.items[n], x) for x in v.items[n + 1:]):
                # NesT's levels.append(NestLevel(...)) a number of times nobody knows, each
                # level unlike the one before: its first n items are known, its length is not
                # (the two trips run would be a made-up model). Blocks alike (a ResNet
                # stage's) stand for any count, as a comprehension's Repeated does.
                cur[name] = SeqPrefix(list(v.items[:n]), "list", maybe=list(v.items[n:]))
        _set_env(frame, cur)

    # ------------------------------------------------------------------ assignment
    def assign(self, target, value, frame, stmt):
        t = type(target)
        if t is ast.Name:
            if value is NUM and type(stmt) is ast.Assign and stmt.value is not None and _int_valued(stmt.value):
                # width = int(math.floor(planes * (base_width / 64.0))): an integer nobody can
                # work out, named after what holds it, so that conv(..., width * scale) and
                # split(out, width, 1) still meet (timm's Res2Net)
                value = Sym.named(target.id)
            frame.env[target.id] = value
            self.record_binding(target, value, frame, stmt)
        elif t is ast.Tuple or t is ast.List:
            n = len(target.elts)
            if isinstance(value, ProbeSize):
                if self.hints is not None and ("rank", value.probe) not in self.hints and not self.rank_branches \
                        and not any(isinstance(e, ast.Starred) for e in target.elts):
                    self.hints[("rank", value.probe)] = [e.id if isinstance(e, ast.Name) and e.id != "_" else None
                                                         for e in target.elts]
                value = UNK
            star = next((i for i, e in enumerate(target.elts) if isinstance(e, ast.Starred)), None)
            items = self.unpack(value, n if star is None else None)
            if items is not None and star is not None:
                before, after = star, n - star - 1
                if len(items) >= before + after:
                    mid = Seq(items[before:len(items) - after], "list")
                    items = items[:before] + [mid] + items[len(items) - after:]
                else:
                    items = None
            for i, e in enumerate(target.elts):
                v = items[i] if items is not None and i < len(items) else UNK
                if isinstance(e, ast.Starred):
                    self.assign(e.value, v, frame, stmt)
                else:
                    self.assign(e, v, frame, stmt)
        elif t is ast.Attribute:
            obj = self.eval(target.value, frame)
            self.set_attr(obj, target.attr, value, target, frame)
        elif t is ast.Subscript:
            obj = self.eval(target.value, frame)
            key = self.eval(target.slice, frame)
            if isinstance(obj, DictVal) and _hashable(key):
                obj.items[key] = value
            elif isinstance(obj, DictVal):
                # d[str(device)] = v: which item changed is unknown, so each may now be v
                for k, v in obj.items.items():
                    obj.items[k] = join(resolved(v), value)
                obj.unknown_key = join_unknown_key(obj.unknown_key, value)
            elif isinstance(obj, Seq) and isinstance(key, int) and -len(obj.items) <= key < len(obj.items):
                obj.items[key] = value
            elif isinstance(obj, Layer) and obj.children is not None and isinstance(key, str):
                _layer_set_child(obj, key, value)
            elif isinstance(obj, Tensor):
                obj.fill = None  # t[i] = v: its elements are no longer one known value
        elif t is ast.Starred:
            self.assign(target.value, value, frame, stmt)

    def note_star_rank(self, stmt, frame) -> None:
        """``b, n, _ = h.shape`` (or ``h.size()``) with ``h`` of shape ``(*, 96)`` that keeps
        input ``x``'s leading dims: ``x`` has two of them. The first such unpacking of each
        input counts."""
        target = stmt.targets[0]
        if len(stmt.targets) != 1 or not isinstance(target, (ast.Tuple, ast.List)) or \
                any(isinstance(e, ast.Starred) for e in target.elts):
            return
        v = stmt.value
        if isinstance(v, ast.Call) and not v.args and not v.keywords and isinstance(v.func, ast.Attribute) \
                and v.func.attr == "size":
            v = v.func.value
        elif isinstance(v, ast.Attribute) and v.attr == "shape":
            v = v.value
        else:
            return
        t = resolved(frame.env.get(v.id)) if isinstance(v, ast.Name) else None
        if not (isinstance(t, Tensor) and t.shape is None and t.tail and t.star_of):
            return
        lead = len(target.elts) - len(t.tail)
        if self.rank_branches:
            # `if input_ndim == 4: b, c, h, w = x.shape` tells the rank of one path, not the
            # input's (diffusers' attention processors take rank 3 and 4)
            return
        if lead >= 0 and t.star_of not in self.star_ranks:
            names = [e.id if isinstance(e, ast.Name) and e.id != "_" else None for e in target.elts]
            self.star_ranks[t.star_of] = (names[:lead], stmt.lineno, names[lead:])

    def note_asserted_rank(self, test, frame: Frame, op) -> None:
        """``assert len(timesteps.shape) == 1`` (or ``if x.ndim != 3: raise``) on an input
        whose rank nothing told yet: forward runs only with that rank (diffusers'
        get_timestep_embedding)."""
        found = _rank_test(test, op)
        if found is None or self.undecided_ifs or self.rank_branches:
            return
        node, rank = found
        t = resolved(frame.env.get(node.id)) if isinstance(node, ast.Name) else None
        if not isinstance(t, Tensor) or t.shape is not None:
            return
        if self.hints is not None and t.probe and not t.probe.startswith(_DERIVED_PROBE) \
                and ("rank", t.probe) not in self.hints:
            self.hints[("rank", t.probe)] = [None] * rank
        elif self.star_ranks is not None and t.tail and t.star_of and t.star_of not in self.star_ranks \
                and rank >= len(t.tail):
            lead = rank - len(t.tail)
            self.star_ranks[t.star_of] = ([None] * lead, test.lineno, [None] * len(t.tail))

    def note_permuted_rank(self, t: Tensor, a: Args) -> None:
        """``x.permute(0, 2, 3, 1)`` as the first thing done to an input: permute names every
        dim, so the input has four (timm's LayerNorm2d)."""
        order = a.args[0] if len(a.args) == 1 and isinstance(a.args[0], Seq) else a.args
        order = order.items if isinstance(order, Seq) else order
        if self.hints is None or self.undecided_ifs or t.probe.startswith(_DERIVED_PROBE) \
                or ("rank", t.probe) in self.hints or t.probe in self.hints or not order \
                or not all(isinstance(i, int) for i in order):
            return
        self.hints[("rank", t.probe)] = [None] * len(order)

    def note_pattern_rank(self, a: Args, node) -> None:
        """``rearrange(z, 'b n (c d) -> b n c d')`` on ``(*, D)`` that keeps input ``z``'s
        leading dims: the pattern names every axis, so ``z`` has as many (as an unpacking
        of its shape would say, see note_star_rank)."""
        t = a.args[0] if a.args else None
        pattern = a.args[1] if len(a.args) > 1 else a.kwargs.get("pattern")
        if not (isinstance(t, Tensor) and t.shape is None and t.tail and t.star_of and isinstance(pattern, str)) \
                or self.undecided_ifs or t.star_of in self.star_ranks or node is None:
            # (under an undecided if, the pattern may be one path's: vector-quantize's
            # `if only_one: x = rearrange(x, 'b d -> b 1 d')` where only_one = x.ndim == 2)
            return
        groups = parse_side(pattern.partition("->")[0])
        if not groups or ["..."] in groups:
            return
        lead = len(groups) - len(t.tail)
        if lead >= 0:
            names = [axis_name(g) for g in groups]
            self.star_ranks[t.star_of] = (names[:lead], node.lineno, names[lead:])

    def unpack(self, value, n):
        if isinstance(value, Seq):
            if n is None or len(value.items) == n:
                return list(value.items)
            return None
        if isinstance(value, Tensor) and value.shape and n is not None:
            if isinstance(value.shape[0], int) and value.shape[0] == n:
                return [Tensor(value.shape[1:], value.dtype) for _ in range(n)]
            return None
        if isinstance(value, Layer) and value.children is not None:
            return list(value.children) if n is None or len(value.children) == n else None
        if isinstance(value, Choice):
            items = self.iter_items(value)
            return items if items is not None and (n is None or len(items) == n) else None
        return None

    def set_attr(self, obj, name, value, target, frame):
        if isinstance(obj, Instance):
            setter = _property_setter(obj.cls, name)
            if setter is not None:  # self.max_seq_length = n runs the property's setter
                self.call_func(setter, Args([obj, value]), target)
                return
            name = _attribute_alias(obj, name)
            obj.attrs[name] = value
            if self.recording and isinstance(value, Layer) and frame.func is not None \
                    and frame.func.node.name == "__init__":
                self.record_layer(obj.cls.name, name, target, value)
        elif isinstance(obj, (Obj,)):
            obj.attrs[name] = value
        elif isinstance(obj, ClassVal):
            obj.attrs[name] = value
        elif isinstance(obj, Layer):
            obj.attrs[name] = value
            source = self.layer_weights.get(id(value))
            if source is not None and source[0] is not obj:  # lm_head.weight = wte.weight
                obj.attrs.setdefault(TIED, {})[name] = source[:2]

    # ------------------------------------------------------------------ recording
    def record_binding(self, target, value, frame, stmt):
        if not self.recording or not self.shapes_wanted or frame.scope == "<class>":
            return
        if value is UNK or (isinstance(value, Seq) and value.kind != "size" and
                            _flatten_tensors(value) is None):
            # this execution of the statement bound something we cannot follow: what was
            # recorded for it from other executions no longer holds for all of them
            key = (frame.scope, stmt.lineno, target.col_offset, target.id)
            old = self.rec.bindings.get(key)
            # on guessed inputs, another run that could not follow the value does not blur
            # what an earlier run found (see _merge)
            if old is not None and (old[0] < self.quality or (old[0] == self.quality and (
                    self.quality > INFERRED or not self.rec.other_run(self.rec.bindings, key)))):
                self.rec.run_of[(id(self.rec.bindings), key)] = self.rec.run
                self.rec.wrote(self.rec.bindings, key)
                elems = old[3][2]
                kept = _rank_only(old[1]) if old[0] == self.quality <= INFERRED else None
                self.rec.bindings[key] = (self.quality, kept, None if elems is None else old[2],
                                          (old[3][0], "", None if elems is None else
                                           [(sfx, None, None) for sfx, _, _ in elems]))
            return
        if isinstance(value, Tensor):
            key = (frame.scope, stmt.lineno, target.col_offset, target.id)
            self.rec._merge(self.rec.bindings, key, self.quality, value.shown_shape, value.dtype,
                            (target, value.origin, None), nested=len(self.call_stack) > 1, vague=value.vague)
            self.record_hover(target, value)
        elif isinstance(value, Seq) and value.items and value.kind != "size" and \
                all(isinstance(x, (Tensor, Seq)) for x in value.items):
            elems = _flatten_tensors(value)
            if not elems:
                return
            key = (frame.scope, stmt.lineno, target.col_offset, target.id)
            old = self.rec.bindings.get(key)
            if old is not None and old[0] == self.quality and old[3][2] is not None:
                # a tuple grown trip by trip (``output_states += (h,)``) keeps the items some
                # trips bound, each joined over the trips that bound it; items that differ
                # otherwise are unknown
                longer, shorter = (old[3][2], elems) if len(old[3][2]) > len(elems) else (elems, old[3][2])
                other = {s: (sh, dt) for s, sh, dt in shorter}
                if not set(other) <= {s for s, _, _ in longer}:
                    elems = [(s, None, None) for s, _, _ in elems]
                else:
                    elems = [(s, dims.join_shape(other[s][0], sh), dt if dt == other[s][1] else None)
                             if s in other else (s, sh, dt) for s, sh, dt in longer]
            if old is None or self.quality >= old[0]:
                self.rec.bindings[key] = (self.quality, None, None, (target, "", elems))
                self.rec.wrote(self.rec.bindings, key)

    def record_hover(self, node, value):
        if not self.recording or not self.shapes_wanted or not isinstance(value, Tensor):
            return
        key = (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)
        self.rec._merge(self.rec.hovers, key, self.quality, value.shown_shape, value.dtype, (node, value.origin),
                        nested=len(self.call_stack) > 1, vague=value.vague)

    def record_layer(self, owner, attr, node, layer: Layer):
        key = (owner, attr, node.lineno, node.col_offset)
        old = self.rec.layers.get(key)
        if old is not None and old[0] >= self.quality:
            return
        self.rec.layers[key] = (self.quality, node, layer)
        if layer.children is not None and not layer.qual.endswith("ModuleDict"):
            for i, child in enumerate(layer.children):
                if isinstance(child, Layer) and child.line:
                    name = layer.child_names[i] if layer.child_names and i < len(layer.child_names) else str(i)
                    sub = f"{attr}.{name}" if name and not name.isdigit() else f"{attr}[{i}]"
                    ckey = (owner, sub, child.line, child.col)
                    self.rec.layers[ckey] = (self.quality, None, child)

    def conflict(self, call: OpCall, node, layer: Optional[Layer], store=None):
        store = self.rec.conflicts if store is None else store
        for c in call.conflicts:
            if not self.recording:
                continue
            related = []
            fix = None
            if layer is not None and layer.line:
                related.append(Related(layer.line, layer.col, f"{layer.call_text} is defined here"))
                if c.get("fix"):
                    pname, new = c["fix"]
                    argnode = layer.ctor.nodes.get(pname) if isinstance(layer.ctor, Ctor) else None
                    if argnode is not None and isinstance(argnode, ast.Constant):
                        fix = TextFix(f"Set {pname}={new} in {layer.name}",
                                      [TextEdit(argnode.lineno, argnode.col_offset, argnode.end_lineno,
                                                argnode.end_col_offset, str(new))])
            key = (node.lineno, node.col_offset, c["kind"])
            if key in store or key in self.rec.conflicts:
                continue
            store[key] = ShapeConflict(
                kind=c["kind"], line=node.lineno, col=node.col_offset, end_line=node.end_lineno,
                end_col=node.end_col_offset, message=c["message"], expected=c.get("expected", ""),
                got=c.get("got", ""), related=related, fix=fix)

    # ------------------------------------------------------------------ expressions
    def eval(self, node, frame: Frame):
        # tick() inlined: this runs for every expression (a tenth of ``check``'s time)
        self.steps += 1
        if self.steps > self.step_limit:
            raise BudgetExceeded()
        self.until_check -= 1
        if not self.until_check:
            self.check_clock()
        t = type(node)
        method = _EVAL.get(t)
        if method is None:
            return UNK
        value = method(self, node, frame)
        if value is UNK:
            if t in _MAY_RAISE:
                self.may_raise += 1
            return value
        if self.recording:
            vt = type(value)
            if vt is Tensor:
                if self.shapes_wanted and t in _HOVERABLE:
                    self.record_hover(node, value)
            elif vt is Layer and t is ast.Attribute:
                self.rec.layer_uses[(node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)] = value
        return value

    def e_constant(self, node, frame):
        return node.value

    def e_name(self, node, frame):
        name = node.id
        env = frame.env
        if name in env:
            v = env[name]
            return v.resolve() if type(v) is LazyImport else v
        if name in self.globals:
            v = self.globals[name]
            return v.resolve() if type(v) is LazyImport else v
        if (self.pending_stars or self.star_found) and name not in BUILTIN_NAMES:
            v = self.module_global(name)
            if v is not _NOT_BOUND:
                return v.resolve() if type(v) is LazyImport else v
        if name in BUILTIN_NAMES:
            if name == "True":
                return True
            if name == "False":
                return False
            if name == "None":
                return None
            return Ref("builtins." + name)
        if frame.func is not None and (name not in self.module_names() or name in self.absent_modules):
            # Python raises NameError here: the path that reads it is not the one that runs
            # (diffusers' GEGLU: torch_npu.npu_geglu(...) under is_torch_npu_available())
            raise _NameErrorPath(name)
        return UNK

    def e_tuple(self, node, frame):
        items = self.eval_elts(node.elts, frame)
        return UNK if items is None else Seq(items, "tuple")

    def e_list(self, node, frame):
        items = self.eval_elts(node.elts, frame)
        return UNK if items is None else Seq(items, "list")

    def e_set(self, node, frame):
        return UNK

    def eval_elts(self, elts, frame):
        out = []
        for e in elts:
            if isinstance(e, ast.Starred):
                v = self.eval(e.value, frame)
                items = self.iter_items(v)
                if items is None:
                    return None
                out.extend(items)
            else:
                out.append(self.eval(e, frame))
        return out

    def e_dict(self, node, frame):
        d = {}
        for k, v in zip(node.keys, node.values):
            if k is None:
                other = self.eval(v, frame)
                if isinstance(other, DictVal):
                    d.update(other.items)
                continue
            key = self.eval(k, frame)
            if _hashable(key):
                d[key] = self.eval(v, frame)
        return DictVal(d)

    def e_joinedstr(self, node, frame):
        """f"conv{i}_w" with known parts -> the string (ModuleDict / ParameterDict keys)."""
        parts = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(str(v.value))
            elif isinstance(v, ast.FormattedValue) and v.format_spec is None and v.conversion in (-1, None):
                x = self.eval(v.value, frame)
                if isinstance(x, bool) or not isinstance(x, (int, str)):
                    return UNK
                parts.append(str(x))
            else:
                return UNK
        return "".join(parts)

    def e_lambda(self, node, frame):
        return Func(node, self, "<lambda>", closure=frame.env if frame.scope != "<module>" else None)

    def e_ifexp(self, node, frame):
        c = self.truth(self.eval(node.test, frame))
        if c is True:
            return self.eval(node.body, frame)
        if c is False:
            return self.eval(node.orelse, frame)
        return join(self.eval(node.body, frame), self.eval(node.orelse, frame))  # two modules: a Choice

    def e_namedexpr(self, node, frame):
        v = self.eval(node.value, frame)
        frame.env[node.target.id] = v
        return v

    def e_boolop(self, node, frame):
        vals = []
        for v in node.values:
            x = self.eval(v, frame)
            if isinstance(node.op, ast.And) and isinstance(x, SizeFacts) and vals and \
                    all(isinstance(y, SizeFacts) for y, _ in vals):
                vals[-1] = (SizeFacts(vals[-1][0].pairs + x.pairs), None)
                continue
            c = self.truth(x)
            if isinstance(node.op, ast.And):
                if c is False:
                    return x
            elif c is True:
                return x
            vals.append((x, c))
        # the answer is the last operand, or an earlier one that may have ended the chain; one
        # known not to (``None or hidden // heads``: None is falsy) never is the answer
        maybe = [x for x, c in vals[:-1] if c is None] + [vals[-1][0]]
        out = maybe[0]
        for x in maybe[1:]:
            out = join(out, x)
        return out

    def e_unaryop(self, node, frame):
        v = self.eval(node.operand, frame)
        op = type(node.op)
        if isinstance(v, Tensor):
            qual = {ast.USub: "torch.neg", ast.Invert: "torch.bitwise_not", ast.UAdd: "torch.positive"}.get(op)
            if op is ast.Not:
                return UNK
            return self.call_rule(qual, Args([v]), node, frame) if qual else UNK
        if op is ast.Not:
            c = self.truth(v)
            return UNK if c is None else (not c)
        if op is ast.USub:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return -v
            if isinstance(v, Sym):
                return dims.neg(v)
        if op is ast.UAdd and isinstance(v, (int, float, Sym)):
            return v
        if op is ast.Invert and isinstance(v, int):
            return ~v
        return UNK

    def e_binop(self, node, frame):
        a = self.eval(node.left, frame)
        b = self.eval(node.right, frame)
        return self.binop(node.op, a, b, node)

    def binop(self, op, a, b, node):
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            qual = _TENSOR_BINOPS.get(type(op))
            if qual is None:
                return UNK
            if a is UNK and type(op) is ast.Pow:
                # base ** (arange(0, dim, 2) / dim), the base a config's rope theta: a number
                # (a tensor raised to a tensor power is not how anyone writes it)
                a = NUM
            if isinstance(b, Tensor) and not isinstance(a, Tensor) and type(op) in (ast.Sub, ast.Div, ast.FloorDiv, ast.Pow, ast.Mod):
                return self.call_rule(qual, Args([b, a], {"reverse": True}), node, None)
            args = [a, b] if isinstance(a, Tensor) else [b, a]
            return self.call_rule(qual, Args(args), node, None)
        return scalar_binop(op, a, b)

    def e_compare(self, node, frame):
        left = self.eval(node.left, frame)
        result = True
        for op, comp in zip(node.ops, node.comparators):
            right = self.eval(comp, frame)
            if (isinstance(left, Tensor) or isinstance(right, Tensor)) and type(op) in _TENSOR_CMPS:
                qual = _TENSOR_CMPS[type(op)]
                args = [left, right] if isinstance(left, Tensor) else [right, left]
                return self.call_rule(qual, Args(args), node, frame)
            if type(op) in (ast.In, ast.NotIn) and isinstance(right, Instance) and _mapping_base(right.cls) \
                    and right.cls.lookup("__contains__") is None:
                r = self.call_mapping_method(_MappingMethod(right, "__contains__"), Args([left]), node)
                if type(op) is ast.NotIn and isinstance(r, bool):
                    r = not r
            elif _constant_choice(left) or _constant_choice(right):
                # layer_type == 'c' with layer_type one of ('a', 'f'): False for each
                answers = {scalar_compare(op, x, y) for x in _constants(left) for y in _constants(right)}
                r = answers.pop() if len(answers) == 1 else UNK
            else:
                r = scalar_compare(op, left, right)
            if r is UNK and self.size_facts is not None and len(node.ops) == 1 and type(op) is ast.Eq:
                fact = _size_fact(left, right)
                if fact is not None:
                    return fact
            if r is UNK:
                result = UNK
            elif r is False and result is not UNK:
                return False
            left = right
        return result

    def e_attribute(self, node, frame):
        obj = self.eval(node.value, frame)
        return self.get_attr(obj, node.attr, node, frame)

    def get_attr(self, obj, name, node=None, frame=None):
        if name == "__doc__":
            # code runs as under `python -OO`, docstrings stripped, whatever the object (an
            # unknown one too: transformers' copy_func gives one): libraries support it
            # (its docstring decorators return at once) and no shape depends on a docstring,
            # while building them was a third of `check`'s steps on transformers (its auto
            # classes list some 500 models in theirs, again for every model file)
            return None
        if isinstance(obj, SourceValue):
            return obj.attr(name)
        if obj is None and frame is not None and frame.func is not None and not hasattr(None, name):
            # None.to(dtype): AttributeError, the path that reads it is not the one that runs
            # (diffusers' Flux: `timestep.to(...)` with timestep=None, an optional input)
            self.may_raise += 1
            raise _NameErrorPath(name)
        if isinstance(obj, Choice) and None in obj.options:
            # an object or None (see values.join): reading an attribute of None raises, so
            # the path that goes on holds one of the objects
            rest = [o for o in obj.options if o is not None]
            obj = rest[0] if len(rest) == 1 else Choice(rest)
        if isinstance(obj, Choice) and obj.options and all(isinstance(o, Instance) for o in obj.options):
            found = [self.get_attr(o, name, node, frame) for o in obj.options]
            methods = [v for v in found if isinstance(v, (Bound, Func))]
            if methods and all(v is UNK or isinstance(v, (Bound, Func)) for v in found):
                # an object without the method is not the one the program calls it on
                return Choice(methods) if len(methods) > 1 else methods[0]
            if all(isinstance(v, (Bound, Func, Instance, Layer)) for v in found):
                return Choice(found)
            out = found[0]
            for v in found[1:]:
                out = join(out, v)
            return out
        if name == "from_config" and (auto := _auto_model_name(obj)) is not None:
            return _AutoFromConfig(auto)
        if isinstance(obj, _SuperProxy):
            return _get_attr_super(self, obj, name, node, frame)
        if isinstance(obj, Ref):
            if name in ("__name__", "__qualname__") and _is_library_class(obj):
                return obj.qual.rsplit(".", 1)[-1]  # timm: norm_layer.__name__.lower()
            constant = _LIBRARY_CONSTANTS.get(f"{obj.qual}.{name}")
            if constant is not None:  # torch.pi in a GELU's tanh approximation
                return constant
            # a name with a rule is the rule's, as `from M import name` reads it (einx.subtract
            # through `import einx`)
            if self.lookup_rule(f"{obj.qual}.{name}") is None and (obj.qual.split(".")[0] not in _LIBRARY_ROOTS or
                                                                   _reads_from_source(obj.qual)):
                # `import pkg.model` then `pkg.model.Block` or getattr(pkg.model, name): a
                # workspace module reached through attributes, read as `from` would read it
                # (and `torchvision.models.resnet18`, a library read from its source)
                other = self.load_workspace_module(obj.qual)
                if other is not None:
                    v = other.module_global(name)
                    if v is not _NOT_BOUND:
                        # a package's re-export (`from torchtune import rlhf` then
                        # rlhf.masked_mean): its own import, looked up now
                        return v.resolve() if type(v) is LazyImport else v
            return Ref(f"{obj.qual}.{name}")
        if isinstance(obj, Tensor):
            return self.tensor_attr(obj, name, node)
        if isinstance(obj, Instance):
            if name in obj.attrs:
                return obj.attrs[name]
            alias = _attribute_alias(obj, name)
            if alias in obj.attrs:
                return obj.attrs[alias]
            v = obj.cls.lookup(name)
            if v is None and name in _MAPPING_MIXIN and isinstance(obj.attrs.get("__dict_items__"), DictVal):
                return _MappingMethod(obj, name, raw=True)
            if v is None and name in _MAPPING_MIXIN and _mapping_base(obj.cls):
                return _MappingMethod(obj, name)
            if isinstance(v, Func):
                deco = {_deco_name(d) for d in getattr(v.node, "decorator_list", [])}
                if "property" in deco or "cached_property" in deco or "functools.cached_property" in deco:
                    return self.call_func(v, Args([obj]), node)
                if "staticmethod" in deco:
                    return v
                return Bound(obj, v)
            if v is not None:
                return v
            base = obj.attrs.get("__layer__")
            if isinstance(base, Layer):
                v = self.get_attr(base, name, node, frame)
                if not isinstance(v, Bound):
                    return v
            if obj.cls.is_module and name == "training":
                return UNK
            if obj.cls.is_module and (name in _MODULE_METHODS or (
                    name in ("items", "values", "keys", "append") and _container_base(obj.cls))):
                return Bound(obj, name)
            return UNK
        if isinstance(obj, ClassVal):
            v = obj.lookup(name)
            if v is None and name == "apply" and _is_autograd_function(obj):
                # Fn.apply(*args) runs the staticmethod forward(ctx, *args)
                fwd = obj.lookup("forward")
                return Partial(fwd, [Obj({}, "ctx")], {}) if isinstance(fwd, Func) else UNK
            return v if v is not None else UNK
        if isinstance(obj, Layer):
            if name in obj.attrs:
                return obj.attrs[name]
            if obj.children is not None and obj.child_names and name in obj.child_names:
                return obj.children[obj.child_names.index(name)]
            rule = obj.rule
            built = self.submodule(obj, name)
            if built is not None:
                return built
            if isinstance(rule, LayerRule):
                if rule.weights is not None:
                    try:
                        w = rule.weights(obj.ctor)
                    except Exception:
                        w = None
                    if w and name in w:
                        if w[name] is None:
                            return None if name == "bias" else Tensor(None)
                        weight = Tensor(w[name], "float", f"{obj.call_text}.{name}")
                        self.layer_weights[id(weight)] = (obj, name, weight)  # weight tying reads it
                        return weight
                if isinstance(obj.ctor, Ctor) and name in obj.ctor.values:
                    return obj.ctor.values[name]
            return Bound(obj, name)
        if isinstance(obj, Obj):
            return obj.attrs.get(name, UNK) if name in obj.attrs else (
                Bound(obj, name) if obj.name == "argparse" else UNK)
        if isinstance(obj, Seq) and obj.names and name in obj.names:
            return obj.items[obj.names.index(name)]
        if isinstance(obj, (Seq, DictVal, str)):
            return Bound(obj, name)
        if isinstance(obj, (int, float)) and not isinstance(obj, bool) and name in _NUMBER_METHODS:
            return Bound(obj, name)
        return UNK

    def submodule(self, layer: Layer, name):
        """The layer a library module built in its constructor under ``name``, as its rule
        describes it (``LayerRule.submodules``), built once; None when the rule says nothing."""
        rule = layer.rule
        if not isinstance(rule, LayerRule) or rule.submodules is None or not isinstance(layer.ctor, Ctor):
            return None
        try:
            spec = rule.submodules(layer.ctor).get(name)
        except Exception:
            return None
        if spec is None:
            return None

        def build(v):
            if not isinstance(v, LayerSpec):
                return v
            inner = self.lookup_rule(v.qual)
            if not isinstance(inner, LayerRule):
                return UNK
            return self.make_layer(v.qual, inner, Args([build(a) for a in v.args],
                                                       {k: build(x) for k, x in v.kwargs.items()}), None)

        layer.attrs[name] = built = build(spec)
        return built

    def tensor_attr(self, t: Tensor, name, node):
        if name == "shape":
            return size_of(t)
        if name in ("T", "mT", "mH", "H"):
            return self.call_rule(f"torch.Tensor.{name}", Args([t]), node, None)
        if name == "ndim":
            return t.rank if t.rank is not None else UNK
        if name in ("data", "real", "imag"):
            # an in-place op on t.data changes t (vector-quantize's self.initted.data.copy_):
            # t's value is known no longer
            t.fill = None
            return Tensor(t.shape, t.dtype, t.origin)
        if name == "grad":
            return Tensor(t.shape, t.dtype)
        if name == "dtype":
            # a dtype nobody knows is still a dtype: .to(x.dtype) must not keep the old one
            return Ref(f"torch.{_DTYPE_NAMES.get(t.dtype, 'dtype')}") if t.dtype else UNKNOWN_DTYPE
        if name in ("device", "requires_grad", "is_cuda", "layout"):
            return UNK
        if name == "is_meta":
            # the shapes described are a run's on real data (as torch.jit.is_tracing() is
            # False): torchtune's RoPE returns early on the meta device, before its cache
            return False
        return Bound(t, name)

    def e_subscript(self, node, frame):
        obj = self.eval(node.value, frame)
        key = self.eval(node.slice, frame)
        return self.subscript(obj, key, node, frame)

    def e_slice(self, node, frame):
        return SliceVal(self.eval(node.lower, frame) if node.lower else None,
                        self.eval(node.upper, frame) if node.upper else None,
                        self.eval(node.step, frame) if node.step else None)

    def subscript(self, obj, key, node, frame):
        if isinstance(obj, SourceValue) and not isinstance(obj, DictVal):  # dataset[i]: one sample
            return obj.method("__getitem__", Args([key]))
        if isinstance(obj, Tensor):
            return self.call_rule("torch.Tensor.__getitem__", Args([obj, key]), node, frame)
        if isinstance(obj, Seq):
            v = _plain_index(obj.items, int(key) if isinstance(key, bool) else key)
            if v is _NOT_PLAIN:
                return UNK
            if isinstance(key, SliceVal):
                return Seq(v, obj.kind)
            return v if v is not None or obj.kind != "size" else NUM
        if isinstance(obj, str):
            # 'enc_depth'[len('enc_'):]: x-transformers' groupby_prefix_and_trim names the
            # encoder's keyword arguments so
            v = _plain_index(obj, key)
            return UNK if v is _NOT_PLAIN else v
        if isinstance(obj, DictVal):
            if _hashable(key) and key in obj.items:
                return obj.items[key]
            if (key is UNK or key is NUM or isinstance(key, Sym)) and 1 < len(obj.items) <= 16 and \
                    all(isinstance(v, (ClassVal, Func)) for v in obj.items.values()):
                # LAYER_TYPES[layer_type](...) with the type unknown: one of the classes the table
                # holds, built as each (transformers' DYNAMIC_LAYER_TYPE_MAPPING)
                return Choice(list(dict.fromkeys(obj.items.values())))
            if not _hashable(key) and not obj.items and obj.unknown_key is not None:
                return obj.unknown_key  # a cache written and read back under the same unknown key
            return UNK
        if isinstance(obj, SeqPrefix):
            return _prefix_subscript(obj, key)
        if _is_repeated(obj):
            return obj if isinstance(key, SliceVal) else _repeated_item(obj)
        if isinstance(obj, Layer) and obj.children is not None:
            if isinstance(key, int) and not isinstance(key, bool):
                if -len(obj.children) <= key < len(obj.children):
                    return obj.children[key]
            if isinstance(key, str) and obj.child_names and key in obj.child_names:
                return obj.children[obj.child_names.index(key)]
            if (key is NUM or isinstance(key, Sym)) and 1 < len(obj.children) <= 64 and all(
                    isinstance(c, Layer) or (isinstance(c, Instance) and c.cls.is_module) for c in obj.children):
                # experts[int(expert_id)] with the id from the data: one of them, called as each
                return Choice(list(obj.children))
            if (key is NUM or isinstance(key, Sym)) and obj.children and all(
                    c is None or isinstance(c, Layer) or (isinstance(c, Instance) and c.cls.is_module)
                    for c in obj.children):
                # skip_combines[i], None where a layer has none: None, or one of the modules
                return functools.reduce(join, obj.children)
            if isinstance(key, SliceVal):
                lo, hi, st = _hinted_slice(key)
                if all(x is None or isinstance(x, int) for x in (lo, hi, st)):
                    names = obj.child_names[slice(lo, hi, st)] if obj.child_names else None
                    return Layer(obj.qual, obj.rule, obj.ctor, obj.call_text, obj.line, obj.col,
                                 obj.end_line, obj.end_col, obj.children[slice(lo, hi, st)], names)
            return UNK
        if isinstance(obj, Obj):
            return obj.attrs.get(key, UNK) if _hashable(key) else UNK
        if isinstance(obj, Instance) and isinstance(obj.cls.lookup("__getitem__"), Func):
            return self.call_func(obj.cls.lookup("__getitem__"), Args([obj, key]), node)
        if isinstance(obj, Instance) and isinstance(obj.attrs.get("__dict_items__"), DictVal):
            return self.call_mapping_method(_MappingMethod(obj, "__getitem__", raw=True), Args([key]), node)
        if isinstance(obj, Instance) and _container_base(obj.cls) is not None:
            mods = _registered_modules(obj)
            if isinstance(key, str):
                return dict(mods).get(key, UNK)
            if isinstance(key, int) and not isinstance(key, bool) and -len(mods) <= key < len(mods):
                return mods[key][1]
            return UNK
        if isinstance(obj, Ref):
            # typing generics (Optional[Tensor]) and dtype lookups: not values we track, but
            # for an alias that may be a tensor (torchtune's ``_MaskType = Union[torch.Tensor,
            # BlockMask]``): a parameter annotated with it is an optional tensor
            if obj.qual in ("typing.Union", "typing.Optional"):
                options = key.items if isinstance(key, Seq) else [key]
                return next((o for o in options if isinstance(o, Ref) and _is_tensor_type(o.qual)), UNK)
            return UNK
        return UNK

    def e_starred(self, node, frame):
        return self.eval(node.value, frame)

    def e_comp(self, node, frame):
        """List/generator/set comprehension over known iterables (unrolled), else UNK."""
        alike = self._repeated_comp(node, frame)
        if alike is not None:
            return alike
        results = []
        ok = self._comp(node.generators, 0, dict(frame.env), frame, node, results)
        if not ok:
            return UNK
        if isinstance(node, ast.DictComp):
            d = {}
            for k, v in results:
                if not _hashable(k):
                    return UNK
                d[k] = v
            return DictVal(d)
        return Seq(results, "list")

    def _repeated_comp(self, node, frame):
        """``[Block(cfg) for _ in range(n)]`` with ``n`` unknown: one item built stands for
        each (a Repeated), as a loop of unknown trips runs its body for any trip."""
        if isinstance(node, ast.DictComp) or len(node.generators) != 1 or node.generators[0].ifs:
            return None
        gen = node.generators[0]
        f = Frame(dict(frame.env), frame.scope, frame.func, frame.self_val, frame.cls)
        it = self.eval(gen.iter, f)
        if not _is_repeated(it):
            return None
        self.assign_quiet(gen.target, _repeated_item(it), f)
        return Repeated(self.eval(node.elt, f))

    def _comp(self, gens, i, env, frame, node, results) -> bool:
        if i == len(gens):
            f = Frame(env, frame.scope, frame.func, frame.self_val, frame.cls)
            if isinstance(node, ast.DictComp):
                results.append((self.eval(node.key, f), self.eval(node.value, f)))
            else:
                results.append(self.eval(node.elt, f))
            return len(results) <= 512
        gen = gens[i]
        f = Frame(env, frame.scope, frame.func, frame.self_val, frame.cls)
        items = self.iter_items(self.eval(gen.iter, f))
        if items is None or len(items) > 512:
            return False
        for item in items:
            env2 = dict(env)
            f2 = Frame(env2, frame.scope, frame.func, frame.self_val, frame.cls)
            self.assign_quiet(gen.target, item, f2)
            keep = True
            for cond in gen.ifs:
                c = self.truth(self.eval(cond, f2))
                if c is None:
                    return False
                if not c:
                    keep = False
                    break
            if keep and not self._comp(gens, i + 1, env2, frame, node, results):
                return False
        return True

    def assign_quiet(self, target, value, frame):
        was = self.recording
        self.recording = False
        try:
            self.assign(target, value, frame, target)
        finally:
            self.recording = was

    def e_await(self, node, frame):
        return UNK

    # ------------------------------------------------------------------ calls
    def e_call(self, node, frame):
        fn = self.eval(node.func, frame)
        if fn is None and type(node.func) is ast.Name and _SHAPE_KEEPING_PARAM.match(node.func.id) \
                and frame.func is not None and node.func.id in _param_names(frame.func.node):
            # timm's Bottle2neck(norm_layer=None) calls norm_layer(width): calling None raises,
            # so the path runs with a layer given; a norm or an activation keeps the shape
            fn = Ref("torch.nn.Identity")
        args, kwargs, anodes, knodes = [], {}, [], {}
        unknown_star = open_tail = unknown_positional = False
        repeated = None
        maybe = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                v = self.eval(a.value, frame)
                items = self.iter_items(v)
                if isinstance(v, SeqPrefix) and a is node.args[-1]:
                    # f(fn, n, *args) with args known at its start: those are the next
                    # positional arguments, the rest unknown
                    args.extend(v.items)
                    anodes.extend([None] * len(v.items))
                    unknown_star = unknown_positional = True
                    open_tail = True
                    maybe = v.maybe
                    continue
                if items is None:
                    unknown_star = unknown_positional = True
                    if _is_repeated(v) and len(node.args) == 1:
                        repeated = v  # nn.Sequential(*[Block() for _ in range(n)])
                    continue
                args.extend(items)
                anodes.extend([None] * len(items))
            else:
                args.append(self.eval(a, frame))
                anodes.append(a)
        for kw in node.keywords:
            v = self.eval(kw.value, frame)
            if kw.arg is None:
                if isinstance(v, DictVal):
                    for k, x in v.items.items():
                        if isinstance(k, str):
                            kwargs[k] = x
                elif isinstance(v, Obj):
                    kwargs.update(v.attrs)
                else:
                    unknown_star = True
                continue
            kwargs[kw.arg] = v
            knodes[kw.arg] = kw.value
        a = Args(args, kwargs, anodes, knodes)
        a.unknown_star = unknown_star
        # f(*x.shape[:-1], -1, 2) with x of unknown rank: which position each argument
        # after the star takes is unknown (see call_rule)
        a.unknown_positional = unknown_positional
        a.open_tail = open_tail
        a.repeated = repeated
        a.maybe = maybe
        return self.call(fn, a, node, frame)

    def call(self, fn, a: Args, node, frame):
        self.tick()
        if isinstance(fn, Ref):
            return self.call_ref(fn.qual, a, node, frame)
        if isinstance(fn, Func):
            return self.call_func(fn, a, node)
        if isinstance(fn, Bound):
            return self.call_bound(fn, a, node, frame)
        if isinstance(fn, Layer):
            return self.call_layer(fn, a, node, frame)
        if isinstance(fn, ClassVal):
            return self.instantiate(fn, a, node)
        if isinstance(fn, Instance):
            if fn.cls.is_module:
                return self.call_module(fn, a, node, frame)
            call = fn.cls.lookup("__call__")
            if isinstance(call, Func):
                return self.call_func(call, Args([fn] + a.args, a.kwargs), node)
            return UNK
        if isinstance(fn, Choice):
            return self.call_choice(fn, a, node, frame)
        if isinstance(fn, _MappingMethod):
            return self.call_mapping_method(fn, a, node)
        if isinstance(fn, _AutoFromConfig):
            return self.call_auto_from_config(fn, a, node)
        if isinstance(fn, _DataclassInit):
            self._construct(fn.inst, fn.cls, a, node)
            return None
        if isinstance(fn, _ContainerInit):
            inst = fn.inst
            if isinstance(inst, Instance):
                items = list(a.args)
                if len(items) == 1 and isinstance(items[0], DictVal):
                    items = list(items[0].items.items())
                else:
                    if fn.kind != "Sequential" and len(items) == 1:
                        known = self.iter_items(items[0])
                        items = known if known is not None else [UNK]
                    items = [(str(i), v) for i, v in enumerate(items)]
                for k, v in items:
                    inst.attrs[str(k)] = v
                # a child the engine does not know (a helper it could not follow, *args it
                # could not expand) leaves the container's contents unknown: iterating it
                # must not skip that child as if it were not there
                if getattr(a, "unknown_star", False) or not all(
                        isinstance(v, Layer) or (isinstance(v, Instance) and v.cls.is_module) for _, v in items):
                    inst.attrs["__incomplete__"] = True
            return None
        if isinstance(fn, _LayerInit):
            layer = self.make_layer(fn.qual, fn.rule, a, node)
            if isinstance(fn.inst, Instance):
                fn.inst.attrs["__layer__"] = layer
            return None
        if isinstance(fn, Partial):
            merged = _same_star(Args(fn.args + a.args, {**fn.kwargs, **a.kwargs},
                                     [None] * len(fn.args) + a.arg_nodes, a.kw_nodes), a)
            return self.call(fn.func, merged, node, frame)
        if isinstance(fn, SourceValue):
            return fn.call(a)
        return UNK

    def call_choice(self, fn: Choice, a: Args, node, frame):
        """Each module the choice may be, run quietly (a module the program may never
        call must not report a conflict or record a binding); the outputs joined."""
        was = self.recording
        self.recording = False
        try:
            # a None option is the path that does not call (calling None raises)
            outs = [self.call(option, a, node, frame) for option in fn.options if option is not None]
        finally:
            self.recording = was
        if not outs:
            return UNK
        if all(isinstance(o, Instance) for o in outs):
            return Choice(outs)  # one of the objects the classes build: its methods called as each
        if any(o is None for o in outs) and not all(o is None for o in outs):
            # transformers' DummyLayer.update answers None where the others answer (keys,
            # values): code that unpacks the answer is not running on the dummy
            outs = [o for o in outs if o is not None]
        out = outs[0]
        for o in outs[1:]:
            out = join(out, o)
        return out

    def call_ref(self, qual, a: Args, node, frame):
        if qual.startswith("builtins."):
            return self.call_builtin(qual[9:], a, node, frame)
        special = _SPECIAL_REFS.get(qual)
        if special is not None:
            return special(self, a, node, frame)
        rule = self.lookup_rule(qual)
        if rule is None:
            return UNK
        if isinstance(rule, LayerRule):
            return self.make_layer(qual, rule, a, node)
        return self.call_rule(qual, a, node, frame, rule=rule)

    def call_rule(self, qual, a: Args, node, frame, rule=None, layer=None):
        rule = rule or self.lookup_rule(qual)
        if rule is None:
            return UNK
        call = OpCall(qual, a.args, a.kwargs, a.arg_nodes, a.kw_nodes, layer=layer)
        call.unknown_star = getattr(a, "unknown_star", False)  # **kwargs not known: a default may not hold
        if getattr(a, "unknown_positional", False):
            return _unknown_shape_of(rule, call)
        guessed = _any_guess(a.args) or _any_guess(a.kwargs.values())
        try:
            out = _apply_rule(rule, layer, call)
            if _has_tail(a) and not (isinstance(out, Tensor) and (out.shape is not None or out.tail)):
                # MultiheadAttention answers a tuple: its clashes count, its answer stays
                lifted = _lift_tail(rule, qual, a, layer, call)
                if lifted is not None and (isinstance(out, Tensor) or (isinstance(lifted, Seq) and not (
                        isinstance(out, Seq) and any(isinstance(x, Tensor) and x.shape is not None for x in out.items)))):
                    out = lifted
            vague = [v.vague for v in list(a.args) + list(a.kwargs.values()) if isinstance(v, Tensor)]
            if vague and all(vague):
                _mark_vague(out)
            elif any(vague):
                # a vague value beside a tensor the engine followed: ``h + gate * attn(x)``
                # with the attention's input unknown
                out = _as_if_vague_unknown(rule, qual, a, layer, out)
        except Exception as exc:
            self.problems.append(f"line {getattr(node, 'lineno', '?')}: rule {qual} failed: {type(exc).__name__}: {exc}")
            return UNK
        if guessed:
            # from an input whose rank was inferred: kept aside until every rank its first
            # consumer accepts has been tried (see engine._choose_ranks)
            _mark_guess(out)
            if call.conflicts and node is not None:
                if self.trial_conflicts is not None:
                    self.trial_conflicts.extend((node.lineno, node.col_offset, c["kind"]) for c in call.conflicts)
                elif self.recording:
                    self.conflict(call, node, layer, store=self.rec.tentative)
        elif call.conflicts and node is not None:
            self.conflict(call, node, layer)
        if self.star_ranks is not None and qual in _EINOPS_PATTERNED:
            self.note_pattern_rank(a, node)
        probe = next((x.probe for x in a.args[:1] if isinstance(x, Tensor) and x.probe), None)
        if probe and self.hints is not None and not probe.startswith(_DERIVED_PROBE) and probe not in self.hints \
                and getattr(rule, "input_hint", None) is not None and not isinstance(rule, LayerRule):
            self.learn_functional_hint(rule, call, probe, node)
        if probe and isinstance(out, Tensor):
            keeps = rule.keeps_shape if isinstance(rule, LayerRule) else getattr(rule, "keeps_shape", False)
            if keeps == "scalar":  # element-wise: keeps the shape when the other side is a scalar
                keeps = not any(isinstance(x, Tensor) for x in list(a.args[1:]) + list(a.kwargs.values()))
            if not keeps and qual in _KEEPDIM_REDUCTIONS and _spatial_keepdim(a):
                # x.mean((2, 3), keepdim=True) in a squeeze-excite block: rank and channels
                # kept, so the conv that reads the result tells the input's rank too
                keeps = True
            if keeps and out.shape is None and not probe.startswith(_DERIVED_PROBE):
                out.probe = probe
            elif out.dtype is None and a.args[0].dtype is None:
                out.probe = "~" + probe.lstrip(_DERIVED_MARKS)  # same dtype, other shape
        if probe and qual in _SPLITS and isinstance(out, (Seq, Repeated)) and not probe.startswith(_DERIVED_PROBE):
            # timm's MixedConv2d and SelectiveKernel: torch.split(x, splits, 1), then a conv
            # on each piece; a piece has the input's rank (probe ``^x``: rank and dtype)
            for item in out.items if isinstance(out, Seq) else [out.item]:
                if isinstance(item, Tensor) and item.shape is None and not item.probe:
                    item.probe = "^" + probe
        if isinstance(out, (SourceValue, Seq)) and node is not None:
            provenance.stamp(out, self.path, node)
        elif a.args and not guessed:
            provenance.keep_source(out, a.args[0])
        if isinstance(out, Tensor) and node is not None and not out.origin:
            if layer is not None:
                out.origin = f"{layer.call_text}, line {layer.line}" if layer.line else layer.call_text
            else:
                out.origin = f"{qual.replace('torch.Tensor.', '.').replace('torch.nn.functional.', 'F.')}, line {node.lineno}"
        return out

    def make_layer(self, qual, rule: LayerRule, a: Args, node):
        ctor = Ctor(rule, a)
        text = self.src(node) if node is not None else qual.rsplit(".", 1)[-1]
        if text.startswith("nn."):
            text = text[3:]
        elif text.startswith("torch.nn."):
            text = text[9:]
        if len(text) > 60:
            text = text[:57] + "..."
        layer = Layer(qual, rule, ctor, text,
                      getattr(node, "lineno", 0), getattr(node, "col_offset", 0),
                      getattr(node, "end_lineno", 0), getattr(node, "end_col_offset", 0))
        name = layer.name
        if name in ("Sequential", "ModuleList"):
            items = list(a.args)
            names = None
            if name == "Sequential" and len(items) == 1 and isinstance(items[0], DictVal):
                names = [str(k) for k in items[0].items]
                items = list(items[0].items.values())
            elif name == "ModuleList":
                items = self.iter_items(items[0]) if items else []
                if items is None:
                    items = None
            if name == "Sequential" and getattr(a, "unknown_star", False):
                if getattr(a, "maybe", None):
                    layer.maybe_children = list(items) + list(a.maybe)
                items = None
            # nn.Sequential(*[Block() for _ in range(n)]) / nn.ModuleList([...]): one block for all
            source = getattr(a, "repeated", None) if name == "Sequential" else (a.args[0] if a.args else None)
            if items is None:
                layer.repeat = _repeated_item(source)
            if items is not None:
                layer.children = items
                layer.child_names = names or [str(i) for i in range(len(items))]
            else:
                layer.children = None
                layer.child_names = None
                layer.ctor = None
        elif name == "ModuleDict":
            src = a.args[0] if a.args else DictVal({})
            if isinstance(src, DictVal):
                layer.child_names = [str(k) for k in src.items]
                layer.children = list(src.items.values())
            elif isinstance(src, Seq):
                pairs = [p.items for p in src.items if isinstance(p, Seq) and len(p.items) == 2]
                layer.child_names = [str(p[0]) for p in pairs]
                layer.children = [p[1] for p in pairs]
        return layer

    def call_layer(self, layer: Layer, a: Args, node, frame):
        name = layer.name
        if name == "Sequential":
            if layer.children is None and layer.repeat is not None and a.args:
                out = self.call_repeated(layer.repeat, a.args[0], node, frame)
                if isinstance(out, Tensor) and not out.origin:
                    out.origin = f"{layer.call_text}, line {layer.line}" if layer.line else layer.call_text
                return out
            # NesT's levels, built in a loop of a count nobody knows (maybe_children): each
            # level the loop's trips built runs (its lines get shapes), the answer is unknown
            children = layer.children if layer.children is not None else layer.maybe_children
            if children is None or not a.args:
                return UNK
            x = a.args[0]
            for child in children:
                # keep going on an unknown value: the later modules' statements must see
                # this call too (joined to unknown), or their records would hold for only
                # the calls we could follow
                x = self.call(child, Args([x if x is not UNK else Tensor(None, None, vague=True)]), node, frame)
            return x if layer.children is not None else UNK
        if isinstance(layer.rule, LayerRule):
            if a.args and a.args[0] is None and name != "Identity" and frame is not None \
                    and frame.func is not None:
                # SiLU()(None): torch raises, the path that calls it is not the one that runs
                # (diffusers' ResnetBlock2D with its optional temb left None)
                self.may_raise += 1
                self.none_calls += 1
                raise _NameErrorPath(name)
            if a.args and a.args[0] is UNK:
                # the output of a stage the engine could not follow (timm's EfficientNet
                # blocks built from a block_args nobody gave) into a known layer: a tensor
                # of unknown shape, as in a Sequential, so the layer still says what it can
                # (a Conv2d(320, 1280, 1) gives (*, 1280, ?, ?) whatever came in)
                a = _same_star(Args([Tensor(None, None, vague=True)] + a.args[1:], a.kwargs, a.arg_nodes, a.kw_nodes), a)
            out = self.call_rule(layer.qual, a, node, frame, rule=layer.rule, layer=layer)
            if self.hints is not None:
                self.learn_hints(layer, a)
            return out
        return UNK

    def call_repeated(self, block, x, node, frame):
        """``x`` through a stack of unknown depth of blocks alike: run as a loop of unknown
        trips, twice from the joined state, the answer joined with ``x`` (depth 0)."""
        joined = x
        for _ in range(2):
            out = self.call(block, Args([joined if joined is not UNK else Tensor(None, None)]), node, frame)
            joined = join(joined, out)
        return joined

    def learn_functional_hint(self, rule, call: OpCall, probe: str, node) -> None:
        """A probe's first consumer is a functional op that says what it takes
        (``F.conv2d(x, w, groups=g)``: (B, w.shape[1] * g, H, W))."""
        try:
            hint = rule.input_hint(call)
        except Exception:  # noqa: BLE001 - a hint is a bonus, never a failure
            return
        if hint is None:
            return
        where = f"{call.qual.replace('torch.nn.functional.', 'F.')}, line {getattr(node, 'lineno', '?')}"
        self.hints[probe] = (hint[0], hint[1], f"inferred from {where}")
        self.stop_probe_if_done()

    def stop_probe_if_done(self) -> None:
        """Every probed parameter has its first consumer: the probe run ends here."""
        if self.probe_wanted and self.probe_wanted <= self.hints.keys():
            raise ProbeDone()

    def learn_hints(self, layer: Layer, a: Args):
        """A probe's first consumer tells its shape (``Linear(784, ...)`` -> (B, 784));
        a tensor derived from a probe by indexing or reshaping (probe ``~x``) tells only
        its dtype."""
        rule = layer.rule
        hints = None
        for i, x in enumerate(a.args[:3]):
            if not (isinstance(x, Tensor) and x.probe):
                continue
            if hints is None:
                try:
                    hints = rule.input_hints(layer.ctor) if getattr(rule, "input_hints", None) else (
                        [rule.input_hint(layer.ctor)] if rule.input_hint else [])
                except Exception:
                    hints = []
            hint = hints[i] if i < len(hints) else None
            if hint is None:
                continue
            name = x.probe.lstrip(_DERIVED_MARKS)
            if name in self.hints:
                continue
            where = f"{layer.call_text}, line {layer.line}" if layer.line else layer.call_text
            if x.probe.startswith("^") and hint[0] is not None and ("rank", name) not in self.hints \
                    and not self.undecided_ifs:
                self.hints[("rank", name)] = [None] * len(hint[0])
            shape = None if x.probe.startswith(_DERIVED_PROBE) else hint[0]
            alternatives = []
            if shape is not None and getattr(rule, "hint_alternatives", None):
                try:
                    alternatives = list(rule.hint_alternatives(layer.ctor))
                except Exception:
                    alternatives = []
            self.hints[name] = (shape, hint[1], f"inferred from {where}")
            if alternatives:
                self.hints[("alternatives", name)] = alternatives
            if shape is not None and getattr(rule, "any_leading_dims", False):
                self.hints[("any_rank", name)] = True
            self.stop_probe_if_done()

    def call_bound(self, b: Bound, a: Args, node, frame):
        recv, fn = b.receiver, b.func
        if isinstance(fn, Func):
            return self.call_func(fn, _same_star(Args([recv] + a.args, a.kwargs, [None] + a.arg_nodes, a.kw_nodes), a),
                                  node)
        if isinstance(recv, SourceValue):
            return recv.method_in(fn, a, self)
        if isinstance(recv, Tensor):
            return self.tensor_method(recv, fn, a, node, frame)
        if isinstance(recv, Seq):
            return seq_method(recv, fn, a)
        if isinstance(recv, DictVal):
            return dict_method(recv, fn, a)
        if isinstance(recv, Instance):
            return self.module_method(recv, fn, a, node, frame)
        if isinstance(recv, Layer):
            if fn in ("forward", "__call__"):
                return self.call_layer(recv, a, node, frame)
            if fn == "append" and recv.children is not None and a.args:
                recv.children.append(a.args[0])
                recv.child_names.append(str(len(recv.children) - 1))
                return None
            if fn == "extend" and recv.children is not None and a.args:
                items = self.iter_items(a.args[0])
                if items is None:
                    recv.children = None
                else:
                    recv.children.extend(items)
                    recv.child_names = [str(i) for i in range(len(recv.children))]
                return None
            if fn in ("add_module", "register_module") and recv.children is not None and len(a.args) >= 2:
                _layer_set_child(recv, str(a.args[0]), a.args[1])
                return None
            if fn in ("to", "cuda", "cpu", "train", "eval", "float", "double", "half", "requires_grad_"):
                return recv
            if fn == "items" and recv.children is not None and recv.child_names:
                return Seq([Seq([k, v]) for k, v in zip(recv.child_names, recv.children)], "list")
            if fn in ("values", "children") and recv.children is not None:
                return Seq(list(recv.children), "list")
            if fn == "keys" and recv.child_names is not None:
                return Seq(list(recv.child_names), "list")
            return UNK
        if isinstance(recv, Obj) and recv.name == "argparse":
            return argparse_method(recv, fn, a)
        if isinstance(recv, str):
            return str_method(recv, fn, a)
        if isinstance(recv, (int, float)) and fn in _NUMBER_METHODS and not a.kwargs and \
                all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in a.args):
            # math.log2(n).is_integer(): a power-of-two test on a known number
            try:
                return getattr(recv, fn)(*a.args)
            except (ArithmeticError, TypeError, ValueError):
                return UNK
        return UNK

    def tensor_method(self, t: Tensor, name, a: Args, node, frame):
        if name.endswith("_") and not name.startswith("_"):
            t.fill = None  # copy_, fill_, add_...: its elements are no longer the known value
        if name == "size" and not a.args and not a.kwargs and t.shape is None:
            return size_of(t)
        if name == "permute" and t.probe and t.shape is None:
            self.note_permuted_rank(t, a)
        qual = f"torch.Tensor.{name}"
        return self.call_rule(qual, _same_star(Args([t] + a.args, a.kwargs, [None] + a.arg_nodes, a.kw_nodes), a),
                              node, frame)

    def module_method(self, inst: Instance, name, a: Args, node, frame):
        if name in ("forward", "__call__"):
            return self.call_module(inst, a, node, frame)
        if name in ("register_buffer", "register_parameter") and len(a.args) >= 2 and isinstance(a.args[0], str):
            inst.attrs[a.args[0]] = a.args[1]
            return None
        if name in ("add_module", "register_module") and len(a.args) >= 2 and isinstance(a.args[0], str):
            inst.attrs[a.args[0]] = a.args[1]
            return None
        if name in ("to", "cuda", "cpu", "train", "eval", "float", "double", "half", "requires_grad_", "apply"):
            return inst
        if name == "children" and not a.args and not inst.attrs.get("__incomplete__") and not any(
                v is UNK or isinstance(v, Choice) for v in inst.attrs.values()):
            # torchvision's resnet18 without its head: nn.Sequential(*list(m.children())[:-1]);
            # an attribute the engine does not know may be a module, so then it is unknown
            return Seq([v for _, v in _registered_modules(inst)], "list")
        if _container_base(inst.cls) is not None:
            mods = _registered_modules(inst)
            if inst.attrs.get("__incomplete__") and name in ("items", "values", "keys"):
                return UNK
            if name == "items":
                return Seq([Seq([k, v]) for k, v in mods], "list")
            if name == "values":
                return Seq([v for _, v in mods], "list")
            if name == "keys":
                return Seq([k for k, _ in mods], "list")
            if name == "append" and a.args:
                inst.attrs[str(len(mods))] = a.args[0]
                return inst
        return UNK

    def call_module(self, inst: Instance, a: Args, node, frame):
        fwd = inst.cls.lookup("forward")
        own = inst.attrs.get("forward")
        if isinstance(own, Bound) and own.receiver is inst and isinstance(own.func, Func):
            fwd = own.func  # timm's fasternet: self.forward = self.forward_split_cat, chosen in __init__
        if not isinstance(fwd, Func) and isinstance(inst.cls.lookup("__call__"), Func):
            # a module class that defines __call__ and no forward (diffusers' attention processors
            # that hold weights, IPAdapterAttnProcessor2_0(nn.Module)): calling it runs __call__
            fwd = inst.cls.lookup("__call__")
        if not isinstance(fwd, Func):
            base = inst.attrs.get("__layer__")
            if isinstance(base, Layer):
                return self.call_layer(base, a, node, frame)
            if _container_base(inst.cls) == "Sequential" and a.args:
                if inst.attrs.get("__incomplete__"):
                    return UNK  # a child the engine does not know: the output is unknown
                x = a.args[0]
                for _, m in _registered_modules(inst):
                    x = self.call(m, Args([x]), node, frame)
                    if x is UNK:
                        x = Tensor(None, None)
                return x
            return UNK
        quality = self.quality
        # script code calling a model with inputs it does not know (a DataLoader batch)
        # is no call site: run it for the result but record nothing
        script = frame is not None and not (frame.cls is not None and frame.cls.is_module)
        vague = script and any(v is UNK or (isinstance(v, Tensor) and v.shape is None) for v in a.args)
        # a model's forward passing a block an input it knows nothing of (not even its last
        # dims) tells the block nothing: the block's own run on inputs inferred from its
        # first layer is better (CLIP's Bottleneck inside ModifiedResNet), so this one is
        # neither recorded nor taken as a better-informed call
        # (by keyword alike: diffusers' block(hidden_states=..., temb=temb); not the driver's
        # own run of the model on its inferred inputs, which has no call node)
        given = [*a.args, *(v for v in a.kwargs.values() if isinstance(v, Tensor) or v is UNK)] \
            if node is not None else a.args
        vague = vague or (bool(given) and all(_unknown_input(v) for v in given))
        was = self.recording
        if vague:
            self.recording = False
        try:
            out = self.call_func(fwd, Args([inst] + a.args, a.kwargs, [None] + a.arg_nodes, a.kw_nodes), node)
        finally:
            self.recording = was
        if not self.recording or vague:
            return out
        if script and inst.cls.name not in self.callsite_args:
            self.callsite_args[inst.cls.name] = a
            self.callsite_lines[inst.cls.name] = getattr(node, "lineno", None)
        if script:  # for the file that defines the class, when this one only imports it
            self.callsite_by_path.setdefault((inst.cls.module.path, inst.cls.name), a)
            a.site_line = getattr(node, "lineno", None)  # for the call-site list (provenance)
        key = inst.cls.name
        prev = self.forward_quality.get(key, 0)
        if quality >= prev:
            self.forward_quality[key] = quality
            params = _param_names(fwd.node)[1:]
            ins = {}
            for i, p in enumerate(params):
                v = a.arg(i, p)
                if isinstance(v, Tensor):
                    ins[p] = v.shown_shape  # (*, 256) where only the last dims are known
            old_io = self.forward_io.get(key)
            if old_io is None or quality > old_io[0]:
                self.forward_io[key] = (quality, ins, out.shown_shape if isinstance(out, Tensor) else None)
                if script and inst.ctor_line:
                    self.forward_built[key] = (inst.ctor_line, ins)
            elif quality == old_io[0]:
                merged = {p: _join_input_shapes(s, ins.get(p)) for p, s in old_io[1].items()}
                o = _join_input_shapes(old_io[2], out.shown_shape) if isinstance(out, Tensor) else None
                self.forward_io[key] = (quality, merged, o)
        return out

    # ------------------------------------------------------------------ functions
    def make_func(self, node, frame: Frame, owner=None):
        # Python's __qualname__ (what the tracer and a traceback name): a function defined
        # inside another is ``outer.<locals>.inner``
        qual = node.name if frame.scope in ("<module>",) else (
            f"{owner.name}.{node.name}" if owner is not None else
            f"{frame.scope}.<locals>.{node.name}" if frame.func is not None else f"{frame.scope}.{node.name}")
        f = Func(node, self, qual, closure=frame.env if frame.scope not in ("<module>", "<class>") else None,
                 owner=owner)
        a = node.args
        f.defaults = [self.eval_quiet(d, frame) for d in a.defaults]
        f.kw_defaults = [self.eval_quiet(d, frame) if d is not None else _NO_DEFAULT for d in a.kw_defaults]
        if any(_deco_name(d).rsplit(".", 1)[-1] not in _PLAIN_DECORATORS for d in getattr(node, "decorator_list", ())):
            # transformers' @merge_with_config_defaults fills `use_cache: bool | None = None`
            # from the config: under a wrapper the engine does not run, a flag left None may
            # arrive set, so it is unknown (both paths run)
            params = a.posonlyargs + a.args
            for i, d in enumerate(f.defaults):
                if d is None and _flag_annotation(params[len(params) - len(f.defaults) + i].annotation):
                    f.defaults[i] = UNK
            for i, (p, d) in enumerate(zip(a.kwonlyargs, f.kw_defaults)):
                if d is None and _flag_annotation(p.annotation):
                    f.kw_defaults[i] = UNK
        return f

    def eval_quiet(self, node, frame):
        was = self.recording
        self.recording = False
        try:
            return self.eval(node, frame)
        except (BudgetExceeded, _Return, ProbeDone):
            raise
        except Exception:
            return UNK
        finally:
            self.recording = was

    def bind_params(self, fn: Func, a: Args) -> dict:
        node = fn.node
        args = node.args
        params = [p.arg for p in args.posonlyargs + args.args]
        env = {}
        defaults = getattr(fn, "defaults", [])
        first_default = len(params) - len(defaults)
        pos = list(a.args)
        unknown_star = getattr(a, "unknown_star", False)
        for i, p in enumerate(params):
            if i < len(pos):
                env[p] = pos[i]
            elif p in a.kwargs:
                env[p] = a.kwargs[p]
            elif unknown_star:
                env[p] = UNK
            elif i >= first_default:
                env[p] = defaults[i - first_default]
            else:
                env[p] = _MISSING_ARG
        if args.vararg:
            if not unknown_star:
                env[args.vararg.arg] = Seq(pos[len(params):], "tuple")
            elif getattr(a, "open_tail", False) and len(pos) >= len(params):
                env[args.vararg.arg] = SeqPrefix(pos[len(params):], "tuple")
            else:
                env[args.vararg.arg] = UNK
        kw_defaults = getattr(fn, "kw_defaults", [])
        for i, p in enumerate(args.kwonlyargs):
            if p.arg in a.kwargs:
                env[p.arg] = a.kwargs[p.arg]
            elif i < len(kw_defaults) and kw_defaults[i] is not _NO_DEFAULT:
                env[p.arg] = kw_defaults[i]
            else:
                env[p.arg] = _MISSING_ARG
        if args.kwarg:
            named = set(params) | {p.arg for p in args.kwonlyargs}
            env[args.kwarg.arg] = DictVal({k: v for k, v in a.kwargs.items() if k not in named}) \
                if not (unknown_star or getattr(a, "open_kwargs", False)) else UNK
        return env

    def call_func(self, fn: Func, a: Args, node):
        if fn.module is not self:
            return fn.module.call_func_from(self, fn, a, node)
        if isinstance(fn.node, ast.Lambda):
            env = dict(fn.closure or {})
            env.update(self.bind_params(fn, a))
            for k, v in list(env.items()):
                if v is _MISSING_ARG:
                    env[k] = UNK
            f = Frame(env, "<lambda>")
            return self.eval(fn.node.body, f)
        if self.depth >= MAX_DEPTH or self.call_stack.count(fn) >= 2:
            self.cut_calls += 1
            return UNK
        if _MEMO.records:
            _memo_entered(self, fn)
        if not self.recording and self.hints is None and self.trial_conflicts is None and MEMO_CALLS:
            key = _memo_key(fn, a)
            if key is not None:
                return self._call_memoised(fn, a, node, key)
        return self._call_func_body(fn, a, node)

    def _call_memoised(self, fn: Func, a: Args, node, key):
        """``fn(*a)`` for a function whose answer depends only on its arguments and the plain
        values it reads (``_memo_key``): run once per process, then answered from the memo
        (transformers' ``_get_class_name`` and ``_is_package_available`` were called 13,000
        times on 40 model files, a fifth of ``check``'s time). A hit costs the steps the run
        took, so the step budget ends an analysis where it would have."""
        hit = _MEMO_TABLE.get(key)
        if hit is not None and self.depth + hit.depth < MAX_DEPTH and not any(
                _function_id(f) in hit.entered for f in self.call_stack) and all(
                self.load_workspace_module(name) is None for name in hit.lookups):
            # (the modules it looked for and did not find are looked for again, as the run
            # would: the file's record of what it read stays complete)
            _MEMO_TABLE.move_to_end(key)
            MEMO_STATS["hits"] += 1
            for record in _MEMO.records:  # an enclosing run's memo entry covers this one's
                record.entered.update(hit.entered)
                record.lookups.update(hit.lookups)
                record.depth = max(record.depth, self.depth - record.start_depth + hit.depth)
            self.steps += hit.steps
            self.may_raise += hit.raised
            if self.steps > self.step_limit:
                raise BudgetExceeded()
            self.until_check -= hit.steps
            if self.until_check <= 0:
                self.until_check = CHECK_EVERY
                if self.limits is not None:
                    self.limits.check()
            return _thaw(hit.result)
        if any(f.node is fn.node for f in self.call_stack):
            return self._call_func_body(fn, a, node)
        record = _MemoRecord(self.depth, {_function_id(fn)})
        steps, cuts, problems, raised = self.steps, self.cut_calls, len(self.problems), self.may_raise
        seen = (len(self.module_cache), len(self.first_instance), len(self.instances),
                len(self.rec.conflicts), len(self.rec.tentative))
        _MEMO.records.append(record)
        try:
            out = self._call_func_body(fn, a, node)
        finally:
            _MEMO.records.pop()
        if record.ok and self.cut_calls == cuts and len(self.problems) == problems and self.steps >= steps \
                and seen == (len(self.module_cache), len(self.first_instance), len(self.instances),
                             len(self.rec.conflicts), len(self.rec.tentative)):
            result = _freeze(out, results=True)
            if result is not None:
                entry = _MemoEntry(result, self.steps - steps, record.depth, frozenset(record.entered),
                                   tuple(record.lookups), self.may_raise - raised)
                _MEMO_TABLE[key] = entry
                MEMO_NEW.append((key, entry))
                MEMO_STATS["stored"] += 1
                while len(_MEMO_TABLE) > MEMO_ENTRIES:
                    _MEMO_TABLE.popitem(last=False)
        else:
            for outer in _MEMO.records:
                outer.ok = False
        return out

    def _call_func_body(self, fn: Func, a: Args, node):
        env = dict(fn.closure or {})
        env.update(self.bind_params(fn, a))
        for k, v in list(env.items()):
            if v is _MISSING_ARG:
                if self.hints is not None:
                    env[k] = Tensor(None, None, probe=k)
                elif fn.node.name == "__init__":
                    # Encoder(**kwargs) built with no arguments hands AttentionLayers no depth:
                    # a size nobody gave, as a constructor's own parameter would be
                    env[k] = field_value(k)
                else:
                    env[k] = UNK
        self_val = a.args[0] if a.args and fn.owner is not None else None
        if self.recording:
            self.called.add(fn)
        frame = Frame(env, fn.qualname, fn, self_val, fn.owner)
        self.depth += 1
        self.call_stack.append(fn)
        none_calls = self.none_calls
        try:
            self.exec_block(fn.node.body, frame)
        finally:
            self.depth -= 1
            self.call_stack.pop()
        if not frame.returns:
            if frame.dead and self.none_calls > none_calls and self.depth > 0:
                # every path raised, one at least by calling a layer on None: so does the
                # call, and the caller's path with it (ResnetBlock2D's forward with temb
                # None, called by a down block). Paths the engine lost for its own reasons
                # (a name it could not follow) do not make the caller's raise
                raise _NameErrorPath(fn.qualname)
            return None
        out = frame.returns[0]
        for r in frame.returns[1:]:
            out = join(out, r)
        if out is UNK and _number_annotation(getattr(fn.node, "returns", None)):
            # transformers' Cache.get_seq_length(...) -> int, its layer one of several kinds:
            # a number, whichever (arange(n) + it stays a vector)
            return NUM
        return out

    def call_func_from(self, caller: "Interp", fn: Func, a: Args, node):
        """A function defined in another (imported) file: run it here, recording off.

        The analysed file called back from a library function it called (transformers'
        ``apply_chunking_to_forward(self.feed_forward_chunk, ...)``) is the same run
        continuing: it records as it did before the call went out, on its own budget."""
        if _MEMO.records:  # its steps count in another interpreter: not a memo entry of the caller's
            _memo_spoil()
        if caller.depth >= MAX_DEPTH:
            caller.cut_calls += 1
            return UNK
        # called back from a library helper the file called (apply_chunking_to_forward(
        # self.feed_forward_chunk, ...), guided-diffusion's checkpoint(self._forward, ...))
        reentrant = self.import_depth == 0 and caller.calling_root is self
        was, depth_before = self.recording, self.depth
        cut_before = self.cut_calls
        raised_before = self.may_raise
        root_before = self.calling_root
        stars_before, branches_before, facts_before = self.star_ranks, self.rank_branches, self.size_facts
        if not reentrant:
            self.recording = False
            self.steps = 0
            self.step_limit = caller.step_limit
            self.hints = caller.hints
            # ``b, t, d = x.shape`` in an imported module's forward tells the caller's input rank
            self.star_ranks, self.rank_branches = caller.star_ranks, caller.rank_branches
            self.size_facts = caller.size_facts
        self.depth = caller.depth
        self.calling_root = caller if caller.import_depth == 0 else caller.calling_root
        open_before = self.open_ctor_kwargs
        self.open_ctor_kwargs = max(open_before, caller.open_ctor_kwargs)  # timm's builder's cls(**kwargs)
        try:
            return self.call_func(fn, a, None)
        except BudgetExceeded:
            if reentrant:
                raise  # the file's own budget: its run stops as it would without the library
            caller.cut_calls += 1
            return UNK
        finally:
            self.recording = was
            self.open_ctor_kwargs = open_before
            if reentrant:
                self.depth = depth_before
            else:
                self.hints = None
                self.star_ranks, self.rank_branches = stars_before, branches_before
                self.size_facts = facts_before
            self.calling_root = root_before
            caller.cut_calls += self.cut_calls - cut_before
            caller.may_raise += self.may_raise - raised_before

    # ------------------------------------------------------------------ classes
    def make_class(self, node: ast.ClassDef, frame: Frame):
        bases = [self.eval_quiet(b, frame) for b in node.bases]
        qualname = node.name if frame.scope == "<module>" else f"{frame.scope}.{node.name}"
        cls = ClassVal(node.name, node, bases, self, qualname=qualname)
        cframe = Frame(dict(frame.env), "<class>")
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                fn = self.make_func(stmt, cframe, owner=cls)
                if f"{stmt.name}.setter" in {_deco_name(d) for d in stmt.decorator_list}:
                    # @x.setter: the getter stays what reading x calls; assigning x runs this
                    cls.attrs.setdefault("__setters__", {})[stmt.name] = fn
                    continue
                cls.attrs[stmt.name] = fn
            elif isinstance(stmt, ast.Assign):
                v = self.eval_quiet(stmt.value, cframe)
                for t in stmt.targets:
                    if isinstance(t, ast.Name):
                        cls.attrs[t.id] = v
                        cframe.env[t.id] = v
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                cls.attrs.setdefault("__fields__", []).append(stmt.target.id)
                if stmt.value is not None:
                    v = self.eval_quiet(stmt.value, cframe)
                    cls.attrs[stmt.target.id] = v
                    cframe.env[stmt.target.id] = v
                cls.attrs.setdefault("__annotations__", {})[stmt.target.id] = stmt.annotation
        if cls.mro() and cls.mro_error:  # Python would raise TypeError here: inherited names stay unknown
            self.problems.append(f"line {node.lineno}: class {node.name}: {cls.mro_error}")
        if frame.scope == "<module>":
            self.classes.append(cls)
        return cls

    def instantiate(self, cls: ClassVal, a: Args, node, quiet=False):
        if _MEMO.records:
            _memo_spoil()
        inst = Instance(cls, ctor_line=getattr(node, "lineno", 0))
        cut_before = self.cut_calls
        try:
            self._construct(inst, cls, a, node)
        finally:
            if self.cut_calls != cut_before:
                inst.complete = False
        if cls.is_module and cls not in self.instances and self.depth == 0 and not quiet:
            self.instances[cls] = inst
        if cls.is_module and not quiet and not any(f.owner is not None and f.owner.is_module
                                                   for f in self.call_stack):
            # built by script code (module level or def main()), not inside another model
            self.ctor_by_path.setdefault((cls.module.path, cls.name), a)
        self.first_instance.setdefault(cls, inst)
        return inst

    def _construct(self, inst: Instance, cls: ClassVal, a: Args, node):
        """Run ``__init__`` (or fill a dataclass / named tuple's fields) on ``inst``."""
        if cls.is_dataclass or (cls.lookup("__init__") is None and cls.attrs.get("__fields__")
                                and any(_deco_name(d) == "dataclass" for c in cls.mro() for d in c.node.decorator_list)):
            fields = []
            for c in reversed(cls.mro()):
                for f in c.attrs.get("__fields__", []):
                    if f not in fields:
                        fields.append(f)
            for i, f in enumerate(fields):
                if i < len(a.args):
                    v = a.args[i]
                elif f in a.kwargs:
                    v = a.kwargs[f]
                else:
                    v = cls.lookup(f)
                    if isinstance(v, Obj) and v.name == "dataclass_field":
                        v = v.attrs.get("default", UNK)
                    elif v is None and f not in _all_attrs(cls):
                        v = UNK
                inst.attrs[f] = v
            post = cls.lookup("__post_init__")
            if isinstance(post, Func):
                # keyword arguments that are no field go to a __post_init__(self, **kwargs):
                # transformers' configs (a strict dataclass that accepts them) set each one as an
                # attribute there (DebertaV2Config(position_buckets=256))
                extra = {k: v for k, v in a.kwargs.items() if k not in fields} \
                    if post.node.args.kwarg is not None else {}
                self.call_func(post, Args([inst], extra), node)
            if _dict_base(cls):
                # transformers' ModelOutput: a dataclass that is an OrderedDict too, whose items
                # are its fields that are not None, in order (what its __post_init__ stores,
                # through checks the engine cannot decide: is_tensor, an iterator's items)
                inst.attrs["__dict_items__"] = DictVal(
                    {f: inst.attrs[f] for f in fields if inst.attrs.get(f) is not None}, ordered=True)
        else:
            init = cls.lookup("__init__")
            if isinstance(init, Func):
                call = Args([inst] + a.args, a.kwargs, [None] + a.arg_nodes, a.kw_nodes)
                if any(_deco_name(d).rsplit(".", 1)[-1] == "register_to_config" for d in init.node.decorator_list):
                    self._register_config(inst, init, call)
                # `Net(width=16, **kwargs)` with kwargs unknown (a timm factory's, through which
                # its registry passes img_size): the parameters it does not name keep their
                # defaults for the shapes (unknown, every `if` on them made timm's factories
                # explore each branch of each block, minutes a file), but an assert on them
                # is not known to fail (see check_constructor_assert)
                open_kwargs = getattr(a, "unknown_star", False)
                self.open_ctor_kwargs += open_kwargs
                try:
                    self.call_func(init, call, node)
                finally:
                    self.open_ctor_kwargs -= open_kwargs
            elif init is None and _container_base(cls) is not None:
                # class Blocks(nn.Sequential) without an __init__: the library's one takes the
                # children (a forward of its own then iterates them)
                self.call(_ContainerInit(inst, _container_base(cls)), a, node, None)
            elif init is None and _library_base(self, cls) is not None:
                qual, rule = _library_base(self, cls)
                self.call(_LayerInit(inst, qual, rule), a, node, None)
            elif init is None and _dict_base(cls):
                items = dict(a.args[0].items) if a.args and isinstance(a.args[0], DictVal) else {}
                if a.args and not isinstance(a.args[0], DictVal):
                    return  # built from something the engine does not know: its items are unknown
                items.update(a.kwargs)
                inst.attrs["__dict_items__"] = DictVal(items)
            elif _is_namedtuple(cls) or cls.attrs.get("__fields__"):
                for i, f in enumerate(cls.attrs.get("__fields__", [])):
                    inst.attrs[f] = a.arg(i, f, cls.lookup(f) if cls.lookup(f) is not None else UNK)

    def call_auto_from_config(self, fn: "_AutoFromConfig", a: Args, node):
        """``AutoModel.from_config(config)``: the model class of the config's family, beside
        its configuration module (``models/qwen2/configuration_qwen2.py`` ->
        ``modeling_qwen2.py``; ``Qwen2Config`` -> ``Qwen2Model``, and ``Qwen2ForCausalLM`` for
        ``AutoModelForCausalLM``), built with the config. transformers decides it through its
        auto mapping's tables and lazy imports; the names say the same."""
        config = a.args[0] if a.args else a.kwargs.get("config")
        if not isinstance(config, Instance) or not config.cls.name.endswith("Config"):
            return UNK
        found = re.search(r"transformers/models/(\w+)/configuration_(\w+)\.py$",
                          (getattr(config.cls.module, "path", None) or "").replace("\\", "/"))
        if found is None:
            return UNK
        other = self.load_workspace_module(f"transformers.models.{found.group(1)}.modeling_{found.group(2)}")
        if other is None:
            return UNK
        target = other.module_global(config.cls.name[:-len("Config")] + (fn.auto_name[len("AutoModel"):] or "Model"))
        target = target.resolve() if type(target) is LazyImport else target
        if not isinstance(target, ClassVal):
            return UNK
        kwargs = {k: v for k, v in a.kwargs.items() if k != "config"}
        return self.instantiate(target, Args([config], kwargs), node)

    def _register_config(self, inst: Instance, init: Func, call: Args) -> None:
        """diffusers' ``@register_to_config`` on ``__init__``: before the body runs, the
        decorator stores every parameter's value (given, else its default) in a FrozenDict
        that ``self.config`` returns, so ``__init__`` and ``forward`` read
        ``self.config.patch_size``. The engine runs no decorator: it stores them itself, in
        the library's FrozenDict class (its items are also its attributes)."""
        deco = resolved(init.module.globals.get("register_to_config"))
        frozen = resolved(deco.module.globals.get("FrozenDict")) if isinstance(deco, Func) else None
        if not isinstance(frozen, ClassVal):
            return
        env = self.bind_params(init, call)
        a = init.node.args
        names = [p.arg for p in (a.posonlyargs + a.args)[1:] + a.kwonlyargs]
        values = {n: env[n] for n in names if n in env and env[n] is not _MISSING_ARG}
        config = Instance(frozen, dict(values))
        config.attrs["__dict_items__"] = DictVal(dict(values), ordered=True)
        inst.attrs["_internal_dict"] = config

    # ------------------------------------------------------------------ builtins
    def call_builtin(self, name, a: Args, node, frame):
        args = a.args
        if name in provenance.BUILTINS:  # iter/next/enumerate/zip/len of a DataLoader
            v = provenance.builtin(name, args, self)
            if v is not None:
                return v
        if name == "__import__" and args and isinstance(args[0], str):
            # __import__("torchtune.modules", fromlist=[...]) is that module, as `import ... as`
            fromlist = a.kwargs.get("fromlist", args[3] if len(args) > 3 else None)
            return self.import_module(args[0] if fromlist else args[0].split(".")[0])
        if name == "slice" and 1 <= len(args) <= 3 and not a.kwargs:  # slice(-n, None): x[:, s, :]
            parts = [None, args[0], None] if len(args) == 1 else list(args) + [None] * (3 - len(args))
            return SliceVal(*parts)
        if name == "len":
            if not args:
                return UNK
            v = args[0]
            if isinstance(v, Seq):
                return len(v.items)
            if isinstance(v, Tensor):
                return v.shape[0] if v.shape and v.shape[0] is not None else NUM
            if isinstance(v, Layer) and v.children is not None:
                return len(v.children)
            if isinstance(v, Instance) and _container_base(v.cls) is not None:
                return NUM if v.attrs.get("__incomplete__") else len(_registered_modules(v))
            if isinstance(v, (DictVal,)):
                return len(v.items)
            if isinstance(v, str):
                return len(v)
            return NUM  # len() of anything is a number
        if name == "range":
            # a size made up from a default counts as its hint here (a loop needs an int)
            ints = [dims.size_hint(x) if isinstance(x, Sym) else x for x in args]
            if ints and all(isinstance(x, int) and not isinstance(x, bool) for x in ints):
                r = range(*ints)
                if len(r) <= 4096:
                    return Seq(list(r), "list")
            return Repeated(NUM)  # range(n_layers) with n_layers unknown: numbers, how many unknown
        if name in ("int", "round"):
            if not args:
                return 0
            v = args[0]
            if isinstance(v, _FloatDim):
                return v.dim
            if isinstance(v, bool):
                return int(v)
            if isinstance(v, (int, Sym)):
                return v
            if isinstance(v, float):
                return int(v) if name == "int" else round(v, *(args[1:2] if len(args) > 1 else []))
            if isinstance(v, str) and name == "int":
                try:
                    return int(v)
                except ValueError:
                    return UNK
            return NUM  # int() and round() give a number or raise
        if name == "float":
            v = args[0] if args else 0.0
            return float(v) if isinstance(v, (int, float)) else NUM
        if name == "bool":
            c = self.truth(args[0]) if args else False
            return UNK if c is None else c
        if name == "str":
            v = args[0] if args else ""
            return str(v) if isinstance(v, (int, float, str, bool)) else UNK
        if name in ("min", "max"):
            vals = args
            if len(args) == 1:
                vals = self.iter_items(args[0]) or []
            if vals and all(isinstance(x, (int, float)) for x in vals):
                return min(vals) if name == "min" else max(vals)
            if vals and all(dims.is_dim(x) for x in vals) and len(vals) == 2 and dims.same(vals[0], vals[1]):
                return vals[0]
            if vals and any(isinstance(x, Tensor) for x in vals):
                return UNK
            if vals and all(x is NUM or isinstance(x, (int, float, Sym)) for x in vals):
                return NUM
            return UNK
        if name == "abs":
            v = args[0] if args else UNK
            return abs(v) if isinstance(v, (int, float)) else (
                self.call_rule("torch.abs", Args([v]), node, frame) if isinstance(v, Tensor) else UNK)
        if name == "sum":
            items = self.iter_items(args[0]) if args else None
            if items is not None and items and all(isinstance(x, Tensor) for x in items):
                out = items[0]
                for x in items[1:]:
                    out = self.binop(ast.Add(), out, x, node)
                return out
            if items is not None and all(dims.is_dim(x) or type(x) is bool for x in items):
                out = 0
                for x in items:  # a bool counts as 0 or 1 (litgpt's sum(self.enable_lora))
                    out = dims.add(out, int(x) if type(x) is bool else x)
                return out if out is not None else UNK
            return UNK
        if name in ("list", "tuple", "reversed", "enumerate", "zip") and args and \
                all(_is_repeated(x) for x in args):
            items = [_repeated_item(x) for x in args]
            if name == "enumerate":
                return Repeated(Seq([NUM, items[0]]))
            if name == "zip":
                return Repeated(Seq(items))
            return args[0]
        if name in ("list", "tuple"):
            if not args:
                return Seq([], name)
            items = self.iter_items(args[0])
            if isinstance(args[0], Tensor) and args[0].shape and isinstance(args[0].shape[0], int) \
                    and args[0].shape[0] <= 256:
                items = [Tensor(args[0].shape[1:], args[0].dtype) for _ in range(args[0].shape[0])]
            if items is None and not isinstance(args[0], (Tensor, SourceValue)):
                # tuple(self.parameters()): a tuple of what the engine does not follow,
                # its first items being those of a known prefix
                return SeqPrefix(list(args[0].items) if isinstance(args[0], SeqPrefix) else [], name)
            return Seq(items, name) if items is not None else UNK
        if name == "dict":
            if getattr(a, "unknown_star", False):
                return UNK  # dict(model_args, **kwargs) with kwargs unknown: any key may be in it
            d = {}
            if args and isinstance(args[0], DictVal):
                d.update(args[0].items)
            elif args:
                # dict(pairs): dict(self.items()) of a mapping; anything else unknown (an
                # empty dict would say that no key is in it)
                pairs = self.iter_items(args[0])
                if pairs is None or not all(isinstance(p, Seq) and len(p.items) == 2 and _hashable(p.items[0])
                                            and p.items[0] is not UNK for p in pairs):
                    return UNK
                d.update((p.items[0], p.items[1]) for p in pairs)
            d.update(a.kwargs)
            return DictVal(d)
        if name == "zip":
            seqs = [self.iter_items(x) for x in args]
            if seqs and any(s is not None for s in seqs) and all(s is not None or _is_repeated(x)
                                                                 for s, x in zip(seqs, args)):
                # zip(stage_names, stages_repeats, channels[1:]) with the counts a list nobody
                # gave: as many trips as the known list, each with one of the unknown list's items
                n = min(len(s) for s in seqs if s is not None)
                seqs = [s if s is not None else [_repeated_item(x)] * n for s, x in zip(seqs, args)]
                return Seq([Seq(list(t)) for t in zip(*seqs)], "list")
            return UNK
        if name == "enumerate":
            items = self.iter_items(args[0]) if args else None
            start = a.arg(1, "start", 0)
            if items is not None and isinstance(start, int):
                return Seq([Seq([i + start, x]) for i, x in enumerate(items)], "list")
            return UNK
        if name == "reversed":
            items = self.iter_items(args[0]) if args else None
            return Seq(list(reversed(items)), "list") if items is not None else UNK
        if name == "sorted":
            items = self.iter_items(args[0]) if args else None
            try:
                return Seq(sorted(items), "list") if items is not None else UNK
            except TypeError:
                return UNK
        if name == "isinstance":
            return _isinstance(args[0], args[1]) if len(args) == 2 else UNK
        if name == "callable":
            return _callable(args[0]) if len(args) == 1 else UNK
        if name == "issubclass":
            return _issubclass(args[0], args[1]) if len(args) == 2 else UNK
        if name == "getattr":
            if len(args) >= 2 and isinstance(args[1], str):
                v = self.get_attr(args[0], args[1], node, frame)
                if v is UNK and len(args) >= 3 and isinstance(args[0], (Instance, Obj)) and \
                        args[1] not in getattr(args[0], "attrs", {}):
                    return args[2]
                return v
            return UNK
        if name == "setattr":
            if len(args) >= 3 and isinstance(args[1], str):
                self.set_attr(args[0], args[1], args[2], node, frame)
            return None
        if name == "hasattr":
            if len(args) >= 2 and isinstance(args[1], str) and isinstance(args[0], (Instance, Obj)):
                if args[1] in args[0].attrs:
                    return True
                inst = args[0]
                if isinstance(inst, Instance) and inst.complete and not args[1].startswith("_") \
                        and args[1] not in _MODULE_MEMBERS and inst.cls.lookup(args[1]) is None \
                        and inst.cls.lookup("__getattr__") is None and _attribute_alias(inst, args[1]) == args[1] \
                        and _plain_module_or_object(inst.cls):
                    # an object of a class of the file (nn.Module its only library base) that
                    # neither its class nor its __init__ gave the name: diffusers' ControlNet asks
                    # each down block hasattr(block, "has_cross_attention"), set only by the
                    # cross-attention blocks
                    return False
            if len(args) >= 2 and isinstance(args[1], str) and isinstance(args[0], Ref) and \
                    self.lookup_rule(f"{args[0].qual}.{args[1]}") is not None:
                return True  # hasattr(F, "scaled_dot_product_attention"): the torch we describe has it
            return UNK
        if name == "super":
            if len(args) == 2 and isinstance(args[0], ClassVal) and isinstance(args[1], Instance):
                return _SuperProxy(args[0], args[1])  # super(Block, self)
            if frame is not None and frame.cls is not None and frame.self_val is not None:
                return _SuperProxy(frame.cls, frame.self_val)
            return UNK
        if name == "map" and len(args) >= 2:
            seqs = [self.iter_items(x) for x in args[1:]]
            if all(sq is not None for sq in seqs) and all(len(sq) <= 64 for sq in seqs):
                return Seq([self.call(args[0], Args(list(t)), node, frame) for t in zip(*seqs)], "list")
            return UNK
        if name == "iter" and len(args) == 1:
            known = self.iter_items(args[0])
            return Seq(known, "tuple") if known is not None else UNK
        if name == "filter" and len(args) == 2:
            items = self.iter_items(args[1])
            if items is None or len(items) > 64:
                return UNK
            kept = []
            for x in items:
                keep = self.truth(x if args[0] is None else self.call(args[0], Args([x]), node, frame))
                if keep is UNK or keep is None:
                    return UNK
                if keep:
                    kept.append(x)
            return Seq(kept, "list")
        if name == "next" and len(args) == 2 and isinstance(args[0], Seq) and _hashable(args[1]) \
                and all(_identity(x, args[1]) is True for x in args[0].items):
            # iter((None,)) drawn with next(it, None): every draw is None, whatever the position
            return args[1]
        if name in ("print", "open", "iter", "next", "map", "filter", "set", "type", "vars"):
            return UNK
        if name in ("any", "all") and len(args) == 1:
            # any([isinstance(v, (tuple, list)) for v in (k, s, d)]) in timm's padding helpers
            items = self.iter_items(args[0]) if not isinstance(args[0], Tensor) else None
            if items is None or len(items) > 64:
                return UNK
            truths = [self.truth(x) for x in items]
            if name == "any":
                return True if True in truths else (False if all(t is False for t in truths) else UNK)
            return False if False in truths else (True if all(t is True for t in truths) else UNK)
        if name in ("any", "all"):
            return UNK
        if name == "divmod":
            if len(args) == 2 and all(isinstance(x, int) for x in args) and args[1]:
                return Seq(list(divmod(args[0], args[1])))
            return UNK
        if name == "pow":
            return scalar_binop(ast.Pow(), args[0], args[1]) if len(args) == 2 else UNK
        if name in ("property", "staticmethod", "classmethod"):
            return args[0] if args else UNK
        return UNK

    def import_module(self, name):
        return Ref(name)

    def module_global(self, name):
        """What ``name`` is bound to in this module, its pending star imports run as far as
        needed (``_NOT_BOUND`` when nothing binds it)."""
        if name in self.globals:
            return self.globals[name]
        if name.startswith("_"):
            return _NOT_BOUND
        if name in self.star_found or self.pending_stars:
            return self.star_lookup(name)
        return _NOT_BOUND

    def star_lookup(self, name):
        """``name`` from this module's pending star imports, the first that binds it."""
        if name in self.star_found:
            return self.star_found[name]
        self.star_found[name] = _NOT_BOUND  # cycle guard: stars importing each other
        v = _NOT_BOUND
        for stmt in _likely_first(self.pending_stars, name):
            other = self.load_workspace_module(("." * stmt.level) + (stmt.module or ""))
            if other is not None:
                v = other.module_global(name)
                if v is not _NOT_BOUND:
                    break
        self.star_found[name] = v
        return v

    def star_exports(self) -> dict:
        """The names ``from <this module> import *`` binds, its own pending star imports run
        first: its public globals, over what its star imports bound."""
        stars, self.pending_stars = self.pending_stars, []
        for stmt in stars:
            other = self.load_workspace_module(("." * stmt.level) + (stmt.module or ""))
            if other is not None:
                for k, v in other.star_exports().items():
                    self.star_found.setdefault(k, v)
        found = {k: v for k, v in self.star_found.items() if v is not _NOT_BOUND and not k.startswith("_")}
        found.update((k, v) for k, v in self.globals.items() if not k.startswith("_"))
        return found

    def not_installed(self, name: str) -> bool:
        """Whether the workspace's interpreter cannot import ``name`` (its resolver finds no
        such module, and it is neither a library the engine knows nor the standard library's)."""
        top = name.split(".")[0]
        if self.resolve_module is None or top in _LIBRARY_ROOTS or top in sys.stdlib_module_names:
            return False
        try:
            return self.resolve_module(name, self.path) is None
        except Exception:
            return False  # the resolver failed: nothing is known of the module

    def exec_import_from(self, stmt, frame):
        mod = stmt.module or ""
        if stmt.level == 0 and mod.split(".")[0] in _LIBRARY_ROOTS and not _inside_package(self.path, mod) \
                and not _reads_from_source(mod):
            for alias in stmt.names:
                if self.resolve_module is not None and alias.name != "*" and _read_from_source(mod, alias.name):
                    frame.env[alias.asname or alias.name] = LazyImport(self, stmt, alias.name)
                else:
                    frame.env[alias.asname or alias.name] = Ref(f"{mod}.{alias.name}")
            return
        if self.resolve_module is not None and all(a.name != "*" for a in stmt.names):
            # bound lazily (LazyImport): M is interpreted on a name's first look-up
            for alias in stmt.names:
                frame.env[alias.asname or alias.name] = LazyImport(self, stmt, alias.name)
            return
        if self.resolve_module is not None and frame.func is None and frame.env is self.globals and (
                self.import_depth > 0 or (self.path is not None and _is_package_init(self.path))):
            # run on need: in a library module, and in a package's __init__ (a file of
            # re-exports: transformers' models/__init__.py star-imports 500 packages). The
            # analysed file's own star imports run here, where the library-module sharing
            # (module_share) copies what they load
            self.pending_stars.append(stmt)
            return
        other = self.load_workspace_module(("." * stmt.level) + mod)
        for alias in stmt.names:
            if alias.name == "*":
                if other is not None:
                    frame.env.update(other.star_exports())
                continue
            # a LazyImport of ``other`` stays one
            frame.env[alias.asname or alias.name] = self.imported_value(stmt, alias.name, other)

    def imported_value(self, stmt, name, other):
        """The value ``from M import name`` binds, ``other`` being M interpreted (or None)."""
        mod = stmt.module or ""
        v = UNK
        if other is not None:
            v = other.globals.get(name, _NOT_BOUND)
            if v is _NOT_BOUND and other.path and _is_package_init(other.path) and other._resolve("." + name):
                # a package's submodule (`from lib import layers`), not looked for in what
                # the package star-imports (transformers' `from ... import initialization`);
                # read as `import lib.layers` reads it where its name is absolute. Looked for
                # relative to the package: the resolver's misses of absolute names ask jedi
                v = Ref(f"{mod}.{name}") if stmt.level == 0 and mod else UNK
            elif v is _NOT_BOUND:
                v = other.module_global(name)
            v = UNK if v is _NOT_BOUND else v
        if stmt.level == 0 and (
                ((other is None or mod.split(".")[0] in _LIBRARY_ROOTS) and v is UNK)
                or _SPECIAL_REFS.get(f"{mod}.{name}") is not None or self.lookup_rule(f"{mod}.{name}") is not None):
            # a library name with a rule keeps its rule, even read from inside its package, and
            # even from an installed library read from its source (`from einx import get_at`)
            v = Ref(f"{mod}.{name}")
        return v

    def _resolve(self, name):
        """The resolver's (path, text) for ``name`` imported from this module, or None."""
        try:
            return self.resolve_module(name, self.path)
        except Exception:
            return None

    def load_workspace_module(self, name):
        """The workspace module ``name`` imports from this one, interpreted (or None).
        Imports stop ``IMPORT_DEPTH`` modules deep for a look-up made while running code the
        analysed file called (timm's layers: selective_kernel -> conv_bn_act -> create_conv2d
        -> padding, whose helper sizes the convolution), one module less for a look-up made
        by a library module's own top-level code (its decorators and tables). 4 for both cost
        ``check`` on transformers' modeling files 12-21% more CPU than 3, and ``shapes`` on
        modeling_llama.py 50% more, all of it in top-level code; this way it costs neither.
        Same-folder imports go ``CALL_IMPORT_DEPTH`` deep for such calls and for the modules
        they load (``for_call``)."""
        if self.resolve_module is None:
            return None
        if _MEMO.records:
            # a memoised call may look for a module that is not there (``importlib.util``
            # from transformers' import_utils); reading or loading one makes it not memoised
            size = len(self.module_cache)
            other = self._load_workspace_module(name)
            if other is not None or len(self.module_cache) != size:
                _memo_spoil()
            else:
                for record in _MEMO.records:
                    record.lookups.add(name)
            return other
        return self._load_workspace_module(name)

    def _load_workspace_module(self, name):
        found = False  # not resolved yet
        root = self.calling_root
        if root is not None and root is not self and root.path is not None:
            found = self._resolve(name)
            # the same file: compared by name and text, since the resolver may give the real
            # path of a file the analysis was handed through a symlink
            if found and (found[0] == root.path or (
                    found[0].replace("\\", "/").rsplit("/", 1)[-1] == root.path.replace("\\", "/").rsplit("/", 1)[-1]
                    and found[1] == root.text)):
                return root
        for_call = self.calling_root is not None or self.for_call
        if self.import_hops >= (CALL_IMPORT_DEPTH if for_call and _same_folder_import(name) else
                                IMPORT_DEPTH if self.calling_root is not None else IMPORT_DEPTH - 1):
            return None  # (calling_root: the file's own code is what called into this module)
        key = (name, self.path)
        if key in self.module_cache:
            return self.module_cache[key]
        self.module_cache[key] = None  # cycle guard
        if found is False:
            found = self._resolve(name)
        if not found:
            return None
        path, text = found
        from ml_lsp.analysis.parse import too_large
        if too_large(text):  # as the file itself would be: not analysed, its names unknown
            return None
        # only the analysed file's own imports: not counting every ``__init__`` on the chain
        # read 10x more of transformers (its modules import ``...utils``, a package)
        # nor a package __init__ re-exporting its subpackage's (transformers' __init__ ->
        # models/__init__ -> bert/__init__ -> modeling_bert: the model module one hop away,
        # as if imported by name)
        hops = self.import_hops + (0 if _is_package_init(path) and (self.import_depth == 0 or (
            self.path is not None and _is_package_init(self.path) and _below(path, self.path))) else 1)
        known = self.module_cache.get((path, None))
        # a module first met at the end of a long import chain had its own imports cut by the
        # depth bound; met again nearer the analysed file, it is read again with them
        if known is not None and known.import_hops <= hops:
            self.module_cache[key] = known
            return known
        if self.limits is not None:
            self.limits.check()
        if self.parse is not None:
            tree, _ = self.parse(text, path, library=True)  # an outline when the batch can
        else:
            from ml_lsp.analysis.parse import parse_tolerant
            tree, _ = parse_tolerant(text)
        other = Interp(text, path, self.rules, self.resolve_module, recorder=Recorder(),
                       module_cache=self.module_cache, import_depth=self.import_depth + 1,
                       limits=self.limits, parse=self.parse)
        other.import_hops = hops
        other.for_call = for_call
        other.recording = False
        other.globals["__name__"] = name.lstrip(".")
        try:
            other.run_module(tree)
        except BudgetExceeded:
            pass
        self.module_cache[key] = other
        self.module_cache[(path, None)] = other
        return other


def _same_folder_import(name: str) -> bool:
    """``from .create_act import x``: a module of the importing module's own folder."""
    return name.startswith(".") and not name.startswith("..")


# Calls answered from a memo (``Interp._call_memoised``) -------------------------------

MEMO_CALLS = True
MEMO_ENTRIES = 20_000  # about 1 KB each at most (keys hold up to 64 plain items per argument)


class _MemoEntry:
    """A memoised answer: plain data only, so that it can be kept on disk (``memo_export``)."""
    __slots__ = ("result", "steps", "depth", "entered", "lookups", "raised")

    def __init__(self, result, steps, depth, entered, lookups, raised=0):
        self.result, self.steps, self.depth, self.entered, self.lookups = result, steps, depth, entered, lookups
        self.raised = raised  # places that may have raised (Interp.may_raise): a try around it sees them

    def __reduce__(self):
        return _MemoEntry, (self.result, self.steps, self.depth, self.entered, self.lookups, self.raised)


class _MemoRecord:
    """A memoisable call in progress: the functions it entered, how deep it went, and the
    modules it looked for in vain."""
    __slots__ = ("start_depth", "depth", "entered", "ok", "lookups")

    def __init__(self, start_depth: int, entered: set):
        self.start_depth, self.depth, self.entered, self.ok = start_depth, 0, entered, True
        self.lookups: set = set()


class _Memo(threading.local):
    """This thread's memoisable calls in progress, innermost last."""

    def __init__(self) -> None:
        self.records: list = []


_MEMO = _Memo()
# key (``_memo_key``) -> _MemoEntry, shared by the threads and analyses of a process, the
# least recently used dropped beyond MEMO_ENTRIES
_MEMO_TABLE: "OrderedDict" = OrderedDict()
MEMO_STATS = {"hits": 0, "stored": 0}
MEMO_NEW: list = []  # (key, entry) stored since the last ``memo_export``


def memo_export() -> list:
    """The memo entries stored since the last call, to keep (plain data: the functions are
    named by their module text's digest and position)."""
    out = MEMO_NEW[:]
    del MEMO_NEW[:len(out)]
    return out


def memo_import(entries) -> None:
    """Entries another process stored (``memo_export``)."""
    for key, entry in entries:
        if key not in _MEMO_TABLE and len(_MEMO_TABLE) < MEMO_ENTRIES:
            _MEMO_TABLE[key] = entry


def _module_digest(interp) -> str:
    d = interp.__dict__.get("text_digest")
    if d is None:
        import hashlib
        d = interp.text_digest = hashlib.blake2b(interp.text.encode("utf-8", "surrogatepass"),
                                                 digest_size=16).hexdigest()
    return d


def _function_id(fn: Func) -> tuple:
    """A function named by its module text's digest and its position: the same in every
    process and every copy of the module."""
    node = fn.node
    return (_module_digest(fn.module), node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)


def _memo_entered(interp, fn: Func) -> None:
    """A function entered while memoisable calls run: each must be pure by its text."""
    ok = _pure_function(fn.node) is not None
    ident = _function_id(fn)
    for record in _MEMO.records:
        record.entered.add(ident)
        record.depth = max(record.depth, interp.depth + 1 - record.start_depth)
        if not ok:
            record.ok = False


def _memo_spoil() -> None:
    for record in _MEMO.records:
        record.ok = False


# assignments and calls a function whose answer is memoised may not make
_MUTATING_METHODS = {"append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "add",
                     "discard", "popitem", "sort", "reverse", "__setitem__", "__delitem__", "__setattr__",
                     "register", "register_buffer", "register_parameter", "add_module", "register_module",
                     "apply", "__init__", "send", "throw", "difference_update", "intersection_update",
                     "symmetric_difference_update", "appendleft", "extendleft", "move_to_end"}
_MUTATING_CALLS = {"setattr", "delattr", "exec", "eval", "globals", "locals", "vars", "__import__", "next",
                   "super", "type", "open", "input", "compile", "iter", "object"}
# (an import inside a function binds a local name; a run that loads a module is not
# memoised: ``_call_memoised`` compares the module cache before and after)
_IMPURE_NODES = (ast.Global, ast.Nonlocal, ast.Yield, ast.YieldFrom, ast.Await, ast.ClassDef,
                 ast.AsyncFunctionDef, ast.AsyncFor, ast.AsyncWith)
_PURE: dict = {}  # id(function node) -> (node, its free names or None when impure)


def _pure_function(node):
    """The free names of a function whose text assigns no attribute or item, declares no
    global, defines no class, imports nothing and calls no mutating method; None for any
    other function (and for a lambda: its closure is its caller's)."""
    hit = _PURE.get(id(node))
    if hit is not None and hit[0] is node:
        return hit[1]
    free = None
    if isinstance(node, ast.FunctionDef):
        stored, loaded, pure = set(), set(), True
        args = node.args
        stored.update(a.arg for a in args.posonlyargs + args.args + args.kwonlyargs)
        stored.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
        # the body only: decorators, annotations and defaults ran when the def did
        # (transformers' is_torch_available is decorated by an impure helper)
        for sub in (n for stmt in node.body for n in ast.walk(stmt)):
            if isinstance(sub, _IMPURE_NODES):
                pure = False
                break
            if isinstance(sub, (ast.Attribute, ast.Subscript)) and not isinstance(sub.ctx, ast.Load):
                pure = False
                break
            if isinstance(sub, ast.Call):
                f = sub.func
                if (isinstance(f, ast.Attribute) and f.attr in _MUTATING_METHODS) or (
                        isinstance(f, ast.Name) and f.id in _MUTATING_CALLS):
                    pure = False
                    break
            if isinstance(sub, ast.Name):
                (loaded if isinstance(sub.ctx, ast.Load) else stored).add(sub.id)
            elif isinstance(sub, ast.arg):
                stored.add(sub.arg)
            elif isinstance(sub, ast.ExceptHandler) and sub.name:
                stored.add(sub.name)
            elif isinstance(sub, ast.FunctionDef) and sub is not node:
                stored.add(sub.name)
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                if any(alias.name == "*" for alias in sub.names):
                    pure = False
                    break
                stored.update(alias.asname or alias.name.split(".")[0] for alias in sub.names)
        if pure:
            free = tuple(sorted(loaded - stored))
    if len(_PURE) > MEMO_ENTRIES:
        _PURE.clear()
    _PURE[id(node)] = (node, free)
    return free


_PLAIN_TYPES = (str, int, float, bool, type(None), bytes, complex)
#: ops whose pieces keep their input's rank (only split gives pieces of unknown shape: of a
#: probed input, see the split rule)
_SPLITS = frozenset({"torch.split", "torch.Tensor.split"})
#: marks of a probe derived from an input (Interp.learn_hints): ``~x`` tells only x's dtype,
#: ``^x`` (a piece of a split) its rank and dtype
_DERIVED_MARKS = "~^"
_DERIVED_PROBE = tuple(_DERIVED_MARKS)


def _freeze(v, results=False):
    """A hashable description of a plain value (None when ``v`` is not one). Results are
    scalars or tuples of them: a list or dict would be a new object at each call."""
    t = type(v)
    if t in _PLAIN_TYPES:
        return (t.__name__, repr(v)) if t is float or t is complex else (t.__name__, v)
    if v is UNK:
        return ("?",)
    if v is NUM:
        return ("#",)
    if t is Seq and (v.kind == "tuple" or not results) and len(v.items) <= 64:
        items = tuple(_freeze(x, results) for x in v.items)
        if None in items:
            return None
        return ("seq", v.kind, tuple(v.names) if v.names else None, items)
    if t is DictVal and not results and len(v.items) <= 64:
        items = []
        for k, x in v.items.items():
            fk, fx = _freeze(k), _freeze(x)
            if fk is None or fx is None:
                return None
            items.append((fk, fx))
        return ("dict", v.ordered, tuple(items))
    return None


def _thaw(frozen):
    tag = frozen[0]
    if tag == "?":
        return UNK
    if tag == "#":
        return NUM
    if tag == "seq":
        return Seq([_thaw(x) for x in frozen[3]], frozen[1], list(frozen[2]) if frozen[2] else None)
    if tag == "float":
        return float(frozen[1])
    if tag == "complex":
        return complex(frozen[1])
    return frozen[1]


def _global_signature(fn: Func, seen: dict):
    """What ``fn`` may read besides its arguments, as a hashable value: each free name's
    plain value, library name, or (for a pure function of the same module) its own
    signature; None when it reads anything else (a dict, a class, an object: their
    contents can change between calls)."""
    node = fn.node
    ident = _function_id(fn)
    if ident in seen:
        return ("f", ident)
    free = _pure_function(node)
    if free is None or fn.closure or fn.owner is not None:
        return None
    seen[ident] = True
    defaults = tuple(_freeze(d) for d in getattr(fn, "defaults", []) or [])
    kw_defaults = tuple(_freeze(d) if d is not None else ("none",) for d in getattr(fn, "kw_defaults", []) or [])
    if None in defaults or None in kw_defaults:
        return None
    env = fn.module.globals
    parts = [ident, defaults, kw_defaults]
    for name in free:
        v = env.get(name, _ABSENT_GLOBAL)
        if type(v) is LazyImport:
            if v.state != 2:
                return None
            v = v.value
        if v is _ABSENT_GLOBAL:
            if fn.module.pending_stars or name in fn.module.star_found:
                return None  # it may be a star import's, run on need
            parts.append(name)
            continue
        if type(v) is Ref:
            parts.append(("r", name, v.qual))
            continue
        if type(v) is Func:
            if v.module is not fn.module:
                return None
            inner = _global_signature(v, seen)
            if inner is None:
                return None
            parts.append(("f", name, inner))
            continue
        frozen = _freeze(v, results=True)
        if frozen is None:
            return None
        parts.append(("v", name, frozen))
    return tuple(parts)


_ABSENT_GLOBAL = object()


def _memo_key(fn: Func, a: Args):
    if fn.closure or fn.owner is not None or type(fn.node) is not ast.FunctionDef or len(a.args) > 16:
        return None
    sig = _global_signature(fn, {})
    if sig is None:
        return None
    args = tuple(_freeze(x) for x in a.args)
    if None in args:
        return None
    kwargs = tuple((k, _freeze(x)) for k, x in a.kwargs.items())
    if any(x is None for _k, x in kwargs):
        return None
    return (sig, args, kwargs, bool(getattr(a, "unknown_star", False)))


def _likely_first(stars: list, name: str) -> list:
    """Star imports in the order to look for ``name`` in them: those whose module is named in
    it first (``UdopConfig`` in transformers' ``from .udop import *``, out of 500 model
    packages: in file order it parsed some 600 modules, 21 s of ``check`` on modeling_udop),
    then the rest as the file orders them. A name two of them bind is rare in such a file
    of re-exports."""
    lowered = name.lower()

    def named(stmt) -> bool:
        last = (stmt.module or "").rsplit(".", 1)[-1]
        return any(len(part) >= 3 and part in lowered for part in last.split("_"))
    return sorted(stars, key=lambda stmt: not named(stmt))


class _SuperProxy:
    def __init__(self, cls, self_val):
        self.cls, self.self_val = cls, self_val


_NO_DEFAULT = object()


class _MissingArg:
    def __repr__(self):
        return "MISSING_ARG"


_MISSING_ARG = _MissingArg()

_MODULE_METHODS = {"forward", "__call__", "register_buffer", "register_parameter", "add_module",
                   "register_module", "to", "cuda", "cpu", "train", "eval", "float", "double", "half",
                   "requires_grad_", "apply", "parameters", "named_parameters", "modules", "children"}

# methods of a Python number the engine answers when the number is known
_NUMBER_METHODS = {"is_integer", "bit_length", "conjugate", "__round__", "__floor__", "__ceil__", "__trunc__"}

# numbers libraries define as module attributes
_LIBRARY_CONSTANTS = {f"{mod}.{name}": value for mod in ("math", "torch", "numpy")
                      for name, value in (("pi", math.pi), ("e", math.e), ("inf", math.inf), ("tau", math.tau))}

_LIBRARY_ROOTS = {"torch", "numpy", "math", "functools", "collections", "dataclasses", "typing", "argparse",
                  "einops", "os", "sys", "typing_extensions", "jaxtyping", "torchvision", "transformers",
                  "lightning", "pytorch_lightning", "random", "time", "json", "pathlib", "abc", "enum",
                  "itertools", "warnings", "logging", "copy", "inspect", "tqdm", "matplotlib", "sklearn",
                  "scipy", "pandas", "PIL", "__future__", "timm", "torchaudio", "torchtext",
                  # version strings: transformers' is_torch_available() and its kin parsed them
                  # with packaging's source 16,000 times on 80 model files (a fifth of ``check``)
                  "packaging",
                  # network and hub clients: a backbone built from a config (transformers'
                  # load_backbone -> from_config -> cached_file -> hf_hub_download -> httpx.get)
                  # ran idna's label checks char by char, 24 of 29 s of check on a modular DETR
                  # file, and the hub's retry loops most of the rest; a download tells no shape
                  "httpx", "httpx2", "requests", "urllib3", "idna", "aiohttp", "hf_xet", "certifi", "huggingface_hub"}

# libraries of layers with no rules of their own (a couple of timm helpers aside): read from
# their installed source, as their own package reads them; a name with a rule keeps it
# (torchvision's models only: its datasets and transforms are known by their rules)
_READ_FROM_SOURCE = {"timm", "torchvision.models", "transformers.modeling_outputs", "transformers.models"}

#: the names ``from transformers import ...`` reads from transformers' source: its model and
#: configuration classes (``BertModel``, ``BertConfig``, ``GPT2LMHeadModel``,
#: ``BertForSequenceClassification``), found through its package ``__init__``s as Python would.
#: The rest of the package (Trainer, tokenizers, pipelines) computes no shape a model needs
#: and costs seconds to interpret: it stays a name the rules know or nothing.
_TRANSFORMERS_MODEL_NAME = re.compile(r"^[A-Z]\w*(?:Model|Config|For[A-Z]\w*|LMHead\w*|PreTrainedModel)$")


def _reads_from_source(module: str) -> bool:
    return any(module == lib or module.startswith(lib + ".") for lib in _READ_FROM_SOURCE)


def _read_from_source(module: str, name: str) -> bool:
    """``from module import name`` of a library the engine knows is read from the
    library's source."""
    if _reads_from_source(module):
        return True
    return module == "transformers" and bool(_TRANSFORMERS_MODEL_NAME.match(name)) \
        and _AUTO_REF.match(f"{module}.{name}") is None

UNKNOWN_DTYPE = Ref("torch.dtype")  # x.dtype of a tensor whose dtype the engine does not know

_DTYPE_NAMES = {"float": "float32", "long": "int64", "bool": "bool"}

_TENSOR_BINOPS = {ast.Add: "torch.add", ast.Sub: "torch.sub", ast.Mult: "torch.mul", ast.Div: "torch.div",
                  ast.FloorDiv: "torch.floor_divide", ast.Mod: "torch.remainder", ast.Pow: "torch.pow",
                  ast.MatMult: "torch.matmul", ast.BitAnd: "torch.logical_and", ast.BitOr: "torch.logical_or",
                  ast.BitXor: "torch.logical_xor"}
_TENSOR_CMPS = {ast.Eq: "torch.eq", ast.NotEq: "torch.ne", ast.Lt: "torch.lt", ast.LtE: "torch.le",
                ast.Gt: "torch.gt", ast.GtE: "torch.ge"}


def scalar_binop(op, a, b):
    t = type(op)
    if isinstance(a, bool):
        a = int(a)
    if isinstance(b, bool):
        b = int(b)
    if t is ast.Mult and (isinstance(a, Seq) and _unknown_count(b) or isinstance(b, Seq) and _unknown_count(a)):
        # default_block * depth with depth unknown: as range(depth) does, a size made up from
        # a default counts as its hint (the loop over it needs items); else alike items repeat
        s, n = (a, b) if isinstance(a, Seq) else (b, a)
        hint = dims.size_hint(n) if isinstance(n, Sym) else None
        if isinstance(hint, int) and 0 <= hint * len(s.items) <= 256:
            return Seq(s.items * hint, s.kind)
        if s.items and all(isinstance(x, str) for x in s.items):
            # each item one of these names: a comparison with a name not among them is False
            names = list(dict.fromkeys(s.items))
            return Repeated(names[0] if len(names) == 1 else Choice(names), s.kind)
        if s.items:
            return Repeated(functools.reduce(join, s.items), s.kind)
    if a is NUM or b is NUM:  # numbers in, a number out
        other = b if a is NUM else a
        numeric = other is NUM or (isinstance(other, (int, float)) and not isinstance(other, bool)) \
            or isinstance(other, Sym)
        return NUM if numeric and t in _NUMBER_OPS else UNK
    ad, bd = dims.is_dim(a), dims.is_dim(b)
    if ad and bd:
        if t is ast.Add:
            r = dims.add(a, b)
        elif t is ast.Sub:
            r = dims.sub(a, b)
        elif t is ast.Mult:
            r = dims.mul(a, b)
        elif t is ast.FloorDiv:
            r = dims.floordiv(a, b)
        elif t is ast.Mod:
            r = dims.mod(a, b)
        elif t is ast.Div:
            if isinstance(a, int) and isinstance(b, int) and b:
                return a / b
            # T / 2 used as a size later goes through int(): keep it exact when it divides
            q = dims.floordiv(a, b) if isinstance(b, int) and b and isinstance(a, Sym) and \
                all(c % b == 0 for c in a.terms.values()) else None
            return _FloatDim(q) if q is not None else UNK
        elif t is ast.Pow and isinstance(a, int) and isinstance(b, int) and 0 <= b < 64:
            return a ** b
        elif t is ast.Pow and isinstance(b, int) and 0 <= b <= 3:
            r = 1
            for _ in range(b):
                r = dims.mul(r, a)
        elif t in (ast.LShift, ast.RShift, ast.BitAnd, ast.BitOr) and isinstance(a, int) and isinstance(b, int):
            return {ast.LShift: lambda: a << b, ast.RShift: lambda: a >> b,
                    ast.BitAnd: lambda: a & b, ast.BitOr: lambda: a | b}[t]()
        else:
            return UNK
        return UNK if r is None else r
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        try:
            return {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                    ast.Div: lambda: a / b, ast.FloorDiv: lambda: a // b, ast.Mod: lambda: a % b,
                    ast.Pow: lambda: a ** b if abs(b) < 64 else UNK}.get(t, lambda: UNK)()
        except (ZeroDivisionError, OverflowError, ValueError):
            return UNK
    if t in _NUMBER_OPS and (ad or isinstance(a, float)) and (bd or isinstance(b, float)):
        # hidden_size ** 0.5 (a scale kept as a buffer): a number, whichever
        return NUM
    if isinstance(a, str) and isinstance(b, str) and t is ast.Add:
        return a + b
    if isinstance(a, str) and t is ast.Mod:
        args = tuple(b.items) if isinstance(b, Seq) else b
        parts = args if isinstance(args, tuple) else (args,)
        if all(isinstance(x, (int, float, str)) for x in parts):
            try:
                return a % args
            except (TypeError, ValueError):
                return UNK
        return UNK
    if isinstance(a, Seq) and isinstance(b, Seq) and t is ast.Add:
        return Seq(a.items + b.items, a.kind if a.kind == b.kind else "tuple")
    if isinstance(a, (Seq, SeqPrefix)) and isinstance(b, (Seq, SeqPrefix)) and t is ast.Add:
        # a known sequence then one of unknown length (or the reverse): its first items known
        return SeqPrefix(a.items + b.items if isinstance(a, Seq) else list(a.items), a.kind)
    if isinstance(a, Seq) and isinstance(b, int) and t is ast.Mult and 0 <= b <= 256:
        return Seq(a.items * b, a.kind)
    if isinstance(b, Seq) and isinstance(a, int) and t is ast.Mult and 0 <= a <= 256:
        return Seq(b.items * a, b.kind)
    return UNK


_KEEPDIM_REDUCTIONS = frozenset(f"{base}.{name}" for base in ("torch", "torch.Tensor")
                                for name in ("mean", "sum", "amax", "amin"))


def _spatial_keepdim(a: Args) -> bool:
    """A reduction with keepdim=True over dims 2 and after only (never the batch or the
    channels): the result has the input's rank and channels."""
    dim = a.args[1] if len(a.args) > 1 else a.kwargs.get("dim")
    keepdim = a.args[2] if len(a.args) > 2 else a.kwargs.get("keepdim", False)
    dims_ = dim.items if isinstance(dim, Seq) else [dim]
    return keepdim is True and bool(dims_) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 2
                                                   for d in dims_)


#: einops calls whose pattern names the input's axes
_EINOPS_PATTERNED = frozenset({"einops.rearrange", "einops.reduce", "einops.repeat"})


def _constant_choice(v) -> bool:
    """One of several constants (the items of ``('a', 'f') * depth``): see scalar_binop."""
    return isinstance(v, Choice) and all(isinstance(o, (str, int, float, bool)) for o in v.options)


def _constants(v) -> list:
    return list(v.options) if _constant_choice(v) else [v]


def _unknown_count(v) -> bool:
    """A value that can be a repeat count the engine does not know (``depth`` unknown)."""
    return v is UNK or v is NUM or isinstance(v, Sym)


_NUMBER_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)


class _FloatDim(float):
    """``T / 2`` where it divides exactly: a float that int() turns back into the dim."""

    def __new__(cls, d):
        obj = float.__new__(cls, float("nan"))
        obj.dim = d
        return obj


def _int_valued(node) -> bool:
    """``int(...)``, ``math.floor(...)``, ``math.ceil(...)``, ``round(x)``, and such a value
    times, plus or minus a name or an integer: an integer."""
    if type(node) is ast.BinOp and type(node.op) in (ast.Mult, ast.Add, ast.Sub, ast.FloorDiv):
        def plain(n):
            return type(n) is ast.Name or type(n) is ast.Attribute or (
                type(n) is ast.Constant and type(n.value) is int) or _int_valued(n)
        return (_int_valued(node.left) and plain(node.right)) or (_int_valued(node.right) and plain(node.left))
    if type(node) is not ast.Call:
        return False
    f = node.func
    name = f.id if type(f) is ast.Name else (f.attr if type(f) is ast.Attribute else "")
    return name in ("int", "floor", "ceil") or (name == "round" and len(node.args) == 1)


#: a parameter that holds a norm or an activation layer class (timm's and torchvision's names)
_SHAPE_KEEPING_PARAM = re.compile(r"^(norm|act|activation)(_layer|_fn|_cls)?$")


def _attribute_alias(obj, name: str) -> str:
    """transformers' configs answer ``config.hidden_size`` with ``n_embd`` through the
    class's ``attribute_map`` (PreTrainedConfig.__getattribute__/__setattr__)."""
    amap = obj.cls.lookup("attribute_map")
    if isinstance(amap, DictVal) and name != "attribute_map":
        mapped = amap.items.get(name)
        if isinstance(mapped, str):
            return mapped
    return name


def _is_class_value(v) -> bool:
    return isinstance(v, ClassVal) or _is_library_class(v)


def _same_class(a, b):
    """Whether two classes are the same one, where the engine can tell: a class of the source
    is no torch class; two torch classes of different names differ."""
    if isinstance(a, ClassVal) or isinstance(b, ClassVal):
        return a is b
    if a.qual == b.qual:
        return True
    return False if a.qual.rsplit(".", 1)[-1] != b.qual.rsplit(".", 1)[-1] else UNK


def _identity(a, b):
    """``a is b`` where the engine can tell: against None, or against True/False (yolov5's
    ``act is True``) when the other side is a value we know; else UNK."""
    if a is UNK or b is UNK or a is NUM or b is NUM:
        return UNK
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        other = b if isinstance(a, bool) else a
        if isinstance(other, bool):
            return a is b
        if isinstance(other, (int, float, str, Sym, Tensor, Layer, Instance, Seq, DictVal, Func, ClassVal, Choice)):
            return False
    return UNK


def scalar_compare(op, a, b):
    t = type(op)
    if t is ast.Is:
        return _identity(a, b)
    if t is ast.IsNot:
        r = _identity(a, b)
        return r if r is UNK else not r
    if t in (ast.In, ast.NotIn):
        if isinstance(b, Seq) and _is_class_value(a) and b.items and all(_is_class_value(x) for x in b.items):
            # timm's `norm_layer in _NORM_ACT_TYPES`: a class in a table of classes
            answers = [_same_class(a, x) for x in b.items]
            r = True if True in answers else (False if all(x is False for x in answers) else UNK)
            return r if r is UNK or t is ast.In else not r
        if isinstance(b, Seq) and _hashable(a) and all(_hashable(x) and not isinstance(x, Sym) for x in b.items) \
                and not isinstance(a, Sym) and a is not UNK:
            r = a in b.items
            return r if t is ast.In else not r
        if isinstance(b, DictVal) and _hashable(a) and a is not UNK:
            r = a in b.items
            return r if t is ast.In else not r
        if isinstance(b, str) and isinstance(a, str):
            return (a in b) if t is ast.In else (a not in b)
        return UNK
    if dims.is_dim(a) and dims.is_dim(b) and (isinstance(a, Sym) or isinstance(b, Sym)):
        if t is ast.Eq:
            return True if dims.same(a, b) else (False if dims.provably_different(a, b) else UNK)
        if t is ast.NotEq:
            return False if dims.same(a, b) else (True if dims.provably_different(a, b) else UNK)
        return UNK
    ok = (int, float, str, bool, type(None))
    if isinstance(a, ok) and isinstance(b, ok):
        try:
            return {ast.Eq: lambda: a == b, ast.NotEq: lambda: a != b, ast.Lt: lambda: a < b,
                    ast.LtE: lambda: a <= b, ast.Gt: lambda: a > b, ast.GtE: lambda: a >= b}[t]()
        except (TypeError, KeyError):
            return UNK
    if isinstance(a, Seq) and isinstance(b, Seq) and t in (ast.Eq, ast.NotEq):
        if len(a.items) != len(b.items):
            return t is ast.NotEq
        res = [scalar_compare(ast.Eq(), x, y) for x, y in zip(a.items, b.items)]
        if all(r is True for r in res):
            return t is ast.Eq
        if any(r is False for r in res):
            return t is ast.NotEq
        return UNK
    if t in (ast.Eq, ast.NotEq) and (a is None) != (b is None) and a is not UNK and b is not UNK:
        return t is ast.NotEq
    return UNK


class ProbeSize:
    """``x.shape`` of a parameter whose shape is being inferred: unpacking it
    (``B, T, C = x.size()``) tells its rank and names its dims."""
    __slots__ = ("probe",)

    def __init__(self, probe):
        self.probe = probe


def size_of(t: Tensor):
    if t.shape is None:
        if t.probe and not t.probe.startswith(_DERIVED_PROBE):
            return ProbeSize(t.probe)
        return UNK
    return Seq([d if d is not None else NUM for d in t.shape], "size")


# str methods that are pure functions of their (known) arguments: diffusers' get_activation
# does act_fn.lower() before its table lookup
_STR_METHODS = {"lower", "upper", "strip", "lstrip", "rstrip", "replace", "startswith", "endswith",
                "split", "rsplit", "join", "format", "count", "find", "rfind", "isdigit", "isalpha",
                "title", "capitalize", "casefold", "removeprefix", "removesuffix", "partition", "rpartition",
                "zfill", "isupper", "islower", "splitlines"}


def _plain(v):
    if isinstance(v, bool) or v is None or isinstance(v, (str, int, float)) and not isinstance(v, _FloatDim):
        return v
    if isinstance(v, Seq) and all(isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in v.items):
        return list(v.items)
    raise TypeError


def str_method(s: str, name, a: Args):
    if name not in _STR_METHODS or len(s) > 10_000:
        return UNK
    try:
        args = [_plain(x) for x in a.args]
        kwargs = {k: _plain(v) for k, v in a.kwargs.items()}
        out = getattr(s, name)(*args, **kwargs)
    except (TypeError, ValueError, IndexError, KeyError, AttributeError):
        return UNK
    if isinstance(out, str):
        return out if len(out) <= 10_000 else UNK
    if isinstance(out, list):
        return Seq(out, "list")
    if isinstance(out, tuple):
        return Seq(list(out), "tuple")
    return out if isinstance(out, (bool, int)) else UNK


def seq_method(s: Seq, name, a: Args):
    if name == "append" and a.args and s.kind == "list":
        s.items.append(a.args[0])
        return None
    if name == "extend" and a.args and s.kind == "list":
        v = a.args[0]
        if isinstance(v, Seq):
            s.items.extend(v.items)
        elif isinstance(v, Layer) and v.children is not None:
            s.items.extend(v.children)
        else:
            s.items.append(UNK)  # length unknown from here on: poison
        return None
    if name == "insert" and len(a.args) == 2 and isinstance(a.args[0], int):
        s.items.insert(a.args[0], a.args[1])
        return None
    if name == "pop":
        if s.items:
            i = a.args[0] if a.args and isinstance(a.args[0], int) else -1
            try:
                return s.items.pop(i)
            except IndexError:
                return UNK
        return UNK
    if name == "index" and a.args:
        try:
            return s.items.index(a.args[0])
        except (ValueError, TypeError):
            return UNK
    if name == "count":
        return UNK
    if name == "reverse" and s.kind == "list" and not a.args:
        s.items.reverse()  # in place, as hidden_dims.reverse() before building a decoder
        return None
    if name == "sort" and s.kind == "list":
        if not a.args and set(a.kwargs) <= {"reverse"} and a.kwargs.get("reverse", False) in (True, False) and (
                all(isinstance(x, int) and not isinstance(x, bool) for x in s.items)
                or all(isinstance(x, str) for x in s.items)):
            s.items.sort(reverse=bool(a.kwargs.get("reverse", False)))
        else:
            s.items[:] = [UNK] * len(s.items)  # an order we cannot compute: same length, items unknown
        return None
    if name == "clear" and s.kind == "list":
        s.items.clear()
        return None
    if name == "remove" and s.kind == "list" and a.args:
        try:
            s.items.remove(a.args[0])
        except (ValueError, TypeError):
            s.items[:] = [UNK] * max(0, len(s.items) - 1)
        return None
    if name == "numel" and s.kind == "size":
        return dims.product([as_dim(x) for x in s.items]) or UNK
    if name == "copy":
        return Seq(list(s.items), s.kind)
    return UNK


def dict_method(d: DictVal, name, a: Args):
    if name == "items":
        return Seq([Seq([k, v]) for k, v in d.items.items()], "list")
    if name == "keys":
        return Seq(list(d.items.keys()), "list")
    if name == "values":
        return Seq(list(d.items.values()), "list")
    if name in ("get", "pop"):
        key = a.arg(0)
        if _hashable(key) and key in d.items:
            return d.items.pop(key) if name == "pop" else d.items[key]
        return a.arg(1, None, None) if len(a.args) > 1 else (None if name == "get" else UNK)
    if name == "update":
        if a.args and isinstance(a.args[0], DictVal):
            d.items.update(a.args[0].items)
        d.items.update(a.kwargs)
        return None
    if name == "setdefault":
        key = a.arg(0)
        if _hashable(key):
            return d.items.setdefault(key, a.arg(1, None, None))
    if name == "copy":
        return DictVal(dict(d.items))
    return UNK


def argparse_method(p: Obj, name, a: Args):
    if name == "add_argument":
        names = [x for x in a.args if isinstance(x, str)]
        dest = a.kwargs.get("dest")
        if not isinstance(dest, str):
            longs = [n for n in names if n.startswith("--")]
            pick = longs[0] if longs else (names[0] if names else None)
            if pick is None:
                return None
            dest = pick.lstrip("-").replace("-", "_")
        action = a.kwargs.get("action")
        if "default" in a.kwargs:
            v = a.kwargs["default"]
            typ = a.kwargs.get("type")
            if isinstance(v, str) and isinstance(typ, Ref) and typ.qual in ("builtins.int", "builtins.float"):
                try:
                    v = int(v) if typ.qual == "builtins.int" else float(v)
                except ValueError:
                    v = UNK
        elif action == "store_true":
            v = False
        elif action == "store_false":
            v = True
        else:
            v = None
        p.attrs.setdefault("__args__", {})[dest] = v
        return None
    if name in ("add_argument_group", "add_mutually_exclusive_group"):
        return p
    if name == "parse_args":
        return Obj(dict(p.attrs.get("__args__", {})), "args")
    if name == "parse_known_args":
        return Seq([Obj(dict(p.attrs.get("__args__", {})), "args"), UNK])
    if name == "set_defaults":
        p.attrs.setdefault("__args__", {}).update(a.kwargs)
    return None


def _layer_set_child(layer: Layer, key: str, value):
    if layer.child_names is None or layer.children is None:
        return
    if key in layer.child_names:
        layer.children[layer.child_names.index(key)] = value
    else:
        layer.child_names.append(key)
        layer.children.append(value)


def _is_namedtuple(cls):
    return any(isinstance(b, Ref) and b.qual.endswith("NamedTuple") for b in cls.bases)


def _all_attrs(cls):
    out = set()
    for c in cls.mro():
        out |= set(c.attrs)
    return out


def _inside_package(path, mod: str) -> bool:
    """Whether the file lies in the source tree of ``mod``'s top package (timm's own
    models import ``from timm.layers import ...``): there the package is the workspace's
    code, read like any other module, not a library known only by its rules."""
    if not path:
        return False
    parts = path.replace("\\", "/").split("/")[:-1]
    return mod.split(".")[0] in parts


def _property_setter(cls, name):
    """The ``@name.setter`` function the class (or a base) defines, nearest first."""
    for c in cls.mro():
        setters = c.attrs.get("__setters__")
        if setters and name in setters:
            return setters[name]
        if name in c.attrs:
            return None  # a plain attribute or method nearer than any setter shadows it
    return None


#: decorators that pass every argument through as the caller gave it
_PLAIN_DECORATORS = frozenset({"staticmethod", "classmethod", "property", "setter", "getter", "deleter", "no_grad",
                               "inference_mode", "enable_grad", "cache", "lru_cache", "cached_property",
                               "abstractmethod", "override", "overload", "wraps", "ignore", "unused", "export",
                               "script", "script_method", "auto_docstring", "add_start_docstrings",
                               "add_start_docstrings_to_model_forward", "replace_return_docstrings", "autocast",
                               "custom_fwd", "custom_bwd", "compile", "disable", "contextmanager", "jit"})


def _flag_annotation(ann) -> bool:
    """``bool | None``, ``Optional[bool]``: a flag that may be left None."""
    return ann is not None and any(isinstance(n, ast.Name) and n.id == "bool" for n in ast.walk(ann))


def _number_annotation(ann) -> bool:
    """``-> int`` or ``-> float``."""
    return isinstance(ann, ast.Name) and ann.id in ("int", "float")


def _deco_name(node) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    return _qual_of(node)


def _param_names(fn_node):
    a = fn_node.args
    return [p.arg for p in a.posonlyargs + a.args]


def _hashable(v):
    try:
        hash(v)
    except TypeError:
        return False
    return v is not UNK and v is not UNKNOWN_DTYPE


def _flatten_tensors(v, prefix="", depth=0):
    """(suffix, shape, dtype) for every tensor in a (nested) tuple/list; None when an
    element is not a tensor we know (its position would be ambiguous)."""
    out = []
    if depth > 3 or len(v.items) > 64:
        return None
    for i, x in enumerate(v.items):
        if isinstance(x, Tensor):
            out.append((f"{prefix}[{i}]", x.shown_shape, x.dtype))
        elif isinstance(x, Seq) and x.kind != "size":
            sub = _flatten_tensors(x, f"{prefix}[{i}]", depth + 1)
            if sub is None:
                return None
            out.extend(sub)
        elif x is None or isinstance(x, (int, float, str, bool)):
            continue
        else:
            return None
    return out


def _unknown_input(v) -> bool:
    return v is UNK or (isinstance(v, Tensor) and v.shape is None and (not v.tail or v.vague))


def _join_input_shapes(a, b):
    """Two calls' shapes of one forward input; one of unknown rank (``(*, 256)``) joins to
    itself only: a star is not one dim."""
    if a is not None and b is not None and (dims.STAR in a or dims.STAR in b):
        return a if a == b else None
    return dims.join_shape(a, b)


def _unknown_shape_of(rule, call):
    """An op called with a ``*args`` of unknown length: its positional arguments are not
    known, so neither is its shape (``x.reshape(*x.shape[:-1], -1, 2)`` with ``x`` of unknown
    rank is not rank 2) nor any conflict; the dtype the rule gives is kept."""
    try:
        out = rule.forward(call.layer.ctor, call) if isinstance(rule, LayerRule) else rule(call)
    except Exception:  # noqa: BLE001 - the arguments it saw are not the call's
        return UNK
    if isinstance(out, Tensor):
        return Tensor(None, out.dtype, out.origin)
    return UNK


class SizeFacts:
    """``H == 224`` (and ``and``-ed ones) with ``H`` a dim symbol: true or false is unknown;
    an ``assert`` of it says what the symbol must be."""
    __slots__ = ("pairs",)

    def __init__(self, pairs):
        self.pairs = pairs


def _size_fact(left, right):
    sym, value = (left, right) if isinstance(left, Sym) else (right, left)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0 and dims.is_lone_symbol(sym):
        return SizeFacts([(sym, value)])
    return None


def _is_repeated(v) -> bool:
    return isinstance(v, Repeated) or (isinstance(v, Layer) and v.children is None and v.repeat is not None)


def _repeated_item(v):
    """One item of a list of unknown length whose items are alike (a Repeated, or a
    Sequential / ModuleList built from one), else None."""
    if isinstance(v, Repeated):
        return v.item
    if isinstance(v, Layer) and v.children is None and v.repeat is not None:
        return v.repeat
    return None


def _any_guess(values) -> bool:
    for v in values:
        if isinstance(v, Tensor):
            if v.guess:
                return True
        elif isinstance(v, Seq):
            if any(isinstance(x, Tensor) and x.guess for x in v.items):
                return True
    return False


def _mark_guess(v, depth=0):
    if isinstance(v, Tensor):
        v.guess = True
    elif isinstance(v, Seq) and depth < 3:
        for x in v.items:
            _mark_guess(x, depth + 1)


def _star_values(a: Args) -> list:
    """The arguments of unknown rank whose last dims are known (``(*, 256)``)."""
    return [v for v in list(a.args) + list(a.kwargs.values())
            if isinstance(v, Tensor) and v.shape is None and v.tail]


def _has_tail(a: Args) -> bool:
    return bool(_star_values(a))


def _apply_rule(rule, layer, call: OpCall):
    """A layer's rule or an op's on ``call``."""
    return rule.forward(layer.ctor, call) if isinstance(rule, LayerRule) else rule(call)


def _mark_vague(out) -> None:
    """What a rule made of vague values alone (and numbers, unknowns) is vague too: ``gate *
    attn(x)``, ``x.chunk(2, -1)``."""
    for t in (out.items if isinstance(out, Seq) else [out]):
        if isinstance(t, Tensor) and t.shape is None:
            t.vague = True


def _as_if_vague_unknown(rule, qual, a: Args, layer, out):
    """The answer with each vague value unknown, as before the layer rules said anything of
    one, where that says more than ``out``: a vague ``(*, 3072)`` added to a followed
    ``(B, L, 3072)`` leaves it ``(B, L, 3072)``, as an unknown value does (its leading dims
    are a guess, the followed value's are not)."""
    def unknown(v):
        return UNK if isinstance(v, Tensor) and v.vague else v
    trial = OpCall(qual, [unknown(x) for x in a.args], {k: unknown(v) for k, v in a.kwargs.items()},
                   a.arg_nodes, a.kw_nodes, layer=layer)
    token = dims.CONTRACT_FACTS.set(None if dims.CONTRACT_FACTS.get() is None else {})
    try:
        other = _apply_rule(rule, layer, trial)
    except Exception:
        return out
    finally:
        dims.CONTRACT_FACTS.reset(token)
    if not isinstance(other, Tensor) or trial.conflicts:
        return out
    if not isinstance(out, Tensor) or _known_dims(other) > _known_dims(out):
        return other
    return out


def _known_dims(t: Tensor) -> int:
    """How much a shape tells: a known rank outweighs any tail."""
    if t.shape is not None:
        return 1000 + len(t.shape)
    return len(t.tail or ())


_STAR_NAMES = ("__star0", "__star1")


def _is_tensor_type(qual: str) -> bool:
    """``torch.Tensor``, ``torch.LongTensor`` ...: a name that says "a tensor"."""
    return qual.startswith("torch.") and qual.rsplit(".", 1)[-1] in TENSOR_TYPES


#: annotations that say "a tensor" (``timestep: torch.LongTensor = None``, diffusers)
TENSOR_TYPES = frozenset({"Tensor", "FloatTensor", "LongTensor", "IntTensor", "BoolTensor", "HalfTensor",
                          "DoubleTensor", "ByteTensor", "BFloat16Tensor"})


def _lift_tail(rule, qual, a: Args, layer, call: Optional[OpCall] = None):
    """A rule given a tensor of unknown rank whose last dims are known (``(*, 256)``): run
    it on stand-ins with one and with two leading dims of fresh symbols. When both answers
    are those leading dims followed by the same dims, the answer is ``(*, those dims)``
    (Linear, activations, softmax(-1), transpose(-1, -2), broadcasting; a tuple of such,
    as ``chunk(2, dim=-1)`` gives); otherwise, or when it depends on the rank (flatten(1),
    transpose(1, 2)), it stays unknown. Conflicts seen
    on the stand-ins are not reported, the real rank may differ; except a layer's that both
    stand-ins meet alike on a value that keeps an inferred input's leading dims
    (``MultiheadAttention(512)`` or ``Linear(512, ...)`` on ``(*, 256)``): a layer checks
    its input's last dims whatever its leading ones. Other star values are left alone: their
    tails come through ops whose answer may hang on the rank."""
    outs, clashes, contracts = [], [], []
    stars = {v.star_of for v in _star_values(a)}
    for n in (1, 2):
        prefix = tuple(Sym.named(name) for name in _STAR_NAMES[:n])

        def stand_in(v):
            if isinstance(v, Tensor) and v.shape is None and v.tail:
                return Tensor(prefix + tuple(v.tail), v.dtype, v.origin)
            return v

        trial = OpCall(qual, [stand_in(x) for x in a.args], {k: stand_in(v) for k, v in a.kwargs.items()},
                       a.arg_nodes, a.kw_nodes, layer=layer)
        token = dims.CONTRACT_FACTS.set(None if dims.CONTRACT_FACTS.get() is None else {})
        try:
            outs.append(_apply_rule(rule, layer, trial))
        finally:
            contracts.append(dims.CONTRACT_FACTS.get())
            dims.CONTRACT_FACTS.reset(token)
        clashes.append(trial.conflicts)
    facts = dims.CONTRACT_FACTS.get()
    if facts is not None:
        # a size a stand-in's rank decides (GroupNorm's channels are the tail's first dim on
        # one stand-in, a stand-in dim on the other) is no fact of the input: only what both
        # stand-ins need, of no stand-in dim, is
        for sym, size in contracts[0].items():
            if contracts[1].get(sym) == size and not _mentions_star_names(sym) \
                    and not _mentions_star_names(size):
                facts.setdefault(sym, size)
    from_inputs = None not in stars  # every star value keeps an inferred input's leading dims
    if call is not None and isinstance(rule, LayerRule) and from_inputs and clashes[0] and \
            [c.get("kind") for c in clashes[0]] == [c.get("kind") for c in clashes[1]]:
        call.conflicts.extend({k: (v.replace(_STAR_NAMES[0], "*") if isinstance(v, str) else v)
                               for k, v in c.items()} for c in clashes[0])
    star_of = stars.pop() if len(stars) == 1 else None
    if isinstance(outs[0], Seq) and isinstance(outs[1], Seq) and len(outs[0].items) == len(outs[1].items) \
            and outs[0].items:
        items = [_lifted(x, y, star_of) for x, y in zip(outs[0].items, outs[1].items)]
        return Seq(items, outs[0].kind) if all(isinstance(x, Tensor) for x in items) else None
    return _lifted(outs[0], outs[1], star_of)


#: the plain values _alike compares by equality (sizes, flags, names)
_SIZE_LIKE = (bool, int, float, str, Sym)


def _alike(a, b, depth: int = 3) -> bool:
    """Two modules built alike (same class or layer, same sizes, sub-modules alike): one
    run for the other gives the same shapes. Values that are not modules or sizes (tensors,
    tables) are not compared."""
    if a is b:
        return True
    if isinstance(a, _SIZE_LIKE) or a is None:
        return type(a) is type(b) and a == b
    if depth <= 0:
        return False
    if isinstance(a, Layer) and isinstance(b, Layer):
        if a.qual != b.qual or (a.children is None) != (b.children is None):
            return False
        if a.children is not None and (len(a.children) != len(b.children) or not all(
                _alike(x, y, depth - 1) for x, y in zip(a.children, b.children))):
            return False
        va = a.ctor.values if a.ctor is not None else {}
        vb = b.ctor.values if b.ctor is not None else {}
        return va.keys() == vb.keys() and all(
            _alike(va[k], vb[k], 0) for k in va if isinstance(va[k], _SIZE_LIKE) or va[k] is None)
    if isinstance(a, Instance) and isinstance(b, Instance):
        if a.cls is not b.cls or a.attrs.keys() != b.attrs.keys():
            return False
        return all(_alike(a.attrs[k], b.attrs[k], depth - 1) for k in a.attrs
                   if isinstance(a.attrs[k], (Instance, Layer) + _SIZE_LIKE) or a.attrs[k] is None)
    return type(a) is type(b)


def _mentions_star_names(d) -> bool:
    return isinstance(d, Sym) and any(name in m for m in d.terms for name in _STAR_NAMES)


def _lifted(one, two, star_of) -> Optional[Tensor]:
    """``(*, tail)`` from a rule's answers on the one- and two-leading-dim stand-ins, when both
    are those leading dims followed by the same tail; else None."""
    tails = []
    for n, out in ((1, one), (2, two)):
        prefix = tuple(Sym.named(name) for name in _STAR_NAMES[:n])
        if not isinstance(out, Tensor) or out.shape is None or len(out.shape) < n or tuple(out.shape[:n]) != prefix:
            return None
        rest = tuple(out.shape[n:])
        if any(isinstance(d, Sym) and any(name in m for m in d.terms for name in _STAR_NAMES) for d in rest):
            return None
        tails.append(rest)
    if len(tails[0]) != len(tails[1]) or not all(x == y for x, y in zip(*tails)):
        return None
    # the same input's leading dims on every operand: the answer has them too
    return Tensor(None, one.dtype, tail=tails[0] or None, star_of=star_of if tails[0] else None)


def _set_env(frame: Frame, env: dict) -> None:
    """``frame``'s names become ``env``'s, in the same dict: the module frame's dict is the
    interpreter's globals, which functions defined earlier read (a join after a module-level
    ``try``/``if`` used to leave every later definition out of the globals)."""
    if env is not frame.env:
        frame.env.clear()
        frame.env.update(env)


def _copy_containers(env: dict, copies: dict) -> dict:
    """``env`` with each list and dict it binds copied (one copy for names bound to the same
    one); ``copies`` maps id(original) to (original, copy)."""
    out = {}
    for k, v in env.items():
        if (isinstance(v, Seq) and v.kind == "list") or isinstance(v, DictVal):
            pair = copies.get(id(v))
            if pair is None:
                pair = copies[id(v)] = (v, Seq(list(v.items), v.kind, v.names) if isinstance(v, Seq)
                                        else DictVal(dict(v.items), v.ordered, v.unknown_key))
            v = pair[1]
        out[k] = v
    return out


def _merge_back(frames, copies) -> None:
    """After an undecided if: each list or dict the paths copied gets, in place, what the
    live paths made of it, and their names are bound to it again (a list kept elsewhere too,
    an attribute or another name, sees it). Paths that grew it alike are joined item by
    item; otherwise the one that grew it most is kept, as when both paths shared it."""
    for oid, (orig, _) in copies[0].items():
        made = [c[oid][1] for c in copies if oid in c]
        if isinstance(orig, Seq):
            if all(len(m.items) == len(made[0].items) for m in made):
                items = [resolved(x) for x in made[0].items]
                for m in made[1:]:
                    items = [x if x is y else join(x, resolved(y)) for x, y in zip(items, m.items)]
            else:
                items = max(made, key=lambda m: len(m.items)).items
            orig.items[:] = items
        else:
            items = dict(made[0].items)
            for m in made[1:]:
                for k, v in m.items.items():
                    items[k] = v if k not in items or items[k] is v else join(resolved(items[k]), resolved(v))
            orig.items.clear()
            orig.items.update(items)
            for m in made:
                orig.unknown_key = join_unknown_key(orig.unknown_key, m.unknown_key)
        mine = {id(m) for m in made}
        for f in frames:
            for k, v in f.env.items():
                if id(v) in mine:
                    f.env[k] = orig


def _join_envs(envs):
    if len(envs) == 1:
        return envs[0]
    out = dict(envs[0])
    for env in envs[1:]:
        for k, v in env.items():
            if k in out:
                if out[k] is not v:
                    out[k] = join(resolved(out[k]), resolved(v))
            else:
                out[k] = v
    return out


def _assigned_names(stmt):
    targets = []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        targets = [stmt.target]
    out = []
    for t in targets:
        for n in ast.walk(t):
            if isinstance(n, ast.Name):
                out.append(n.id)
    return out


# ---------------------------------------------------------------- special library calls

def _sp_partial(interp, a, node, frame):
    if not a.args:
        return UNK
    return Partial(a.args[0], a.args[1:], dict(a.kwargs))


def _sp_ordered_dict(interp, a, node, frame):
    if a.args:
        src = a.args[0]
        if isinstance(src, Seq):
            d = {}
            for p in src.items:
                if isinstance(p, Seq) and len(p.items) == 2 and _hashable(p.items[0]):
                    d[p.items[0]] = p.items[1]
                else:
                    return UNK
            return DictVal(d, ordered=True)
        if isinstance(src, DictVal):
            return DictVal(dict(src.items), ordered=True)
        return UNK
    return DictVal(dict(a.kwargs), ordered=True)


def _sp_field(interp, a, node, frame):
    if "default" in a.kwargs:
        return Obj({"default": a.kwargs["default"]}, "dataclass_field")
    if "default_factory" in a.kwargs:
        return Obj({"default": interp.call(a.kwargs["default_factory"], Args(), node, frame)}, "dataclass_field")
    return Obj({"default": UNK}, "dataclass_field")


def _sp_argparser(interp, a, node, frame):
    return Obj({}, "argparse")


def _sp_namespace(interp, a, node, frame):
    return Obj(dict(a.kwargs), "namespace")


def _sp_parameter(interp, a, node, frame):
    t = a.arg(0, "data")
    if isinstance(t, Tensor):
        out = Tensor(t.shape, t.dtype, t.origin or "nn.Parameter")
        out.param = True
        return out
    return Tensor(None, "float")


def _sp_buffer(interp, a, node, frame):
    # nn.Buffer (torch 2.5+) marks a tensor as a module buffer: same shape, not a parameter.
    t = a.arg(0, "data")
    return Tensor(t.shape, t.dtype, t.origin or "nn.Buffer") if isinstance(t, Tensor) else Tensor(None, "float")


def _math(fn):
    def rule(interp, a, node, frame):
        args = a.args
        if args and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in args):
            try:
                return fn(*args)
            except (ValueError, OverflowError, TypeError, ZeroDivisionError):
                return UNK
        if fn in (math.floor, math.ceil, math.trunc) and args and isinstance(args[0], _FloatDim):
            return args[0].dim
        if args and all(x is NUM or isinstance(x, (int, float, Sym)) for x in args):
            return NUM  # math.* of numbers is a number (of a tensor it would fail)
        return UNK
    return rule


def _sp_prod(interp, a, node, frame):
    items = interp.iter_items(a.args[0]) if a.args else None
    if items is None:
        return UNK
    d = dims.product([as_dim(x) for x in items])
    return d if d is not None else UNK


def _sp_super_init(interp, a, node, frame):
    return None


def _sp_same_module(interp, a, node, frame):
    """weight_norm(module) / spectral_norm(module): the module, reparametrised."""
    return a.args[0] if a.args else UNK


def _sp_deepcopy(interp, a, node, frame):
    import copy
    v = a.args[0] if a.args else UNK
    if isinstance(v, Layer):
        c = copy.copy(v)
        c.children = [_sp_deepcopy(interp, Args([x]), node, frame) for x in v.children] \
            if v.children is not None else None
        c.child_names = list(v.child_names) if v.child_names is not None else None
        c.attrs = dict(v.attrs)
        return c
    if isinstance(v, Instance):
        return Instance(v.cls, {k: _sp_deepcopy(interp, Args([x]), node, frame) if isinstance(x, (Layer, Instance))
                                else x for k, x in v.attrs.items()}, v.ctor_line)
    return v


def _sp_torch_assert(interp, a, node, frame):
    if interp.size_facts is not None and a.args:
        interp.note_size_facts(a.args[0])
    return None


_SPECIAL_REFS = {
    "torch._assert": _sp_torch_assert,
    "torch.nn.utils.weight_norm": _sp_same_module,
    "torch.nn.utils.spectral_norm": _sp_same_module,
    "torch.nn.utils.parametrizations.weight_norm": _sp_same_module,
    "torch.nn.utils.parametrizations.spectral_norm": _sp_same_module,
    "torch.nn.utils.parametrize.register_parametrization": _sp_same_module,
    "copy.deepcopy": _sp_deepcopy,
    "copy.copy": _sp_deepcopy,
    "functools.partial": _sp_partial,
    "collections.OrderedDict": _sp_ordered_dict,
    "typing.OrderedDict": _sp_ordered_dict,
    "dataclasses.field": _sp_field,
    "argparse.ArgumentParser": _sp_argparser,
    "argparse.Namespace": _sp_namespace,
    "types.SimpleNamespace": _sp_namespace,
    "torch.nn.Parameter": _sp_parameter,
    "torch.nn.parameter.Parameter": _sp_parameter,
    "torch.nn.Buffer": _sp_buffer,
    "torch.nn.parameter.Buffer": _sp_buffer,
    "math.sqrt": _math(math.sqrt),
    "math.ceil": _math(math.ceil),
    "math.floor": _math(math.floor),
    "math.log": _math(math.log),
    "math.log2": _math(math.log2),
    "math.exp": _math(math.exp),
    "math.prod": _sp_prod,
    "itertools.repeat": lambda interp, a, node, frame: (
        Seq([a.args[0]] * a.args[1], "tuple") if len(a.args) == 2 and isinstance(a.args[1], int)
        and not isinstance(a.args[1], bool) and 0 <= a.args[1] <= 64 else UNK),
    "numpy.prod": _sp_prod,
    "math.trunc": _math(math.trunc),
    "math.pi": lambda interp, a, node, frame: NUM,
    "numpy.log": _math(math.log), "numpy.sqrt": _math(math.sqrt), "numpy.exp": _math(math.exp),
    "numpy.log2": _math(math.log2), "numpy.floor": _math(math.floor), "numpy.ceil": _math(math.ceil),
    # torch.finfo(dtype).min and friends: numbers (a mask's fill value, an epsilon)
    "torch.finfo": lambda interp, a, node, frame: Obj({k: NUM for k in ("min", "max", "eps", "tiny", "resolution", "bits")}, "finfo"),
    "torch.iinfo": lambda interp, a, node, frame: Obj({k: NUM for k in ("min", "max", "bits")}, "iinfo"),
    "torch.nn.Module.__init__": _sp_super_init,
    "torch.nn.ParameterDict": lambda interp, a, node, frame: DictVal(
        dict(a.args[0].items) if a.args and isinstance(a.args[0], DictVal) else {}),
    "torch.nn.ParameterList": lambda interp, a, node, frame: Seq(
        list(interp.iter_items(a.args[0]) or []) if a.args else [], "list"),
    "torch.nn.BufferDict": lambda interp, a, node, frame: DictVal({}),
    # the shapes described are those of an eager run: not traced, scripted, compiled or exported
    # (Swin's `torch.min(torch.tensor(r)) if torch.jit.is_tracing() else min(r)` is an int)
    **{qual: (lambda interp, a, node, frame: False) for qual in (
        "torch.jit.is_tracing", "torch.jit.is_scripting", "torch.compiler.is_compiling",
        "torch.compiler.is_dynamo_compiling", "torch._dynamo.is_compiling", "torch.onnx.is_in_onnx_export",
        "torch._C._get_tracing_state")},
    "torch.is_tensor": lambda interp, a, node, frame: _isinstance(a.arg(0, "obj", UNK), Ref("torch.Tensor")),
    "re.search": lambda interp, a, node, frame: _sp_regex("search", a),
    "re.match": lambda interp, a, node, frame: _sp_regex("match", a),
    "re.fullmatch": lambda interp, a, node, frame: _sp_regex("fullmatch", a),
    "re.split": lambda interp, a, node, frame: pyregex.split(
        a.arg(0, "pattern", UNK), a.arg(1, "string", UNK), a.arg(2, "maxsplit", 0), a.arg(3, "flags", 0)),
    "re.findall": lambda interp, a, node, frame: pyregex.findall(
        a.arg(0, "pattern", UNK), a.arg(1, "string", UNK), a.arg(2, "flags", 0)),
}


def _sp_regex(kind, a):
    return pyregex.match(kind, a.arg(0, "pattern", UNK), a.arg(1, "string", UNK), a.arg(2, "flags", 0))


# super() support: attribute lookup on the proxy finds the method in the parent classes
def _get_attr_super(interp, obj, name, node, frame):
    # Python searches type(self).__mro__ after the class the method is defined in, so in a
    # diamond B's super() may lead to its sibling C, not to B's own base
    mro = obj.cls.mro()
    if isinstance(obj.self_val, Instance):
        full = obj.self_val.cls.mro()
        if obj.cls in full:
            mro = full
    for c in mro[mro.index(obj.cls) + 1:]:
        if name in c.attrs:
            v = c.attrs[name]
            return Bound(obj.self_val, v) if isinstance(v, Func) else v
        if name == "__init__" and c.is_dataclass and isinstance(obj.self_val, Instance):
            # torchvision's FusedMBConvConfig: super().__init__(...) is the dataclass base's
            # generated __init__, which sets its fields
            return _DataclassInit(obj.self_val, c)
    container = _container_base(obj.cls)
    if container is not None and name == "__init__":
        return _ContainerInit(obj.self_val, container)
    base_layer = _library_base(interp, obj.cls)
    if base_layer is not None:
        qual, rule = base_layer
        if name == "__init__":
            return _LayerInit(obj.self_val, qual, rule)
        layer = obj.self_val.attrs.get("__layer__") if isinstance(obj.self_val, Instance) else None
        if name in ("forward", "__call__") and layer is not None:
            return Bound(layer, "forward")
        return UNK
    if name == "__init__":
        return Ref("torch.nn.Module.__init__")
    if isinstance(obj.self_val, Instance) and isinstance(obj.self_val.attrs.get("__dict_items__"), DictVal) \
            and (name in _MAPPING_MIXIN or name in ("__getitem__", "__setitem__", "__delitem__")):
        return _MappingMethod(obj.self_val, name, raw=True)  # dict's own storage
    if name in _MAPPING_MIXIN and isinstance(obj.self_val, Instance) and _mapping_base(obj.cls):
        return _MappingMethod(obj.self_val, name)
    return UNK


# the methods collections.abc.Mapping derives from __getitem__ and __iter__
_MAPPING_MIXIN = ("get", "keys", "values", "items", "__contains__")


def _mapping_base(cls) -> bool:
    """A user class deriving from collections.abc's (or typing's) Mapping or MutableMapping."""
    return any(isinstance(b, Ref) and b.qual.rsplit(".", 1)[-1] in ("Mapping", "MutableMapping")
               for c in cls.mro() for b in c.bases)


class _MappingMethod:
    """``get``/``keys``/``in`` of a user mapping (transformers' attention-function table):
    what collections.abc.Mapping would run, from the class's own ``__getitem__`` and
    ``__iter__``."""

    def __init__(self, inst, name, raw=False):
        self.inst, self.name, self.raw = inst, name, raw  # raw: a dict subclass's own items


def _dict_base(cls) -> bool:
    """A user class deriving from dict or OrderedDict (transformers' ACT2FN table)."""
    return any(isinstance(b, Ref) and b.qual in ("builtins.dict", "dict", "collections.OrderedDict",
                                                 "typing.OrderedDict", "OrderedDict")
               for c in cls.mro() for b in c.bases)


_ITERABLE_ABCS = {"collections.abc.Iterable", "typing.Iterable", "collections.abc.Sequence", "typing.Sequence"}
_CALLABLE_ABCS = {"collections.abc.Callable", "typing.Callable"}

_BUILTIN_TYPES = {"builtins.int": int, "builtins.float": float, "builtins.str": str, "builtins.bool": bool,
                  "builtins.tuple": Seq, "builtins.list": Seq, "builtins.dict": DictVal,
                  # diffusers' RMSNorm: `if isinstance(dim, numbers.Integral): dim = (dim,)`
                  "numbers.Integral": int, "numbers.Real": (int, float), "numbers.Complex": (int, float),
                  "numbers.Number": (int, float)}


# isinstance(x, type / functools.partial / types.FunctionType): the value the engine holds
# for a class, a partial, a function of the source
_CALLABLE_KINDS = {"type": ClassVal, "builtins.type": ClassVal, "functools.partial": Partial,
                   "types.FunctionType": Func, "types.LambdaType": Func}

_AUTOGRAD_FUNCTIONS = {"torch.autograd.Function", "torch.autograd.function.Function"}


def _is_autograd_function(cls: ClassVal) -> bool:
    return any(isinstance(b, Ref) and b.qual in _AUTOGRAD_FUNCTIONS for c in cls.mro() for b in c.bases)


def _same_star(new: Args, old: Args) -> Args:
    """``new`` (``old`` with a receiver put first) keeps what ``old`` knew of its starred
    arguments."""
    for flag in ("unknown_star", "unknown_positional", "open_tail"):
        if getattr(old, flag, False):
            setattr(new, flag, True)
    return new


def _prefix_subscript(obj: SeqPrefix, key):
    """``args[i]``, ``args[:n]`` and ``args[n:]`` of a sequence known only at its start."""
    n = len(obj.items)
    if isinstance(key, int) and not isinstance(key, bool):
        return obj.items[key] if 0 <= key < n else UNK
    if isinstance(key, SliceVal) and key.step in (None, 1):
        lo, hi = key.lower, key.upper
        if lo in (None, 0) and isinstance(hi, int) and not isinstance(hi, bool) and 0 <= hi <= n:
            return Seq(obj.items[:hi], obj.kind)
        if isinstance(lo, int) and not isinstance(lo, bool) and 0 <= lo <= n and hi is None:
            return SeqPrefix(obj.items[lo:], obj.kind)
    return UNK


class _AllNames(frozenset):
    def __contains__(self, name):
        return True


_ALL_NAMES = _AllNames()


class _NameErrorPath(Exception):
    """A function body read a name bound nowhere in its file nor among the builtins, or an
    attribute of None."""


class _ModuleNames:
    """Every name a module's source binds anywhere (assignments, definitions, imports,
    parameters, loop and with targets, except-as, global declarations), to tell a name that
    can only raise NameError; None for a module that may bind names the source does not
    show (a star import, globals(), exec, setattr on a module, vars())."""

    __slots__ = ("bound",)

    _BUILTINS = frozenset(dir(__import__("builtins"))) | {
        "__file__", "__name__", "__doc__", "__spec__", "__loader__", "__package__", "__path__", "__builtins__",
        "__annotations__", "__dict__", "__class__", "__module__", "__qualname__", "__cached__", "__debug__"}

    def __init__(self, bound):
        self.bound = bound

    @classmethod
    def of(cls, tree) -> "Optional[_ModuleNames]":
        bound = set(cls._BUILTINS)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                if not isinstance(node.ctx, ast.Load):
                    bound.add(node.id)
                elif node.id in ("globals", "exec", "vars", "locals", "setattr", "__import__", "eval"):
                    return None
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.name == "*":
                        return None
                    bound.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                bound.update(node.names)
            elif type(node).__name__ in ("MatchAs", "MatchStar") and getattr(node, "name", None):
                bound.add(node.name)
            elif type(node).__name__ == "MatchMapping" and getattr(node, "rest", None):
                bound.add(node.rest)
            elif type(node).__name__ in ("TypeVar", "ParamSpec", "TypeVarTuple"):
                bound.add(node.name)
        return cls(frozenset(bound))


def _leaves_loop(body) -> bool:
    """Whether a loop body holds a break or continue of its own (not of a nested loop)."""
    todo = list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Break, ast.Continue)):
            return True
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            todo.extend(node.orelse)
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        todo.extend(ast.iter_child_nodes(node))
    return False


# modules whose classes None may be an instance of (object, Optional, Hashable, ...)
_TYPE_ROOTS = {"builtins", "typing", "typing_extensions", "collections", "numbers", "types", "abc"}


def _isinstance(obj, cls):
    """isinstance(obj, cls) where the engine can tell, else UNK: a user class is in an
    instance's own MRO or it is not (no library class derives from a user class); a
    library layer or a tensor is never an instance of a user class."""
    if isinstance(cls, Seq):
        answers = [_isinstance(obj, c) for c in cls.items]
        return True if True in answers else (False if answers and all(x is False for x in answers) else UNK)
    if isinstance(obj, Choice) and obj.options:
        # a cache or None: what each option answers, where they agree
        answers = {_isinstance(o, cls) for o in obj.options}
        return answers.pop() if len(answers) == 1 else UNK
    if isinstance(cls, ClassVal):
        if isinstance(obj, Instance):
            return cls in obj.cls.mro()
        if isinstance(obj, (Layer, Tensor)) or obj is None or isinstance(obj, (int, float, str)):
            return False
        return UNK
    if isinstance(cls, Ref):
        kind = _CALLABLE_KINDS.get(cls.qual)
        if kind is not None:
            # timm's get_norm_layer: isinstance(norm_layer, functools.partial) on a class
            if isinstance(obj, (ClassVal, Func, Partial)):
                return isinstance(obj, kind)
            if obj is None or isinstance(obj, (bool, int, float, str, Seq, DictVal, Tensor, Layer, Instance)):
                return False
            if _is_library_class(obj):  # nn.BatchNorm2d: a class
                return kind is ClassVal
            return UNK
        if cls.qual in ("torch.Tensor", "torch.nn.Parameter") and isinstance(obj, Tensor):
            return True if cls.qual == "torch.Tensor" else UNK
        if cls.qual in ("torch.Tensor", "torch.nn.Parameter") and (
                obj is None or isinstance(obj, (bool, int, float, str, Seq, DictVal, Layer, Func, ClassVal))):
            return False  # transformers' slice_logits_to_keep(h, 0): an int is no tensor
        if cls.qual in _MODULE_CLASSES and (isinstance(obj, Layer) or (isinstance(obj, Instance) and obj.cls.is_module)):
            return True
        if cls.qual.startswith("torch.") and isinstance(obj, (Func, Bound, Partial)):
            return False  # a function is an instance of no torch class
        if cls.qual.startswith("torch.nn.") and (obj is None or isinstance(obj, (bool, int, float, str, Sym, Tensor))):
            # yolov5's Conv: act if isinstance(act, nn.Module) else nn.Identity(), act=False
            return False
        if cls.qual in _MODULE_CLASSES and isinstance(obj, (Seq, DictVal, ClassVal)):
            return False  # x-transformers' default(val, d): `not isinstance(d, Module) and callable(d)`
        if cls.qual in _CALLABLE_ABCS:  # timm's get_act_fn: isinstance(name, Callable) on 'relu'
            return _callable(obj)
        if cls.qual in _ITERABLE_ABCS:  # timm's to_ntuple: isinstance(x, collections.abc.Iterable)
            if obj is None or isinstance(obj, (int, float, Sym, dims.Hinted)):  # a Hinted is a size, not a str
                return False
            if isinstance(obj, (Seq, DictVal, str, Tensor)):
                return True
            return UNK
        kind = _BUILTIN_TYPES.get(cls.qual) or _BUILTIN_TYPES.get(f"builtins.{cls.qual}")
        if kind is not None and (obj is None or isinstance(obj, (int, float, str, Seq, DictVal, Tensor))):
            if kind is Seq and isinstance(obj, Seq):
                return obj.kind == ("list" if cls.qual.endswith("list") else "tuple") or UNK
            return isinstance(obj, kind)
        if kind is not None and (isinstance(obj, (ClassVal, Func, Bound, Layer)) or _is_library_class(obj)):
            return False  # a class, a function or a layer is no int, str, tuple, list or dict
        if isinstance(obj, Instance) and any(isinstance(b, Ref) and b.qual == cls.qual
                                             for c in obj.cls.mro() for b in c.bases):
            return True
        if isinstance(obj, Instance) and (kind is not None or cls.qual.startswith("torch.nn.")) \
                and _plain_module_or_object(obj.cls):
            # a class of the file deriving from nn.Module alone (or from nothing) is no
            # ModuleList, list or dict: torchtune's TransformerDecoder takes `layers` as a
            # ModuleList, a list or one layer to clone, and asks which
            return False
        if obj is None and cls.qual.split(".")[0] not in _TYPE_ROOTS:
            # None is an instance of no library class (torchtune: isinstance(mask, BlockMask))
            return False
    return UNK


# nn.Module's public members (a class deriving from it has them without setting them)
_MODULE_MEMBERS = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile",
    "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer",
    "get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia",
    "named_buffers", "named_children", "named_modules", "named_parameters", "parameters",
    "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter", "register_state_dict_post_hook",
    "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule", "share_memory",
    "state_dict", "to", "to_empty", "train", "training", "type", "xpu", "zero_grad"})


def _plain_module_or_object(cls: ClassVal) -> bool:
    """``cls``'s library bases, over its whole MRO, are nn.Module or object at most."""
    if cls.mro_error:
        return False
    return all(not isinstance(b, Ref) or b.qual in _MODULE_CLASSES or b.qual in ("builtins.object", "object")
               for c in cls.mro() for b in c.bases)


def _issubclass(sub, cls):
    """issubclass(sub, cls) where the engine can tell, else UNK: a user class is in the
    other's MRO or it is not (a library class never derives from a user class)."""
    if isinstance(cls, Seq):
        answers = [_issubclass(sub, c) for c in cls.items]
        return True if True in answers else (False if answers and all(x is False for x in answers) else UNK)
    if isinstance(sub, ClassVal) and sub.mro() and not sub.mro_error:
        if isinstance(cls, ClassVal):
            return cls in sub.mro()
        if isinstance(cls, Ref) and any(isinstance(b, Ref) and b.qual == cls.qual for c in sub.mro() for b in c.bases):
            return True
    if _is_library_class(sub) and isinstance(cls, ClassVal):
        return False
    return UNK


_MODULE_CLASSES = ("torch.nn.Module", "torch.nn.modules.module.Module")


def _callable(v):
    """callable(v) where the engine can tell (``default(val, d)`` helpers call ``d`` only
    when it is a function), else UNK."""
    if isinstance(v, (Func, Bound, ClassVal, Layer, Partial, _MappingMethod)):
        return True
    if v is None or isinstance(v, (bool, int, float, str, Seq, SeqPrefix, Repeated, DictVal, Tensor, Sym)):
        return False
    if isinstance(v, Instance):
        return True if v.cls.is_module or v.cls.lookup("__call__") is not None else UNK
    return UNK


def _is_library_class(v) -> bool:
    """A torch class named from outside the file (``nn.SiLU`` in a table of activations)."""
    return isinstance(v, Ref) and v.qual.startswith("torch.") and v.qual.rsplit(".", 1)[-1][:1].isupper()


def _library_base(interp, cls):
    """(qual, LayerRule) when a user class derives from a library layer (nn.Conv1d)."""
    for c in cls.mro():
        for b in c.bases:
            if isinstance(b, Ref):
                rule = interp.lookup_rule(b.qual)
                if isinstance(rule, LayerRule) and rule.varargs != "modules":
                    return b.qual, rule
    return None


def _container_base(cls):
    """"Sequential" / "ModuleList" / "ModuleDict" when a user class derives from one."""
    for c in cls.mro():
        for b in c.bases:
            if isinstance(b, Ref) and b.qual.rsplit(".", 1)[-1] in ("Sequential", "ModuleList", "ModuleDict") \
                    and b.qual.startswith("torch.nn"):
                return b.qual.rsplit(".", 1)[-1]
    return None


def _registered_modules(inst: Instance) -> list:
    """(name, module) in registration order: what a container subclass holds."""
    return [(k, v) for k, v in inst.attrs.items()
            if isinstance(v, Layer) or (isinstance(v, Instance) and v.cls.is_module)]


class _AutoFromConfig:
    """``AutoModel.from_config`` (or ``AutoModelForCausalLM``'s ...): see
    ``Interp.call_auto_from_config``."""

    def __init__(self, auto_name: str):
        self.auto_name = auto_name


_AUTO_REF = re.compile(r"^transformers(?:\.models\.auto(?:\.modeling_auto)?)?\.(AutoModel\w*)$")


def _auto_model_name(obj) -> Optional[str]:
    """``AutoModelForCausalLM`` for transformers' auto class of that name (read from its
    source, or a library name), else None."""
    if isinstance(obj, ClassVal):
        path = (getattr(obj.module, "path", None) or "").replace("\\", "/")
        return obj.name if obj.name.startswith("AutoModel") and "transformers/models/auto/" in path else None
    if isinstance(obj, Ref):
        found = _AUTO_REF.match(obj.qual)
        return found.group(1) if found else None
    return None


class _ContainerInit:
    def __init__(self, inst, kind):
        self.inst, self.kind = inst, kind


class _LayerInit:
    def __init__(self, inst, qual, rule):
        self.inst, self.qual, self.rule = inst, qual, rule


class _DataclassInit:
    def __init__(self, inst, cls):
        self.inst, self.cls = inst, cls



_EVAL = {
    ast.Constant: Interp.e_constant,
    ast.Name: Interp.e_name,
    ast.Tuple: Interp.e_tuple,
    ast.List: Interp.e_list,
    ast.Set: Interp.e_set,
    ast.Dict: Interp.e_dict,
    ast.JoinedStr: Interp.e_joinedstr,
    ast.Lambda: Interp.e_lambda,
    ast.IfExp: Interp.e_ifexp,
    ast.NamedExpr: Interp.e_namedexpr,
    ast.BoolOp: Interp.e_boolop,
    ast.UnaryOp: Interp.e_unaryop,
    ast.BinOp: Interp.e_binop,
    ast.Compare: Interp.e_compare,
    ast.Attribute: Interp.e_attribute,
    ast.Subscript: Interp.e_subscript,
    ast.Slice: Interp.e_slice,
    ast.Starred: Interp.e_starred,
    ast.ListComp: Interp.e_comp,
    ast.GeneratorExp: Interp.e_comp,
    ast.SetComp: Interp.e_comp,
    ast.DictComp: Interp.e_comp,
    ast.Call: Interp.e_call,
    ast.Await: Interp.e_await,
}
_HOVERABLE = {ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.BinOp, ast.UnaryOp}
_MAY_RAISE = {ast.Name, ast.Call, ast.Attribute, ast.Subscript}
