"""``ml-lsp plugins``: which plugins loaded, which failed and why."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugins", help="list loaded plugins and the ones that failed to load",
                       description="List the plugins found in the 'ml_lsp' entry-point group.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ml_lsp.hookspecs import __name__ as _  # noqa: F401 - the contract is importable
    from ml_lsp.plugins import default_host

    import logging

    logging.getLogger("ml_lsp").setLevel(logging.ERROR)  # failures are listed below instead
    host = default_host()
    # Call every hook once so a plugin that raises in a hook is reported here too.
    for hook in ("ml_lsp_shape_rules", "ml_lsp_lint_rules", "ml_lsp_commands",
                 "ml_lsp_launchers", "ml_lsp_metric_capturers"):
        host.collect(hook)
    if args.json:
        print(json.dumps({
            "loaded": [vars(p) for p in host.loaded],
            "failed": [{"name": f.name, "source": f.source, "reason": f.reason} for f in host.failures],
        }, indent=2))
        return 0
    print(f"loaded ({len(host.loaded)}):")
    for p in host.loaded:
        dist = f" [{p.distribution} {p.version}]" if p.distribution else ""
        print(f"  {p.name:<24} {p.module}{dist}  hooks: {', '.join(h.removeprefix('ml_lsp_') for h in p.hooks) or '-'}")
    if host.failures:
        print(f"failed ({len(host.failures)}):")
        for f in host.failures:
            print(f"  {f.name:<24} {f.reason}")
    return 0
