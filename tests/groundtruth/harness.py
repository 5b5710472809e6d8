"""Ground truth for the static shape engine: run each corpus model with torch on CPU, record
the shape of every tensor its statements bind, run ``ml-lsp shapes --json`` on the same file,
and compare per (scope, line, name).

The corpus header (documented in tests/corpus/README.md) says how to build and call each
model::

    # corpus: entry=GPT
    # corpus: init=config=GPTConfig(n_layer=2, n_embd=32)
    # corpus: input=idx=2,16 long<65
    # corpus: load=defs          (scripts: run only imports, defs and classes)
    # corpus: argv=--nz 16       (scripts that parse sys.argv at import)

Run ``python -m tests.groundtruth.harness`` (or ``python tests/groundtruth/harness.py``) to
print the figures and every disagreement without pytest.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS_DIRS = [REPO / "examples" / "models", REPO / "tests" / "corpus"]

_HEADER = re.compile(r"^#\s*corpus:\s*(\w+)\s*=\s?(.*?)\s*$")
_INPUT = re.compile(r"^(\w+)=([\d,\s]+?)(?:\s+(float|rand|bool|long<\d+>?))?$")


class HeaderError(ValueError):
    pass


@dataclass
class InputSpec:
    name: str
    dims: list[int]
    dtype: str = "float"       # "float" (normal), "rand" (uniform in [0, 1)), "bool" or "long"
    high: int | None = None    # long inputs: values drawn from range(high)

    def cli_arg(self) -> str:
        return f"{self.name}={','.join(str(d) for d in self.dims)}"


@dataclass
class CorpusModel:
    path: Path
    entry: str
    init: str = ""
    inputs: list[InputSpec] = field(default_factory=list)
    load: str = "module"       # "module" (import it) or "defs" (imports, defs, classes only)
    argv: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        try:
            return str(self.path.relative_to(REPO))
        except ValueError:
            return str(self.path)


def parse_header(path: Path) -> CorpusModel | None:
    """The model's header, or None for a file without one (not a ground-truth entry)."""
    fields: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = _HEADER.match(line.strip())
        if match:
            fields.setdefault(match.group(1), []).append(match.group(2))
    if not fields:
        return None
    if "entry" not in fields:
        raise HeaderError(f"{path}: corpus header without `# corpus: entry=CLASS`")
    model = CorpusModel(path=path, entry=fields["entry"][0], init=fields.get("init", [""])[0],
                        load=fields.get("load", ["module"])[0],
                        argv=fields.get("argv", [""])[0].split())
    for text in fields.get("input", []):
        match = _INPUT.match(text.strip())
        if not match:
            raise HeaderError(f"{path}: bad `# corpus: input={text}` (want NAME=D1,D2[ float|rand|bool|long<N>])")
        dtype = match.group(3) or "float"
        high = None
        if dtype.startswith("long"):
            high = int(re.search(r"\d+", dtype).group())
            dtype = "long"
        dims = [int(d) for d in match.group(2).replace(" ", "").split(",") if d]
        model.inputs.append(InputSpec(match.group(1), dims, dtype, high))
    if model.load not in ("module", "defs"):
        raise HeaderError(f"{path}: `# corpus: load=` must be module or defs")
    return model


def discover() -> list[CorpusModel]:
    models = []
    for folder in CORPUS_DIRS:
        for path in sorted(folder.rglob("*.py")):
            model = parse_header(path)
            if model is not None:
                models.append(model)
    return models


# ---------------------------------------------------------------------------------------
# Runtime side (imports torch; runs in the test process or the child of `runtime_json`).

def _definitions_only(source: str, filename: str):
    """The module with only its imports, classes, functions and constant assignments: a
    script's training code refers to data we do not have."""
    tree = ast.parse(source, filename)
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef)):
            keep.append(node)
        elif isinstance(node, ast.Assign):
            try:
                ast.literal_eval(node.value)
            except ValueError:
                continue
            keep.append(node)
    tree.body = keep
    return compile(tree, filename, "exec")


