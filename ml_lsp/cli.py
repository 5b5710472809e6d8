"""The ``ml-lsp`` command. Subcommands are registered in one place, ``SUBCOMMANDS``: each
module there has ``add_parser(subparsers)``, which sets ``func`` to the function that
runs it. Command modules import their heavy dependencies inside that function, so
``ml-lsp serve`` starts without loading what ``ml-lsp check`` needs."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from ml_lsp import __version__

SUBCOMMANDS = [
    "ml_lsp.commands.serve",
    "ml_lsp.commands.plugins",
    "ml_lsp.commands.finetune",
    "ml_lsp.commands.check",
    "ml_lsp.commands.rules",
    "ml_lsp.commands.run",
    "ml_lsp.commands.runs",
    "ml_lsp.commands.logs",
    "ml_lsp.commands.stop",
    "ml_lsp.commands.rerun",
    "ml_lsp.commands.shapes",
]


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


class CommandFailed(Exception):
    """The command ran but could not do its job: printed as one line, exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ml-lsp",
        description="Tensor shapes, PyTorch diagnostics and training runs, in the editor and the terminal.")
    parser.add_argument("--version", action="version", version=f"ml-lsp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMANDS:
        importlib.import_module(module_name).add_parser(sub)
    return parser


def parse_input_option(specs, where: str = "--input") -> dict:
    """``--input NAME=D1,D2,...`` values (or an ``inputs`` table) to input shapes, the same
    syntax for every command; bad input is a UsageError naming it."""
    from ml_lsp.analysis.dims import parse_inputs

    try:
        return parse_inputs(specs)
    except ValueError as exc:
        raise UsageError(f"{where} {exc}") from None


def _log_warnings_to_stderr() -> None:
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("ml-lsp: %(levelname)s: %(message)s"))
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("ml_lsp")
    logger.addHandler(handler)
    logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "serve":  # serve logs to its file and to the client instead
        _log_warnings_to_stderr()
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"ml-lsp {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except CommandFailed as exc:
        print(f"ml-lsp {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `ml-lsp ... | head`
        return 0
