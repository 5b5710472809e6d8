"""Keras models, statically: the layer table (``layers``) and the interpreter that follows
Sequential lists, the functional API and subclassed models (``model``). Pure: no Keras,
no TensorFlow, no user code run."""

from ml_lsp.analysis.keras.model import KerasFacts, analyze_keras, mentions_keras  # noqa: F401
