"""Static shapes against runtime ground truth (issue 4's bars).

Every model under examples/models/ and tests/corpus/ (those with a corpus header, see
tests/corpus/README.md) is run with torch on CPU with its declared inputs while
`ml_lsp.trace.recorder` records the shape of every tensor each statement binds; then
`ml-lsp shapes --json` is run on the same file with the same `--entry`/`--init`, once with the
same `--input`s and once without, and the two are compared per (scope, line, name).

Bars: with inputs, >= 95% of the runtime bindings exact and none contradicted (a wrong int
where runtime has an int, or a wrong rank); without inputs, >= 85% with the right rank and no
wrong int. Without inputs a shape of unknown rank `(*, 256)` has the right rank when the
runtime's rank is at least its tail's length and the tail's ints agree (issue 13 item 5: the
engine shows no made-up rank); the figures give it apart from the exact rank. The figures and every contradiction are printed (run with -s, or see the report
printed on failure).
"""

from __future__ import annotations

import pytest

from groundtruth.harness import discover, run_all

MIN_MODELS = 30


@pytest.fixture(scope="module")
def report(request):
    result = run_all(discover())
    text = result.text()
    # Printed past pytest's output capture: the figures are the point of this test.
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print("\n" + text)
    else:
        print(text)
    return result


def test_the_corpus_is_big_enough_and_every_model_runs(report):
    assert len(discover()) >= MIN_MODELS
    runtime_failures = [f for f in report.failures if ": runtime:" in f]
    assert not runtime_failures, "\n".join(runtime_failures)
    empty = [label for label, with_inputs, _ in report.per_model if with_inputs.total == 0]
    assert not empty, f"models whose forward bound no tensor: {empty}"


def test_with_inputs_95_percent_exact_and_nothing_contradicted(report):
    tally = report.with_inputs
    contradictions = [str(d) for d in tally.disagreements if d.kind == "contradicted"]
    summary = (f"exact {tally.exact}/{tally.total} = {tally.pct(tally.exact):.1f}%, "
               f"contradicted {tally.contradicted}\n" + "\n".join(contradictions + report.failures))
    assert tally.contradicted == 0, summary
    assert tally.pct(tally.exact) >= 95.0, summary


def test_without_inputs_85_percent_right_rank_and_no_wrong_int(report):
    tally = report.without_inputs
    wrong_ints = [str(d) for d in tally.disagreements if d.wrong_int]
    # right rank: the runtime's rank, or (*, 256) where the runtime's rank allows it and its
    # last dim is 256 (a made-up fixed rank that differs is wrong)
    summary = (f"right rank {tally.right_rank}/{tally.total} = {tally.pct(tally.right_rank):.1f}% "
               f"(exact rank {tally.right_rank - tally.star_rank}, (*, ...) {tally.star_rank}), "
               f"contradicted ints {tally.contradicted_ints}\n" + "\n".join(wrong_ints + report.failures))
    assert tally.contradicted_ints == 0, summary
    assert tally.pct(tally.right_rank) >= 85.0, summary
