"""The tracer child process: ``python -m ml_lsp.trace.child``.

Started by ``TraceChild`` in its own process group. It bounds itself before it loads
anything (address-space limit, dies with its parent, no GPU, no network), imports torch
once, says it is ready, then answers trace requests one at a time over stdin/stdout (see
``wire``) until stdin closes. Whatever the user's code prints goes to stderr, which the
parent keeps in a file: stdout carries only our messages.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time

from ml_lsp.trace.wire import CODEC_ENV, ChannelClosed, read_message, write_message

MEMORY_ENV = "ML_LSP_TRACE_MEMORY_MB"


def _bound_self() -> None:
    import resource
    megabytes = int(os.environ.get(MEMORY_ENV) or 0)
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        except (ValueError, OSError):
            pass
    try:  # die with the parent, even when stuck in the user's forward
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main() -> int:
    _bound_self()
    protocol_out = os.dup(1)
    os.dup2(2, 1)  # the user's print() must not corrupt our channel
    sys.stdout = sys.stderr
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    from ml_lsp.trace.loader import block_network
    block_network()
    codec = os.environ.get(CODEC_ENV) or "msgpack"
    started = time.perf_counter()
    import torch

    from ml_lsp.trace import tracer
    torch.set_num_threads(1)
    # The first op on the meta device imports torch._dynamo (through the decompositions):
    # pay for that now, while starting, not in the user's first trace.
    with torch.device("meta"):
        torch.nn.Linear(4, 3)(torch.zeros(2, 4))
    write_message(protocol_out, {"ready": True, "torch": torch.__version__, "python": sys.executable,
                                 "version": "%d.%d.%d" % sys.version_info[:3],
                                 "import_seconds": time.perf_counter() - started, "pid": os.getpid()}, codec)
    while True:
        try:
            request = read_message(0, codec=codec)
        except ChannelClosed:
            return 0
        timeout = float(request.get("timeout") or 0)
        watchdog = None
        if timeout > 0:
            # Print where the code is stuck (the parent turns it into a diagnostic) and
            # exit. A Python thread reads the stack under the GIL, so the dump is whole;
            # faulthandler (which reads frames without it and can be cut short) is only the
            # backstop for code that never releases the GIL. The parent kills the whole
            # group a moment later anyway.
            watchdog = threading.Timer(timeout, _dump_stack_and_exit,
                                       (threading.main_thread().ident, timeout))
            watchdog.daemon = True
            watchdog.start()
            faulthandler.dump_traceback_later(timeout + 1.0, exit=True, file=sys.stderr)
        try:
            if request.get("op") == "ping":
                response = {"ok": True}
            else:
                response = tracer.handle(request)
        except MemoryError:
            response = {"ok": False, "error": "the tracer ran out of memory "
                        f"(limit {os.environ.get(MEMORY_ENV)} MB); trace a smaller config with --init"}
        except BaseException as exc:  # a bug of ours: report it, stay alive
            if isinstance(exc, KeyboardInterrupt):
                return 1
            response = {"ok": False, "error": f"tracer error: {type(exc).__name__}: {exc}"}
        finally:
            if watchdog is not None:
                watchdog.cancel()
            faulthandler.cancel_dump_traceback_later()
        response["id"] = request.get("id")
        try:
            write_message(protocol_out, response, codec)
        except ChannelClosed:
            return 0


def _dump_stack_and_exit(thread_id: int, timeout: float) -> None:
    """faulthandler's timeout format (the parent parses it), from ``sys._current_frames``."""
    frame = sys._current_frames().get(thread_id)
    minutes, seconds = divmod(int(timeout), 60)
    lines = [f"Timeout (0:{minutes:02d}:{seconds:02d})!", f"Thread {thread_id:#018x} (most recent call first):"]
    while frame is not None:
        lines.append(f'  File "{frame.f_code.co_filename}", line {frame.f_lineno} in {frame.f_code.co_name}')
        frame = frame.f_back
    try:
        sys.stderr.write("\n".join(lines) + "\n\n")
        sys.stderr.flush()
    finally:
        os._exit(1)


if __name__ == "__main__":
    sys.exit(main())
