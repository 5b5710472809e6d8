"""``ml-lsp stop ID``: stop a run. A queued run leaves the queue; a running one gets
SIGINT (Python raises KeyboardInterrupt, so the script can save and exit), then SIGTERM,
then SIGKILL, each after a grace period, sent to its whole process group."""

from __future__ import annotations

import argparse
import sys

from ml_lsp.commands.run import add_runs_dir_option, runs_dir_of


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stop", help="stop a run", description=__doc__)
    p.add_argument("run_id", metavar="ID")
    p.add_argument("--grace", type=float, default=5.0, metavar="SECONDS",
                   help="seconds between SIGINT, SIGTERM and SIGKILL (default 5)")
    p.add_argument("--no-wait", action="store_true", help="ask and return at once")
    add_runs_dir_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ml_lsp.cli import CommandFailed, UsageError
    from ml_lsp.runner import jobs
    from ml_lsp.runner.run_folder import TERMINAL_STATES

    try:
        folder = jobs.resolve(args.run_id, runs_dir_of(args))
    except jobs.RunNotFound as exc:
        raise UsageError(str(exc)) from None
    before = folder.state()
    if before in TERMINAL_STATES and not (before == "lost" and folder.verified_process()):
        print(f"{folder.id} already {before}", file=sys.stderr)
        return 0
    try:
        state = jobs.stop(folder, grace=args.grace, wait_for=None if args.no_wait else 3 * args.grace + 10)
    except jobs.ForeignRun as exc:
        raise CommandFailed(str(exc)) from None
    if not args.no_wait and state not in TERMINAL_STATES:
        raise CommandFailed(f"{folder.id} is still {state}; is its runner alive? (`ml-lsp runs show {folder.id}`)")
    print(f"{folder.id} {state}")
    return 0
