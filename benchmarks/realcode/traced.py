"""The real-code benchmark's traced mode (``run.py --trace``, issue 15): the shape tracer
against torch on the same classes.

For every class whose ground truth is recorded (its packages are installed in the benchmark
venv: the runtime imported and ran it there), ``ml-lsp shapes --trace --json FILE FILE
--entry CLASS --init ... --input ... --python VENV_PYTHON``: the command runs in this
interpreter, the tracer child in the venv's (the user's interpreter, as a user with a
project venv would name it). The file is given twice: the first trace starts the child
(cold: Python, torch, the model's packages), the second runs in the warm child (what a
re-trace after an edit costs in the editor). Reported per split:

- classes traced / classes scored (goal 100%), and each class that could not be traced with
  the tracer's own reason;
- of the runtime's bindings in traced classes: exact (every dim equal; a dim that varied
  between the runtime's two calls must be unknown), contradicted, missing, wrong dtype (goal:
  0 disagreements);
- cold and warm trace time per class (median, p95): cold is the whole command's first trace
  (the child's start included), warm the second trace's round trip.

PyPI's torchvision wheel does not load its C++ ops with the CPU torch of this venv (see the
README); ``tracehooks/sitecustomize.py`` applies runtime.py's workaround in the tracer child,
as the ground truth does in its own process.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from corpus import HERE, REPO, VENV_PYTHON, case_file

TRACE_TIMEOUT = 60.0
COMMAND_TIMEOUT = 2 * TRACE_TIMEOUT + 120.0
HOOKS = HERE / "tracehooks"


@dataclass
class TracedResult:
    case: object
    tally: object                       # run.Tally of the traced bindings against the runtime
    traced: bool
    reason: str                         # why it was not traced ("" when it was)
    cold: float | None
    warm: float | None
    interpreter: str = ""
    mode: str = ""
    problems: list[str] = field(default_factory=list)


#: score a checkout from before issue 15 (no --python, no timing in the JSON): the command
#: runs in the venv, the file once, and "traced" means no problem was reported
LEGACY = os.environ.get("REALCODE_TRACE_LEGACY") == "1"


def trace_command(case, file: Path, timeout: float) -> list[str]:
    from run import entry_args
    if LEGACY:
        return [str(VENV_PYTHON), "-m", "ml_lsp", "shapes", "--trace", "--json", "--timeout", f"{timeout:g}",
                *entry_args(case), str(file)]
    # The script's command line, as the runtime gave it (dcgan's required --dataset).
    script_args = ["--script-args", shlex.join(case.argv)] if getattr(case, "argv", None) else []
    return [sys.executable, "-m", "ml_lsp", "shapes", "--trace", "--json", "--python", str(VENV_PYTHON),
            "--timeout", f"{timeout:g}", *script_args, *entry_args(case), str(file), str(file)]


def run_trace(case, file: Path, scratch: Path) -> tuple[dict | None, str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins"), str(HOOKS)]),
           "XDG_CACHE_HOME": str(scratch), "ML_LSP_CACHE_DIR": str(scratch / "ml-lsp"),
           "TORCH_HOME": str(scratch / "torch-home")}
    started = time.perf_counter()
    try:
        done = subprocess.run(trace_command(case, file, TRACE_TIMEOUT), capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, env=env, cwd=str(file.parent))
    except subprocess.TimeoutExpired:
        return None, f"the command timed out after {COMMAND_TIMEOUT:.0f}s", COMMAND_TIMEOUT
    seconds = time.perf_counter() - started
    try:
        return json.loads(done.stdout), "", seconds
    except json.JSONDecodeError:
        tail = (done.stderr or done.stdout).strip().splitlines()
        return None, f"exit {done.returncode}: {tail[-1] if tail else 'no output'}"[:300], seconds


def compare_traced(label: str, runtime: list[dict], traced: list[dict] | None):
    """``run.compare``, with one difference: a binding whose rank varied between calls is
    ``None`` on both sides, and the trace saying so is exact (for the static engine a
    ``None`` is an unknown shape)."""
    from run import compare

    both_varied = {(e.get("scope"), e.get("line"), e.get("name")) for e in traced or [] if e.get("shape") is None}
    rest = [e for e in runtime if not (e["shape"] is None and (e["scope"], e["line"], e["name"]) in both_varied)]
    tally = compare(label, rest, traced)
    agreed = len(runtime) - len(rest)
    tally.total += agreed
    tally.exact += agreed
    tally.right_rank += agreed
    return tally


def score_traced(manifest, case, runtime: list[dict], scratch: Path) -> TracedResult:
    from run import Tally, shapes_of

    file = case_file(manifest, case).resolve()
    work = scratch / f"trace-{abs(hash(case.id)) % 10**10}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data, error, seconds = run_trace(case, file, work)
    shutil.rmtree(work, ignore_errors=True)
    if data is None:
        return TracedResult(case, Tally(), False, error, None, None)
    if LEGACY:
        problems = [p.get("message", "") for p in data.get("problems") or []]
        ok = not problems and bool(shapes_of(data, file))
        tally = compare_traced(f"{case.repo}:{case.path}", runtime, shapes_of(data, file)) if ok else Tally()
        return TracedResult(case, tally, ok, "" if ok else (problems or ["no shapes"])[0], seconds, None,
                            str(VENV_PYTHON), "?" if ok else "", problems)
    runs = [t for t in data.get("traces") or [] if t.get("entry") == case.cls]
    first = runs[0] if runs else {}
    problems = [p.get("message", "") for p in data.get("problems") or []]
    traced = bool(first.get("mode"))
    reason = "" if traced else (problems[0] if problems else "no trace of the class was reported")
    tally = compare_traced(f"{case.repo}:{case.path}", runtime, shapes_of(data, file)) if traced else Tally()
    cold = (data.get("interpreter") or {}).get("start_seconds")
    cold = None if cold is None or not runs else cold + runs[0].get("seconds", 0.0)
    warm = runs[1].get("seconds") if len(runs) > 1 else None
    return TracedResult(case, tally, traced, reason, cold, warm,
                        (data.get("interpreter") or {}).get("python", ""), first.get("mode") or "", problems)


def _percentile(values: list[float], q: float) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    rank = max(0, math.ceil(q * len(values)) - 1)
    return values[rank]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def report(results: list[TracedResult], verbose: bool) -> str:
    from run import Tally

    lines = []
    for split in ("tune", "heldout"):
        chosen = [r for r in results if r.case.split == split]
        traced = [r for r in chosen if r.traced]
        tally = Tally()
        for r in traced:
            tally.add(r.tally)
        cold = [r.cold for r in traced]
        warm = [r.warm for r in traced]
        disagree = tally.total - tally.exact
        modes = Counter(r.mode for r in traced)
        lines += [
            f"== {split}: traced {len(traced)}/{len(chosen)} classes whose packages are installed"
            + (f" = {100 * len(traced) / len(chosen):.1f}%" if chosen else ""),
            f"  traced bindings against the runtime: exact {tally.exact}/{tally.total}"
            + (f" = {tally.pct(tally.exact):.1f}%" if tally.total else "")
            + f"   disagreements {disagree} (contradicted {tally.contradicted}, missing {tally.missing}, "
              f"inexact {disagree - tally.contradicted - tally.missing})   wrong dtype {tally.wrong_dtype}",
            f"  modes: " + ", ".join(f"{mode} {count}" for mode, count in modes.most_common()),
            f"  trace time per class: cold median {_seconds(_percentile(cold, 0.5))} "
            f"p95 {_seconds(_percentile(cold, 0.95))}; warm median {_seconds(_percentile(warm, 0.5))} "
            f"p95 {_seconds(_percentile(warm, 0.95))}",
        ]
        untraced = [r for r in chosen if not r.traced]
        if untraced:
            lines.append(f"  not traced ({len(untraced)}):")
            lines.extend(f"    {r.case.id}: {r.reason[:300]}" for r in untraced)
        wrong = [r for r in traced if r.tally.total != r.tally.exact or r.tally.wrong_dtype]
        if wrong:
            lines.append(f"  classes with disagreements ({len(wrong)}):")
            for r in wrong:
                lines.append(f"    {r.case.id}: exact {r.tally.exact}/{r.tally.total}, dtype {r.tally.wrong_dtype}")
                shown = r.tally.disagreements if verbose else r.tally.disagreements[:3]
                lines.extend(f"      {where} {name}: traced {got} vs runtime {want} [{kind}]"
                             for where, name, got, want, kind in shown)
        lines.append("")
    return "\n".join(lines)


def to_json(results: list[TracedResult]) -> list[dict]:
    return [{"id": r.case.id, "split": r.case.split, "traced": r.traced, "reason": r.reason, "mode": r.mode,
             "interpreter": r.interpreter, "total": r.tally.total, "exact": r.tally.exact,
             "contradicted": r.tally.contradicted, "missing": r.tally.missing, "wrong_dtype": r.tally.wrong_dtype,
             "cold_s": r.cold, "warm_s": r.warm, "problems": r.problems,
             "disagreements": [list(map(str, d)) for d in r.tally.disagreements]} for r in results]


def check_venv() -> str | None:
    if not VENV_PYTHON.exists():
        return f"no benchmark venv at {VENV_PYTHON.parent.parent}: run `bash benchmarks/realcode/setup.sh`"
    return None
