"""`ml-lsp check` asks the shape engine for its proven conflicts only (``only_conflicts``):
it skips the runs that add shapes and never a conflict (methods nothing called) and the
expression hovers nobody will see. What it reports must be what the editor reports for the
same file: on every seeded shape bug of `tests/mutations/` (and the clean corpus models),
the conflicts are the same, message for message, with the model's inputs and without."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from groundtruth.harness import parse_header  # noqa: E402
from mutations.apply import write_mutant  # noqa: E402
from mutations.catalog import MUTATIONS  # noqa: E402

from ml_lsp.analysis import analyze_source  # noqa: E402
from ml_lsp.commands.check import module_resolver  # noqa: E402


def conflicts(path: Path, only: bool, with_inputs: bool):
    model = parse_header(path)
    kw = {}
    if with_inputs and model is not None:
        kw = dict(entry=model.entry, init=model.init or None,
                  inputs={spec.name: list(spec.dims) for spec in model.inputs} or None)
    facts = analyze_source(path.read_text(encoding="utf-8"), str(path), resolve_module=module_resolver(),
                           only_conflicts=only, **kw)
    return sorted((c.line, c.col, c.kind, c.message) for c in facts.conflicts), facts


def test_check_reports_the_conflicts_the_editor_shows_on_every_seeded_bug(tmp_path):
    compared = 0
    for i, mutation in enumerate(MUTATIONS):
        path = write_mutant(mutation, tmp_path / f"m{i:03}")
        for with_inputs in (True, False):
            full = conflicts(path, False, with_inputs)[0]
            only = conflicts(path, True, with_inputs)[0]
            assert only == full, (mutation.file, with_inputs)
            compared += len(full)
    # the seeded bugs are proven with and without inputs: there is something to compare
    assert compared >= len(MUTATIONS)


def test_check_finds_no_conflict_the_editor_does_not_on_the_clean_corpus():
    corpus = sorted((Path(__file__).resolve().parent / "corpus").glob("*.py"))
    assert len(corpus) >= 50
    for path in corpus:
        for with_inputs in (True, False):
            assert conflicts(path, True, with_inputs)[0] == conflicts(path, False, with_inputs)[0], path.name
