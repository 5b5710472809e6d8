"""The imported library modules of a file, interpreted once per batch and copied for each
file that imports the same ones (``ml-lsp check DIR``: every model file of transformers
imports about 150 of its modules, and interpreting them again was two thirds of the time).

What is shared is exactly what a fresh analysis would hold, so that the answers are the
same with and without it:

- A file's *library chain* is the sequence of modules its leading ``from ... import``
  statements load (those before any other statement), up to the first module of its own
  folder. Since ``from M import x`` binds ``x`` lazily (``interp.LazyImport``: M runs on
  x's first look-up), the statements themselves load only what star imports bring in;
  the modules a file's names pull in later are its own run's. The engine's state after loading a chain (the module cache: one interpreter per
  imported module, with its globals) depends only on the chain's texts and the resolver's
  answers, never on the importing file: every import below the first level is resolved
  from the importing module's own path.
- After a fresh run loads a chain, the module cache is pickled (syntax trees, rules and
  other immutable objects by reference, everything the analysis may change by value). A
  later file whose chain starts with a stored one unpickles its own copy (its changes never
  reach another file) and runs its import statements against it, then loads the rest of
  its chain as usual.
- A copy is used only when every look-up the stored run made gives the same file and text
  now (the same calls go through the caller's resolver, so its records of what was read
  stay complete), and stored only when the run could not have depended on the file: no
  budget ran out, the file itself is not among the modules, and no module's globals were
  rebound after the file's import statement bound them (a copy binds from the final state).
"""

from __future__ import annotations

import ast
import copyreg
import io
import pickle
import sys
import types
from collections import OrderedDict
from dataclasses import dataclass

# Snapshots kept per batch, the least recently used dropped beyond this many bytes.
MAX_SNAPSHOT_BYTES = 96 * 1024 * 1024
_SHARED_STR = 64  # longer strings (module texts, lines) are referenced, never copied


@dataclass
class Snapshot:
    data: bytes
    refs: list  # objects the pickle refers to by index (trees, rules, singletons)
    resolves: list  # (name, from_path, found) of every look-up the run made, in order


class _Logged:
    """The file's resolver, with a log of the look-ups made while the chain loads."""

    def __init__(self, resolve, log: list) -> None:
        self.resolve, self.log, self.on = resolve, log, True

    def __call__(self, name, from_path):
        found = self.resolve(name, from_path)
        if self.on:
            self.log.append((name, from_path, found))
        return found


