"""``ml-lsp serve``: the language server over stdio (default) or TCP on 127.0.0.1."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the language server",
                       description="Run the ml-lsp language server. Editors start this over stdio.")
    transport = p.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="speak LSP over stdin/stdout (default)")
    transport.add_argument("--tcp", type=int, metavar="PORT",
                           help="listen on 127.0.0.1:PORT instead of stdio (loopback only), for one "
                                "client that sends the session token printed at start")
    p.add_argument("--tcp-token-file", metavar="PATH",
                   help="with --tcp: where to write the session token (mode 0600; default: "
                        "tcp-PORT.token in the user's runtime folder)")
    p.add_argument("--log-file", metavar="PATH",
                   help="log file (default: server.log in the user's cache dir, or $ML_LSP_LOG_FILE)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ml_lsp.cli import UsageError
    from ml_lsp.plugins import default_host
    from ml_lsp.server.app import create_server
    from ml_lsp.server.logs import default_log_file, setup_file_logging

    if args.tcp is not None and not 0 < args.tcp < 65536:
        raise UsageError(f"--tcp {args.tcp}: a port is 1 to 65535")
    if args.tcp_token_file and args.tcp is None:
        raise UsageError("--tcp-token-file goes with --tcp PORT")
    setup_file_logging(Path(args.log_file) if args.log_file else default_log_file(), args.log_level)
    server = create_server(default_host())
    if args.tcp is None:
        code = server.start_io()
    else:
        code = _serve_tcp(server, args.tcp, Path(args.tcp_token_file) if args.tcp_token_file
                          else default_token_file(args.tcp))
    exit_even_if_stuck(code)
    return code


def exit_even_if_stuck(code: int, grace: float = 5.0) -> None:
    """The session is over; Python now waits for every non-daemon thread. One stuck in a
    library call (an analysis pool's worker, a file watcher) would keep the process alive
    after ``exit``, and the editor waiting for it. After ``grace`` seconds the threads still
    alive are logged by name and the process ends with ``code`` anyway."""
    import logging
    import os
    import threading

    def end() -> None:
        alive = [t.name for t in threading.enumerate()
                 if t is not threading.current_thread() and not t.daemon and t.is_alive()]
        if alive:
            logging.getLogger("ml_lsp.server").warning(
                "session over but %d thread(s) still running after %.0f s (%s); exiting anyway",
                len(alive), grace, ", ".join(alive))
        logging.shutdown()
        os._exit(code)

    timer = threading.Timer(grace, end)
    timer.daemon = True
    timer.start()


def _serve_tcp(server, port: int, token_file: Path) -> int:
    """A fresh token per server: whoever can reach the port but cannot read the token (a
    web page posting to localhost, another user) is refused before any LSP is spoken."""
    import secrets
    import sys

    from ml_lsp.cli import CommandFailed
    from ml_lsp.server.transport import CannotListen

    token = secrets.token_urlsafe(32)
    written: list[Path] = []

    def listening() -> None:
        say = lambda line: print(f"ml-lsp serve: {line}", file=sys.stderr)  # noqa: E731
        say(f"listening on 127.0.0.1:{port} for one client session")
        say(f"session token: {token}")
        try:
            write_token_file(token_file, token)
            written.append(token_file)
            say(f"token file: {token_file} (readable only by you)")
        except OSError as exc:
            say(f"could not write the token file {token_file} ({exc.strerror or exc}); use the token above")
        say("a client sends it as initializationOptions.tcpToken in its initialize request "
            "(or as an ML-LSP-Token header on its first message)")
        sys.stderr.flush()

    try:
        return server.start_tcp("127.0.0.1", port, token=token, on_listening=listening)
    except CannotListen as exc:
        raise CommandFailed(str(exc)) from None
    finally:
        for path in written:
            path.unlink(missing_ok=True)


def default_token_file(port: int) -> Path:
    """``tcp-PORT.token`` in the user's runtime folder (private to the user, emptied at
    logout), or in the state folder where there is no usable runtime folder."""
    import warnings

    import platformdirs

    with warnings.catch_warnings():  # platformdirs warns when it falls back from $XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        try:
            folder = Path(platformdirs.user_runtime_dir("ml-lsp"))
        except OSError:
            folder = Path(platformdirs.user_state_dir("ml-lsp"))
    return folder / f"tcp-{port}.token"


def write_token_file(path: Path, token: str) -> None:
    """Write ``token`` to ``path`` readable by the user only: the folder is created 0700,
    the file 0600 (also when it existed with a wider mode), never through a symlink."""
    import os

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        if hasattr(os, "fchmod"):  # not on Windows before 3.13, where the mode bits mean little
            os.fchmod(fd, 0o600)
        os.write(fd, (token + "\n").encode("ascii"))
    finally:
        os.close(fd)
