"""Propose seeded shape bugs for classes of the manifest, and keep the ones torch proves.

    python benchmarks/realcode/propose_bugs.py --per-repo 4 --per-class 3 > proposals.toml

For each chosen class (one whose ground truth is recorded), every line of its file is tried
against a small set of classic mistakes (a Linear's in_features or a conv's in_channels
doubled, a norm's feature count doubled, an embedding width doubled, a view/reshape size
changed, a permute's last two dims swapped, a transpose dropped, a cat on the next dim, a
flatten from the wrong dim). Each candidate is a one-line find/replace; it is run with torch
(runtime.py, the class's own init and inputs) and kept when forward raises a shape error
inside the file. The expected rule family is read from torch's message. The output is
`[[bugs]]` entries for bugs.toml, with `line` = the deepest line of the file in the
traceback; review them (drop look-alikes) before adding them.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import groundtruth  # noqa: E402
from corpus import Bug, case_file, load_manifest, mutant_root, split_for  # noqa: E402


def _top_level_args(text: str) -> list[tuple[int, int]]:
    """(start, end) spans of the comma-separated arguments of a call's argument text."""
    spans, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            spans.append((start, i))
            start = i + 1
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def _call_args(line: str, start: int) -> tuple[int, int] | None:
    """The span of the argument text of the call whose '(' is at ``start``."""
    depth = 0
    for i in range(start, len(line)):
        if line[i] == "(":
            depth += 1
        elif line[i] == ")":
            depth -= 1
            if depth == 0:
                return start + 1, i
    return None


def _double_arg(line: str, match: re.Match, index: int) -> str | None:
    span = _call_args(line, match.end() - 1)
    if span is None:
        return None
    body = line[span[0]:span[1]]
    args = _top_level_args(body)
    if len(args) <= index or "=" in body[args[index][0]:args[index][1]].split("(")[0]:
        return None
    a, b = args[index]
    arg = body[a:b].strip()
    if not arg or arg.startswith("*"):
        return None
    new_arg = f"{arg} * 2" if re.fullmatch(r"[\w.\[\]'\"]+", arg) else f"({arg}) * 2"
    lead = body[a:b][: len(body[a:b]) - len(body[a:b].lstrip())]
    new_body = body[:a] + lead + new_arg + body[b:]
    return line[:span[0]] + new_body + line[span[1]:]


def _class_lines(text: str, name: str) -> set[int]:
    """The lines of the class's own body (where a mistake is sure to be on its path)."""
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return set()


def candidates(line: str) -> list[tuple[str, str]]:
    """(kind, mutated line) for one source line."""
    out = []
    for kind, pattern, index in (("linear-in", r"nn\.Linear\(", 0), ("linear-out", r"nn\.Linear\(", 1),
                                 ("conv-in", r"nn\.Conv[123]d\(", 0), ("conv-in", r"conv_nd\(", 1),
                                 ("norm", r"nn\.(?:LayerNorm|BatchNorm[123]d)\(", 0), ("norm", r"nn\.GroupNorm\(", 1),
                                 ("embedding", r"nn\.Embedding\(", 1)):
        match = re.search(pattern, line)
        if match:
            mutated = _double_arg(line, match, index)
            if mutated and mutated != line:
                out.append((kind, mutated))
    match = re.search(r"\.(?:view|reshape)\(", line)
    if match:
        span = _call_args(line, match.end() - 1)
        if span:
            body = line[span[0]:span[1]]
            args = _top_level_args(body)
            for index in reversed(range(len(args))):
                if body[args[index][0]:args[index][1]].strip() not in ("-1", "1") and len(args) > 1:
                    mutated = _double_arg(line, match, index)
                    if mutated:
                        out.append(("view", mutated))
                    break
    match = re.search(r"\.permute\(([-\d,\s]+)\)", line)
    if match:
        dims = [d.strip() for d in match.group(1).split(",") if d.strip()]
        if len(dims) >= 3:
            dims[-1], dims[-2] = dims[-2], dims[-1]
            out.append(("permute", line[:match.start(1)] + ", ".join(dims) + line[match.end(1):]))
    match = re.search(r"\.transpose\(\s*-?\d+\s*,\s*-?\d+\s*\)", line)
    if match and "@" in line or (match and "matmul" in line):
        out.append(("transpose-dropped", line[:match.start()] + line[match.end():]))
    match = re.search(r"(?:torch|th)\.cat\(.*dim\s*=\s*(-?\d+)", line)
    if match:
        dim = int(match.group(1))
        new = str(dim - 1 if dim < 0 else dim + 1)
        out.append(("cat-dim", line[:match.start(1)] + new + line[match.end(1):]))
    match = re.search(r"(?:torch\.)?flatten\((\w+), (\d)\)", line)
    if match:
        out.append(("flatten", line[:match.start(2)] + str(int(match.group(2)) + 1) + line[match.end(2):]))
    return out