class ModuleShare:
    def __init__(self, max_bytes: int = MAX_SNAPSHOT_BYTES) -> None:
        self.max_bytes = max_bytes
        self._snapshots: OrderedDict = OrderedDict()  # chain -> Snapshot
        self._bytes = 0
        self._unshareable: set = set()  # chains whose runs rebound a module's globals
        self._seen: set = set()  # chains loaded once, without a copy stored
        self.restored = 0  # files that started from a copy (a benchmark reads these)
        self.stored = 0

    def run_module(self, interp, tree: ast.Module) -> None:
        """``interp.run_module(tree)``, starting from a stored copy of the modules its
        leading imports load when there is one, and storing one when there is not."""
        from ml_lsp.analysis.interp import _LIBRARY_ROOTS

        body = tree.body
        prefix = 0
        while prefix < len(body) and (isinstance(body[prefix], (ast.Import, ast.ImportFrom)) or (
                prefix == 0 and isinstance(body[prefix], ast.Expr) and isinstance(body[prefix].value, ast.Constant))):
            prefix += 1
        if interp.import_depth != 0 or interp.resolve_module is None or interp.path is None or not prefix:
            interp.run_module(tree)
            return
        original = interp.resolve_module
        log: list = []
        logged = _Logged(original, log)
        interp.resolve_module = logged
        try:
            chain, ends = self._chain(interp, body[:prefix], _LIBRARY_ROOTS)
            start = self._restore(interp, chain, log)
            # statement index after which each chain position is loaded
            loaded_at = {ends[i]: i + 1 for i in range(len(chain))}
            # stored after the whole chain, and after any module that brought many others with it
            # (a shorter chain other files start with); a position the copy already covered
            # is not this run's to store
            counted = _count_modules(interp.module_cache)
            at_load: dict = {}
            if start:
                for name, path in chain[:start]:
                    other = interp.module_cache.get((path, None))
                    if other is not None:
                        at_load[path] = dict(other.globals)
            for i, stmt in enumerate(body[:prefix]):
                interp.run_module(ast.Module(body=[stmt], type_ignores=[]))
                position = loaded_at.get(i)
                if position is None:
                    continue
                if position > start:
                    path = chain[position - 1][1]
                    other = interp.module_cache.get((path, None))
                    if other is not None:
                        at_load.setdefault(path, dict(other.globals))
                if position <= start:
                    continue
                now = _count_modules(interp.module_cache)
                if position == len(chain) or now - counted >= BIG_STEP:
                    counted = now
                    self._store(interp, tuple(chain[:position]), log, at_load, logged)
            logged.on = False
        finally:
            interp.resolve_module = original
        interp.run_module(ast.Module(body=body[prefix:], type_ignores=[]))

    # The chain -------------------------------------------------------------------------
    @staticmethod
    def _chain(interp, stmts, library_roots) -> tuple:
        """((name, path) of each module the statements load, and the index of the statement
        that loads each."""
        chain, ends, seen = [], [], set()
        for i, stmt in enumerate(stmts):
            if not isinstance(stmt, ast.ImportFrom):
                continue
            mod = stmt.module or ""
            if stmt.level == 0 and mod.split(".")[0] in library_roots:
                continue
            try:
                found = interp.resolve_module("." * stmt.level + mod, interp.path)
            except Exception:
                found = None
            if not found:
                continue
            path = found[0]
            if path == interp.path:
                break
            if path in seen:
                continue
            seen.add(path)
            chain.append((mod, path))
            ends.append(i)
        return chain, ends

    # Restoring --------------------------------------------------------------------------
    def _restore(self, interp, chain: list, log: list) -> int:
        """Put a copy of the longest stored chain that starts ``chain`` in place; returns
        its length (0: none)."""
        for length in range(len(chain), 0, -1):
            key = tuple(chain[:length])
            snap = self._snapshots.get(key)
            if snap is None:
                continue
            if not self._still_valid(interp, snap):
                self._drop(key)
                continue
            try:
                cache = _load(snap, interp)
            except Exception:  # a copy that cannot be read back costs time, never the answer
                self._drop(key)
                continue
            self._snapshots.move_to_end(key)
            interp.module_cache = cache
            log[:] = list(snap.resolves)
            self.restored += 1
            return length
        return 0

    @staticmethod
    def _still_valid(interp, snap: Snapshot) -> bool:
        for name, from_path, found in snap.resolves:
            try:
                now = interp.resolve_module.resolve(name, from_path)
            except Exception:
                now = None
            if (now is None) != (found is None) or (now is not None and (now[0] != found[0] or now[1] != found[1])):
                return False
        return True

    # Storing ----------------------------------------------------------------------------
    def _store(self, interp, key: tuple, log: list, at_load: dict, logged) -> None:
        if key in self._snapshots or key in self._unshareable:
            return
        if key not in self._seen:  # a chain met once is not worth a copy until it comes again
            self._seen.add(key)
            return
        if interp.limits is not None and interp.limits.expired:
            return  # cut by the clock: not what another file's run would hold
        cache = interp.module_cache
        modules = {id(v): v for v in cache.values() if v is not None}
        if any(m.path == interp.path for m in modules.values()):
            return  # the file imports itself through the chain: its copy would depend on it
        for path, globals_then in at_load.items():
            other = cache.get((path, None))
            if other is None or len(other.globals) != len(globals_then) or any(
                    other.globals.get(k, _ABSENT) is not v for k, v in globals_then.items()):
                self._unshareable.add(key)  # a later module rebound this one's names
                return
        try:
            snap = _dump(cache, interp, logged, list(log))
        except Exception:  # an object the copy cannot hold: this chain is not shared
            self._unshareable.add(key)
            return
        self._snapshots[key] = snap
        self._bytes += len(snap.data)
        self.stored += 1
        while self._bytes > self.max_bytes and self._snapshots:
            self._drop(next(iter(self._snapshots)))

    def _drop(self, key) -> None:
        snap = self._snapshots.pop(key, None)
        if snap is not None:
            self._bytes -= len(snap.data)


_ABSENT = object()
BIG_STEP = 10  # modules one import must bring in for a copy to be stored after it


def _count_modules(cache: dict) -> int:
    return len({id(v) for v in cache.values() if v is not None})
_RESOLVE, _LIMITS = -1, -2
_AST_TYPES = tuple(t for t in vars(ast).values() if isinstance(t, type) and issubclass(t, ast.AST))
_PLAIN = (int, float, bool, str, bytes, tuple, list, dict, set, frozenset, type(None), complex)