def load_namespace(model: CorpusModel) -> dict:
    import types

    source = model.path.read_text(encoding="utf-8")
    filename = str(model.path.resolve())
    # A real module in sys.modules under the file's own name: dataclasses and pickling look
    # the module up, and a sibling file importing this one must get the same classes.
    # Forget modules loaded from this folder before (a mutated copy of a sibling, say).
    for sibling in model.path.parent.glob("*.py"):
        sys.modules.pop(sibling.stem, None)
    module = types.ModuleType(model.path.stem)
    module.__file__ = filename
    sys.modules[model.path.stem] = module
    namespace = module.__dict__
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [filename] + model.argv
    sys.path.insert(0, str(model.path.parent))
    try:
        if model.load == "defs":
            code = _definitions_only(source, filename)
        else:
            code = compile(source, filename, "exec")
        exec(code, namespace)
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return namespace


def make_inputs(model: CorpusModel, seed: int = 0):
    import torch
    generator = torch.Generator().manual_seed(seed)
    tensors = []
    for spec in model.inputs:
        if spec.dtype == "long":
            tensors.append(torch.randint(0, spec.high, spec.dims, generator=generator))
        elif spec.dtype == "rand":
            tensors.append(torch.rand(spec.dims, generator=generator))
        elif spec.dtype == "bool":
            tensors.append(torch.rand(spec.dims, generator=generator) > 0.5)
        else:
            tensors.append(torch.randn(spec.dims, generator=generator))
    return tensors


def runtime_entries(model: CorpusModel) -> list[dict]:
    """Build the entry class with its init args, call it on the declared inputs, and
    return the recorder's entries for the model's own file.

    The forward runs twice, on two draws of input values with the same shapes: a dim that
    depends on the data (boolean-mask indexing, nonzero) differs between the runs and is
    recorded as varying (None), where only "unknown" or a symbol is a right answer."""
    import torch
    from ml_lsp.trace.recorder import ShapeRecorder

    torch.manual_seed(0)
    namespace = load_namespace(model)
    module = eval(f"{model.entry}({model.init})", namespace)
    if hasattr(module, "eval"):
        module.eval()
    # Record every file of the corpus folder: a model importing a block from a sibling
    # file runs code from both; only the model's own file is compared.
    files = [str(p) for p in model.path.parent.glob("*.py")]
    with torch.no_grad(), ShapeRecorder(files) as recorder:
        for seed in (0, 1):
            module(*make_inputs(model, seed))
    own = str(model.path.resolve())
    return [e for e in recorder.entries() if e["path"] == own]


# ---------------------------------------------------------------------------------------
# Static side: the CLI contract.

def static_entries(model: CorpusModel, with_inputs: bool, timeout: float = 60) -> tuple[list[dict] | None, str]:
    """``ml-lsp shapes --json`` for the model's file; (entries, error text)."""
    command = [sys.executable, "-m", "ml_lsp", "shapes", "--json", "--entry", model.entry]
    if model.init:
        command += ["--init", model.init]
    if with_inputs:
        for spec in model.inputs:
            command += ["--input", spec.cli_arg()]
    command.append(str(model.path))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=str(model.path.parent))
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout}s"
    if done.returncode not in (0, 1):
        return None, (done.stderr or done.stdout).strip().splitlines()[-1:] and \
            (done.stderr or done.stdout).strip().splitlines()[-1] or f"exit {done.returncode}"
    try:
        data = json.loads(done.stdout)
    except json.JSONDecodeError:
        return None, f"not JSON (exit {done.returncode}): {done.stdout[:200]!r} {done.stderr[-300:]!r}"
    own = os.path.realpath(model.path)
    for item in data.get("files", []):
        if os.path.realpath(item.get("path", "")) == own:
            return item.get("shapes", []), ""
    return [], ""


# ---------------------------------------------------------------------------------------
# Comparison.

@dataclass
class Disagreement:
    where: str
    name: str
    static: object
    runtime: object
    kind: str   # "contradicted", "missing", "inexact"
    wrong_int: bool = False   # contradicted by a stated int where the runtime has another int

    def __str__(self) -> str:
        return f"{self.where} {self.name}: static {self.static} vs runtime {self.runtime} [{self.kind}]"