FAMILIES = [
    (r"mat1 and mat2 shapes cannot be multiplied", "SH001"),
    (r"to have \d+ channels|expected input\[.*\] to have|weight of size", "SH002"),
    (r"normalized_shape|running_mean|num_groups|expected .* features", "SH003"),
    (r"input\.size\(-1\) must be equal to input_size", "SH004"),
    (r"embed_dim|was expected to be embed_dim", "SH005"),
    (r"index out of range in self", "SH006"),
    (r"is invalid for input of size", "SH007"),
    (r"einsum", "SH010"),
    (r"Sizes of tensors must match|Tensors must have same number of dimensions", "SH011"),
    (r"Dimension out of range", "SH012"),
    (r"must match the size of tensor|cannot be broadcast|The size of tensor a", "SH013"),
    (r"number of dims don't match in permute|permute", "SH014"),
    (r"Expected \d+D|Expected 3D|Expected 4D|expected \d+D", "SH018"),
    (r"size mismatch|shapes cannot be multiplied|Expected size for first two dimensions|batch1|batch2", "SH009"),
]


def family_of(error: str) -> str:
    for pattern, code in FAMILIES:
        if re.search(pattern, error):
            return code
    return "SH099"


# torch's shape errors; F.multi_head_attention_forward checks shapes with assert
SHAPE_ERROR = re.compile(r"^(RuntimeError|IndexError|ValueError): |^AssertionError: .*shape")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="only classes whose id contains this text")
    parser.add_argument("--repos", help="only these repositories (comma-separated)")
    parser.add_argument("--per-repo", type=int, default=4, help="classes tried per repository")
    parser.add_argument("--per-class", type=int, default=3, help="bugs kept per class at most")
    parser.add_argument("--tries", type=int, default=8, help="candidates run per class at most")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    manifest = load_manifest()
    truth = groundtruth.load_json(groundtruth.GROUND_TRUTH)
    taken: dict[str, int] = {}
    chosen = []
    for case in manifest.cases:
        record = truth.get(groundtruth.key_for(manifest, case), {})
        if not record.get("ok") or (args.only and args.only not in case.id) or \
                (args.repos and case.repo not in args.repos.split(",")):
            continue
        if taken.get(case.repo, 0) >= args.per_repo:
            continue
        taken[case.repo] = taken.get(case.repo, 0) + 1
        chosen.append(case)

    jobs = []
    for case in chosen:
        text = case_file(manifest, case).read_text(encoding="utf-8")
        lines = text.splitlines()
        # lines of the class's own file that its forward ran: their statements and, for
        # layer changes, any line (constructors are not recorded)
        own = _class_lines(text, case.cls)
        seen_kinds: dict[str, int] = {}
        tries = []
        for number, line in enumerate(lines, 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#") or text.count(stripped) != 1:
                continue
            for kind, mutated in candidates(line):
                tries.append((number not in own, seen_kinds.get(kind, 0), number, kind, stripped, mutated.strip()))
                seen_kinds[kind] = seen_kinds.get(kind, 0) + 1
        # the class's own lines first, round-robin over the kinds of mistake
        tries = [t[1:] for t in sorted(tries)]
        for _, number, kind, find, replace in tries[:args.tries]:
            bug_id = f"{case.cls.lower()}-{kind}-{hashlib.sha256((case.id + find).encode()).hexdigest()[:6]}"
            jobs.append((case, Bug(bug_id, case.repo, case.path, case.cls, find, replace, 0, "", kind,
                                   split_for("bug:" + bug_id), case.variant, number)))

    def run(item):
        case, bug = item
        root = mutant_root(manifest, bug)
        return item, groundtruth.run_child(groundtruth.job_for(manifest, case, root), 240)

    kept: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=min(args.workers, 2)) as pool:
        for (case, bug), result in pool.map(run, jobs):
            ok = (not result.get("ok") and result.get("stage") == "forward" and result.get("line")
                  and SHAPE_ERROR.match(result.get("error", "")))
            print(f"# {'KEEP' if ok else 'drop'} {bug.id}: {result.get('stage', 'ran')} "
                  f"{result.get('error', 'no error')[:150]}", file=sys.stderr, flush=True)
            if not ok or kept.get(case.id, 0) >= args.per_class:
                continue
            kept[case.id] = kept.get(case.id, 0) + 1
            layer = bug.layer_line if bug.description in ("linear-in", "linear-out", "conv-in", "norm",
                                                          "embedding") else None
            entry = {"id": bug.id, "repo": bug.repo, "path": bug.path, "class": bug.cls}
            if bug.variant:
                entry["variant"] = bug.variant
            entry.update({"find": bug.find, "replace": bug.replace, "line": result["line"],
                          "family": family_of(result["error"]), "description": f"{bug.description}: {result['error'][:160]}"})
            if layer:
                entry["layer_line"] = layer
            entry["split"] = bug.split
            print("[[bugs]]")
            for key, value in entry.items():
                print(f"{key} = {json.dumps(value)}")
            print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
