"""Run a training script under capture::

    python -m ml_lsp.telemetry.bootstrap SCRIPT [ARGS...]
    python -m ml_lsp.telemetry.bootstrap -m MODULE [ARGS...]

installs the capture hooks, then runs SCRIPT unchanged as ``__main__``: ``sys.argv``,
``sys.path[0]`` and ``__file__`` are what ``python SCRIPT ARGS...`` would give. Frames go
to the file named by ``ML_LSP_FRAMES`` (the runner sets it; see docs/run-folder.md); without
it the script simply runs. An exception that ends the script is written as an exception
frame (type, message, traceback frames) and then reported and exited on as Python would
(exit code 1); Ctrl-C and SIGTERM flush the frames first.
"""

from __future__ import annotations

import importlib.machinery
import io
import os
import runpy
import signal
import sys
import types

USAGE = "usage: python -m ml_lsp.telemetry.bootstrap SCRIPT [ARGS...] | -m MODULE [ARGS...]"


def start_capture(environ=os.environ):
    """The process's Capture writing to ``$ML_LSP_FRAMES``, with every hook set to install
    when its library is imported; None when no frames file is named."""
    _default_keras_backend(environ)
    path = environ.get("ML_LSP_FRAMES")
    if not path:
        return None
    import ml_lsp.telemetry as telemetry
    from ml_lsp.runner.frames import FrameWriter
    from ml_lsp.telemetry.capture import Capture
    from ml_lsp.telemetry.imports import when_imported

    # torchrun gives each worker its RANK; ML_LSP_RANK is the runner's default for one process.
    rank = environ.get("RANK") or environ.get("ML_LSP_RANK") or "0"
    writer = FrameWriter(path, rank=int(rank) if rank.isdigit() else 0)
    capture = Capture(writer)

    def torch_imported(_module) -> None:
        from ml_lsp.telemetry import torch_hooks
        torch_hooks.install(capture)
        # the editor says "starting (importing torch…)" until this arrives
        writer.write("event", name="imported", module="torch")

    def tensorboard_imported(module) -> None:
        from ml_lsp.telemetry.tensorboard import install_summary_writer
        capture.add_uninstaller(install_summary_writer(capture, module))

    def keras_imported(module) -> None:
        from ml_lsp.telemetry import keras_fit
        try:
            capture.add_uninstaller(keras_fit.install(capture, module))
        except Exception as exc:  # a Keras we do not know: the script runs, without fit metrics
            print(f"[ml-lsp] Keras fit metrics not installed: {exc!r}", file=sys.stderr)

    when_imported("torch", torch_imported)
    when_imported("keras", keras_imported)
    when_imported("torch.utils.tensorboard.writer", tensorboard_imported)
    _install_plugin_capturers(capture)
    _record_thread_exceptions(capture)
    capture.start()
    telemetry._capture = capture
    return capture


def _default_keras_backend(environ) -> None:
    """Keras 3 defaults to the TensorFlow backend; where TensorFlow is not installed and
    torch is (this project's set-up), a Keras script runs on torch instead of failing on
    import. An explicit KERAS_BACKEND is left alone."""
    if "KERAS_BACKEND" in environ:
        return
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None and importlib.util.find_spec("torch") is not None:
        environ["KERAS_BACKEND"] = "torch"


def _install_plugin_capturers(capture) -> None:
    """Capturers other packages contribute (``ml_lsp_metric_capturers``): each is called
    with the Capture and returns an uninstall callable."""
    try:
        from ml_lsp.plugins import default_host
        capturers = default_host().merged_sequence("ml_lsp_metric_capturers")
    except Exception as exc:  # a broken plugin must not stop the training
        print(f"[ml-lsp] metric capturer plugins not loaded: {exc}", file=sys.stderr)
        return
    for capturer in capturers:
        try:
            capture.add_uninstaller(capturer(capture))
        except Exception as exc:
            print(f"[ml-lsp] metric capturer {capturer!r} failed: {exc!r}", file=sys.stderr)


def _record_thread_exceptions(capture) -> None:
    """An exception that ends a thread other than the main one becomes a frame too: the
    run fails only if the main thread does, but when it then exits with an error (a worker
    thread died, so it gives up), that exception is what the editor should point at."""
    import threading

    previous = threading.excepthook

    def hook(args) -> None:
        if args.exc_value is not None and not issubclass(args.exc_type, SystemExit):
            try:
                capture.exception(args.exc_value, thread=getattr(args.thread, "name", None))
            except Exception:
                pass
        previous(args)

    threading.excepthook = hook


def _flush_on_sigterm(capture) -> None:
    """SIGTERM's default action ends the process without running Python's clean-up: write
    the buffered frames first, then die of the same signal (so the exit status says so)."""
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def on_sigterm(signum, _frame):
        try:
            capture.close()
            capture.writer.close()
        finally:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    try:
        signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread
        pass


def _user_traceback(tb):
    """The traceback from the first frame of the user's script on (this module is not
    the user's business)."""
    ours = (os.path.abspath(__file__), runpy.__file__)
    while tb is not None and (tb.tb_frame.f_code.co_filename in ours
                              or tb.tb_frame.f_code.co_filename.startswith("<frozen runpy")):
        tb = tb.tb_next
    return tb


def run_as_main(path: str, capture=None) -> None:
    """Execute the script at ``path`` as the ``__main__`` module, as ``python path`` does
    (runpy.run_path would rewrite ``sys.argv[0]`` and run in a temporary module)."""
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__cached__ = None
    module.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module
    with io.open_code(path) as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    _pin_source(path, source)
    if capture is not None:
        capture.file_source(path)
    exec(code, module.__dict__)


def _pin_source(path: str, source: bytes) -> None:
    """Keep the text just compiled in linecache, for good: the lines of frames and
    tracebacks (and their ``src``) are then this text's even when the user saves the
    file again while the run goes on. (An entry without a modification time is one
    ``linecache.checkcache`` leaves alone.)"""
    import linecache
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
        text = source.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return
    linecache.cache[path] = (len(source), None, text.splitlines(True), path)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 2
    module = None
    if argv[0] == "-m":  # python -m ml_lsp.telemetry.bootstrap -m MODULE ARGS...
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        module = argv[1]
        sys.argv = argv[1:]  # runpy puts the module's file in argv[0], as python -m does
        user_path = os.getcwd()
    else:
        script = argv[0]
        if not os.path.isfile(script):
            print(f"ml-lsp: {script}: no such file; give the path of a Python script", file=sys.stderr)
            return 2
        path = os.path.abspath(script)
        sys.argv = argv  # argv[0] as given, like python SCRIPT
        user_path = os.path.dirname(path)
    # Our own modules load before the user's folder goes on sys.path (the launcher started
    # us without the working folder on it): a project's msgpack.py or tokenize.py is then
    # never imported in place of what the capture uses. The user's program gets the path
    # python gives it: its script's folder (or, with -m, the working folder) first.
    capture = start_capture()
    sys.path.insert(0, user_path)
    if capture is not None:
        _flush_on_sigterm(capture)
    try:
        if module is not None:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            run_as_main(path, capture)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        tb = _user_traceback(exc.__traceback__)
        exc.__traceback__ = tb
        if capture is not None:
            capture.exception(exc)
        if capture is not None:
            capture.close()
        sys.excepthook(type(exc), exc, tb)
        return 1
    finally:
        if capture is not None:
            capture.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