@dataclass(repr=False)
class Tally:
    total: int = 0
    exact: int = 0
    right_rank: int = 0            # the runtime's rank, or a star shape consistent with it
    star_rank: int = 0             # of right_rank: (*, 256) with the runtime's rank >= 1 and 256 last
    contradicted: int = 0          # a wrong int where runtime has an int, or a wrong rank
    contradicted_ints: int = 0     # a wrong int where runtime has an int
    wrong_dtype: int = 0           # static names a dtype that is not the runtime one
    disagreements: list[Disagreement] = field(default_factory=list)

    def add(self, other: "Tally") -> None:
        self.total += other.total
        self.exact += other.exact
        self.right_rank += other.right_rank
        self.star_rank += other.star_rank
        self.contradicted += other.contradicted
        self.contradicted_ints += other.contradicted_ints
        self.wrong_dtype += other.wrong_dtype
        self.disagreements.extend(other.disagreements)

    def pct(self, count: int) -> float:
        return 100.0 * count / self.total if self.total else 0.0

    def __repr__(self) -> str:  # short: pytest prints it in assertion messages
        return (f"Tally(total={self.total}, exact={self.exact}, right_rank={self.right_rank}, "
                f"star_rank={self.star_rank}, "
                f"contradicted={self.contradicted}, contradicted_ints={self.contradicted_ints})")


def _dims_exact(static_dim, runtime_dim) -> bool:
    if runtime_dim is None:   # the dim varied between executions: only a non-int is right
        return not isinstance(static_dim, int)
    return static_dim == runtime_dim


def compare(model: CorpusModel, runtime: list[dict], static: list[dict] | None) -> Tally:
    tally = Tally()
    by_key: dict[tuple, dict] = {}
    for entry in static or []:
        by_key[(entry.get("scope"), entry.get("line"), entry.get("name"))] = entry
    for entry in runtime:
        tally.total += 1
        key = (entry["scope"], entry["line"], entry["name"])
        where = f"{model.label}:{entry['line']} ({entry['scope']})"
        actual = entry["shape"]
        found = by_key.get(key)
        predicted = None if found is None else found.get("shape")
        if found is not None and found.get("dtype") and entry.get("dtype") \
                and found["dtype"] != entry["dtype"]:
            tally.wrong_dtype += 1
            tally.disagreements.append(Disagreement(where, entry["name"], found["dtype"],
                                                    entry["dtype"], "dtype"))
        if predicted is None:
            tally.disagreements.append(Disagreement(where, entry["name"], None, actual, "missing"))
            continue
        if actual is None:   # the rank itself varied between executions
            tally.exact += 1
            tally.right_rank += 1
            continue
        if "*" in predicted:  # (*, 256): any leading dims, then these; only they can be wrong
            known = predicted[predicted.index("*") + 1:]
            wrong_int = any(isinstance(p, int) and not isinstance(p, bool) and p != a
                            for p, a in zip(reversed(known), reversed(actual)))
            if len(known) > len(actual) or wrong_int:
                tally.contradicted += 1
                tally.contradicted_ints += wrong_int
                tally.disagreements.append(Disagreement(where, entry["name"], predicted, actual, "contradicted",
                                                        wrong_int))
            else:
                # rank-consistent: the runtime's rank is one the star allows, and the dims
                # shown agree; counted as right rank, and apart, so a reader sees how much
                # of "right rank" is star shapes
                tally.right_rank += 1
                tally.star_rank += 1
                tally.disagreements.append(Disagreement(where, entry["name"], predicted, actual, "inexact"))
            continue
        if len(predicted) != len(actual):
            tally.contradicted += 1
            tally.disagreements.append(Disagreement(where, entry["name"], predicted, actual, "contradicted"))
            continue
        tally.right_rank += 1
        wrong_int = any(isinstance(p, int) and not isinstance(p, bool) and p != a
                        for p, a in zip(predicted, actual))
        if wrong_int:
            tally.contradicted += 1
            tally.contradicted_ints += 1
            tally.disagreements.append(Disagreement(where, entry["name"], predicted, actual, "contradicted", True))
        elif all(_dims_exact(p, a) for p, a in zip(predicted, actual)):
            tally.exact += 1
        else:
            tally.disagreements.append(Disagreement(where, entry["name"], predicted, actual, "inexact"))
    return tally


