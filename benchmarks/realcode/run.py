"""The real-code benchmark's scorer (issue 13): the static engine against torch on public
model code nobody here wrote.

    python benchmarks/realcode/run.py                  # everything, both splits
    python benchmarks/realcode/run.py --verbose        # and every disagreement
    python benchmarks/realcode/run.py --only timm      # ids containing a text
    python benchmarks/realcode/run.py --json out.json  # the figures and per-class results as JSON

For every class of manifest.toml whose ground truth is recorded (groundtruth.json; missing
records are recorded first, see groundtruth.py), on the file materialised from the mirrors:

- ``ml-lsp shapes --json FILE --entry CLASS --init ... --input ...`` (timed: the first run
  with an empty engine cache folder is "cold", a second run with that folder "warm");
- ``ml-lsp shapes --json FILE`` (no entry, no init, no inputs: what a new user sees);
- ``ml-lsp check --select SH`` on the clean file, with and without the entry's inputs;
- ``ml-lsp check --select SH`` on each proven seeded bug (bugs_proven.json), with and without.

All run with the benchmark venv's interpreter (so the engine can read the installed
libraries), the engine code of this checkout (PYTHONPATH), two at a time at most.
"""

from __future__ import annotations

import argparse
import json
import re
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import groundtruth  # noqa: E402
from defaults import (built_at, constructor_arguments, constructor_defaults, guessed_inputs,  # noqa: E402
                      input_attempts, larger_attempt, required_arguments, without_optional)
from corpus import (BUG_PROOFS, CACHE, DEFAULT_MIRRORS, GROUND_TRUTH, REPO, VENV_PYTHON, CorpusError,  # noqa: E402
                    case_file, load_manifest, mutant_root)

ENGINE_TIMEOUT = 120.0


# ---------------------------------------------------------------------------------------
# Running the engine.

def engine(args: list[str], cache_dir: Path, cwd: Path) -> tuple[float, dict | None, str]:
    """One `ml-lsp` command; (seconds, parsed JSON or None, error text)."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}", "XDG_CACHE_HOME": str(cache_dir),
           "ML_LSP_CACHE_DIR": str(cache_dir / "ml-lsp")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)   # timed as installed: see compile_engine
    started = time.perf_counter()
    try:
        done = subprocess.run([str(VENV_PYTHON), "-m", "ml_lsp", *args], capture_output=True, text=True,
                              timeout=ENGINE_TIMEOUT, env=env, cwd=str(cwd))
    except subprocess.TimeoutExpired:
        return ENGINE_TIMEOUT, None, f"timed out after {ENGINE_TIMEOUT:.0f}s"
    seconds = time.perf_counter() - started
    try:
        return seconds, json.loads(done.stdout), ""
    except json.JSONDecodeError:
        text = (done.stderr or done.stdout).strip().splitlines()
        return seconds, None, f"exit {done.returncode}: {text[-1] if text else 'no output'}"[:300]


def compile_engine() -> None:
    """Write the engine's bytecode before anything is timed. `pip install` compiles a package
    as it installs it, so a user's every run, the first included, reads bytecode; where
    PYTHONDONTWRITEBYTECODE is set (this machine sets it), each timed command would compile
    the engine's own modules from source again, about 0.15 s that no user pays."""
    subprocess.run([str(VENV_PYTHON), "-m", "compileall", "-q", str(REPO / "ml_lsp"), str(REPO / "plugins")],
                   capture_output=True, check=False)


def entry_args(case) -> list[str]:
    args = ["--entry", case.cls]
    if case.init:
        args += ["--init", case.init]
    for spec in case.cli_inputs():
        args += ["--input", spec]
    return args


def _same_file(reported: str, file: Path) -> bool:
    """The engine prints paths relative to its working folder, which is the file's."""
    return os.path.realpath(os.path.join(file.parent, reported)) == os.path.realpath(file)


def shapes_of(result: dict | None, file: Path) -> list[dict] | None:
    if result is None:
        return None
    for item in result.get("files", []):
        if _same_file(item.get("path", ""), file):
            return item.get("shapes", [])
    return []


def shape_findings(result: dict | None, file: Path) -> list[dict] | None:
    if result is None:
        return None
    return [d for d in result.get("diagnostics", [])
            if _same_file(d.get("path", ""), file) and str(d.get("code", "")).startswith("SH")
            and d.get("severity", "error") == "error"]


# ---------------------------------------------------------------------------------------
# Comparing with the runtime.

STAR_TOKENS = ("*", "...")


