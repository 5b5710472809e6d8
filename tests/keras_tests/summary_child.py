"""Run in a child process with Keras (KERAS_BACKEND=torch): build the models of each file
given and print, as JSON, every layer call's output shape and every layer's parameter
count, by Keras name — what model.summary() prints. The test process never imports Keras."""

import json
import runpy
import sys

import keras

calls: dict = {}
_original_call = keras.layers.Layer.__call__


def _recording_call(self, *args, **kwargs):
    out = _original_call(self, *args, **kwargs)
    if hasattr(out, "shape"):
        calls.setdefault(self.name, []).append(list(out.shape))
    elif isinstance(out, (list, tuple)) and out and hasattr(out[0], "shape"):
        calls.setdefault(self.name, []).append(list(out[0].shape))
    return out


keras.layers.Layer.__call__ = _recording_call

report = {}
for path in sys.argv[1:]:
    keras.backend.clear_session()  # layer names restart (dense, dense_1, ...) as in a fresh script
    calls.clear()
    sys.argv = [path, "--epochs=0"]  # the examples train for --epochs: build them, do not train
    namespace = runpy.run_path(path, run_name="__main__")
    params = {}
    models = []
    for value in namespace.values():  # a model built but never called (VGG16(...)): its output
        if isinstance(value, keras.Model) and value.name not in calls:
            try:
                calls[value.name] = [list(value.output.shape)]
            except (AttributeError, ValueError):
                pass
    for value in namespace.values():
        if isinstance(value, keras.Model) and value not in models:
            models.append(value)
            for layer in value.layers:
                if layer.built:
                    params[layer.name] = layer.count_params()
                for sub in getattr(layer, "_layers", None) or []:
                    if getattr(sub, "built", False):
                        params.setdefault(sub.name, sub.count_params())
    report[path] = {"shapes": dict(calls), "params": params,
                    "totals": {m.name: m.count_params() for m in models if m.built},
                    "layers": {m.name: [layer.name for layer in m.layers
                                        if not isinstance(layer, keras.layers.InputLayer)] for m in models}}
print(json.dumps(report))
