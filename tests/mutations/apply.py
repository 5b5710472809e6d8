"""Apply a seeded shape bug to a copy of its model and run the copy with torch.

The copy goes into a fresh folder together with the other files of the model's folder (a
model may import a block from a sibling file), so the original is never touched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from groundtruth.harness import REPO, parse_header

from .catalog import Mutation


def mutated_source(mutation: Mutation) -> str:
    """The model file's text with the mutation applied; the text to find must occur exactly
    once and the replacement must keep the line count (declared lines stay valid)."""
    original = (REPO / mutation.file).read_text(encoding="utf-8")
    count = original.count(mutation.find)
    if count != 1:
        raise ValueError(f"{mutation.file}: {mutation.find!r} occurs {count} times, want exactly 1")
    if mutation.find.count("\n") != mutation.replace.count("\n"):
        raise ValueError(f"{mutation.file}: replacement changes the number of lines")
    return original.replace(mutation.find, mutation.replace)


def write_mutant(mutation: Mutation, folder: Path) -> Path:
    """Copy the model's folder's Python files into ``folder`` and write the mutated file
    there; returns the mutated file's path."""
    source = REPO / mutation.file
    folder.mkdir(parents=True, exist_ok=True)
    for sibling in source.parent.glob("*.py"):
        shutil.copy(sibling, folder / sibling.name)
    target = folder / source.name
    target.write_text(mutated_source(mutation), encoding="utf-8")
    return target


@dataclass
class Outcome:
    raised: bool
    error: str = ""           # "RuntimeError: mat1 and mat2 shapes cannot be multiplied ..."
    line: int | None = None   # deepest line of the model's own file in the traceback
    chain: tuple[int, ...] = ()  # every line of the model's own file in it, outermost first


def run_model_file(path: Path) -> Outcome:
    """Build the file's corpus entry and call it on its declared inputs (in this process)."""
    import torch

    from groundtruth.harness import load_namespace, make_inputs

    model = parse_header(path)
    torch.manual_seed(0)
    try:
        namespace = load_namespace(model)
        module = eval(f"{model.entry}({model.init})", namespace)
        module.eval()
        with torch.no_grad():
            module(*make_inputs(model))
    except Exception as exc:  # noqa: BLE001 - any failure is the outcome we report
        own = str(path.resolve())
        lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
                 if str(Path(frame.filename).resolve()) == own]
        return Outcome(True, f"{type(exc).__name__}: {exc}".splitlines()[0],
                       lines[-1] if lines else None, tuple(lines))
    return Outcome(False)


def run_files_in_child(paths: list[Path], timeout: float = 300) -> list[Outcome]:
    """`run_model_file` for each path, in one child process (torch imported once; the test
    process keeps no mutated module)."""
    code = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(REPO / 'tests')!r}]\n"
        "from pathlib import Path\n"
        "from dataclasses import asdict\n"
        "from mutations.apply import run_model_file\n"
        "paths = json.loads(sys.stdin.read())\n"
        "print(json.dumps([asdict(run_model_file(Path(p))) for p in paths]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps([str(p) for p in paths]),
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"mutant runner failed: {done.stderr[-2000:]}")
    return [Outcome(item["raised"], item["error"], item["line"], tuple(item["chain"]))
            for item in json.loads(done.stdout.strip().splitlines()[-1])]