def _shared_objects() -> dict:
    """id -> object for what must stay one object: the module-level values of ml-lsp's
    analysis and plugin modules (``UNK`` and the other singletons, rule tables) and the
    values of their tables."""
    shared: dict = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("ml_lsp") or module is None:
            continue
        for value in list(vars(module).values()):
            shared[id(value)] = value
            if isinstance(value, dict):
                for inner in value.values():
                    shared[id(inner)] = inner
            elif isinstance(value, (list, tuple, set, frozenset)):
                for inner in value:
                    shared[id(inner)] = inner
    return shared


class _Shared:
    __slots__ = ("obj",)

    def __init__(self, obj) -> None:
        self.obj = obj


def _ref(index: int):
    """Unpickling: the object the snapshot refers to (see ``_load``)."""
    return _LOADING[index] if index >= 0 else _LOADING_SPECIAL[index]


_LOADING: list = []
_LOADING_SPECIAL: dict = {}


def _dump(cache: dict, interp, logged, resolves: list) -> Snapshot:
    """Pickled by C code except for the objects kept by reference: syntax trees (by far the
    most), bound methods, the resolver and budget (the file's own are put in on load), and
    the singletons of the analysis modules, found by their types."""
    from ml_lsp.analysis.interp import Limits

    shared = _shared_objects()
    rules = interp.rules
    shared[id(rules)] = rules
    for value in rules.values():
        shared[id(value)] = value
    refs: list = []
    index: dict = {}

    def by_reference(obj):
        key = id(obj)
        at = index.get(key)
        if at is None:
            at = index[key] = len(refs)
            refs.append(obj)
        return _ref, (at,)

    def shared_or_value(obj):
        if id(obj) in shared:
            return by_reference(obj)
        if obj is interp:
            raise pickle.PicklingError("the importing file's own interpreter is reachable")
        return obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)

    table = {t: by_reference for t in _AST_TYPES}
    table[types.MethodType] = by_reference
    table[_Logged] = lambda obj: (_ref, (_RESOLVE,))
    for value in shared.values():
        t = type(value)
        if t not in _PLAIN and t not in table and not isinstance(value, (type, types.FunctionType,
                                                                          types.BuiltinFunctionType,
                                                                          types.ModuleType)):
            table[t] = shared_or_value
    def interpreter(obj):
        if obj is interp:
            raise pickle.PicklingError("the importing file's own interpreter is reachable")
        # its source lines are read, never changed: one list for every copy
        state = dict(obj.__dict__)
        state["lines"] = _Shared(obj.lines)
        return copyreg.__newobj__, (type(obj),), state

    table[type(interp)] = interpreter
    table[_Shared] = lambda wrapper: by_reference(wrapper.obj)
    if interp.limits is not None:
        table[type(interp.limits)] = lambda obj: (_ref, (_LIMITS,))
    table[Limits] = lambda obj: (_ref, (_LIMITS,))

    # a decorated or rebound function has no importable name; ``_ref`` itself goes by name
    table[types.FunctionType] = lambda obj: NotImplemented if obj is _ref else by_reference(obj)
    lookup = table.get

    class Pickler(pickle.Pickler):
        # called by the C pickler for every object but the built-in containers and scalars
        def reducer_override(self, obj):
            reduce = lookup(type(obj))
            return NotImplemented if reduce is None else reduce(obj)

    out = io.BytesIO()
    _deep(lambda: Pickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(cache))
    return Snapshot(out.getvalue(), refs, resolves)


def _deep(work) -> None:
    """``work()`` on a thread with a large stack and recursion limit: pickling recurses once
    per level of nesting, and the analysis's values nest deeper than the default allows."""
    import threading
    failure: list = []

    def run():
        try:
            work()
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    limit = sys.getrecursionlimit()
    size = threading.stack_size()
    try:
        threading.stack_size(512 * 1024 * 1024)
        sys.setrecursionlimit(max(limit, 200_000))
        thread = threading.Thread(target=run, name="ml-lsp module copy")
        thread.start()
        thread.join()
    finally:
        threading.stack_size(size)
        sys.setrecursionlimit(limit)
    if failure:
        raise failure[0]


def _load(snap: Snapshot, interp) -> dict:
    global _LOADING, _LOADING_SPECIAL
    _LOADING, _LOADING_SPECIAL = snap.refs, {_RESOLVE: interp.resolve_module, _LIMITS: interp.limits}
    try:
        cache = pickle.loads(snap.data)
    finally:
        _LOADING, _LOADING_SPECIAL = [], {}
    for other in {id(v): v for v in cache.values() if v is not None}.values():
        if other.layer_weights:  # keyed by the weights' identities, new in the copy
            other.layer_weights = {id(entry[2]): entry for entry in other.layer_weights.values()}
    return cache
