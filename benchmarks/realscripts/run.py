"""The real-script benchmark (issue 16): `ml-lsp check` on public training scripts, every
finding compared with its review, seeded mistakes counted caught or missed, and the check
time against `ruff check` on the same files in the same run. It prints figures; it is not
a CI test.

    python benchmarks/realscripts/run.py              # figures
    python benchmarks/realscripts/run.py --verbose    # and every finding and missed seed
    python benchmarks/realscripts/run.py --mirrors DIR

The scripts are read from local git mirrors (`MIRRORS/OWNER+NAME/repo`, a bare git
directory; the search tool's fetch verb, or `git clone --mirror`), at the pinned commit,
into `.cache/` (git-ignored). No third-party source is stored in the project.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CACHE = HERE / ".cache"
DEFAULT_MIRRORS = Path(os.environ.get("REALSCRIPTS_MIRRORS", "/work/.mirror"))


class CorpusError(RuntimeError):
    pass


@dataclass(frozen=True)
class Script:
    repo: str
    commit: str
    path: str

    @property
    def id(self) -> str:
        return f"{self.repo}:{self.path}"


def load_manifest() -> list[Script]:
    data = tomllib.loads((HERE / "manifest.toml").read_text())
    return [Script(name, spec["commit"], path) for name, spec in data["repos"].items() for path in spec["scripts"]]


def _git(mirror: Path, *args: str) -> bytes:
    out = subprocess.run(["git", "--git-dir", str(mirror), *args], capture_output=True)
    if out.returncode:
        raise CorpusError(f"git {' '.join(args)} in {mirror}: {out.stderr.decode(errors='replace').strip()}")
    return out.stdout


def materialise(script: Script, mirrors: Path, root: Path) -> Path:
    """The script and the other .py files of its folder, at the pinned commit, under
    ``root/OWNER+NAME/``; returns the script's path there."""
    mirror = mirrors / script.repo.replace("/", "+") / "repo"
    if not mirror.is_dir():
        raise CorpusError(f"no mirror of {script.repo} at {mirror}: fetch github:{script.repo} (or "
                          f"git clone --mirror https://github.com/{script.repo} {mirror})")
    base = root / script.repo.replace("/", "+")
    folder = str(Path(script.path).parent)
    listing = _git(mirror, "ls-tree", "--name-only", script.commit, *([f"{folder}/"] if folder != "." else []))
    for name in listing.decode().splitlines():
        if name.endswith(".py"):
            target = base / name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(_git(mirror, "show", f"{script.commit}:{name}"))
    out = base / script.path
    if not out.exists():
        raise CorpusError(f"{script.id} is not in {script.repo} at {script.commit}")
    return out


