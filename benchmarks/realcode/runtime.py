"""The runtime side of the real-code benchmark: one class, built and called with torch on
the CPU, in this (child) process.

Reads a job as JSON on stdin, prints one JSON line: ``{"ok": true, "entries": [...]}`` with
the recorder's entries for the class's own file (every tensor bound in forward() and what it
calls there, ml_lsp.trace.recorder), or ``{"ok": false, "error": ..., "line": ..., "chain":
[...]}`` with the lines of the file in the traceback (deepest last) when it raised.

Run by groundtruth.py with the benchmark venv's interpreter; never imported by the scorer.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import signal
import sys
import tempfile
import traceback
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _tolerate_cpu_torchvision() -> None:
    """PyPI's torchvision wheel links its C++ ops against CUDA torch; with the CPU torch
    here they do not load, and torchvision's import then fails registering fake kernels for
    the ops that are missing (torchvision::nms ...). The models need none of those ops, so
    registrations for torchvision:: ops are skipped (this process only)."""
    import torch.library as library

    def tolerant(name):
        original = getattr(library, name)

        def register(op, *args, **kwargs):
            if isinstance(op, str) and op.startswith("torchvision::"):
                if args and callable(args[0]):
                    return args[0]
                return lambda fn: fn
            return original(op, *args, **kwargs)
        setattr(library, name, register)

    for name in ("register_fake", "register_autograd", "impl_abstract"):
        if hasattr(library, name):
            tolerant(name)


def _dotted(file: Path, base: Path) -> str:
    parts = list(file.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _exec_as(dotted: str, file: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(dotted, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[dotted] = module
    spec.loader.exec_module(module)
    return module


def _stub_packages(dotted: str, base: Path) -> None:
    """Parent packages as plain namespace modules: their __init__ (a framework's argument
    parsing, distributed set-up) does not run; sibling modules still import."""
    parts = dotted.split(".")[:-1]
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        if name in sys.modules:
            continue
        stub = types.ModuleType(name)
        stub.__path__ = [str(base.joinpath(*parts[:depth]))]
        sys.modules[name] = stub


class _StatementTimeout(Exception):
    pass


def _run_script_tolerantly(file: Path, module: types.ModuleType, seconds: int = 20) -> list[str]:
    """Execute a script's top-level statements one by one, as its classes need them
    (argparse defaults, constants, imports), skipping loops and `with` blocks (training) and
    going past any statement that fails (a dataset download without network) or runs longer
    than ``seconds``. Returns what was skipped, for the report."""
    source = file.read_text(encoding="utf-8")
    tree = ast.parse(source, str(file))
    skipped = []

    def on_alarm(signum, frame):
        raise _StatementTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        for node in tree.body:
            if isinstance(node, (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith)):
                skipped.append(f"line {node.lineno}: {type(node).__name__} (not run)")
                continue
            code = compile(ast.Module(body=[node], type_ignores=[]), str(file), "exec")
            signal.alarm(seconds)
            try:
                exec(code, module.__dict__)
            except (Exception, SystemExit, _StatementTimeout) as exc:  # noqa: BLE001 - keep going
                skipped.append(f"line {node.lineno}: {type(exc).__name__}: {str(exc)[:120]}")
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return skipped


def load_module(root: Path, import_root: str, path: str, mode: str, argv: list[str]) -> types.ModuleType:
    file = root / path
    base = root / import_root if import_root else root
    if mode == "script":
        sys.path[:0] = [str(file.parent), str(base)]
        module = types.ModuleType("__realcode_script__")
        module.__file__ = str(file)
        sys.modules[module.__name__] = module
        saved = sys.argv
        sys.argv = [str(file), *argv]
        try:
            module.__realcode_skipped__ = _run_script_tolerantly(file, module)
        finally:
            sys.argv = saved
        return module
    dotted = _dotted(file, base)
    if mode == "tree":
        sys.path.insert(0, str(base))
        parent = dotted.rpartition(".")[0]
        if parent:
            importlib.import_module(parent)
        loaded = sys.modules.get(dotted)
        if loaded is not None and os.path.realpath(getattr(loaded, "__file__", "") or "") == os.path.realpath(file):
            return loaded
        return _exec_as(dotted, file)
    if mode == "files":
        sys.path.insert(0, str(base))
        _stub_packages(dotted, base)
        return _exec_as(dotted, file)
    raise ValueError(f"unknown load mode {mode!r}")


def make_inputs(specs: list[str], seed: int) -> dict:
    import torch

    sys.path.insert(0, str(REPO / "tests"))
    from groundtruth.harness import _INPUT

    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for text in specs:
        match = _INPUT.match(text.strip())
        if not match:
            raise ValueError(f"bad input {text!r} (want NAME=D1,D2[ float|rand|bool|long<N>])")
        name, dims_text, dtype = match.group(1), match.group(2), match.group(3) or "float"
        dims = [int(d) for d in dims_text.replace(" ", "").split(",") if d]
        if dtype.startswith("long"):
            high = int(dtype[5:].rstrip(">"))
            tensors[name] = torch.randint(0, high, dims, generator=generator)
        elif dtype == "rand":
            tensors[name] = torch.rand(dims, generator=generator)
        elif dtype == "bool":
            tensors[name] = torch.rand(dims, generator=generator) > 0.5
        else:
            tensors[name] = torch.randn(dims, generator=generator)
    return tensors


def run_job(job: dict) -> dict:
    import torch

    from ml_lsp.trace.recorder import ShapeRecorder

    torch.set_num_threads(1)
    root = Path(job["root"])
    file = (root / job["path"]).resolve()
    os.chdir(tempfile.mkdtemp(prefix="realcode-run-"))   # scripts write images/, data/ ...
    stage = "import"
    try:
        module = load_module(root, job.get("import_root", ""), job["path"], job["load"], job.get("argv", []))
        stage = "construct"
        torch.manual_seed(0)
        built = eval(f"{job['class']}({job.get('init', '')})", module.__dict__)
        if hasattr(built, "eval"):
            built.eval()
        stage = "forward"
        # Two draws of input values with the same shapes: a dim that depends on the data is
        # recorded as varying (None), as the harness does.
        with torch.no_grad(), ShapeRecorder([str(file)]) as recorder:
            for seed in (0, 1):
                built(**make_inputs(job.get("inputs", []), seed))
    except BaseException as exc:  # noqa: BLE001 - the failure is the answer
        own = str(file)
        chain = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
                 if os.path.realpath(frame.filename) == own]
        return {"ok": False, "stage": stage, "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:400],
                "line": chain[-1] if chain else None, "chain": chain}
    entries = [e for e in recorder.entries() if e["path"] == str(file)]
    for entry in entries:
        del entry["path"]
    return {"ok": True, "entries": entries, "skipped": getattr(module, "__realcode_skipped__", [])}


def _limit_memory(extra_bytes: int) -> None:
    """A default-built model can be big (LLaMA's defaults are 7B parameters): on the CPU the
    child may use what it has now plus ``extra_bytes``, and a bigger model fails to build
    (MemoryError) instead of taking the machine."""
    import resource

    try:
        with open("/proc/self/statm") as f:
            virtual = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (virtual + extra_bytes, resource.RLIM_INFINITY))
    except (OSError, ValueError):
        pass


def run_defaults(job: dict) -> dict:
    """The class built with its constructor's defaults (``Class()``; or as the file's own
    call builds it, ``job["built_init"]``: see defaults.constructor_arguments) and called with each
    input attempt in turn (``job["attempts"]``: lists of input specs, the shapes the static
    engine inferred with its symbols given values) until one runs: on the meta device first
    (no memory, whatever the defaults' size), on the CPU where meta cannot run an op
    (data-dependent shapes). Answers ``{"ok": true, "entries", "device", "attempt"}``, or the
    stage that failed (``construct``: the constructor needs arguments or raises;
    ``forward``: no attempt ran, the last error)."""
    import torch

    from ml_lsp.trace.recorder import ShapeRecorder

    torch.set_num_threads(1)
    root = Path(job["root"])
    file = (root / job["path"]).resolve()
    os.chdir(tempfile.mkdtemp(prefix="realcode-defaults-"))
    own = str(file)

    def failure(stage, exc):
        chain = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
                 if os.path.realpath(frame.filename) == own]
        return {"ok": False, "stage": stage, "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:400],
                "line": chain[-1] if chain else None, "chain": chain}

    try:
        module = load_module(root, job.get("import_root", ""), job["path"], job["load"], job.get("argv", []))
    except BaseException as exc:  # noqa: BLE001 - the failure is the answer
        return failure("import", exc)
    built = {}

    def build(device: str):
        if device not in built:
            torch.manual_seed(0)
            if device == "cpu":
                _limit_memory(4 << 30)
            with torch.device(device):
                model = eval(f"{job['class']}({job.get('built_init') or ''})", module.__dict__)
            if hasattr(model, "eval"):
                model.eval()
            built[device] = model
        return built[device]

    failed = {}   # stage -> the last failure; a forward's is the answer over a constructor's
    for device in ("meta", "cpu"):
        try:
            model = build(device)
        except BaseException as exc:  # noqa: BLE001
            # the CPU's reason is the one to show (meta's is often only that it is meta)
            failed["construct"] = failure("construct", exc)
            continue
        for number, specs in enumerate(job.get("attempts", [])):
            try:
                with torch.no_grad(), ShapeRecorder([own]) as recorder:
                    # on the CPU, two draws of values: a dim that depends on the data varies
                    for seed in ((0,) if device == "meta" else (0, 1)):
                        inputs = {k: v.to(device) for k, v in make_inputs(specs, seed).items()}
                        model(**inputs)
            except BaseException as exc:  # noqa: BLE001
                failed["forward"] = {**failure("forward", exc), "device": device}
                continue
            entries = [e for e in recorder.entries() if e["path"] == own]
            for entry in entries:
                del entry["path"]
            return {"ok": True, "entries": entries, "device": device, "attempt": number}
    return failed.get("forward") or failed.get("construct") or {
        "ok": False, "stage": "forward", "error": "no input attempt", "line": None, "chain": []}


def main() -> None:
    job = json.loads(sys.stdin.read())
    sys.path.insert(0, str(REPO))
    # A script's folder goes first on sys.path; nothing of ours must shadow its modules.
    import warnings
    warnings.simplefilter("ignore")
    import torch  # noqa: F401
    _tolerate_cpu_torchvision()
    result = run_defaults(job) if job.get("defaults") else run_job(job)
    sys.stdout.flush()
    print("\n@@realcode@@" + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
