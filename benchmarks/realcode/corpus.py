"""The real-code corpus: the manifest, the seeded bugs, and the files they name, materialised
from local mirrors into a git-ignored cache.

The project stores no third-party source. `manifest.toml` pins each repository by commit (or,
for a repository too large to mirror here, by the PyPI wheel of the release that matches its
tag, with the wheel's sha256) and lists the classes; `bugs.toml` lists seeded shape bugs as
short find/replace snippets. `materialise()` copies the pinned files out of the mirror with
`git archive` (or out of the wheel) into `.cache/`, where both the runtime ground truth and
`ml-lsp shapes` read them.

This module imports neither torch nor the engine.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MANIFEST = HERE / "manifest.toml"
BUGS = HERE / "bugs.toml"
GROUND_TRUTH = HERE / "groundtruth.json"
#: derived: per class, what it binds built with its defaults on the engine's inferred inputs
DEFAULT_TRUTH = HERE / "groundtruth_defaults.json"
BUG_PROOFS = HERE / "bugs_proven.json"
CACHE = HERE / ".cache"
VENV_PYTHON = HERE / ".venv" / "bin" / "python"
#: what is copied out of a mirror: code and the model configs code reads (yolov5's yaml)
MATERIALISED_SUFFIXES = ("py", "yaml", "yml")
DEFAULT_MIRRORS = Path(os.environ.get("REALCODE_MIRRORS", "/work/.mirror"))

#: the split rule: an item is held out when the hash of the seed and its id falls in the
#: first fifth. A hash (not a shuffle) keeps every item's split fixed when items are added.
SPLIT_SEED = "realcode-13"


class CorpusError(RuntimeError):
    """A manifest or mirror problem, with the message to show the user."""


def split_for(item_id: str) -> str:
    digest = hashlib.sha256(f"{SPLIT_SEED}:{item_id}".encode()).digest()
    return "heldout" if int.from_bytes(digest[:8], "big") % 5 == 0 else "tune"


@dataclass(frozen=True)
class Repo:
    name: str                       # "owner/name"
    commit: str                     # 40 hex digits ("" for a wheel-pinned repository)
    materialise: tuple[str, ...]    # paths copied from the mirror ("" = everything)
    load: str                       # "tree": the materialised tree's root is first on sys.path
                                    #   (a package such as transformers imports from the copy,
                                    #   the release installed in the venv, with its dependencies)
                                    # "files": the same, but parent packages are stubs (no __init__ runs)
                                    # "script": the file runs statement by statement
    root: str = ""                  # the folder of the tree that goes on sys.path ("src")
    tag: str = ""
    wheel: str = ""                 # "transformers==5.25.0": source is the PyPI wheel
    wheel_sha256: str = ""
    note: str = ""

    @property
    def mirror_name(self) -> str:
        return self.name.replace("/", "+")

    @property
    def pin(self) -> str:
        return self.commit or f"{self.wheel}@sha256:{self.wheel_sha256[:12]}"


@dataclass(frozen=True)
class Case:
    repo: str
    path: str
    cls: str
    init: str
    inputs: tuple[str, ...]          # "x=2,3,32,32", "ids=2,16 long<100" (harness syntax)
    split: str
    kind: str = ""
    variant: str = ""
    load: str = ""                   # overrides the repository's load mode for this file
    argv: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        tail = f"#{self.variant}" if self.variant else ""
        return f"{self.repo}:{self.path}:{self.cls}{tail}"

    def cli_inputs(self) -> list[str]:
        return [spec.split()[0] for spec in self.inputs]


@dataclass(frozen=True)
class Bug:
    id: str
    repo: str
    path: str
    cls: str                         # the class whose forward (with its case's init/inputs) raises
    find: str
    replace: str
    line: int                        # the 1-based line where torch raises (deepest frame of the file)
    family: str                      # the expected rule code, "SH001" ...
    description: str
    split: str
    variant: str = ""
    layer_line: int | None = None    # the line of the layer definition the bug changed

    @property
    def case_id(self) -> str:
        tail = f"#{self.variant}" if self.variant else ""
        return f"{self.repo}:{self.path}:{self.cls}{tail}"


@dataclass
class Manifest:
    repos: dict[str, Repo]
    cases: list[Case]
    bugs: list[Bug] = field(default_factory=list)

    def case(self, case_id: str) -> Case:
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(case_id)


def load_manifest(path: Path = MANIFEST, bugs_path: Path = BUGS) -> Manifest:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CorpusError(f"{path}: {exc}") from None
    repos = {}
    for name, entry in data.get("repos", {}).items():
        commit = entry.get("commit", "")
        if commit and (len(commit) != 40 or any(c not in "0123456789abcdef" for c in commit)):
            raise CorpusError(f"{path}: repos.{name!r}: commit must be 40 hex digits, not {commit!r}")
        if not commit and not entry.get("wheel"):
            raise CorpusError(f"{path}: repos.{name!r}: needs a commit (or a wheel)")
        repos[name] = Repo(name, commit, tuple(entry.get("materialise", [""])), entry.get("load", "tree"),
                           entry.get("root", ""), entry.get("tag", ""), entry.get("wheel", ""),
                           entry.get("wheel_sha256", ""), entry.get("note", ""))
    cases = []
    seen = set()
    for number, entry in enumerate(data.get("classes", []), 1):
        try:
            case = Case(entry["repo"], entry["path"], entry["class"], entry.get("init", ""),
                        tuple(entry.get("inputs", [])), entry.get("split", ""), entry.get("kind", ""),
                        entry.get("variant", ""), entry.get("load", ""), tuple(entry.get("argv", [])))
        except KeyError as exc:
            raise CorpusError(f"{path}: classes entry {number}: missing {exc}") from None
        if case.repo not in repos:
            raise CorpusError(f"{path}: {case.id}: repository {case.repo!r} is not under [repos]")
        if case.id in seen:
            raise CorpusError(f"{path}: {case.id} listed twice (add variant = \"...\" to tell them apart)")
        seen.add(case.id)
        if case.split != split_for(case.id):
            raise CorpusError(f"{path}: {case.id}: split is {case.split!r}, the seeded rule says "
                              f"{split_for(case.id)!r} (python benchmarks/realcode/groundtruth.py --fix-splits)")
        cases.append(case)
    manifest = Manifest(repos, cases)
    if bugs_path.exists():
        try:
            bug_data = tomllib.loads(bugs_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise CorpusError(f"{bugs_path}: {exc}") from None
        ids = set()
        for number, entry in enumerate(bug_data.get("bugs", []), 1):
            try:
                bug = Bug(entry["id"], entry["repo"], entry["path"], entry["class"], entry["find"],
                          entry["replace"], int(entry["line"]), entry["family"], entry.get("description", ""),
                          entry.get("split", ""), entry.get("variant", ""), entry.get("layer_line"))
            except KeyError as exc:
                raise CorpusError(f"{bugs_path}: bugs entry {number}: missing {exc}") from None
            if bug.id in ids:
                raise CorpusError(f"{bugs_path}: bug id {bug.id!r} used twice")
            ids.add(bug.id)
            if bug.split != split_for("bug:" + bug.id):
                raise CorpusError(f"{bugs_path}: bug {bug.id}: split is {bug.split!r}, the seeded rule says "
                                  f"{split_for('bug:' + bug.id)!r} (groundtruth.py --fix-splits)")
            if bug.find.count("\n") != bug.replace.count("\n"):
                raise CorpusError(f"{bugs_path}: bug {bug.id}: the replacement changes the line count")
            try:
                manifest.case(bug.case_id)
            except KeyError:
                raise CorpusError(f"{bugs_path}: bug {bug.id}: no class {bug.case_id} in the manifest") from None
            manifest.bugs.append(bug)
    return manifest


# ---------------------------------------------------------------------------------------
# Materialising sources from the mirrors.

def _mirror_help(repo: Repo, mirrors: Path) -> str:
    if repo.wheel:
        return (f"{repo.name}: the wheel {repo.wheel} is not in {mirrors / 'pypi'}. Run "
                f"`bash benchmarks/realcode/setup.sh` (it runs `pip download --no-deps {repo.wheel} "
                f"-d {mirrors / 'pypi'}`), or pass --mirrors DIR.")
    where = mirrors / repo.mirror_name / "repo"
    return (f"{repo.name}: no git mirror at {where}. Bring it with the search tool's fetch verb "
            f"(`fetch github:{repo.name}`), or `git clone --mirror https://github.com/{repo.name} {where}`, "
            f"or pass --mirrors DIR (a folder holding OWNER+NAME/repo git directories). "
            f"Skip it with --skip-missing.")


def mirror_available(repo: Repo, mirrors: Path) -> bool:
    if repo.wheel:
        return _wheel_path(repo, mirrors) is not None
    git_dir = mirrors / repo.mirror_name / "repo"
    if not git_dir.is_dir():
        return False
    done = subprocess.run(["git", "--git-dir", str(git_dir), "cat-file", "-e", f"{repo.commit}^{{commit}}"],
                          capture_output=True)
    return done.returncode == 0


def _wheel_path(repo: Repo, mirrors: Path) -> Path | None:
    name, _, version = repo.wheel.partition("==")
    for candidate in sorted((mirrors / "pypi").glob(f"{name.replace('-', '_')}-{version}-*.whl")):
        return candidate
    return None


def repo_root(repo: Repo, cache: Path = CACHE) -> Path:
    """The folder the repository's files are materialised into."""
    return cache / "src" / repo.mirror_name / (repo.commit[:12] if repo.commit else repo.wheel.replace("==", "-"))