def run_check(files: list[Path], cwd: Path) -> tuple[list[dict], float]:
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'plugins'}")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "ml_lsp", "check", "--format", "json",
                          *[str(f.relative_to(cwd)) for f in files]],
                         cwd=cwd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    if out.returncode not in (0, 1):
        raise CorpusError(f"ml-lsp check failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout)["diagnostics"], took


def run_ruff(files: list[Path], cwd: Path) -> float | None:
    ruff = shutil.which("ruff")
    if ruff is None:
        return None
    start = time.perf_counter()
    subprocess.run([ruff, "check", "--no-cache", "--quiet", "--exit-zero",
                    *[str(f.relative_to(cwd)) for f in files]], cwd=cwd, capture_output=True)
    return time.perf_counter() - start


def torch_version_seen() -> str:
    sys.path.insert(0, str(REPO))
    from ml_lsp.workspace_env import installed_versions
    return installed_versions(str(CACHE)).get("torch", "not installed")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    scripts = load_manifest()
    reviews = tomllib.loads((HERE / "reviewed.toml").read_text()).get("finding", [])
    seeds = tomllib.loads((HERE / "seeds.toml").read_text()).get("seed", [])
    clean_root, seeded_root = CACHE / "clean", CACHE / "seeded"
    try:
        files = {s.id: materialise(s, args.mirrors, clean_root) for s in scripts}
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    by_file = {str(p.relative_to(clean_root)): sid for sid, p in files.items()}

    # Clean scripts: every finding must have been reviewed.
    found, check_s = run_check(list(files.values()), clean_root)
    ruff_s = run_ruff(list(files.values()), clean_root)
    review = {(r["script"], r["code"], r["line"]): r for r in reviews}
    true_pos, false_err, false_warn, unreviewed = [], [], [], []
    for d in found:
        sid = by_file.get(d["path"], d["path"])
        r = review.get((sid, d["code"], d["line"]))
        if r is None:
            unreviewed.append((sid, d))
        elif r["verdict"] == "true":
            true_pos.append((sid, d, r))
        elif d["severity"] == "error":
            false_err.append((sid, d, r))
        else:
            false_warn.append((sid, d, r))
    stale = [k for k in review if not any(by_file.get(d["path"]) == k[0] and d["code"] == k[1] and d["line"] == k[2]
                                          for d in found)]

    # Seeded mistakes: each applied to a copy of its script's folder, all checked in one run.
    shutil.rmtree(seeded_root, ignore_errors=True)
    seeded_files, seed_problems = {}, []
    for seed in seeds:
        source = files.get(seed["script"])
        if source is None:
            seed_problems.append(f"{seed['id']}: unknown script {seed['script']}")
            continue
        text = source.read_text()
        if text.count(seed["find"]) != 1:
            seed_problems.append(f"{seed['id']}: `find` occurs {text.count(seed['find'])} times in {seed['script']}")
            continue
        folder = seeded_root / seed["id"]
        shutil.copytree(source.parent, folder)
        target = folder / source.name
        target.write_text(text.replace(seed["find"], seed["replace"]))
        seeded_files[seed["id"]] = target
    seeded_found, seeded_s = run_check(list(seeded_files.values()), seeded_root) if seeded_files else ([], 0.0)
    caught, missed = [], []
    for seed in seeds:
        target = seeded_files.get(seed["id"])
        if target is None:
            continue
        rel = str(target.relative_to(seeded_root))
        hits = [d for d in seeded_found if d["path"] == rel and d["code"] == seed["code"] and d["line"] == seed["line"]]
        (caught if hits else missed).append(seed)

    n = len(scripts)
    print(f"real-script benchmark: {n} scripts from {len({s.repo for s in scripts})} repositories; "
          f"torch in the checking interpreter: {torch_version_seen()}")
    print(f"  findings on the unmodified scripts: {len(found)} "
          f"({len(true_pos)} reviewed true, {len(false_err) + len(false_warn)} reviewed false, "
          f"{len(unreviewed)} not reviewed)")
    print(f"  false positives: {len(false_err)} errors, {len(false_warn)} warnings "
          f"({len(false_warn) / n * 20:.2f} warnings per 20 scripts)")
    rate = len(caught) / max(1, len(caught) + len(missed)) * 100
    print(f"  seeded mistakes caught on the named line: {len(caught)}/{len(caught) + len(missed)} ({rate:.0f}%)"
          + (f"; {len(seed_problems)} seeds could not be applied" if seed_problems else ""))
    kinds = sorted({s["code"] for s in seeds})
    print(f"  rules seeded: {', '.join(kinds)}")
    ratio = f" = {check_s / ruff_s:.1f}x ruff" if ruff_s else " (ruff not installed)"
    print(f"  ml-lsp check on the {n} scripts: {check_s:.2f}s; ruff check: "
          f"{ruff_s:.2f}s{ratio}" if ruff_s else f"  ml-lsp check on the {n} scripts: {check_s:.2f}s{ratio}")
    print(f"  ml-lsp check on the {len(seeded_files)} seeded copies: {seeded_s:.2f}s")
    for sid, d in unreviewed:
        print(f"  NOT REVIEWED {sid}:{d['line']} {d['code']} {d['message']}")
    for k in stale:
        print(f"  REVIEWED BUT NOT REPORTED (fixed, or moved?) {k[0]}:{k[2]} {k[1]}")
    for p in seed_problems:
        print(f"  SEED PROBLEM {p}")
    for seed in missed:
        print(f"  MISSED {seed['id']} ({seed['code']} line {seed['line']}): {seed.get('what', '')}")
    if args.verbose:
        for sid, d, r in true_pos + false_err + false_warn:
            print(f"  {r['verdict'].upper():5} {sid}:{d['line']} {d['code']} — {r['reason']}")
        for seed in caught:
            print(f"  caught {seed['id']} ({seed['code']} line {seed['line']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
