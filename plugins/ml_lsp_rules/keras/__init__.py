"""KR: rules for Keras code (tf.keras and Keras 3). They read the facts the Keras
interpreter (``ml_lsp.analysis.keras``) records: layer shape conflicts, compile and fit
calls with the data they were given, ``trainable`` changes and pretrained applications."""
