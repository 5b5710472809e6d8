"""The tracer against the runtime ground truth: on every model of the corpus, the shapes it
records on the meta device (no data, no real compute) equal those the recorder saw in a
real CPU run with the same inputs, binding for binding; with a symbolic batch dim, every
dim it reports as an expression of the symbol evaluates to the runtime value."""

from __future__ import annotations

import os

import pytest

from tests.groundtruth.harness import _runtime_in_child
from tests.trace.conftest import header_inputs

from ml_lsp.trace.session import TraceRequest
from ml_lsp.trace.symbolic import eval_dim


@pytest.fixture(scope="module")
def runtime(corpus):
    return _runtime_in_child(corpus)


def traced_own(session, model, inputs) -> tuple[dict, dict]:
    response = session.trace(TraceRequest(
        str(model.path), entry=model.entry, init=model.init or None, inputs=inputs,
        roots=[str(model.path.parent)], argv=model.argv, cpu_fallback=True))
    own = os.path.realpath(model.path)
    entries = {(e["scope"], e["line"], e["name"]): e for e in response["entries"]
               if os.path.realpath(e["path"]) == own}
    return entries, response


def test_traced_shapes_equal_runtime_ground_truth(corpus, runtime, session):
    """With the tiny CPU run enabled as the last fallback (most models never need it)."""
    total, wrong, failed = 0, [], []
    modes: dict[str, int] = {}
    for model in corpus:
        expected = runtime[str(model.path)]
        assert not isinstance(expected, str), f"{model.label}: the CPU run failed: {expected}"
        traced, response = traced_own(session, model, header_inputs(model))
        for traced_entry in response["traced"]:
            modes[traced_entry["mode"]] = modes.get(traced_entry["mode"], 0) + 1
        if response["problems"]:
            failed.append(f"{model.label}: {response['problems'][0]['message']}")
        for e in expected:
            total += 1
            got = traced.get((e["scope"], e["line"], e["name"]))
            if got is None or (got["shape"], got["dtype"]) != (e["shape"], e["dtype"]):
                wrong.append(f"{model.label}:{e['line']} {e['scope']} {e['name']}: runtime "
                             f"{e['shape']} {e['dtype']}, traced "
                             f"{None if got is None else (got['shape'], got['dtype'])}")
    print(f"\ntraced == runtime for {total - len(wrong)}/{total} bindings of {len(corpus)} models; "
          f"models traced per mode: {modes}")
    assert not failed, "\n".join(failed)
    assert total > 300
    assert not wrong, "\n".join(wrong)


def test_symbolic_batch_dims_follow_the_input(corpus, runtime, session):
    """Dim 0 of every input given as ``B``: traced dims that follow it are reported as
    expressions of B (never a wrong constant), and evaluate to the runtime values."""
    checked = symbolic = unknown = 0
    contradictions = []
    # Models whose inputs share their first dim, and use that value nowhere else in them
    # (where it also appears elsewhere, which dims are "the batch" is ambiguous).
    models = [m for m in corpus if len({spec.dims[0] for spec in m.inputs}) == 1
              and all(m.inputs[0].dims[0] not in spec.dims[1:] for spec in m.inputs)]
    traced_models, refused = 0, []
    for model in models:
        batch = model.inputs[0].dims[0]
        traced, response = traced_own(session, model, header_inputs(model, "B"))
        if response["problems"]:
            # Dim 0 is not always free (a single (n_mels, frames) example): the model may
            # rightly refuse other values; that is reported, not a wrong shape.
            refused.append(f"{model.label}: {response['problems'][0]['message'][:160]}")
            continue
        traced_models += 1
        for e in runtime[str(model.path)]:
            got = traced.get((e["scope"], e["line"], e["name"]))
            assert got is not None, (model.label, e)
            if e["shape"] is None or got["shape"] is None or len(got["shape"]) != len(e["shape"]):
                contradictions.append(f"{model.label}:{e['line']} {e['name']}: {e['shape']} vs {got['shape']}")
                continue
            for actual, dim in zip(e["shape"], got["shape"]):
                if actual is None:  # differed between executions at runtime too (a loop)
                    continue
                checked += 1
                if dim is None:  # e.g. a count that depends on the data, in the CPU run
                    unknown += 1
                    continue
                if isinstance(dim, str):
                    symbolic += 1
                if eval_dim(dim, {"B": batch}) != actual:
                    contradictions.append(f"{model.label}:{e['line']} {e['scope']} {e['name']}: "
                                          f"runtime {e['shape']} (B={batch}), traced {got['shape']}")
    print(f"\nsymbolic batch: {traced_models} models, {checked} dims checked, {symbolic} symbolic, "
          f"{unknown} unknown, {len(contradictions)} contradicted; refused with dim 0 free: {refused}")
    assert traced_models >= 25
    assert not contradictions, "\n".join(contradictions)
    assert symbolic > 200
    assert unknown <= 0.02 * checked
