"""``ml-lsp runs``: list runs, newest first (state, duration, last metrics);
``ml-lsp runs show ID``: one run's metrics per source line, progress and outcome."""

from __future__ import annotations

import argparse
import json
import sys
import time

from ml_lsp.commands.run import add_runs_dir_option, runs_dir_of


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list runs, or show one (`ml-lsp runs show ID`)", description=__doc__)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--limit", type=int, default=None, help="list at most N runs")
    add_runs_dir_option(p)
    p.set_defaults(func=run, action="list", run_id=None, rank=None)
    actions = p.add_subparsers(dest="action", metavar="show")
    show = actions.add_parser("show", help="one run's metrics, progress and outcome")
    show.add_argument("run_id", metavar="ID", help="the run (a unique prefix or suffix of its id will do)")
    show.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    show.add_argument("--rank", type=int, default=None, help="metrics of this rank (default: 0)")
    add_runs_dir_option(show, nested=True)
    show.set_defaults(func=run, action="show")


def run(args: argparse.Namespace) -> int:
    from ml_lsp.cli import UsageError
    from ml_lsp.runner import jobs

    runs_dir = runs_dir_of(args)
    if args.action == "show":
        try:
            folder = jobs.resolve(args.run_id, runs_dir)
        except jobs.RunNotFound as exc:
            raise UsageError(str(exc)) from None
        details = jobs.run_details(folder, rank=args.rank)
        if args.json:
            print(json.dumps(details, indent=2))
        else:
            print_details(details)
        return 0
    folders = jobs.list_runs(runs_dir)
    if args.limit is not None:
        folders = folders[:args.limit]
    records = [jobs.run_record(f) for f in folders]
    if args.json:
        print(json.dumps({"runs": records}, indent=2))
        return 0
    if not records:
        print(f"no runs in {runs_dir}; start one with `ml-lsp run SCRIPT`", file=sys.stderr)
        return 0
    print_table(folders, records)
    return 0


def print_table(folders, records) -> None:
    from ml_lsp.commands.run import format_duration, format_value
    from ml_lsp.runner.jobs import cached_metrics

    rows = [("ID", "STATE", "DURATION", "SCRIPT", "LAST METRICS")]
    for folder, r in zip(folders, records):
        if r["started"]:
            duration = format_duration((r["ended"] or time.time()) - r["started"])
        else:
            duration = "-"
        state = r["state"] + (f" ({r['signal']})" if r["signal"] else
                              f" ({r['exit_code']})" if r["exit_code"] not in (None, 0) else "")
        if r["foreign"]:  # shipped in the folder, not submitted here: never started by us
            state += " [foreign]"
        metrics = ", ".join(f"{m['name']} {format_value(m['last'])}" for m in cached_metrics(folder)[:4])
        script = (r["script"] or "").rsplit("/", 1)[-1]
        rows.append((r["id"], state, duration, script, metrics))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])


def print_details(d: dict) -> None:
    from ml_lsp.commands.run import format_duration, format_value

    print(f"run {d['id']}  {d['state']}" + (f"  exit {d['exit_code']}" if d["exit_code"] is not None else "")
          + ("  [foreign: not submitted by you on this machine; never started or signalled]"
             if d.get("foreign") else "")
          + (f" ({d['signal']})" if d.get("signal") else ""))
    print(f"  script   {d['script']} {' '.join(d['args'])}".rstrip())
    if d.get("started"):
        print(f"  duration {format_duration((d['ended'] or time.time()) - d['started'])}")
    if d.get("error"):
        print(f"  error    {d['error']}")
    remote = d.get("remote")
    if remote:
        print(f"  cluster  {remote.get('label') or remote.get('launcher')} {remote.get('address')}, job "
              f"{remote.get('submission_id')} {remote.get('status') or ''}".rstrip()
              + (f" (connection {remote['connection']})" if remote.get("connection") else ""))
        if remote.get("dashboard"):
            print(f"  dashboard {remote['dashboard']}")
    p = d.get("progress")
    if p:
        running = d["state"] in ("queued", "starting", "running")
        eta = f", ETA {format_duration(p['eta'])}" if running and p.get("eta") is not None else ""
        print(f"  progress {p['unit']} {p['current']}/{p['total'] if p['total'] is not None else '?'}{eta}")
    for m in d["metrics"]:
        step = f"step {m['step']}" if m["step"] is not None else f"#{m['count']}"
        print(f"  {m['name']:<16} {format_value(m['last']):>10} {m['trend'] or ' '}  {step}"
              f"  ({m['count']} values, min {format_value(m['min'])}, max {format_value(m['max'])})"
              f"  {m['path']}:{m['line']}")
    exc = d.get("exception")
    if exc:
        frames = exc.get("frames") or []
        where = f" at {frames[-1].get('file')}:{frames[-1].get('line')}" if frames else ""
        print(f"  {exc.get('type')}: {exc.get('message')}{where}")
    if d.get("corrupt_frames") or d.get("truncated_bytes"):
        print(f"  frames file: {d['corrupt_frames']} damaged region(s) skipped, "
              f"{d['truncated_bytes']} byte(s) of a cut-off frame at the end")
    print(f"  folder   {d['path']}")
