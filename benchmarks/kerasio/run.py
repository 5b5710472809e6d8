"""Static Keras shapes against Keras itself on the keras-io examples.

    python benchmarks/kerasio/run.py                 # static shapes against expectations.json
    python benchmarks/kerasio/run.py --record        # rebuild every model with Keras, rewrite expectations.json
    python benchmarks/kerasio/run.py --only vision   # a subset (path substring)

The examples are keras-io's (https://keras.io/examples/), pinned in manifest.json by
(repository, commit, path) and materialised at run time from a git mirror of that
repository (``--mirror``, default /work/.mirror/keras-team+keras/repo or $KERASIO_MIRROR):
none of their source is in this project. keras-team/keras-io's own snapshot is too large to
mirror here (938 MB); keras-team/keras carried the same examples, ported to Keras 3, under
examples/keras_io/ until January 2024, which is what the manifest pins.

expectations.json holds what Keras 3 (torch backend) built for each example: every layer
call's output shape and parameter count, by (scope, line, name) — model.summary()'s
numbers — recorded by ``--record`` (build_child.py runs only each example's model-building
statements: the data is not needed, nor downloadable offline). The figure compares
``ml-lsp shapes --json`` with it: models, layers, layers the static engine reports, and
mismatches (a reported layer whose shape or parameter count differs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_MIRROR = "/work/.mirror/keras-team+keras/repo"


def materialise(manifest: dict, mirror: Path, into: Path, only: str) -> list[tuple[str, Path]]:
    files = []
    for rel in manifest["paths"]:
        if only and only not in rel:
            continue
        out = into / rel.replace("/", "__")
        proc = subprocess.run(["git", f"--git-dir={mirror}", "show", f"{manifest['commit']}:{rel}"],
                              capture_output=True)
        if proc.returncode != 0:
            sys.exit(f"{mirror}: cannot read {manifest['commit']}:{rel} ({proc.stderr.decode().strip()}); "
                     f"is it a mirror of {manifest['repo']}? (fetch github:{manifest['repo']})")
        out.write_bytes(proc.stdout)
        files.append((rel, out))
    return files


def static_entries(path: Path) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", str(path)], capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    if proc.returncode != 0:
        return []
    return [e for e in json.loads(proc.stdout)["files"][0]["shapes"] if "params" in e]


def keras_entries(path: Path, timeout: float) -> dict | None:
    """What Keras builds for one example (a child of its own: one example's crash or hang
    costs only that example), or None."""
    env = dict(os.environ, KERAS_BACKEND="torch")
    try:
        proc = subprocess.run([sys.executable, str(HERE / "build_child.py"), str(path)], capture_output=True,
                              text=True, env=env, cwd=str(path.parent), stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    last = (proc.stdout.strip().splitlines() or ["{}"])[-1]
    try:
        return json.loads(last)["files"][0]
    except (ValueError, KeyError, IndexError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", default=os.environ.get("KERASIO_MIRROR", DEFAULT_MIRROR))
    parser.add_argument("--record", action="store_true", help="rebuild the models with Keras; rewrite expectations.json")
    parser.add_argument("--only", default="", help="examples whose path contains this")
    parser.add_argument("--missing-only", action="store_true", help="with --record: only examples not recorded yet")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to build one example (--record)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every mismatch and missing layer")
    args = parser.parse_args()
    manifest = json.loads((HERE / "manifest.json").read_text())
    mirror = Path(args.mirror)
    if not (mirror / "HEAD").is_file() and not (mirror / ".git").is_dir():
        sys.exit(f"no git mirror of {manifest['repo']} at {mirror}: fetch github:{manifest['repo']} "
                 "(or pass --mirror)")
    expectations_path = HERE / "expectations.json"
    expectations = json.loads(expectations_path.read_text()) if expectations_path.is_file() else {}
    with tempfile.TemporaryDirectory(prefix="kerasio-") as tmp:
        files = materialise(manifest, mirror, Path(tmp), args.only)
        if args.record:
            for rel, path in files:  # written after each example: a long recording can stop and resume
                if args.missing_only and rel in expectations:
                    continue
                got = keras_entries(path, args.timeout)
                if got is None:
                    print(f"{rel}: Keras could not build it within {args.timeout:g}s; left out", file=sys.stderr)
                    continue
                expectations[rel] = {"models": got["models"], "layers": [
                    {k: e[k] for k in ("scope", "line", "name", "shape", "params") if k in e} for e in got["shapes"]]}
                expectations_path.write_text(json.dumps(dict(sorted(expectations.items())), indent=1) + "\n")
                print(f"recorded {rel}: {got['models']} models, {len(got['shapes'])} layers", file=sys.stderr)
        totals = {"examples": 0, "models": 0, "layers": 0, "reported": 0, "exact": 0, "unknown": 0, "mismatches": 0}
        for rel, path in files:
            expected = expectations.get(rel)
            if expected is None:
                print(f"{rel}: no expectations (run with --record)")
                continue
            static = {(e["scope"], e["line"], e["name"]): e for e in static_entries(path)}
            reported = mismatches = unknown = exact = 0
            for layer in expected["layers"]:
                s = static.get((layer["scope"], layer["line"], layer["name"]))
                if s is None:
                    if args.verbose:
                        print(f"  {rel}:{layer['line']} {layer['name']}: not reported (keras {layer['shape']})")
                    continue
                reported += 1
                if s["shape"] is None:  # the static engine says it does not know: not a wrong answer
                    unknown += 1
                    continue
                params_differ = layer.get("params") is not None and s["params"] is not None \
                    and s["params"] != layer["params"]
                agree = len(s["shape"]) == len(layer["shape"]) and all(
                    a is None or a == b for a, b in zip(s["shape"], layer["shape"]))
                if s["shape"] == layer["shape"] and not params_differ:
                    exact += 1
                elif agree and not params_differ:  # some dims unknown, the known ones right
                    unknown += 1
                else:
                    mismatches += 1
                    print(f"  {rel}:{layer['line']} {layer['name']}: static {s['shape']} {s['params']} params, "
                          f"keras {layer['shape']} {layer.get('params')} params")
            if expected["models"]:
                totals["examples"] += 1
            totals["models"] += expected["models"]
            totals["layers"] += len(expected["layers"])
            totals["reported"] += reported
            totals["mismatches"] += mismatches
            totals["exact"] += exact
            totals["unknown"] += unknown
            print(f"{rel}: {expected['models']} models, {len(expected['layers'])} layers, "
                  f"{reported} reported statically: {exact} exact, {unknown} unknown, {mismatches} mismatches")
    print(f"keras-io ({manifest['repo']}@{manifest['commit'][:10]}): {totals['examples']} examples with models, "
          f"{totals['models']} models, {totals['layers']} layers; the static engine reports {totals['reported']} "
          f"({totals['reported'] / max(1, totals['layers']):.0%}): {totals['exact']} exact (shape and parameter "
          f"count), {totals['unknown']} unknown (shape or some dims None), {totals['mismatches']} mismatches")
    return 1 if totals["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
