"""Record the real-code ground truth, and prove the seeded bugs.

    python benchmarks/realcode/groundtruth.py                 # classes without a current record
    python benchmarks/realcode/groundtruth.py --force          # all of them again
    python benchmarks/realcode/groundtruth.py --only timm      # ids containing a text
    python benchmarks/realcode/groundtruth.py --bugs           # prove bugs.toml -> bugs_proven.json
    python benchmarks/realcode/groundtruth.py --fix-splits     # rewrite split = ... by the seeded rule

Each class runs in its own child process (the benchmark venv's interpreter, runtime.py) with
a timeout: built with the manifest's constructor arguments, called twice on inputs of the
manifest's sizes, with every tensor bound in its file recorded (scope, line, name, shape,
dtype). groundtruth.json keeps one record per class, keyed by repo@commit:path:class, with a
fingerprint of what it depends on so that a changed entry is run again. A class that fails
is reported with the reason (and kept out of the scores until fixed in the manifest).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import (BUG_PROOFS, BUGS, CACHE, DEFAULT_MIRRORS, DEFAULT_TRUTH, GROUND_TRUTH, HERE, MANIFEST, REPO,  # noqa: E402
                    VENV_PYTHON, CorpusError, Manifest, case_file, fingerprint, load_manifest,
                    materialise, mirror_available, mutant_root, repo_root, split_for)

MARK = "@@realcode@@"


def python_for_runs() -> str:
    if VENV_PYTHON.exists():
        return str(VENV_PYTHON)
    raise CorpusError(f"no benchmark venv at {VENV_PYTHON.parent.parent}: run `bash benchmarks/realcode/setup.sh` first")


def run_child(job: dict, timeout: float) -> dict:
    env = {**__import__("os").environ, "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}",
           "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TORCH_HOME": str(CACHE / "torch-home")}
    try:
        done = subprocess.run([python_for_runs(), str(HERE / "runtime.py")], input=json.dumps(job),
                              capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"ok": False, "stage": "timeout", "error": f"timed out after {timeout:.0f}s", "line": None, "chain": []}
    if MARK not in done.stdout:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"ok": False, "stage": "child", "error": f"exit {done.returncode}: {' | '.join(tail)[:400]}",
                "line": None, "chain": []}
    return json.loads(done.stdout.rsplit(MARK, 1)[1])


def job_for(manifest: Manifest, case, root: Path) -> dict:
    repo = manifest.repos[case.repo]
    return {"root": str(root), "import_root": repo.root, "path": case.path, "class": case.cls,
            "init": case.init, "inputs": list(case.inputs), "load": case.load or repo.load,
            "argv": list(case.argv)}


def key_for(manifest: Manifest, case) -> str:
    repo = manifest.repos[case.repo]
    tail = f"#{case.variant}" if case.variant else ""
    return f"{case.repo}@{repo.pin}:{case.path}:{case.cls}{tail}"


def load_json(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {}


def save_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def materialise_all(manifest: Manifest, mirrors: Path, skip_missing: bool) -> set[str]:
    """Materialise every repository; returns the names whose mirror is missing (only when
    skip_missing, else the first missing one is an error with what to do)."""
    missing = set()
    for repo in manifest.repos.values():
        if not mirror_available(repo, mirrors) and not (CACHE / "src" / repo.mirror_name).exists():
            if skip_missing:
                print(f"skipping {repo.name}: no mirror (see README: getting the mirrors)", file=sys.stderr)
                missing.add(repo.name)
                continue
        materialise(repo, mirrors)
    return missing


def record(manifest: Manifest, only: str | None, force: bool, workers: int, timeout: float,
           missing: set[str]) -> dict:
    truth = load_json(GROUND_TRUTH)
    todo = []
    for case in manifest.cases:
        if case.repo in missing or (only and only not in case.id):
            continue
        repo = manifest.repos[case.repo]
        key = key_for(manifest, case)
        current = truth.get(key)
        if not force and current and current.get("fingerprint") == fingerprint(repo, case) and current.get("ok"):
            continue
        todo.append((case, key))

    def one(item):
        case, key = item
        root = repo_root(manifest.repos[case.repo])
        started = time.monotonic()
        result = run_child(job_for(manifest, case, root), timeout)
        return case, key, result, time.monotonic() - started

    failures = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for case, key, result, seconds in pool.map(one, todo):
            repo = manifest.repos[case.repo]
            record_ = {"fingerprint": fingerprint(repo, case), "ok": result["ok"], "seconds": round(seconds, 1)}
            if result["ok"]:
                record_["entries"] = result["entries"]
                status = f"{len(result['entries'])} bindings"
                if not result["entries"]:
                    record_["ok"] = False
                    record_["error"] = "ran, but bound no tensor in its file"
                    failures.append((case.id, record_["error"]))
            else:
                record_.update({k: result[k] for k in ("stage", "error", "line")})
                status = f"FAILED at {result['stage']}: {result['error']}"
                failures.append((case.id, f"{result['stage']}: {result['error']}"))
            truth[key] = record_
            print(f"{seconds:6.1f}s  {case.id}: {status}", flush=True)
            save_json(GROUND_TRUTH, truth)
    # forget records of classes no longer in the manifest
    keys = {key_for(manifest, c) for c in manifest.cases}
    for stale in [k for k in truth if k not in keys]:
        del truth[stale]
    save_json(GROUND_TRUTH, truth)
    if failures:
        print(f"\n{len(failures)} classes failed (fix init/inputs in manifest.toml or replace them):")
        for case_id, reason in failures:
            print(f"  {case_id}: {reason}")
    return truth


def record_defaults(manifest: Manifest, requests: list, workers: int, timeout: float, suffix: str = "") -> dict:
    """The ground truth of plain ``ml-lsp shapes FILE`` (see defaults.py): for each
    ``(case, attempts, built_init)``, the class built with its defaults (or with
    ``built_init``, the arguments of the file's own constructor call) and called with the first input
    attempt that runs. Cached in groundtruth_defaults.json by class, keyed by what it
    depends on (the pin, the manifest entry, the attempts: a changed guess runs again);
    ``suffix`` names another kind of run of the same class (``|rank``: see run.py)."""
    cache = load_json(DEFAULT_TRUTH)
    todo = []
    for case, attempts, built_init in requests:
        key = key_for(manifest, case) + suffix
        stamp = fingerprint(manifest.repos[case.repo], case) + ":" + json.dumps(attempts)
        if built_init is not None:
            stamp += ":built:" + built_init
        if cache.get(key, {}).get("stamp") != stamp:
            todo.append((case, key, attempts, stamp, built_init))

    def one(item):
        case, key, attempts, stamp, built_init = item
        root = repo_root(manifest.repos[case.repo])
        job = {**job_for(manifest, case, root), "defaults": True, "attempts": attempts, "built_init": built_init}
        return key, stamp, case, run_child(job, timeout)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for key, stamp, case, result in pool.map(one, todo):
            kept = {k: result.get(k) for k in ("ok", "entries", "device", "attempt", "stage", "error", "line")
                    if k in result}
            cache[key] = {"stamp": stamp, **kept}
            what = (f"{len(result['entries'])} bindings ({result.get('device')})" if result.get("ok")
                    else f"{result.get('stage')}: {result.get('error', '')[:100]}")
            print(f"defaults  {case.id}: {what}", file=sys.stderr, flush=True)
            save_json(DEFAULT_TRUTH, cache)  # each one as it comes: a run stopped midway keeps them
    return cache


def prove_bugs(manifest: Manifest, only: str | None, workers: int, timeout: float, missing: set[str]) -> dict:
    proofs = load_json(BUG_PROOFS)
    truth = load_json(GROUND_TRUTH)
    todo = [b for b in manifest.bugs if b.repo not in missing and (not only or only in b.id)]

    def one(bug):
        case = manifest.case(bug.case_id)
        clean = truth.get(key_for(manifest, case), {})
        if not clean.get("ok"):
            return bug, {"ok": False, "error": "the clean class has no ground truth (it does not run)"}
        root = mutant_root(manifest, bug)
        return bug, run_child(job_for(manifest, case, root), timeout)

    bad = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for bug, result in pool.map(one, todo):
            raised = not result.get("ok", False) and result.get("stage") == "forward"
            proven = raised and result.get("line") == bug.line
            proofs[bug.id] = {"proven": proven, "error": result.get("error", ""), "line": result.get("line"),
                              "chain": result.get("chain", []), "stage": result.get("stage", "ran"),
                              "find": bug.find, "replace": bug.replace}
            if not proven:
                bad += 1
                what = (f"raised at line {result.get('line')} (manifest says {bug.line}; chain {result.get('chain')})"
                        if raised else f"did not raise in forward: {result.get('stage', 'ran')} "
                                       f"{result.get('error', 'no error')}")
                print(f"NOT PROVEN {bug.id}: {what}", flush=True)
            else:
                print(f"proven     {bug.id}: line {bug.line}: {result['error'][:100]}", flush=True)
    ids = {b.id for b in manifest.bugs}
    for stale in [k for k in proofs if k not in ids]:
        del proofs[stale]
    save_json(BUG_PROOFS, proofs)
    print(f"\n{len(todo) - bad}/{len(todo)} bugs proven")
    return proofs


def fix_splits() -> None:
    """Rewrite each `split = "..."` in manifest.toml and bugs.toml by the seeded rule."""
    for path, prefix, id_of in ((MANIFEST, "", None), (BUGS, "bug:", None)):
        if not path.exists():
            continue
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        block: dict[str, str] = {}
        split_line = None

        def flush():
            if split_line is None:
                return
            if prefix:
                item = "bug:" + block.get("id", "")
            else:
                tail = f"#{block['variant']}" if block.get("variant") else ""
                item = f"{block.get('repo')}:{block.get('path')}:{block.get('class')}{tail}"
            lines[split_line] = f'split = "{split_for(item)}"\n'

        for number, line in enumerate(lines):
            if line.strip() in ("[[classes]]", "[[bugs]]"):
                flush()
                block, split_line = {}, None
                continue
            match = re.match(r'^(\w+)\s*=\s*"(.*)"\s*$', line)
            if match:
                block[match.group(1)] = match.group(2)
                if match.group(1) == "split":
                    split_line = number
        flush()
        path.write_text("".join(lines), encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help="folder of OWNER+NAME/repo git mirrors")
    parser.add_argument("--only", help="only ids containing this text")
    parser.add_argument("--force", action="store_true", help="record again even when current")
    parser.add_argument("--bugs", action="store_true", help="prove the seeded bugs")
    parser.add_argument("--fix-splits", action="store_true", help="rewrite split fields by the seeded rule")
    parser.add_argument("--skip-missing", action="store_true", help="skip repositories without a mirror")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=240)
    args = parser.parse_args(argv)
    if args.fix_splits:
        fix_splits()
        return 0
    try:
        manifest = load_manifest()
        missing = materialise_all(manifest, args.mirrors, args.skip_missing)
        if args.bugs:
            proofs = prove_bugs(manifest, args.only, min(args.workers, 2), args.timeout, missing)
            return 0 if all(p["proven"] for p in proofs.values()) else 1
        record(manifest, args.only, args.force, min(args.workers, 2), args.timeout, missing)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
