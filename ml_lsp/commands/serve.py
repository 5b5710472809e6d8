"""``ml-lsp serve``: the language server over stdio (default) or TCP on 127.0.0.1."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the language server",
                       description="Run the ml-lsp language server. Editors start this over stdio.")
    transport = p.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="speak LSP over stdin/stdout (default)")
    transport.add_argument("--tcp", type=int, metavar="PORT",
                           help="listen on 127.0.0.1:PORT instead of stdio (loopback only)")
    p.add_argument("--log-file", metavar="PATH",
                   help="log file (default: server.log in the user's cache dir, or $ML_LSP_LOG_FILE)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ml_lsp.cli import UsageError
    from ml_lsp.plugins import default_host
    from ml_lsp.server.app import create_server
    from ml_lsp.server.logs import default_log_file, setup_file_logging

    if args.tcp is not None and not 0 < args.tcp < 65536:
        raise UsageError(f"--tcp {args.tcp}: a port is 1 to 65535")
    setup_file_logging(Path(args.log_file) if args.log_file else default_log_file(), args.log_level)
    server = create_server(default_host())
    if args.tcp is not None:
        server.start_tcp("127.0.0.1", args.tcp)
        return 0
    return server.start_io()  # 1 after exit without shutdown
