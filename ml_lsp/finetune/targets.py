"""Where "Fine-tune from checkpoint…" applies, and what to offer: plain Python over source
text and the workspace's file names (no torch, no LSP types, never runs user code).

``find_target(text, line)`` says whether ``line`` is the header of an ``nn.Module`` class,
or a ``torch.load(...)`` / ``.load_state_dict(...)`` line, or the header of a Keras model
(a ``keras.Model`` subclass, or a function that builds and returns a Keras model), and what
model (class or function and literal arguments) and checkpoint file it names. ``checkpoint_candidates`` and
``data_candidates`` list what the workspace holds, shallowest first.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass
from pathlib import Path

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".safetensors")
KERAS_CHECKPOINT_SUFFIXES = (".keras", ".h5")  # a saved Keras model, or its .weights.h5
DATA_SUFFIXES = (".npz", ".csv")
SKIP_DIRS = {"node_modules", "__pycache__", "venv", "env", "site-packages", "build", "dist"}
MAX_FILES = 5000  # a huge workspace is cut short rather than scanned for seconds
DATA_FUNCTION = re.compile(r"data|dataset|load|split", re.IGNORECASE)


@dataclass
class FinetuneTarget:
    line: int  # 0-based line of the class header or the load call
    class_name: str | None  # the nn.Module subclass (defined here, or imported by that name)
    module: str | None  # "pkg.mod" when the class is imported from elsewhere, None if defined here
    init: str  # literal constructor arguments seen at the call site, Python syntax
    checkpoint: str | None  # a string literal given to torch.load / load_file
    framework: str = "torch"  # "keras" for a Keras model: its checkpoints are .keras/.h5


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def module_classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    """Classes of the file that derive from torch's ``nn.Module`` (directly, through
    ``Module`` imported from torch.nn, or through another such class of the file)."""
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    found: dict[str, ast.ClassDef] = {}
    changed = True
    while changed:
        changed = False
        for name, node in classes.items():
            if name in found:
                continue
            for base in node.bases:
                dotted = _dotted(base)
                if dotted.endswith("nn.Module") or dotted in ("Module", "LightningModule") \
                        or dotted.endswith(".LightningModule") or dotted in found:
                    found[name] = node
                    changed = True
                    break
    return found


def _keras_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names bound to the keras module or tf: ``keras``, ``tf``; names imported from a
    Keras module: ``Sequential``, ``Model``, ``layers``)."""
    modules, names = set(), set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("keras", "tensorflow", "tf_keras"):
                    modules.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in ("keras", "tensorflow", "tf_keras"):
                names |= {alias.asname or alias.name for alias in node.names}
    return modules, names


