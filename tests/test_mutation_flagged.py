"""Issue 5's mutation bars: the seeded shape bugs of `tests/mutations/` (each verified to make
torch raise, see test_mutations_raise.py) are flagged by a shape rule on the line that consumes
the tensor or on the layer's line (>= 95%), and no clean corpus model gets a shape error.

`python tests/test_mutation_flagged.py` prints the figures and every miss."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from groundtruth.harness import discover, parse_header  # noqa: E402
from mutations.apply import write_mutant  # noqa: E402
from mutations.catalog import MUTATIONS  # noqa: E402

from ml_lsp.analysis.lint import check_source  # noqa: E402
from ml_lsp.commands.check import module_resolver  # noqa: E402

MIN_MUTATIONS = 40
BAR = 0.95


def shape_errors(path: Path, model, with_inputs: bool):
    kw = {}
    if with_inputs and model is not None:
        kw = dict(entry=model.entry, init=model.init or None,
                  inputs={spec.name: list(spec.dims) for spec in model.inputs} or None)
    result = check_source(path.read_text(encoding="utf-8"), str(path), select=["SH"],
                          resolve_module=module_resolver(), **kw)
    return [f for f in result.findings if f.severity == "error"], result.problems


@lru_cache(maxsize=None)
def mutation_outcomes(tmp: str) -> tuple:
    """(mutation, flagged with the model's inputs, flagged with no inputs, findings) per entry."""
    out = []
    for i, m in enumerate(MUTATIONS):
        path = write_mutant(m, Path(tmp) / f"m{i:03}")
        model = parse_header(path)
        lines = {m.error_line, m.layer_line} - {None}
        with_inputs, _ = shape_errors(path, model, True)
        without, _ = shape_errors(path, model, False)
        out.append((m, any(f.line in lines for f in with_inputs), any(f.line in lines for f in without), with_inputs))
    return tuple(out)


def figures(tmp: str) -> dict:
    outcomes = mutation_outcomes(tmp)
    n = len(outcomes)
    return {"mutations": n,
            "flagged_with_inputs": sum(o[1] for o in outcomes),
            "flagged_without_inputs": sum(o[2] for o in outcomes),
            "misses": [(o[0].id, [(f.line, f.code) for f in o[3]]) for o in outcomes if not o[1]]}


def test_mutations_are_flagged_on_the_consuming_or_layer_line(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("mutants"))
    fig = figures(tmp)
    n = fig["mutations"]
    print(f"\nmutations flagged: {fig['flagged_with_inputs']}/{n} with the corpus inputs, "
          f"{fig['flagged_without_inputs']}/{n} with none (as in the editor)")
    for miss in fig["misses"]:
        print("  missed:", miss)
    assert n >= MIN_MUTATIONS, f"only {n} seeded shape bugs in tests/mutations (issue 5 asks for >= {MIN_MUTATIONS})"
    assert fig["flagged_with_inputs"] / n >= BAR, fig["misses"]


def test_clean_corpus_models_have_no_shape_errors():
    models = discover()
    assert models, "no corpus models found"
    bad = []
    for model in models:
        for with_inputs in (True, False):
            errors, _ = shape_errors(model.path, model, with_inputs)
            bad.extend((model.path.name, with_inputs, f.line, f.code, f.message) for f in errors)
    print(f"\nclean corpus: {len(models)} models, {len(bad)} shape errors")
    assert bad == []


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        fig = figures(tmp)
        n = fig["mutations"] or 1
        print(f"mutations: {fig['mutations']}")
        print(f"flagged with corpus inputs: {fig['flagged_with_inputs']} ({fig['flagged_with_inputs'] / n:.0%})")
        print(f"flagged without inputs:     {fig['flagged_without_inputs']} ({fig['flagged_without_inputs'] / n:.0%})")
        for miss in fig["misses"]:
            print("  missed:", miss)
    models = discover()
    errors = [(m.path.name, w, f.line, f.code, f.message) for m in models for w in (True, False)
              for f in shape_errors(m.path, m, w)[0]]
    print(f"clean corpus models: {len(models)}, shape errors: {len(errors)}")
    for e in errors:
        print("  false error:", e)
