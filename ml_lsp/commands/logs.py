"""``ml-lsp logs ID [-f]``: a run's output (stdout and stderr, as the job wrote them);
``-f`` follows it until the run ends."""

from __future__ import annotations

import argparse
import sys
import time

from ml_lsp.commands.run import add_runs_dir_option, runs_dir_of


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("logs", help="print a run's output", description=__doc__)
    p.add_argument("run_id", metavar="ID")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")
    p.add_argument("--stream", choices=["both", "stdout", "stderr"], default="both")
    add_runs_dir_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ml_lsp.cli import UsageError
    from ml_lsp.runner import jobs
    from ml_lsp.runner.run_folder import TERMINAL_STATES

    try:
        folder = jobs.resolve(args.run_id, runs_dir_of(args))
    except jobs.RunNotFound as exc:
        raise UsageError(str(exc)) from None
    paths = {"stdout": folder.stdout_path, "stderr": folder.stderr_path}
    streams = ["stdout", "stderr"] if args.stream == "both" else [args.stream]
    offsets = {s: 0 for s in streams}
    out = {"stdout": sys.stdout, "stderr": sys.stderr}

    def pump() -> None:
        for s in streams:
            try:
                with open(paths[s], "rb") as f:
                    f.seek(offsets[s])
                    data = f.read()
            except FileNotFoundError:
                continue
            if data:
                offsets[s] += len(data)
                out[s].write(data.decode("utf-8", errors="replace"))
                out[s].flush()

    pump()
    if not args.follow:
        return 0
    try:
        while folder.state() not in TERMINAL_STATES:
            time.sleep(0.2)
            pump()
    except KeyboardInterrupt:
        return 0  # stop following; the run goes on
    pump()
    return 0