def materialise(repo: Repo, mirrors: Path = DEFAULT_MIRRORS, cache: Path = CACHE) -> Path:
    """Copy the repository's pinned files into the cache (once); returns the root folder."""
    root = repo_root(repo, cache)
    stamp = root / ".materialised"
    if stamp.exists():
        return root
    if not mirror_available(repo, mirrors):
        raise CorpusError(_mirror_help(repo, mirrors))
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if repo.wheel:
        wheel = _wheel_path(repo, mirrors)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if repo.wheel_sha256 and digest != repo.wheel_sha256:
            raise CorpusError(f"{repo.name}: {wheel} has sha256 {digest}, the manifest pins {repo.wheel_sha256}")
        with zipfile.ZipFile(wheel) as archive:
            members = [m for m in archive.namelist() if m.endswith(".py")
                       and any(not p or m == p or m.startswith(p.rstrip("/") + "/") for p in repo.materialise)]
            archive.extractall(partial, members)
    else:
        git_dir = mirrors / repo.mirror_name / "repo"
        # Only source and config files: a snapshot may lack its large data blobs.
        listed = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", repo.commit,
                                 "--", *[p for p in repo.materialise if p]], capture_output=True, text=True)
        paths = [p for p in listed.stdout.splitlines() if p.rsplit(".", 1)[-1] in MATERIALISED_SUFFIXES]
        if listed.returncode != 0 or not paths:
            raise CorpusError(f"{repo.name}: nothing to materialise under {list(repo.materialise)} at "
                              f"{repo.commit}: {listed.stderr.strip()}")
        command = ["git", "--git-dir", str(git_dir), "archive", "--format=tar", repo.commit, "--", *paths]
        done = subprocess.run(command, capture_output=True)
        if done.returncode != 0:
            raise CorpusError(f"{repo.name}: git archive failed: {done.stderr.decode(errors='replace').strip()}")
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
            archive.extractall(partial, filter="data")
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    stamp.write_text(repo.pin + "\n")
    return root


