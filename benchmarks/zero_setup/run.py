"""Zero set-up on whole public example folders (issue 14): seeded shape bugs caught by
``ml-lsp check`` with no ``--input`` (the workspace's data pipeline gives the inputs) against
the same with the inputs given, and false errors on the clean folders (must be 0).

    python benchmarks/zero_setup/run.py                       # this checkout's engine
    python benchmarks/zero_setup/run.py --engine /tmp/base    # another checkout (e.g. ce35cc4)
    python benchmarks/zero_setup/run.py --mirrors DIR         # default /work/.mirror

Each case of cases.toml is a folder of a pinned public repository, materialised at run time
(``git archive`` of its ``.py`` files from the local mirror) into a temporary folder; nothing
of it is stored in the project. For the clean folder and each seeded bug (a one-line
find/replace in the model file): ``check --select SH`` with no inputs and the folder as the
workspace ("zero set-up"), and with ``--entry/--init/--input`` ("inputs given"). A bug is caught
when the mutant has an SH finding the clean file has not; a false error is an SH finding on
the clean file.

Bindings: the clean model's ``shapes --json`` with zero set-up against the same with the
inputs given (the inputs a user would type, from the case). A binding is exact when its
shape is the same, a batch dim the zero set-up leaves as the symbol ``B`` (the last batch
may be shorter) matching the given batch size. This measures how much of the given-input
answer zero set-up recovers, not the engine against the runtime (the real-code benchmark
does that).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def materialise(mirrors: Path, repo: str, commit: str, folder: str, dest: Path) -> Path:
    git_dir = mirrors / repo.replace("/", "+") / "repo"
    if not git_dir.is_dir():
        raise SystemExit(f"no mirror of {repo} at {git_dir}: fetch it (the search tool's fetch github:{repo}, "
                         f"or git clone --mirror https://github.com/{repo} {git_dir})")
    names = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", commit, folder],
                           capture_output=True, text=True, check=True).stdout.split()
    py = [n for n in names if n.endswith(".py")]
    archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", commit, *py],
                             capture_output=True, check=True).stdout
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / folder


def check(engine: Path, path: Path, workspace: Path, extra: list) -> list:
    env = {**os.environ, "PYTHONPATH": f"{engine}:{engine / 'plugins'}", "XDG_CACHE_HOME": str(workspace / ".xdg")}
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "check", str(path), "--select", "SH", "--no-cache",
                           "--format", "json", *extra], capture_output=True, text=True, env=env,
                          cwd=str(workspace), timeout=300)
    try:
        data = json.loads(done.stdout)
    except json.JSONDecodeError:
        return [f"engine failed: {done.stderr.strip()[-300:]}"]
    out = []
    for f in data.get("diagnostics", []):
        out.append((f.get("code"), f.get("line"), f.get("message")))
    return out


def bindings(engine: Path, path: Path, workspace: Path, extra: list) -> dict:
    """(scope, line, name) -> shape of ``shapes --json``."""
    env = {**os.environ, "PYTHONPATH": f"{engine}:{engine / 'plugins'}", "XDG_CACHE_HOME": str(workspace / ".xdg")}
    done = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", str(path), "--json", *extra],
                          capture_output=True, text=True, env=env, cwd=str(workspace), timeout=300)
    try:
        [entry] = json.loads(done.stdout)["files"]
    except (json.JSONDecodeError, KeyError, ValueError):
        return {}
    return {(b["scope"], b["line"], b["name"]): b["shape"] for b in entry["shapes"]}


def same_shape(zero, given, batch) -> bool:
    if zero is None or given is None or len(zero) != len(given):
        return False
    return all(z == g or (z == "B" and g == batch) for z, g in zip(zero, given))


def supports_workspace(engine: Path) -> bool:
    env = {**os.environ, "PYTHONPATH": f"{engine}:{engine / 'plugins'}"}
    help_text = subprocess.run([sys.executable, "-m", "ml_lsp", "check", "--help"], capture_output=True,
                               text=True, env=env, cwd=tempfile.gettempdir()).stdout  # not this checkout's folder
    return "--no-workspace" in help_text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", type=Path, default=REPO, help="the checkout whose engine runs")
    parser.add_argument("--mirrors", type=Path, default=Path(os.environ.get("REALCODE_MIRRORS", "/work/.mirror")))
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args()
    spec = tomllib.loads((HERE / "cases.toml").read_text())
    has_ws = supports_workspace(args.engine)
    totals = {"bugs": 0, "zero": 0, "given": 0, "false_zero": 0, "false_given": 0, "bindings": 0, "exact": 0}
    rows = []
    for case in spec["case"]:
        repo = spec["repos"][case["repo"]]
        with tempfile.TemporaryDirectory(prefix="ml-lsp-zero-") as tmp:
            tmp = Path(tmp)
            clean_root = materialise(args.mirrors, case["repo"], repo["commit"], case["folder"], tmp / "clean")
            model = clean_root / case["file"]
            ws = ["--workspace", str(clean_root)] if has_ws else []
            given = ["--entry", case["class"], *(["--init", case["init"]] if case.get("init") else []),
                     *[x for i in case["inputs"] for x in ("--input", i)], *(["--no-workspace"] if has_ws else [])]
            given_shapes = bindings(args.engine, model, clean_root, given)
            zero_shapes = bindings(args.engine, model, clean_root, ["--entry", case["class"], *ws])
            batch = int(case["inputs"][0].split("=")[1].split(",")[0])
            exact = sum(same_shape(zero_shapes.get(k), v, batch) for k, v in given_shapes.items())
            totals["bindings"] += len(given_shapes)
            totals["exact"] += exact
            clean_zero = set(check(args.engine, model, clean_root, ws))
            clean_given = set(check(args.engine, model, clean_root, given))
            totals["false_zero"] += len(clean_zero)
            totals["false_given"] += len(clean_given)
            caught_zero = caught_given = 0
            text = model.read_text()
            for find, replace in case["bugs"]:
                if text.count(find) != 1:
                    print(f"{case['id']}: bug {find!r} does not match the pinned file once", file=sys.stderr)
                    continue
                model.write_text(text.replace(find, replace))
                zero = set(check(args.engine, model, clean_root, ws)) - clean_zero
                with_inputs = set(check(args.engine, model, clean_root, given)) - clean_given
                model.write_text(text)
                totals["bugs"] += 1
                caught_zero += bool(zero)
                caught_given += bool(with_inputs)
                if args.verbose:
                    print(f"  {case['id']}: {replace!r}: zero set-up {sorted(zero) or '-'}; inputs given "
                          f"{sorted(with_inputs) or '-'}")
            totals["zero"] += caught_zero
            totals["given"] += caught_given
            rows.append((case["id"], case["source"], len(case["bugs"]), caught_zero, caught_given,
                         len(clean_zero), sorted(clean_zero), f"{exact}/{len(given_shapes)}"))
    print(f"engine: {args.engine} ({'workspace call sites' if has_ws else 'no workspace support'})")
    print(f"{'case':<22} {'data source':<48} {'bugs':>4} {'zero':>5} {'given':>5} {'false':>5} {'bindings':>9}")
    for cid, source, n, z, g, f, which, exact in rows:
        print(f"{cid:<22} {source:<48} {n:>4} {z:>5} {g:>5} {f:>5} {exact:>9}" + (f"  {which}" if f else ""))
    print(f"seeded bugs caught with zero set-up: {totals['zero']}/{totals['bugs']}, with inputs given: "
          f"{totals['given']}/{totals['bugs']}; false errors on clean folders: zero set-up {totals['false_zero']}, "
          f"inputs given {totals['false_given']}")
    print(f"bindings with zero set-up as with the inputs given: {totals['exact']}/{totals['bindings']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
