"""The static engine checked against the tracer over the whole model corpus: every binding
both report must agree (rank, every dim both know, dtype). A disagreement is a bug in the
static engine; the test prints each one (``ml-lsp shapes --trace --compare`` prints the same
for one file). Bindings the static engine leaves unknown, or does not report, are counted
and printed, not failed: the engine may be quiet, never wrong."""

from __future__ import annotations

import os

from tests.trace.conftest import header_inputs

from ml_lsp.trace.command import static_facts
from ml_lsp.trace.compare import Comparison, compare_entries
from ml_lsp.trace.session import TraceRequest


def compare_model(session, model, batch_symbol=None) -> Comparison | str:
    inputs = header_inputs(model, batch_symbol)
    text = model.path.read_text(encoding="utf-8")
    facts = static_facts(text, str(model.path), model.entry, model.init or None,
                         {name: spec["dims"] for name, spec in inputs[model.entry].items()})
    if facts is None:
        return "the static engine raised or is unavailable"
    response = session.trace(TraceRequest(
        str(model.path), entry=model.entry, init=model.init or None, inputs=inputs,
        roots=[str(model.path.parent)], argv=model.argv, cpu_fallback=True))
    if response["problems"]:
        return "trace failed: " + response["problems"][0]["message"][:200]
    own = os.path.realpath(model.path)
    traced = [e for e in response["entries"] if os.path.realpath(e["path"]) == own]
    symbols = [batch_symbol] if batch_symbol else []
    return compare_entries(facts.to_json_entries(), traced, symbols)


def test_static_engine_agrees_with_the_trace_on_the_corpus(corpus, session):
    totals = Comparison()
    lines, errors, refused = [], [], []
    for model in corpus:
        free_batch = len({s.dims[0] for s in model.inputs}) == 1 and \
            all(model.inputs[0].dims[0] not in s.dims[1:] for s in model.inputs)
        for symbol in ([None, "B"] if free_batch else [None]):
            result = compare_model(session, model, symbol)
            label = f"{model.label}" + (f" (inputs with dim 0 = {symbol})" if symbol else "")
            if isinstance(result, str):
                if result.startswith("the static engine"):
                    refused.append(label)  # e.g. an entry the engine does not support: no shapes, none wrong
                elif symbol is None:
                    errors.append(f"{label}: {result}")
                continue
            totals.agree += result.agree
            totals.imprecise += result.imprecise
            totals.static_missing += result.static_missing
            totals.trace_missing += result.trace_missing
            totals.disagreements.extend(result.disagreements)
            lines.extend(f"{label}: {d.text()}" for d in result.disagreements)
    print(f"\nstatic vs trace over {len(corpus)} models: {totals.summary()}; "
          f"the static engine refused: {refused or 'none'}")
    for line in lines:
        print("  DISAGREE", line)
    assert not errors, "\n".join(errors)
    assert totals.compared + totals.static_missing > 500
    assert not lines, f"{len(lines)} disagreements between the static engine and the trace:\n" + "\n".join(lines)