def case_file(manifest: Manifest, case: Case | Bug, cache: Path = CACHE) -> Path:
    return repo_root(manifest.repos[case.repo], cache) / case.path


def mutant_root(manifest: Manifest, bug: Bug, cache: Path = CACHE) -> Path:
    """A copy of the repository's materialised tree (hard links) with the bug applied to one
    file: relative imports and sibling files resolve as in the clean tree."""
    repo = manifest.repos[bug.repo]
    clean_root = repo_root(repo, cache)
    text = (clean_root / bug.path).read_text(encoding="utf-8")
    count = text.count(bug.find)
    if count != 1:
        raise CorpusError(f"bug {bug.id}: {bug.find!r} occurs {count} times in {bug.path}, want exactly 1")
    mutated = text.replace(bug.find, bug.replace)
    key = hashlib.sha256(f"{repo.pin}\0{bug.path}\0{bug.find}\0{bug.replace}".encode()).hexdigest()[:12]
    root = cache / "mutants" / f"{bug.id}-{key}"
    stamp = root / ".materialised"
    if stamp.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(clean_root, root, copy_function=os.link)
    target = root / bug.path
    target.unlink()                      # break the hard link before writing
    target.write_text(mutated, encoding="utf-8")
    stamp.write_text(bug.id + "\n")
    return root


def fingerprint(repo: Repo, case: Case) -> str:
    """What the recorded ground truth depends on: a change re-runs the class."""
    text = "\0".join([repo.pin, repo.load, repo.root, case.path, case.cls, case.init, *case.inputs,
                      case.load, *case.argv])
    return hashlib.sha256(text.encode()).hexdigest()[:16]
