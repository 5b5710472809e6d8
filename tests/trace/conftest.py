"""Fixtures of the tracer tests: the model corpus (its headers say how to build and call
each model) and one warm tracer session shared by the tests (its cache answers a request
a previous test already made)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.groundtruth.harness import discover  # noqa: E402

from ml_lsp.trace.session import TraceSession  # noqa: E402


@pytest.fixture(scope="session")
def corpus():
    models = discover()
    assert len(models) >= 30, "the model corpus is missing"
    return models


@pytest.fixture(scope="session")
def session():
    trace_session = TraceSession()
    trace_session.start()
    yield trace_session
    trace_session.close()


def header_inputs(model, batch_symbol: str | None = None) -> dict:
    """The corpus header's inputs as a trace request's ``{param: {"dims", "dtype"}}``;
    with ``batch_symbol``, every input's first dim becomes that symbol."""
    inputs = {}
    for spec in model.inputs:
        dims = list(spec.dims)
        if batch_symbol is not None:
            dims[0] = batch_symbol
        dtype = {"long": "long", "bool": "bool"}.get(spec.dtype, "float")
        inputs[spec.name] = {"dims": dims, "dtype": dtype, "high": spec.high}
    return {model.entry: inputs}
