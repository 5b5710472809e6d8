"""Traced Keras shapes: run in the user's interpreter (by file path; it needs Keras, not
ml-lsp), it runs each script given with Keras's own layers recording every call, and prints
one JSON line: per file, the layer entries in the static shapes contract.

    python keras_child.py FILE...

Training is not wanted, only the model: ``fit``/``evaluate``/``predict``/``save`` and friends
return at once without touching the data (``evaluate`` zeros for the loss and each compiled
metric, ``predict`` zeros of the output's shape). An entry is on the line where the layer is called
in the file (the functional API, a subclassed model's ``call``) or, where Keras itself calls
it (a ``Sequential`` list), where the layer was created. Its shape has the batch dim first,
as ``"B"``; ``params`` is the layer's parameter count once built.
"""

import json
import os
import runpy
import sys
import traceback

if "KERAS_BACKEND" not in os.environ:  # as the run bootstrap: torch where TensorFlow is not installed
    import importlib.util
    if importlib.util.find_spec("tensorflow") is None:
        os.environ["KERAS_BACKEND"] = "torch"
os.environ.setdefault("ML_LSP_EXAMPLE_EPOCHS", "0")

import keras  # noqa: E402

NO_RUN = ("fit", "evaluate", "predict", "train_on_batch", "test_on_batch", "predict_on_batch", "save",
          "save_weights", "export")
current = {"path": None}  # the file being traced (its realpath)
records = []  # (layer, scope, line, output shape)
created = {}  # id(layer) -> (scope, line, layer) where the file created it
applications = {}  # id(model) -> (scope, line, model) of keras.applications models the file built


def _frame_in_file(frame):
    while frame is not None:
        if os.path.realpath(frame.f_code.co_filename) == current["path"]:
            return frame
        frame = frame.f_back
    return None


def _scope(frame):
    name = frame.f_code.co_name
    if name == "<module>":
        return name
    owner = frame.f_locals.get("self")
    return f"{type(owner).__name__}.{name}" if owner is not None and not isinstance(owner, type) else name


_original_init = keras.layers.Layer.__init__
_original_call = keras.layers.Layer.__call__
_original_compile = keras.Model.compile


def _caller(layer, method):
    """The frame that called ``layer.method``, past the subclasses' own ``method`` (a
    Dense's ``__init__`` calling Layer's)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_name == method and frame.f_locals.get("self") is layer:
        frame = frame.f_back
    return frame


def _in_file(frame):
    return frame is not None and os.path.realpath(frame.f_code.co_filename) == current["path"]


def _recording_init(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    frame = _caller(self, "__init__")
    # Created by the file itself: Keras's own inner layers (a Sequential's Functional) are not.
    if _in_file(frame) and id(self) not in created:
        created[id(self)] = (_scope(frame), frame.f_lineno, self)
    elif isinstance(self, keras.Model) and _from_applications(frame):
        user = _frame_in_file(frame)  # VGG16(...) in the file: an entry on that line
        if user is not None:
            applications[id(self)] = (_scope(user), user.f_lineno, self)


def _from_applications(frame):
    while frame is not None and not _in_file(frame):
        if f"{os.sep}applications{os.sep}" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def _recording_call(self, *args, **kwargs):
    out = _original_call(self, *args, **kwargs)
    caller = _caller(self, "__call__")
    direct = _in_file(caller)
    if direct:
        where = (_scope(caller), caller.f_lineno)
    elif id(self) in created:
        where = created[id(self)][:2]
    elif (id(self) in applications or not isinstance(self, keras.Model)) and not _from_applications(caller):
        # Made and called by Keras for the file's line: layers.concatenate([...]), an
        # application model put in a Sequential list. Not a Sequential's inner Functional,
        # nor an application's own layers.
        user = _frame_in_file(caller)
        where = (_scope(user), user.f_lineno) if user is not None else (None, None)
    else:
        where = (None, None)
    tensor = out[0] if isinstance(out, (list, tuple)) and out else out
    if where[1] is not None and hasattr(tensor, "shape") and not isinstance(self, keras.layers.InputLayer):
        records.append((self, where[0], where[1], list(tensor.shape)))
    return out


compiled_metrics = {}  # id(model) -> how many metrics compile() was given


def _compile(self, *args, **kwargs):
    metrics = kwargs.get("metrics", args[2] if len(args) > 2 else None) or []
    compiled_metrics[id(self)] = len(metrics) if isinstance(metrics, (list, tuple)) else 1
    return _original_compile(self, *args, **kwargs)


def _fit(self, *args, **kwargs):
    history = keras.callbacks.History()
    history.history = {}
    return history


def _evaluate(self, *args, **kwargs):
    n = 1 + compiled_metrics.get(id(self), 0)
    if kwargs.get("return_dict"):
        return {"loss": 0.0}
    return 0.0 if n == 1 else [0.0] * n


def _predict(self, x=None, *args, **kwargs):
    import numpy as np
    try:
        rows = len(x[0] if isinstance(x, (list, tuple)) else x)
        return np.zeros([rows] + [d or 1 for d in self.output.shape[1:]], dtype="float32")
    except Exception:
        return None


def _skip(self, *args, **kwargs):
    return None


def _shape(shape):
    if not shape:
        return shape
    return ["B"] + [d if d is None else int(d) for d in shape[1:]]


def run_script(path):
    runpy.run_path(path, run_name="__main__")


def trace(path, run=run_script):
    """Entries and problems for the file at ``path``; ``run(path)`` runs it (the keras-io
    benchmark runs only the statements that build models)."""
    current["path"] = os.path.realpath(path)
    records.clear()
    created.clear()
    applications.clear()
    keras.backend.clear_session()  # layer names restart (dense, dense_1, ...) as in a fresh script
    sys.argv = [path]
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    problems = []
    try:
        run(path)
    except SystemExit:
        pass
    except BaseException as exc:  # the user's error: reported on their line, the rest still shown
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.realpath(f.filename) == current["path"]]
        problems.append({"kind": "exception", "message": f"{type(exc).__name__}: {exc}".splitlines()[0][:500],
                         "path": path, "line": frames[-1].lineno if frames else 1})
    finally:
        sys.path.remove(folder)
    # An application model (VGG16(...)): its output on the line that builds it, as well as
    # wherever it is called.
    for scope, line, model in applications.values():
        try:
            records.append((model, scope, line, list(model.output.shape)))
        except (AttributeError, ValueError):
            pass
    entries = []
    for layer, scope, line, shape in records:
        entry = {"scope": scope, "line": line, "name": layer.name, "shape": _shape(shape), "dtype": "float",
                 "source": "trace"}
        if getattr(layer, "built", False):
            entry["params"] = int(layer.count_params())
        entries.append(entry)
    entries.sort(key=lambda e: e["line"])
    models = sum(1 for *_, layer in created.values() if isinstance(layer, keras.Model)) + len(applications)
    return {"path": path, "shapes": entries, "problems": problems, "models": models}


def install():
    """Record layers; make training a no-op."""
    keras.layers.Layer.__init__ = _recording_init
    keras.layers.Layer.__call__ = _recording_call
    for name in NO_RUN:
        setattr(keras.Model, name, _skip)
    keras.Model.fit, keras.Model.evaluate, keras.Model.predict = _fit, _evaluate, _predict
    keras.Model.compile = _compile


def main():
    install()
    files = sys.argv[1:]
    out = [trace(path) for path in files]
    sys.stdout.write("\n" + json.dumps({"files": out}) + "\n")


if __name__ == "__main__":
    main()
