"""``ml-lsp shapes --trace`` for Keras files: the model is built by Keras itself, in the
user's interpreter (``keras_child.py``, loaded by path: that interpreter needs Keras, not
ml-lsp), and each layer's output shape comes back in the static Keras shapes contract
(one entry per layer on the line that creates or calls it, the batch dim as ``"B"``)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

CHILD = Path(__file__).with_name("keras_child.py")
# Importing Keras (and TensorFlow, where installed) alone can take longer than the meta
# trace's default limit on a loaded machine: without --timeout, a Keras file gets this.
DEFAULT_TIMEOUT = 300.0


def is_keras(facts) -> bool:
    """Whether the static engine followed a Keras model in the file."""
    keras = getattr(facts, "keras", None)
    return bool(getattr(keras, "models", None) or getattr(keras, "layers", None))


def trace(python: str, paths: list[Path], timeout: float | None) -> dict[str, dict]:
    """``{path: {"shapes": [...], "problems": [...]}}`` for each Keras file; a child that
    crashes or runs out of time is one problem per file, never a traceback here.
    ``timeout`` (seconds a file; None: DEFAULT_TIMEOUT)."""
    timeout = timeout or DEFAULT_TIMEOUT
    env = dict(os.environ)  # the child picks the backend as the run bootstrap does
    try:
        proc = subprocess.run([python, str(CHILD), *map(str, paths)], capture_output=True, text=True,
                              timeout=timeout * max(1, len(paths)), env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {str(p): _failed(p, f"building the Keras model took longer than {timeout:g}s "
                                   "(raise --timeout)") for p in paths}
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    try:
        files = json.loads(last)["files"]
    except (ValueError, KeyError, TypeError):
        tail = [line for line in proc.stderr.splitlines() if line.strip()]
        why = tail[-1] if tail else f"exit status {proc.returncode}"
        if "No module named 'keras'" in proc.stderr:
            why = f"Keras is not installed in {python}: {python} -m pip install keras"
        return {str(p): _failed(p, f"the Keras trace failed: {why}") for p in paths}
    return {str(f["path"]): f for f in files}


def _failed(path: Path, message: str) -> dict:
    return {"path": str(path), "shapes": [],
            "problems": [{"kind": "crash", "message": message, "path": str(path), "line": 1}]}


def compare(static_entries: list[dict], traced: list[dict]):
    """Static against traced Keras layer entries, matched by (scope, line, name): Keras
    shapes have no symbols but the batch, so a pair agrees only when equal; a static shape
    with unknown dims where the known ones are equal is imprecise, as in the torch compare."""
    from ml_lsp.trace.compare import Comparison, Disagreement

    result = Comparison()
    static = {(e["scope"], e["line"], e["name"]): e for e in static_entries if "params" in e}
    seen = set()
    for t in traced:
        key = (t["scope"], t["line"], t["name"])
        s = static.get(key)
        if s is None:
            result.static_missing += 1
            continue
        seen.add(key)
        if s["shape"] is None:
            result.imprecise += 1
        elif list(s["shape"]) == list(t["shape"]):
            result.agree += 1
        elif len(s["shape"]) == len(t["shape"]) and all(
                sd is None or sd == td for sd, td in zip(s["shape"], t["shape"])):
            result.imprecise += 1  # some dims left unknown, the known ones right: not a wrong answer
        else:
            result.disagreements.append(Disagreement(t["scope"], t["line"], t["name"], s["shape"], t["shape"],
                                                     s.get("dtype"), t.get("dtype"), "the shapes differ"))
    result.trace_missing = len(set(static) - seen)
    return result
