"""``ml-lsp rerun ID``: run a finished (or running) run's script again with the same
arguments, devices and launcher. Prints the new run id; ``--wait`` as for ``ml-lsp run``."""

from __future__ import annotations

import argparse
import sys

from ml_lsp.commands.run import add_runs_dir_option, runs_dir_of


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rerun", help="run a run's script again", description=__doc__)
    p.add_argument("run_id", metavar="ID")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--follow", "-f", action="store_true", help="show live progress and metrics")
    mode.add_argument("--wait", action="store_true",
                      help="block until it ends; print the run id last; exit 0 if it succeeded")
    add_runs_dir_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ml_lsp.cli import CommandFailed, UsageError
    from ml_lsp.commands.run import describe_end, follow
    from ml_lsp.runner import jobs

    try:
        folder = jobs.rerun(args.run_id, runs_dir_of(args))
    except jobs.RunNotFound as exc:
        raise UsageError(str(exc)) from None
    except jobs.SpecError as exc:
        raise UsageError(str(exc)) from None
    except jobs.ForeignRun as exc:
        raise CommandFailed(str(exc)) from None
    if args.follow:
        state = follow(folder)
    elif args.wait:
        state = jobs.wait(folder)
        print(f"{state}: {describe_end(folder)}", file=sys.stderr)
    else:
        print(folder.id)
        return 0
    print(folder.id)
    return 0 if state == "succeeded" else 1
