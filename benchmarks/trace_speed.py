"""Trace time of the shape tracer on the model corpus and on the 12-layer GPT of
examples/models: cold (a new child: start Python, import torch, trace) and warm (the child
reused, the cache bypassed), with the static engine on the same file as the peer.

    python benchmarks/trace_speed.py            # all corpus models warm, a few cold
    python benchmarks/trace_speed.py --cold-all # every model cold too (slow)

Goal: warm <= 300 ms for the GPT model (concrete inputs as in its corpus header).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.groundtruth.harness import discover  # noqa: E402

from ml_lsp.trace.command import static_facts  # noqa: E402
from ml_lsp.trace.session import TraceRequest, TraceSession  # noqa: E402


def request_for(model, batch_symbol: str | None = None) -> TraceRequest:
    inputs = {}
    for spec in model.inputs:
        dims = list(spec.dims)
        if batch_symbol:
            dims[0] = batch_symbol
        inputs[spec.name] = {"dims": dims, "dtype": {"long": "long", "bool": "bool"}.get(spec.dtype, "float"),
                             "high": spec.high}
    return TraceRequest(str(model.path), entry=model.entry, init=model.init or None,
                        inputs={model.entry: inputs}, roots=[str(model.path.parent)],
                        argv=model.argv, cpu_fallback=True)


def warm_ms(session: TraceSession, request: TraceRequest, repeat: int) -> tuple[float, dict]:
    times, response = [], {}
    for _ in range(repeat):
        started = time.perf_counter()
        response = session.trace(request, use_cache=False)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), response


def cold_ms(request: TraceRequest) -> float:
    session = TraceSession()
    try:
        started = time.perf_counter()
        session.trace(request)
        return (time.perf_counter() - started) * 1000
    finally:
        session.close()


def static_ms(model, repeat: int = 3) -> float:
    text = model.path.read_text()
    inputs = {s.name: s.dims for s in model.inputs}
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        static_facts(text, str(model.path), model.entry, model.init or None, inputs)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cold-all", action="store_true")
    args = parser.parse_args()

    models = discover()
    gpt = next(m for m in models if m.path == REPO / "examples" / "models" / "gpt.py")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {len(models)} models; "
          f"median of {args.repeat} warm runs\n")

    session = TraceSession()
    started = time.perf_counter()
    session.start()
    ready = session._child.wait_ready()
    print(f"child start (Python + torch import + meta warm-up): {(time.perf_counter() - started) * 1000:.0f} ms "
          f"(torch import {ready['import_seconds'] * 1000:.0f} ms)\n")
    try:
        print(f"{'model':<52} {'bindings':>8} {'mode':>5} {'warm ms':>8} {'static ms':>9} {'trace/static':>12}")
        rows = []
        for model in models:
            ms, response = warm_ms(session, request_for(model), args.repeat)
            st = static_ms(model)
            modes = ",".join(t["mode"] or "failed" for t in response.get("traced") or [])
            rows.append(ms)
            print(f"{model.label:<52} {len(response.get('entries') or []):>8} {modes:>5} {ms:>8.0f} {st:>9.1f} "
                  f"{ms / st if st else float('nan'):>11.1f}x")
        print(f"\ncorpus warm: median {statistics.median(rows):.0f} ms, max {max(rows):.0f} ms, "
              f"total {sum(rows) / 1000:.1f} s for {len(rows)} models")

        gpt_warm, response = warm_ms(session, request_for(gpt), max(args.repeat, 11))
        sym_warm, _ = warm_ms(session, request_for(gpt, "B"), max(args.repeat, 5))
        session.trace(request_for(gpt))  # fills the cache (the warm runs bypass it)
        started = time.perf_counter()
        for _ in range(100):
            session.trace(request_for(gpt))
        cached_ms = (time.perf_counter() - started) * 1000 / 100
    finally:
        session.close()

    gpt_cold = cold_ms(request_for(gpt))
    print(f"\nGPT (examples/models/gpt.py, 12 layers, {gpt.init}, inputs {[s.cli_arg() for s in gpt.inputs]}):")
    print(f"  cold (new child)            {gpt_cold:8.0f} ms")
    print(f"  warm (child reused)         {gpt_warm:8.0f} ms   goal <= 300 ms: {'met' if gpt_warm <= 300 else 'NOT met'}")
    print(f"  warm, batch dim symbolic    {sym_warm:8.0f} ms   (3 forwards: B=2, 4 and 7)")
    print(f"  cached (same file content)  {cached_ms:8.2f} ms")
    print(f"  cold / warm                 {gpt_cold / gpt_warm:8.1f}x")
    print(f"  static engine, same file    {static_ms(gpt):8.1f} ms  (trace/static {gpt_warm / static_ms(gpt):.1f}x)")

    cold_models = models if args.cold_all else models[:5]
    colds = [cold_ms(request_for(m)) for m in cold_models]
    print(f"\ncold over {len(cold_models)} models: median {statistics.median(colds):.0f} ms, max {max(colds):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
