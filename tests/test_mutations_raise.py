"""Every seeded shape bug of the mutation corpus (tests/mutations/catalog.py) is a real one:
the clean model runs with torch on CPU, the mutated copy raises a shape error, and torch
raises it at the line the catalog names as the consuming line (so the diagnostics tests
check against the truth, not against a guess)."""

from __future__ import annotations

import re

import pytest

from groundtruth.harness import REPO
from mutations.apply import mutated_source, run_files_in_child, write_mutant
from mutations.catalog import MUTATIONS

# Messages torch gives for shape mismatches (mm, conv, norms, rnn, cat, view, broadcasting,
# einsum, bmm, losses, attention).
SHAPE_MESSAGE = re.compile(
    r"shape|size|dimension|channels|must match|normalized_shape|input_size|embed_dim|"
    r"target tensor|cannot be multiplied|subscript|should contain \d+ elements", re.IGNORECASE)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("mutants")
    paths = [write_mutant(m, root / f"m{i:03d}") for i, m in enumerate(MUTATIONS)]
    clean = sorted({REPO / m.file for m in MUTATIONS})
    results = run_files_in_child(paths + clean)
    return dict(zip(MUTATIONS, results[:len(paths)])), dict(zip(clean, results[len(paths):]))


def test_the_catalog_has_45_distinct_well_formed_mutations():
    assert len(MUTATIONS) >= 45
    assert len({(m.file, m.find) for m in MUTATIONS}) == len(MUTATIONS)
    files = {m.file for m in MUTATIONS}
    assert len(files) >= 25, "mutations should spread over the corpus"
    for m in MUTATIONS:
        text = mutated_source(m)  # raises unless `find` occurs once and lines are kept
        n_lines = text.count("\n") + 1
        assert 1 <= m.error_line <= n_lines
        assert m.layer_line is None or m.replace.splitlines()[0] in text.splitlines()[m.layer_line - 1]
        assert m.error_line == (m.call_chain or (m.error_line,))[-1]


def test_clean_models_run_without_error(outcomes):
    _, clean = outcomes
    failures = {str(p.relative_to(REPO)): o.error for p, o in clean.items() if o.raised}
    assert not failures


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_mutation_raises_a_shape_error_at_the_consuming_line(mutation, outcomes):
    outcome = outcomes[0][mutation]
    assert outcome.raised, f"{mutation.file}: {mutation.description}: ran without error"
    assert outcome.error.split(":", 1)[0] in ("RuntimeError", "ValueError", "IndexError", "AssertionError")
    assert SHAPE_MESSAGE.search(outcome.error), outcome.error
    consuming = mutated_source(mutation).splitlines()[outcome.line - 1].strip()
    assert not consuming.startswith(("assert ", "raise ")), "raised by the model's own check"
    assert (outcome.line, outcome.chain) == (mutation.error_line, mutation.call_chain), outcome.error