@dataclass
class Tally:
    total: int = 0
    exact: int = 0
    right_rank: int = 0      # the runtime's rank, or a star shape consistent with it
    star_rank: int = 0       # of right_rank: (*, 256) where the runtime's rank >= 1 and its last dim agrees
    contradicted: int = 0
    missing: int = 0
    wrong_dtype: int = 0
    raised: int = 0          # bindings of a class that torch would not run on the engine's inferred inputs
    disagreements: list[tuple[str, str, object, object, str]] = field(default_factory=list)

    def add(self, other: "Tally") -> None:
        for name in ("total", "exact", "right_rank", "star_rank", "contradicted", "missing", "wrong_dtype", "raised"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.disagreements.extend(other.disagreements)

    def pct(self, count: int) -> float:
        return 100.0 * count / self.total if self.total else 0.0


def _is_int(dim) -> bool:
    return isinstance(dim, int) and not isinstance(dim, bool)


def _is_star(dim) -> bool:
    return isinstance(dim, str) and dim.strip().startswith(STAR_TOKENS)


def compare(label: str, runtime: list[dict], static: list[dict] | None, rank_only: bool = False) -> Tally:
    """Per (scope, line, name): exact (every dim equal; where the runtime's dim varied
    between the two runs, only a non-int is right), right rank, contradicted (a stated
    int that differs from the runtime's, or a stated rank that differs; with a rank-
    polymorphic ``(*, 256)`` the stated trailing dims are compared), or missing. A
    ``(*, 256)`` is right rank (rank-consistent, counted apart in ``star_rank``) where the
    runtime's rank is at least its tail's length and the tail's ints agree: it states no
    rank, so none of the runtime's contradicts it; a made-up fixed rank that differs does.
    ``rank_only``: the runtime ran another model than the engine analysed (the manifest's
    constructor arguments, the engine the defaults), so only a rank that differs (or more
    trailing dims than the runtime's rank) contradicts; a differing dim is inexact."""
    tally = Tally()
    by_key = {(e.get("scope"), e.get("line"), e.get("name")): e for e in static or []}
    for entry in runtime:
        tally.total += 1
        where = f"{label}:{entry['line']} ({entry['scope']})"
        actual = entry["shape"]
        found = by_key.get((entry["scope"], entry["line"], entry["name"]))
        predicted = None if found is None else found.get("shape")
        if found is not None and found.get("dtype") and entry.get("dtype") and found["dtype"] != entry["dtype"]:
            tally.wrong_dtype += 1
            tally.disagreements.append((where, entry["name"], found["dtype"], entry["dtype"], "dtype"))
        if predicted is None:
            tally.missing += 1
            tally.disagreements.append((where, entry["name"], None, actual, "missing"))
            continue
        if actual is None:   # the rank itself varied between the runs
            tally.exact += 1
            tally.right_rank += 1
            continue
        if any(_is_star(d) for d in predicted):
            known = [d for d in predicted[next(i for i, d in enumerate(predicted) if _is_star(d)) + 1:]]
            if len(known) > len(actual) or not rank_only and any(_is_int(p) and p != a
                                                                 for p, a in zip(reversed(known), reversed(actual))):
                tally.contradicted += 1
                tally.disagreements.append((where, entry["name"], predicted, actual, "contradicted"))
            else:
                tally.right_rank += 1
                tally.star_rank += 1
                tally.disagreements.append((where, entry["name"], predicted, actual, "unknown rank"))
            continue
        if len(predicted) != len(actual):
            tally.contradicted += 1
            tally.disagreements.append((where, entry["name"], predicted, actual, "contradicted"))
            continue
        tally.right_rank += 1
        if not rank_only and any(_is_int(p) and p != a for p, a in zip(predicted, actual)):
            tally.contradicted += 1
            tally.disagreements.append((where, entry["name"], predicted, actual, "contradicted"))
        elif all((a is None and not _is_int(p)) or (a is not None and p == a) for p, a in zip(predicted, actual)):
            tally.exact += 1
        else:
            tally.disagreements.append((where, entry["name"], predicted, actual, "inexact"))
    return tally


#: how a class's figures without inputs were scored (see score_without)
WITHOUT_KINDS = {
    "defaults": "built with its defaults, on the engine's inferred inputs",
    "built by the file": "built as the file's own call builds it (a __main__ demo), on that call's inputs",
    "raised": "torch raised on the engine's inferred inputs (counted wrong)",
    "needs arguments": "constructor needs arguments: rank only, vs the model built with the manifest's values "
                       "for those and the defaults for the rest, on the manifest's inputs less the optional "
                       "ones (else the manifest's model)",
    "no inferred input": "the engine inferred no shape for an input: rank only, vs the model and inputs as for "
                         "'needs arguments'",
    "meta only": "defaults too big for the CPU and not runnable on meta: rank only, vs the manifest's model",
    "reached by its file": "no run of its own, but a class of its file built and run reaches it: those lines "
                           "vs that run, the rest rank only vs the manifest's model",
}


def score_without(label: str, manifest_entries: list[dict], record: dict | None,
                  static: list[dict] | None, built: bool = False,
                  rank_record: dict | None = None) -> tuple[Tally, str]:
    """The figures of plain ``ml-lsp shapes FILE`` for one class, against what the engine
    was asked: the class built with its defaults and called with the inputs the engine
    inferred (``record``, runtime.py's answer; defaults.py); or, where those inputs are a
    call the file itself makes (``built``: a ``__main__`` demo), the model that call's
    constructor builds, since that is the model the engine ran. Where torch raised on those
    inputs, every binding of the manifest's run counts as wrong (``raised``). Where there is
    no such run (the constructor needs arguments, the engine inferred no input shape), the
    reference is rank only, a differing dim not being a contradiction: the model built as the
    engine built it (``rank_record``: the manifest's values for the constructor's required
    parameters, which the engine keeps unknown, the defaults for the rest) on the manifest's
    inputs less the optional ones (forward as called without them), where that runs; else
    the manifest's model. A branch the manifest's other arguments take (hiera's windowed
    attention, ``use_mask_unit_attn=True``; a mask passed to torchtune's attention) is not
    one the engine was asked about."""
    if record is not None and record.get("ok"):
        return compare(label, record["entries"], static), "built by the file" if built else "defaults"
    if record is not None and record.get("stage") == "forward":
        if record.get("device") == "meta" and "meta" in (record.get("error") or ""):
            return compare(label, manifest_entries, static, rank_only=True), "meta only"
        tally = Tally(total=len(manifest_entries), raised=len(manifest_entries))
        where = f"{label}:{record.get('line') or 0} (forward)"
        tally.disagreements.append((where, "(inputs)", "inferred inputs", record.get("error", ""), "raised"))
        return tally, "raised"
    kind = "needs arguments" if record is not None and record.get("stage") == "construct" else "no inferred input"
    reference = rank_record["entries"] if rank_record is not None and rank_record.get("ok") else manifest_entries
    return compare(label, reference, static, rank_only=True), kind


# ---------------------------------------------------------------------------------------
# The run.

@dataclass
class CaseResult:
    case: object
    with_inputs: Tally
    without_inputs: Tally
    cold: float | None
    warm: float | None
    errors: list[str]
    false_errors_with: list[dict]
    false_errors_without: list[dict]
    case_manifest: object = None
    runtime: list[dict] = field(default_factory=list)       # the manifest's run
    static_without: list[dict] | None = None                 # plain `ml-lsp shapes FILE`
    guessed: dict | None = None                              # its inferred inputs of the class
    built_init: str | None = None                            # the file's own constructor call they ran
    without_manifest: Tally = field(default_factory=Tally)   # the old figure: vs the manifest's run
    without_kind: str = ""


@dataclass
class BugResult:
    bug: object
    caught_with: bool
    caught_without: bool
    right_code_with: bool
    findings_with: list[tuple[int, str]]
    errors: list[str]


def score_case(manifest, case, runtime: list[dict], timing: bool, scratch: Path) -> CaseResult:
    file = case_file(manifest, case)
    cwd = file.parent
    cache_dir = scratch / f"engine-{abs(hash(case.id)) % 10**10}"
    shutil.rmtree(cache_dir, ignore_errors=True)
    cache_dir.mkdir(parents=True)
    errors = []
    cold, data, error = engine(["shapes", "--json", *entry_args(case), str(file)], cache_dir, cwd)
    with_static = shapes_of(data, file)
    if error:
        errors.append(f"shapes with inputs: {error}")
        cold = None
    warm = None
    if timing and not error:
        warm, _, _ = engine(["shapes", "--json", *entry_args(case), str(file)], cache_dir, cwd)
    _, data, error = engine(["shapes", "--json", str(file)], cache_dir, cwd)
    without_static = shapes_of(data, file)
    guessed = guessed_inputs(data, lambda reported: _same_file(reported, file), case.cls)
    line = built_at(data, lambda reported: _same_file(reported, file), case.cls)
    built_init = constructor_arguments(file.read_text(), line, case.cls) if line else None
    if error:
        errors.append(f"shapes without inputs: {error}")
    _, data, error = engine(["check", "--format", "json", "--select", "SH", "--jobs", "1", *entry_args(case),
                             str(file)], cache_dir, cwd)
    false_with = shape_findings(data, file) or []
    if error:
        errors.append(f"check with inputs: {error}")
    _, data, error = engine(["check", "--format", "json", "--select", "SH", "--jobs", "1", str(file)], cache_dir, cwd)
    false_without = shape_findings(data, file) or []
    if error:
        errors.append(f"check without inputs: {error}")
    shutil.rmtree(cache_dir, ignore_errors=True)
    label = f"{case.repo}:{case.path}"
    old_without = compare(label, runtime, without_static)
    # scored against the default-built model in main() (score_without), once its runs are recorded
    return CaseResult(case, compare(label, runtime, with_static), old_without,
                      cold, warm, errors, false_with, false_without, manifest, runtime, without_static, guessed,
                      built_init, old_without, "manifest")


def score_all_without(manifest, results: list[CaseResult], workers: int) -> None:
    """Each class's figures without inputs, against its default-built run (recorded now
    where not cached; see defaults.py and score_without)."""
    requests = []
    attempts_of, known_of = {}, {}
    for r in results:
        known = known_of[r.case.id] = None if r.built_init is not None else constructor_defaults(
            case_file(manifest, r.case).read_text(encoding="utf-8"), r.case.cls.split("#")[0])
        attempts = input_attempts(r.guessed, r.case.inputs, known)
        attempts_of[r.case.id] = attempts
        if attempts:
            requests.append((r.case, attempts, r.built_init))
    records = groundtruth.record_defaults(manifest, requests, workers, 240)
    own = {r.case.id: records.get(groundtruth.key_for(manifest, r.case)) if attempts_of[r.case.id] else None
           for r in results}
    own.update(larger_runs(manifest, results, own, known_of, workers))
    ranks = rank_references(manifest, results, own, workers)
    runs_by_file: dict = {}
    for r in results:
        if (own[r.case.id] or {}).get("ok"):
            runs_by_file.setdefault((r.case.repo, r.case.path), []).append(own[r.case.id]["entries"])
    for r in results:
        label = f"{r.case.repo}:{r.case.path}"
        r.without_inputs, r.without_kind = score_without(label, r.runtime, own[r.case.id], r.static_without,
                                                         r.built_init is not None, ranks.get(r.case.id))
        if r.without_kind in ("needs arguments", "no inferred input"):
            reached = reached_lines(r.case.cls, r.runtime, runs_by_file.get((r.case.repo, r.case.path), []))
            if reached:
                r.without_inputs = score_reached(label, r.runtime, reached, r.static_without)
                r.without_kind = "reached by its file"


def larger_runs(manifest, results: list[CaseResult], own: dict, known_of: dict, workers: int) -> dict:
    """For each class whose default-built run raised on every input attempt: the run with
    its symbols large (defaults.larger_attempt), where that runs; recorded in
    groundtruth_defaults.json under ``ID|large``. Only those are run again, so the records
    of the classes that ran stay as they are. ``known_of``: each class's constructor
    defaults, as its input attempts took them."""
    requests = []
    for r in results:
        record = own[r.case.id]
        if record is None or record.get("ok") or record.get("stage") != "forward":
            continue
        specs = larger_attempt(r.guessed, r.case.inputs, known_of[r.case.id])
        if specs:
            requests.append((r.case, [specs], r.built_init))
    records = groundtruth.record_defaults(manifest, requests, workers, 240, suffix="|large")
    found = {case.id: records.get(groundtruth.key_for(manifest, case) + "|large") for case, _, _ in requests}
    return {cid: record for cid, record in found.items() if record and record.get("ok")}


def rank_references(manifest, results: list[CaseResult], own: dict, workers: int) -> dict:
    """For each class with no default-built run (its constructor needs arguments, or the
    engine inferred no input), the run its figures without inputs are scored against, rank
    only (see score_without); recorded in groundtruth_defaults.json under ``ID|rank``."""
    requests = []
    for r in results:
        record = own[r.case.id]
        if record is not None and (record.get("ok") or record.get("stage") == "forward"):
            continue  # scored against its default-built run
        source = case_file(manifest, r.case).read_text(encoding="utf-8")
        cls = r.case.cls.split("#")[0]
        init = required_arguments(source, cls, r.case.init)
        if init is None:
            continue
        requests.append((r.case, [without_optional(source, cls, r.case.inputs, r.guessed or ())], init))
    records = groundtruth.record_defaults(manifest, requests, workers, 240, suffix="|rank")
    return {case.id: records.get(groundtruth.key_for(manifest, case) + "|rank") for case, _, _ in requests}


def reached_lines(cls: str, manifest_entries: list[dict], other_runs: list[list[dict]]) -> dict:
    """The bindings in ``cls``'s own methods that the default-built runs of other classes of
    its file made (diffusers' CombinedTimestepTextProjEmbeddings runs its
    PixArtAlphaTextProjection on a 2-D pooled projection), by (scope, line, name); where two
    runs differ in rank the shape is None (any stated shape is then right, as for a rank
    that varied between two runs)."""
    scopes = {e["scope"] for e in manifest_entries if e["scope"].split(".")[0] == cls}
    found: dict = {}
    for entries in other_runs:
        for e in entries:
            if e["scope"] in scopes:
                key = (e["scope"], e["line"], e["name"])
                if key in found and found[key]["shape"] != e["shape"]:
                    a, b = found[key]["shape"], e["shape"]
                    same_rank = a is not None and b is not None and len(a) == len(b)
                    shape = [x if x == y else None for x, y in zip(a, b)] if same_rank else None
                    found[key] = {**e, "shape": shape}
                else:
                    found.setdefault(key, e)
    return found


def score_reached(label: str, manifest_entries: list[dict], reached: dict, static: list[dict] | None) -> Tally:
    """A class with no run of its own whose lines a class of its file reaches: the engine's
    shapes there are that class's run (its model, its inputs), so those lines are compared
    with it, dims included; the manifest's other bindings rank only, as without it."""
    keys = {(e["scope"], e["line"], e["name"]) for e in manifest_entries}
    tally = compare(label, [e for k, e in reached.items() if k in keys], static)
    rest = [e for e in manifest_entries if (e["scope"], e["line"], e["name"]) not in reached]
    tally.add(compare(label, rest, static, rank_only=True))
    return tally


def score_bug(manifest, bug, proof: dict, scratch: Path) -> BugResult:
    case = manifest.case(bug.case_id)
    root = mutant_root(manifest, bug)
    file = root / bug.path
    cache_dir = scratch / f"engine-bug-{bug.id}"
    cache_dir.mkdir(parents=True, exist_ok=True)
    accepted = {bug.line, *proof.get("chain", [])} | ({bug.layer_line} if bug.layer_line else set())
    errors = []
    _, data, error = engine(["check", "--format", "json", "--select", "SH", "--jobs", "1", *entry_args(case),
                             str(file)], cache_dir, file.parent)
    with_inputs = shape_findings(data, file) or []
    if error:
        errors.append(f"check with inputs: {error}")
    _, data, error = engine(["check", "--format", "json", "--select", "SH", "--jobs", "1", str(file)],
                            cache_dir, file.parent)
    without = shape_findings(data, file) or []
    if error:
        errors.append(f"check without inputs: {error}")
    shutil.rmtree(cache_dir, ignore_errors=True)
    on_line = [d for d in with_inputs if d.get("line") in accepted]
    return BugResult(bug, bool(on_line), any(d.get("line") in accepted for d in without),
                     any(d.get("code") == bug.family for d in on_line),
                     [(d.get("line"), d.get("code")) for d in with_inputs], errors)


#: what the source line of a binding the engine got wrong does, first match wins: a rough
#: profile of where the engine loses shapes (the engine work picks its targets from it)
LINE_CATEGORIES = [
    ("einops / einx (rearrange, repeat, reduce, pack, einx)", r"\b(rearrange|repeat|reduce|pack|unpack|einx\.\w+)\(|Rearrange\("),
    ("einsum", r"einsum\("),
    ("attention kernel (sdpa, attention_interface, attend)",
     r"scaled_dot_product_attention|attention_interface|ATTENTION_FUNCTIONS|self\.attend\(|attn_fn\("),
    ("rotary / complex (polar, view_as_complex, apply_rotary)", r"polar|view_as_complex|view_as_real|rotary|rope|freqs"),
    ("for-loop target (ModuleList, zip, enumerate)", r"^\s*for\b"),
    ("chunk / split / unbind unpacking", r"\.(chunk|split|unbind)\(|torch\.(chunk|split|unbind)\("),
    ("view / reshape / flatten / permute", r"\.(view|reshape|flatten|permute|transpose|unflatten|movedim)\("),
    ("indexing and slicing", r"\w\[[^\]]*[:\.,N]"),
    ("cat / stack", r"(torch|th)\.(cat|stack|concat)\("),
    ("call of a sub-module (self.x(...))", r"=\s*self\.\w+(\[\w+\])?\("),
    ("call of a helper function or method", r"=\s*[\w.]+\("),
    ("arithmetic, broadcast, other", r""),
]


def categorise(line_text: str) -> str:
    for name, pattern in LINE_CATEGORIES:
        if re.search(pattern, line_text):
            return name
    return LINE_CATEGORIES[-1][0]


def category_profile(cases: list["CaseResult"], pick) -> Counter:
    """Non-exact bindings (missing, inexact, contradicted) by what their source line does."""
    counts: Counter = Counter()
    texts: dict[str, list[str]] = {}
    for r in cases:
        label = f"{r.case.repo}:{r.case.path}"
        if label not in texts:
            try:
                texts[label] = case_file(r.case_manifest, r.case).read_text(encoding="utf-8").splitlines()
            except OSError:
                texts[label] = []
        lines = texts[label]
        for where, name, static, runtime, kind in pick(r).disagreements:
            if kind == "dtype":
                continue
            number = int(where.rsplit(":", 1)[1].split(" ", 1)[0])
            text = lines[number - 1] if 0 < number <= len(lines) else ""
            counts[(categorise(text), kind)] += 1
    return counts


def _median(values) -> str:
    values = [v for v in values if v is not None]
    return f"{statistics.median(values):.2f}s" if values else "-"


def report(cases: list[CaseResult], bugs: list[BugResult], not_scored: list[str], verbose: bool) -> str:
    lines = []
    for split in ("tune", "heldout"):
        chosen = [r for r in cases if r.case.split == split]
        chosen_bugs = [b for b in bugs if b.bug.split == split]
        a, b = Tally(), Tally()
        for r in chosen:
            a.add(r.with_inputs)
            b.add(r.without_inputs)
        repos = {r.case.repo for r in chosen}
        false_with = sum(len(r.false_errors_with) for r in chosen)
        false_without = sum(len(r.false_errors_without) for r in chosen)
        lines += [
            f"== {split}: {len(chosen)} classes from {len(repos)} repositories, {a.total} runtime bindings",
            f"  with --input and --init:  exact {a.exact}/{a.total} = {a.pct(a.exact):.1f}%   "
            f"right rank {a.pct(a.right_rank):.1f}%   contradicted {a.contradicted}   missing {a.missing}   "
            f"wrong dtype {a.wrong_dtype}",
            f"  without (plain FILE):     right rank {b.right_rank}/{b.total} = {b.pct(b.right_rank):.1f}%   "
            f"exact {b.pct(b.exact):.1f}%   contradicted {b.contradicted}   missing {b.missing}   "
            f"raised {b.raised}",
            f"    right rank split: exact rank {b.right_rank - b.star_rank}/{b.total} = "
            f"{b.pct(b.right_rank - b.star_rank):.1f}%, rank-consistent (*, ...) {b.star_rank}/{b.total} = "
            f"{b.pct(b.star_rank):.1f}%",
        ]
        kinds = Counter(r.without_kind for r in chosen)
        for kind, text in WITHOUT_KINDS.items():
            if kinds[kind]:
                k = Tally()
                for r in chosen:
                    if r.without_kind == kind:
                        k.add(r.without_inputs)
                lines.append(f"    {kinds[kind]:4d} classes: {text}: right rank {k.right_rank}/{k.total} "
                             f"({k.star_rank} (*, ...)), contradicted {k.contradicted}")
        old = Tally()
        for r in chosen:
            old.add(r.without_manifest)
        lines.append(f"    (old figure, every class vs the manifest's model: right rank {old.right_rank}/{old.total} = "
                     f"{old.pct(old.right_rank):.1f}%   contradicted {old.contradicted}   missing {old.missing})")
        if chosen_bugs:
            n = len(chosen_bugs)
            cw = sum(x.caught_with for x in chosen_bugs)
            co = sum(x.caught_without for x in chosen_bugs)
            rc = sum(x.right_code_with for x in chosen_bugs)
            lines.append(f"  seeded bugs: caught with inputs {cw}/{n} = {100 * cw / n:.1f}% "
                         f"(expected code {rc}), without inputs {co}/{n} = {100 * co / n:.1f}%")
        # a file-level finding repeats for every class of its file: count its sites too
        sites_with = {(r.case.repo, r.case.path, d.get("line"), d.get("code")) for r in chosen for d in r.false_errors_with}
        sites_without = {(r.case.repo, r.case.path, d.get("line"), d.get("code"))
                         for r in chosen for d in r.false_errors_without}
        lines.append(f"  false shape errors on clean classes: {false_with} with inputs "
                     f"({sum(1 for r in chosen if r.false_errors_with)} classes, {len(sites_with)} distinct lines), "
                     f"{false_without} without ({sum(1 for r in chosen if r.false_errors_without)} classes, "
                     f"{len(sites_without)} distinct lines)")
        lines.append(f"  median `ml-lsp shapes` per file: cold {_median(r.cold for r in chosen)}, "
                     f"warm {_median(r.warm for r in chosen)}")
        lines.append("")

    lines.append("== per repository (both splits): classes, bindings, exact% with inputs, right-rank% "
                 "without, contradicted with/without, bugs caught with inputs, false errors with/without")
    by_repo: dict[str, list[CaseResult]] = defaultdict(list)
    for r in cases:
        by_repo[r.case.repo].append(r)
    for repo in sorted(by_repo, key=str.lower):
        a, b = Tally(), Tally()
        for r in by_repo[repo]:
            a.add(r.with_inputs)
            b.add(r.without_inputs)
        repo_bugs = [x for x in bugs if x.bug.repo == repo]
        caught = f"{sum(x.caught_with for x in repo_bugs)}/{len(repo_bugs)}" if repo_bugs else "-"
        lines.append(f"  {repo:<36} {len(by_repo[repo]):3d} {a.total:5d}  {a.pct(a.exact):5.1f}%  "
                     f"{b.pct(b.right_rank):5.1f}%  {a.contradicted:3d}/{b.contradicted:<3d}  {caught:>6}  "
                     f"{sum(len(r.false_errors_with) for r in by_repo[repo])}/"
                     f"{sum(len(r.false_errors_without) for r in by_repo[repo])}")

    for title, pick in (("with --input", lambda r: r.with_inputs), ("without inputs", lambda r: r.without_inputs)):
        profile = category_profile(cases, pick)
        if profile:
            lines.append("")
            lines.append(f"== bindings not exact {title}, by what their line does (missing / inexact / contradicted / unknown rank)")
            by_category: dict[str, Counter] = defaultdict(Counter)
            for (category, kind), count in profile.items():
                by_category[category][kind] += count
            for category, kinds in sorted(by_category.items(), key=lambda item: -sum(item[1].values())):
                lines.append(f"  {sum(kinds.values()):5d}  {category:<58} {kinds['missing']:4d} / {kinds['inexact']:4d} / "
                             f"{kinds['contradicted']:3d} / {kinds['unknown rank']:3d}")

    errors = Counter()
    for r in cases:
        for error in r.errors:
            errors[error.split(":", 1)[0] + ": " + _error_kind(error)] += 1
    if errors:
        lines.append("")
        lines.append("== engine runs that gave no answer (command: reason, count)")
        for text, count in errors.most_common():
            lines.append(f"  {count:4d}  {text}")
    empty = [r for r in cases if r.with_inputs.total and r.with_inputs.missing == r.with_inputs.total]
    if empty:
        lines.append("")
        lines.append(f"== classes where every binding is missing with inputs: {len(empty)}")
        for r in empty:
            lines.append(f"  {r.case.id}" + (f"  [{r.errors[0]}]" if r.errors else ""))
    if not_scored:
        lines.append("")
        lines.append(f"== not scored ({len(not_scored)}): no ground truth or unproven bug")
        lines.extend(f"  {text}" for text in not_scored)
    missed = [x for x in bugs if not x.caught_with]
    if missed:
        lines.append("")
        lines.append(f"== seeded bugs missed with inputs ({len(missed)}): id, expected line/code, what was reported")
        for x in missed:
            lines.append(f"  {x.bug.id} ({x.bug.split}): line {x.bug.line} {x.bug.family}; reported {x.findings_with}"
                         + (f" [{x.errors[0]}]" if x.errors else ""))
    flagged = [(r, d, how) for r in cases for how, ds in (("with", r.false_errors_with), ("without", r.false_errors_without))
               for d in ds]
    if flagged:
        lines.append("")
        lines.append(f"== false shape errors on clean classes ({len(flagged)})")
        for r, d, how in flagged:
            lines.append(f"  {r.case.id} [{how} inputs] line {d.get('line')}: {d.get('code')} {d.get('message', '')[:140]}")
    if verbose:
        for title, pick in (("with --input", lambda r: r.with_inputs), ("without inputs", lambda r: r.without_inputs)):
            lines.append("")
            lines.append(f"== every disagreement {title} (file:line (scope) name: static vs runtime [kind])")
            for r in cases:
                for where, name, static, runtime, kind in pick(r).disagreements:
                    lines.append(f"  {where} {name}: static {static} vs runtime {runtime} [{kind}]")
    return "\n".join(lines)


def _error_kind(error: str) -> str:
    text = error.split(":", 1)[1] if ":" in error else error
    for marker in ("no class or function named", "timed out", "analysis budget", "Traceback", "not JSON"):
        if marker in text:
            return marker
    return text.strip()[:90]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS,
                        help="folder of OWNER+NAME/repo git mirrors (and pypi/ wheels)")
    parser.add_argument("--only", action="append",
                        help="only classes (and their bugs) whose id contains this text (repeat for several)")
    parser.add_argument("--split", choices=("tune", "heldout"), help="only one split")
    parser.add_argument("--verbose", "-v", action="store_true", help="list every disagreement")
    parser.add_argument("--workers", type=int, default=2, help="parallel engine runs (at most 2)")
    parser.add_argument("--no-timing", action="store_true", help="skip the warm rerun")
    parser.add_argument("--no-bugs", action="store_true", help="skip the seeded bugs")
    parser.add_argument("--skip-missing", action="store_true", help="skip repositories without a mirror")
    parser.add_argument("--json", type=Path, help="also write figures and per-class results here")
    parser.add_argument("--trace", action="store_true",
                        help="score the shape tracer instead (`ml-lsp shapes --trace`, see traced.py)")
    args = parser.parse_args(argv)
    workers = max(1, min(args.workers, 2))
    if args.json is not None and not args.json.parent.is_dir():
        # said now, not after a half-hour run
        print(f"error: --json {args.json}: no folder {args.json.parent}", file=sys.stderr)
        return 2
    if not VENV_PYTHON.exists():
        print(f"error: no benchmark venv at {VENV_PYTHON.parent.parent}: run `bash benchmarks/realcode/setup.sh`",
              file=sys.stderr)
        return 2
    try:
        manifest = load_manifest()
        missing = groundtruth.materialise_all(manifest, args.mirrors, args.skip_missing)
        # ground truth is cached: only classes without a current record run now
        only = args.only[0] if args.only and len(args.only) == 1 else None
        truth = groundtruth.record(manifest, only, False, workers, 240, missing)
        proofs = json.loads(BUG_PROOFS.read_text()) if BUG_PROOFS.exists() else {}
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def chosen(item) -> bool:
        ids = (item.id, getattr(item, "case_id", item.id))
        wanted = not args.only or any(text in item_id for text in args.only for item_id in ids)
        return (item.repo not in missing and wanted
                and (not args.split or item.split == args.split))

    not_scored = []
    cases = []
    for case in manifest.cases:
        if not chosen(case):
            continue
        record = truth.get(groundtruth.key_for(manifest, case), {})
        if record.get("ok"):
            cases.append((case, record["entries"]))
        else:
            not_scored.append(f"{case.id}: {record.get('error', 'no ground truth')}")
    bugs = []
    if not args.no_bugs:
        for bug in manifest.bugs:
            if not chosen(bug):
                continue
            proof = proofs.get(bug.id)
            if proof and proof.get("proven") and proof.get("find") == bug.find and proof.get("replace") == bug.replace:
                bugs.append((bug, proof))
            else:
                not_scored.append(f"bug {bug.id}: not proven (groundtruth.py --bugs)")

    if args.trace:
        return run_traced(manifest, cases, not_scored, workers, CACHE / f"trace-{os.getpid()}", args)
    scratch = CACHE / f"engine-{os.getpid()}"   # one per run: two runs share the cache folder
    if not args.no_timing:
        compile_engine()
    shutil.rmtree(scratch, ignore_errors=True)
    started = time.monotonic()
    done_count = [0]
    total = len(cases) + len(bugs)

    def progress(text: str) -> None:
        done_count[0] += 1
        print(f"[{done_count[0]}/{total} {time.monotonic() - started:5.0f}s] {text}", file=sys.stderr, flush=True)

    def run_case(item):
        result = score_case(manifest, item[0], item[1], not args.no_timing, scratch)
        progress(f"{item[0].id}: exact {result.with_inputs.exact}/{result.with_inputs.total}")
        return result

    def run_bug(item):
        result = score_bug(manifest, item[0], item[1], scratch)
        progress(f"bug {item[0].id}: {'caught' if result.caught_with else 'missed'}")
        return result

    with ThreadPoolExecutor(max_workers=workers) as pool:
        case_results = list(pool.map(run_case, cases))
        bug_results = list(pool.map(run_bug, bugs))
    score_all_without(manifest, case_results, workers)
    shutil.rmtree(scratch, ignore_errors=True)
    print(report(case_results, bug_results, not_scored, args.verbose))
    print(f"\n({len(case_results)} classes, {len(bug_results)} bugs in {time.monotonic() - started:.0f}s, "
          f"{workers} workers)")
    if args.json:
        args.json.write_text(json.dumps({
            "classes": [{"id": r.case.id, "split": r.case.split, "total": r.with_inputs.total,
                         "exact_with_inputs": r.with_inputs.exact, "right_rank_without": r.without_inputs.right_rank,
                         "star_rank_without": r.without_inputs.star_rank,
                         "contradicted_with": r.with_inputs.contradicted,
                         "contradicted_without": r.without_inputs.contradicted,
                         "total_without": r.without_inputs.total, "raised_without": r.without_inputs.raised,
                         "without_kind": r.without_kind, "inputs_without": r.guessed,
                         "right_rank_without_vs_manifest": r.without_manifest.right_rank,
                         "contradicted_without_vs_manifest": r.without_manifest.contradicted,
                         "missing_with": r.with_inputs.missing, "cold_s": r.cold, "warm_s": r.warm,
                         "errors": r.errors,
                         "false_errors": [[d.get("line"), d.get("code")] for d in r.false_errors_with + r.false_errors_without],
                         "disagreements_with": [list(map(str, d)) for d in r.with_inputs.disagreements],
                         "disagreements_without": [list(map(str, d)) for d in r.without_inputs.disagreements]}
                        for r in case_results],
            "bugs": [{"id": b.bug.id, "split": b.bug.split, "caught_with": b.caught_with,
                      "caught_without": b.caught_without, "reported": b.findings_with} for b in bug_results],
            "not_scored": not_scored}, indent=1))
    return 0


def run_traced(manifest, cases, not_scored, workers: int, scratch: Path, args) -> int:
    import traced

    started = time.monotonic()
    done_count = [0]

    def run_case(item):
        result = traced.score_traced(manifest, item[0], item[1], scratch)
        done_count[0] += 1
        what = (f"exact {result.tally.exact}/{result.tally.total}" if result.traced
                else f"not traced: {result.reason[:120]}")
        print(f"[{done_count[0]}/{len(cases)} {time.monotonic() - started:5.0f}s] {item[0].id}: {what}",
              file=sys.stderr, flush=True)
        return result

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(run_case, cases))
    shutil.rmtree(scratch, ignore_errors=True)
    print(traced.report(results, args.verbose))
    if not_scored:
        print(f"== not scored ({len(not_scored)}): no ground truth")
        print("\n".join(f"  {text}" for text in not_scored if not text.startswith("bug ")))
    print(f"\n({len(results)} classes traced in {time.monotonic() - started:.0f}s, {workers} workers)")
    if args.json:
        args.json.write_text(json.dumps({"classes": traced.to_json(results), "not_scored": not_scored}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