def keras_models(tree: ast.Module) -> dict[str, ast.ClassDef | ast.FunctionDef]:
    """Top-level ``keras.Model`` subclasses, and top-level functions that build a Keras model
    (call ``Sequential``/``Model``/``keras.applications...``) and return something."""
    modules, names = _keras_names(tree)
    if not modules and not names:
        return {}

    def is_keras(dotted: str, leaf: tuple[str, ...]) -> bool:
        head, _, last = dotted.rpartition(".")
        if not head:
            return dotted in names and dotted in leaf
        return head.split(".")[0] in modules | names and (last in leaf or ".applications." in dotted + ".")

    found: dict[str, ast.ClassDef | ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(is_keras(_dotted(b), ("Model",)) for b in node.bases):
            found[node.name] = node
        elif isinstance(node, ast.FunctionDef) and any(isinstance(n, ast.Return) and n.value for n in ast.walk(node)):
            if any(isinstance(n, ast.Call) and is_keras(_dotted(n.func), ("Sequential", "Model"))
                   for n in ast.walk(node)):
                found[node.name] = node
    return found


def _imports(tree: ast.Module) -> dict[str, str]:
    """name -> module it was imported from (``from pkg.models import Net``)."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                out[alias.asname or alias.name] = node.module
    return out


def _literal_args(call: ast.Call, source: str) -> str:
    """The call's arguments as Python source, when every one is a literal."""
    parts = []
    for arg in call.args:
        try:
            ast.literal_eval(arg)
        except ValueError:
            return ""
        parts.append(ast.get_source_segment(source, arg) or "")
    for kw in call.keywords:
        if kw.arg is None:
            return ""
        try:
            ast.literal_eval(kw.value)
        except ValueError:
            return ""
        parts.append(f"{kw.arg}={ast.get_source_segment(source, kw.value)}")
    return ", ".join(parts)


def _string_arg(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    return None


def find_target(text: str, line: int) -> FinetuneTarget | None:
    """What "Fine-tune from checkpoint…" would fine-tune from ``line`` (0-based), or None
    when the line is neither an nn.Module class header nor a checkpoint-loading line.
    Text that does not parse (being typed) gives None: quiet when unsure."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    classes = module_classes(tree)
    for name, node in classes.items():
        first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
        if first <= line <= node.lineno - 1:
            return FinetuneTarget(node.lineno - 1, name, None, _constructed_with(tree, text, name), None)
    for name, node in keras_models(tree).items():
        first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
        if first <= line <= node.lineno - 1:
            return FinetuneTarget(node.lineno - 1, name, None, _constructed_with(tree, text, name), None, "keras")
    # A statement on this line that loads weights.
    loads = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.lineno - 1 <= line <= (node.end_lineno or node.lineno) - 1:
            func = _dotted(node.func)
            if func in ("torch.load", "load_file", "safetensors.torch.load_file") or func.endswith(".load_state_dict"):
                loads.append((node, func))
    if not loads:
        return None
    checkpoint = next((_string_arg(c) for c, f in loads if not f.endswith("load_state_dict") and _string_arg(c)), None)
    imports = _imports(tree)
    receiver = next((_dotted(c.func.value) for c, f in loads if f.endswith(".load_state_dict")), "")
    if not receiver:  # state = torch.load(...) here, model.load_state_dict(state) further on
        receiver = _receiver_of_loaded(tree, line)
    class_name, init = _class_of_variable(tree, text, receiver, classes, imports) if receiver else (None, "")
    if class_name is None and len(classes) == 1:
        class_name = next(iter(classes))
        init = _constructed_with(tree, text, class_name)
    if class_name is None:
        return None
    module = None if class_name in classes else imports.get(class_name)
    return FinetuneTarget(line, class_name, module, init, checkpoint)


def _receiver_of_loaded(tree: ast.Module, line: int) -> str:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and node.lineno - 1 <= line <= (node.end_lineno or node.lineno) - 1:
            names |= {_dotted(t) for t in node.targets}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _dotted(node.func).endswith(".load_state_dict") and node.args:
            if _dotted(node.args[0]) in names or (isinstance(node.args[0], ast.Subscript)
                                                 and _dotted(node.args[0].value) in names):
                return _dotted(node.func.value)
    return ""


def _constructed_with(tree: ast.Module, text: str, class_name: str) -> str:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _dotted(node.func).split(".")[-1] == class_name:
            return _literal_args(node, text)
    return ""


def _class_of_variable(tree, text, variable, classes, imports) -> tuple[str | None, str]:
    """``model = Net(num_classes=5)`` -> ("Net", "num_classes=5") for ``model``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            if any(_dotted(t) == variable for t in node.targets):
                name = _dotted(node.value.func).split(".")[-1]
                if name in classes or name in imports:
                    return name, _literal_args(node.value, text)
    return None, ""


# ---------------------------------------------------------------- the workspace's files

def _walk(root: Path):
    count = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(files):
            count += 1
            if count > MAX_FILES:
                return
            yield Path(folder) / name


def _order(paths: list[Path], root: Path) -> list[str]:
    rel = sorted({p.relative_to(root).as_posix() for p in paths}, key=lambda p: (p.count("/"), p))
    return rel


def checkpoint_candidates(root: Path, runs_dir: Path | None = None, framework: str = "torch") -> list[str]:
    """The workspace's checkpoint files, then the best and last checkpoints of earlier runs
    (newest run first). Nothing else from the runs folder: its ``frames.bin`` files are
    ml-lsp's own metric records, not weights. A Keras model (``framework="keras"``) is
    offered ``.keras`` and ``.h5`` files, a torch model the others."""
    suffixes = KERAS_CHECKPOINT_SUFFIXES if framework == "keras" else CHECKPOINT_SUFFIXES
    runs = runs_dir.resolve() if runs_dir is not None else None
    files = [p for p in _walk(root) if p.suffix.lower() in suffixes
             and not (runs is not None and p.resolve().is_relative_to(runs))]
    return _order(files, root) + [_shown(p, root) for p in run_checkpoints(runs_dir, suffixes)]


RUN_CHECKPOINT_NAMES = ("best", "last")
MAX_RUNS_LISTED = 20


def run_checkpoints(runs_dir: Path | None, suffixes: tuple[str, ...] = CHECKPOINT_SUFFIXES) -> list[Path]:
    """``best.*`` and ``last.*`` checkpoints in each run folder (or its ``checkpoints/``),
    newest run first."""
    if runs_dir is None or not runs_dir.is_dir():
        return []
    try:
        runs = sorted((d for d in runs_dir.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime, reverse=True)
    except OSError:
        return []
    found = []
    for run in runs[:MAX_RUNS_LISTED]:
        for folder in (run, run / "checkpoints"):
            for stem in RUN_CHECKPOINT_NAMES:
                found += sorted(p for p in folder.glob(stem + ".*") if p.suffix.lower() in suffixes)
    return found


def _shown(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def data_candidates(root: Path) -> list[str]:
    """``.npz``/``.csv`` files, folders of ``.npy`` files, and ``file.py:function`` for
    top-level functions without required arguments whose name speaks of data."""
    files, npy_dirs, functions = [], set(), []
    for path in _walk(root):
        suffix = path.suffix.lower()
        if suffix in DATA_SUFFIXES:
            files.append(path)
        elif suffix == ".npy":
            npy_dirs.add(path.parent if path.parent.parent != path.parent else path.parent)
        elif suffix == ".py":
            functions += [f"{path.relative_to(root).as_posix()}:{name}" for name in _data_functions(path)]
    out = _order(files, root) + _order([d for d in npy_dirs if d != root], root)
    return out + sorted(functions, key=lambda f: (f.count("/"), f))


def _data_functions(path: Path) -> list[str]:
    try:
        if path.stat().st_size > 500_000:
            return []
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return []
    names = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and (
                DATA_FUNCTION.search(node.name) or DATA_FUNCTION.search(path.stem)):
            required = len(node.args.args) - len(node.args.defaults)
            if required == 0 and not node.args.posonlyargs and not any(
                    d is None for d in node.args.kw_defaults):
                names.append(node.name)
    return names
