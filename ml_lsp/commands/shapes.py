"""``ml-lsp shapes FILE...``: the static shape of every tensor-valued name bound in the
analysed functions (``--json`` is a stable contract). ``--trace``/``--compare`` hand over
to the shape tracer (``ml_lsp.trace.command``)."""

from __future__ import annotations

import argparse
import os


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "shapes", help="print the static tensor shapes of model files",
        description="Work out, without running anything, the shape of every tensor each statement of "
                    "forward() (and what it calls) binds.")
    p.add_argument("files", nargs="+", metavar="FILE", help="Python files to analyse")
    p.add_argument("--entry", metavar="CLASS",
                   help="the class (or function) whose forward receives --input; only it and what it reaches "
                        "are analysed (without --entry: every class of the file, each on inferred inputs)")
    p.add_argument("--init", metavar="ARGS",
                   help='the entry class\'s constructor arguments in Python syntax, e.g. "ntoken=100, ninp=32"')
    p.add_argument("--input", action="append", default=[], metavar="NAME=D1,D2,...",
                   help="an input shape for the entry's forward, dims are ints or names (x=B,784); repeatable")
    p.add_argument("--json", action="store_true", help="print the JSON contract")
    p.add_argument("--trace", action="store_true",
                   help="run forward on meta tensors in a child process and print the traced shapes")
    p.add_argument("--compare", action="store_true", help="trace and compare with the static shapes")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="limit for --trace")
    p.add_argument("--python", metavar="INTERPRETER",
                   help="the Python to trace in (your project's, with its packages); default: this one if it "
                        "has torch, else $VIRTUAL_ENV's, else python3 on PATH")
    p.add_argument("--cpu-fallback", action="store_true", default=True,
                   help="where the meta device cannot run an op (data-dependent shapes), run forward on the CPU "
                        "at the smallest sizes (the default)")
    p.add_argument("--script-args", metavar="ARGS", default="",
                   help="for --trace: the command line a script's argparse sees, e.g. '--dataset fake' "
                        "(default: none; a required option then takes its default)")
    p.add_argument("--no-cpu-fallback", dest="cpu_fallback", action="store_false",
                   help="never run forward on real tensors")
    from ml_lsp.workspace_index import add_workspace_arguments
    add_workspace_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ml_lsp.cli import CommandFailed, UsageError

    if args.trace or args.compare:
        try:
            from ml_lsp.trace import command as trace_command
        except ImportError:
            raise UsageError("tracing is not available in this build") from None
        return int(trace_command.run(args) or 0)

    import json
    import os
    import sys
    from pathlib import Path

    from ml_lsp.analysis import BatchCache, InputError, analyze_source, format_shape
    from ml_lsp.cli import parse_input_option
    from ml_lsp.resolve import make_resolver, read_source
    from ml_lsp.workspace_index import describe_call_site, workspace_callers, workspace_root_for

    inputs = parse_input_option(args.input)
    texts = []
    unreadable: dict[str, str] = {}  # file -> why: reported, and the others still analysed
    for name in args.files:
        path = Path(name)
        if path.is_dir():
            raise UsageError(f"FILE {name}: is a folder; `ml-lsp shapes` takes Python files "
                             f"(for example {name.rstrip('/')}/*.py), `ml-lsp check {name}` checks a folder")
        if not path.is_file():
            raise UsageError(f"FILE {name}: no such file")
        try:
            texts.append((name, read_source(name)))
        except OSError as exc:
            unreadable[name] = f"cannot read: {exc.strerror or exc}"
        except ValueError as exc:  # SourceDecodeError: an unknown coding, a byte that does not decode
            unreadable[name] = f"cannot decode: {exc}"
    resolver = make_resolver()
    # each file parsed once, each caller script run once, for the whole command; imported
    # library modules parsed as outlines where earlier runs stored where their bodies are
    # (outline_cache; ML_LSP_OUTLINES=0: parsed whole)
    from ml_lsp.commands.outline_cache import OutlineStore
    batch = BatchCache(outlines=OutlineStore() if os.environ.get("ML_LSP_OUTLINES", "1") != "0" else None)
    results = {}
    for name, text in texts:
        try:
            # the other files given are callers too: train.py's model(torch.randn(...)) gives
            # the inputs of the Net that model.py defines
            # (the engine reads at most 16 of them: the first 16 others, not a list of all)
            # ... and so are the workspace's files that import this one (--no-workspace: not)
            callers = workspace_callers(workspace_root_for(args, name), name, text,
                                        [(other, other_text) for other, other_text in texts[:17] if other != name])
            facts = analyze_source(text, name, inputs=inputs or None, entry=args.entry, init=args.init,
                                   resolve_module=resolver, callers=callers, batch=batch,
                                   only_entry=args.entry is not None)
        except InputError as exc:
            raise UsageError(f"{name}: {exc}") from None
        except RecursionError:
            raise CommandFailed(f"{name}: the file is too deeply nested to analyse") from None
        results[name] = facts
    for name, why in unreadable.items():
        print(f"{name}: {why}", file=sys.stderr)
    status = 1 if unreadable else 0
    if args.json:
        print(json.dumps({"files": [
            {"path": name, "shapes": results[name].to_json_entries(),
             "call_sites": [c.to_json() for c in results[name].call_sites],
             "classes": [_class_json(c) for c in results[name].classes]} if name in results
            else {"path": name, "shapes": [], "error": unreadable[name]}
            for name in args.files if name in results or name in unreadable]}, indent=None))
        return status
    for name in args.files:
        facts = results.get(name)
        if facts is None:
            continue
        print(f"{name}:")
        scope = None
        for b in facts.bindings:
            if b.scope != scope:
                scope = b.scope
                print(f"  {scope}")
            if b.elements is not None:
                shape = "(" + ", ".join(format_shape(s) for _, s, _ in b.elements) + ")"
                dtype = ""
            else:
                shape = format_shape(b.shape)
                dtype = f" {b.dtype}" if b.dtype else ""
            origin = f"  <- {b.origin}" if b.origin else ""
            if getattr(b, "keras_layer", False):
                count = "?" if b.params is None else f"{b.params:,}"
                origin = f"  <- {b.origin}, {count} params"
            print(f"    {b.line:>5}  {b.name} = {shape}{dtype}{origin}")
        keras = getattr(facts, "keras", None)
        for m in getattr(keras, "models", None) or ():
            count = "?" if m.params is None else f"{m.params:,}"
            print(f"  {name}:{m.line}: Keras {m.kind} model {m.var or ''}: {format_shape(m.input_shape)} -> "
                  f"{format_shape(m.output_shape)}, {count} params")
        for c in facts.conflicts:
            print(f"  {name}:{c.line}:{c.col + 1}: shape conflict ({c.kind}): {c.message}")
        for c in getattr(keras, "conflicts", None) or ():
            print(f"  {name}:{c.line}:{c.col + 1}: Keras shape conflict ({c.kind}): {c.message}")
        for site in facts.call_sites:
            print(f"  inputs from {describe_call_site(site, os.getcwd())}")
        for p in facts.problems:
            print(f"  note: {p}")
    return status


def _class_json(cls) -> dict:
    """A module class of the file and the inputs its forward was analysed with (given,
    from a call site, or inferred from their first use: ``null`` where unknown)."""
    from ml_lsp.analysis.dims import dim_json

    out = {"name": cls.name, "line": cls.line,
           "inputs": {param: None if shape is None else [dim_json(d) for d in shape]
                      for param, shape in cls.input_shapes.items()}}
    if cls.built_at is not None:
        out["built_at"] = cls.built_at   # the file's own constructor call those inputs ran
    return out
