"""Dump what `ml-lsp check` answers for each file, to compare two versions of the code
(issue 19: a speed change must not change an answer).

Per file: the findings (code, position, message), the notes, and the shape facts (the
``shapes --json`` entries, hovers, classes with their parameter counts and shapes, layers,
conflicts, call sites). The files are checked in one process, in the given order, with
no result cache and no time budget (a budget makes the answer depend on the machine's load).

    python benchmarks/compare_answers.py dump OUT.json [--realcode] [--sample N] [--reverse] [--cache] [FILE ...]
    python benchmarks/compare_answers.py diff A.json B.json

Run ``dump`` once with PYTHONPATH pointing at each version's checkout, then ``diff``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def realcode_files() -> list[str]:
    sys.path.insert(0, str(HERE / "realcode"))
    try:
        import corpus
        manifest = corpus.load_manifest()
        files = sorted({str(corpus.case_file(manifest, case)) for case in manifest.cases})
    finally:
        sys.path.remove(str(HERE / "realcode"))
    return [f for f in files if Path(f).is_file()]


def sample_files(count: int) -> list[str]:
    sys.path.insert(0, str(HERE))
    from check_speed import transformers_models
    from ml_lsp.commands.check import find_files
    every = [str(f) for f in find_files([str(transformers_models())])]
    return sorted(random.Random(0).sample(every, min(count, len(every))))


def dump(files: list[str], out: str, cache: bool = False) -> None:
    import ml_lsp.commands.check as check
    captured: dict = {}
    original = check.bounded_facts

    def capturing(source, path, *args, **kwargs):
        facts, note = original(source, path, *args, **kwargs)
        captured[path] = facts
        return facts, note

    check.bounded_facts = capturing
    options = check.CheckOptions(select=[], ignore=[], cache=cache, file_budget_s=None, file_memory_mb=4096)
    answers = {}
    for path in files:
        report = check.check_file(path, options)
        facts = captured.pop(path, None)
        entry = {
            "findings": [[f.code, f.line, f.col, f.end_line, f.end_col, f.message] for f in report.findings],
            "problems": list(report.problems),
        }
        if facts is not None:
            entry["shapes"] = facts.to_json_entries()
            for name in ("hovers", "classes", "layers", "conflicts", "call_sites", "problems"):
                entry[f"facts.{name}"] = [repr(x) for x in getattr(facts, name)]
        answers[path] = entry
        print(f"{len(answers)}/{len(files)} {path}", file=sys.stderr, flush=True)
    Path(out).write_text(json.dumps(answers, indent=1, default=repr))


def diff(a: str, b: str) -> int:
    old, new = json.loads(Path(a).read_text()), json.loads(Path(b).read_text())
    files = 0
    for path in sorted(set(old) | set(new)):
        x, y = old.get(path), new.get(path)
        if x == y:
            continue
        files += 1
        keys = sorted(k for k in set(x or {}) | set(y or {}) if (x or {}).get(k) != (y or {}).get(k))
        print(f"{path}: differs in {', '.join(keys)}")
        for k in keys:
            xs, ys = (x or {}).get(k) or [], (y or {}).get(k) or []
            gone = [e for e in xs if e not in ys][:3]
            came = [e for e in ys if e not in xs][:3]
            for e in gone:
                print(f"   - {str(e)[:300]}")
            for e in came:
                print(f"   + {str(e)[:300]}")
    print(f"{files} of {len(set(old) | set(new))} files differ")
    return 1 if files else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("dump", "diff"))
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--realcode", action="store_true", help="the real-code benchmark's files")
    parser.add_argument("--sample", type=int, default=0, help="a fixed sample of transformers' models/ (seed 0)")
    parser.add_argument("--cache", action="store_true",
                        help="use the cache folder (ML_LSP_CACHE_DIR): to compare answers given from the "
                             "memoised library answers of an earlier run (empty its check/ folder first)")
    parser.add_argument("--reverse", action="store_true", help="check the files in reverse order")
    args = parser.parse_args()
    if args.command == "diff":
        raise SystemExit(diff(*args.paths[:2]))
    out, files = args.paths[0], list(args.paths[1:])
    if args.realcode:
        files += realcode_files()
    if args.sample:
        files += sample_files(args.sample)
    dump(files[::-1] if args.reverse else files, out, cache=args.cache)


if __name__ == "__main__":
    main()