@dataclass
class Report:
    with_inputs: Tally
    without_inputs: Tally
    failures: list[str]      # models that did not run or whose static run failed
    per_model: list[tuple[str, Tally, Tally]]

    def text(self) -> str:
        a, b = self.with_inputs, self.without_inputs
        lines = [
            f"ground truth: {len(self.per_model)} models, {a.total} bindings",
            f"  with --input:    exact {a.exact}/{a.total} = {a.pct(a.exact):.1f}%, "
            f"contradicted {a.contradicted}, wrong dtype {a.wrong_dtype}",
            f"  without --input: right rank {b.right_rank}/{b.total} = {b.pct(b.right_rank):.1f}% "
            f"(exact rank {b.right_rank - b.star_rank}, rank-consistent (*, ...) {b.star_rank}), "
            f"exact {b.pct(b.exact):.1f}%, contradicted ints {b.contradicted_ints}",
            "  per model (exact% with inputs / right-rank% without):",
        ]
        for label, x, y in self.per_model:
            lines.append(f"    {label:<48} {x.total:4d}  {x.pct(x.exact):5.1f}%  {y.pct(y.right_rank):5.1f}%")
        for failure in self.failures:
            lines.append(f"  FAILED: {failure}")
        contradictions = [f"    {d} [with --input]" for d in a.disagreements if d.kind == "contradicted"]
        contradictions += [f"    {d} [without --input]" for d in b.disagreements if d.wrong_int]
        if contradictions:
            lines.append("  contradictions (file:line name: static vs runtime):")
            lines.extend(contradictions)
        others = [d for d in a.disagreements if d.kind != "contradicted"]
        if others:
            lines.append("  not exact with --input (missing or less precise):")
            lines.extend(f"    {d}" for d in others)
        return "\n".join(lines)


def _runtime_in_child(models: list[CorpusModel]) -> dict[str, list[dict] | str]:
    """Run every model's forward in one child process (torch imported once, the test
    process stays clean of corpus modules)."""
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from pathlib import Path\n"
        "from tests.groundtruth.harness import parse_header, runtime_entries\n"
        "out = {}\n"
        "for p in json.loads(sys.stdin.read()):\n"
        "    try:\n"
        "        out[p] = runtime_entries(parse_header(Path(p)))\n"
        "    except Exception as exc:\n"
        "        out[p] = f'{type(exc).__name__}: {exc}'\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps([str(m.path) for m in models]),
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"runtime child failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_all(models: list[CorpusModel] | None = None, workers: int = 2) -> Report:
    from concurrent.futures import ThreadPoolExecutor

    models = discover() if models is None else models
    runtime = _runtime_in_child(models)
    jobs = [(m, flag) for m in models for flag in (True, False)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        statics = list(pool.map(lambda job: static_entries(*job), jobs))
    static_by = {(m.path, flag): result for (m, flag), result in zip(jobs, statics)}

    report = Report(Tally(), Tally(), [], [])
    for model in models:
        recorded = runtime[str(model.path)]
        if isinstance(recorded, str):
            report.failures.append(f"{model.label}: runtime: {recorded}")
            continue
        per = []
        for flag, tally in ((True, report.with_inputs), (False, report.without_inputs)):
            entries, error = static_by[(model.path, flag)]
            if entries is None:
                report.failures.append(f"{model.label}: ml-lsp shapes {'with' if flag else 'without'} "
                                       f"--input: {error}")
            one = compare(model, recorded, entries)
            tally.add(one)
            per.append(one)
        report.per_model.append((model.label, per[0], per[1]))
    return report


if __name__ == "__main__":
    selected = [parse_header(Path(p).resolve()) for p in sys.argv[1:]] or None
    print(run_all(selected).text())
