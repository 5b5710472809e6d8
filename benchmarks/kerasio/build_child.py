"""Run in a child process: build the models of each keras-io example given, and print the
Keras layer entries (``ml_lsp/trace/keras_child.py``'s recording, loaded by path) as one
JSON line. An example's data (downloads, tf.data pipelines, training loops) is not wanted
and mostly not available offline, so only the model-building part runs: the file's
top-level statements one by one, in the file's own line numbers, skipping ``for``/``while``
/``with`` blocks and any statement that fails (what depends on the data fails with it)."""

import ast
import importlib.util
import json
import os
import signal
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")
HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "keras_child", os.path.join(HERE, "..", "..", "ml_lsp", "trace", "keras_child.py"))
keras_child = importlib.util.module_from_spec(spec)
spec.loader.exec_module(keras_child)

SKIPPED = (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)
STATEMENT_SECONDS = 60


def _alarm(signum, frame):
    raise TimeoutError("statement took too long")


def run_model_building(path):
    source = open(path, encoding="utf-8").read()
    tree = ast.parse(source, path)
    namespace = {"__name__": "__kerasio__", "__file__": path}
    signal.signal(signal.SIGALRM, _alarm)
    failed = []
    for node in tree.body:
        if isinstance(node, SKIPPED):
            continue
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            continue
        code = compile(ast.Module([node], type_ignores=[]), path, "exec")
        signal.alarm(STATEMENT_SECONDS)
        try:
            exec(code, namespace)
        except BaseException as exc:  # noqa: BLE001 - an example's data step; keep building
            failed.append((node.lineno, f"{type(exc).__name__}: {exc}".splitlines()[0][:200] if str(exc) else type(exc).__name__))
        finally:
            signal.alarm(0)
    run_model_building.failed = failed


def main():
    keras_child.install()
    out = []
    for path in sys.argv[1:]:
        result = keras_child.trace(path, run=run_model_building)
        result["skipped_statements"] = len(getattr(run_model_building, "failed", []))
        out.append(result)
    sys.stdout.write("\n" + json.dumps({"files": out}) + "\n")


if __name__ == "__main__":
    main()
