"""The KR diagnostics in the editor, end to end over stdio (pytest-lsp): each Keras mistake
shows on its line, and each fixable one's quick fix, applied as the editor applies it,
makes its diagnostic go away."""

from __future__ import annotations

import textwrap

import pytest
from lsprotocol import types

from test_lsp_diagnostics import apply_edits, diagnostics, open_doc, replace_doc, start

# name -> (source, the code expected, the line (0-based) it is on, whether a quick fix exists)
CASES = {
    "kr001.py": ("""\
        import keras
        from keras import layers
        base = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3))
        """, "KR001", 2, True),
    "kr002.py": ("""\
        import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        model = keras.Sequential([keras.layers.Dense(10, activation="softmax", input_shape=(784,))])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x_train, y_train)
        """, "KR002", 4, True),
    "kr003.py": ("""\
        import tensorflow as tf
        model = tf.keras.Sequential([tf.keras.layers.Dense(10, input_shape=(8,))])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        """, "KR003", 2, True),
    "kr004.py": ("""\
        import keras
        (x_train, y_train), _ = keras.datasets.mnist.load_data()
        model = keras.Sequential([keras.layers.Flatten(input_shape=(28, 28)),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        model.fit(x_train, y_train)
        """, "KR004", 4, True),
    "kr005.py": ("""\
        import keras
        model = keras.Sequential([keras.layers.Dense(1, input_shape=(4,))])
        model.compile(loss="mse")
        model.fit(x_train, y_train, validation_data=(x_test, y_test))
        """, "KR005", 3, True),
    "kr006.py": ("""\
        import tensorflow as tf
        model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(4,))])
        model.compile(loss="mse")
        model.fit(x_train, y_train, epochs=5)
        # 微调模型
        model.fit(x_train, y_train, epochs=5)
        """, "KR006", 5, False),
    "kr007.py": ("""\
        import keras
        base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(96, 96, 3))
        base2 = keras.applications.MobileNetV2(include_top=False, weights="/w.h5", input_shape=(96, 96, 3))
        model = keras.Sequential([base2, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train)
        """, "KR007", 5, True),
    "kr008.py": ("""\
        import keras
        base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(96, 96, 3))
        model = keras.Sequential([base, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5)])
        model.compile(optimizer="adam", loss="mse")
        model.fit(x_train, y_train)
        base.trainable = False
        model.fit(x_train, y_train)
        """, "KR008", 5, True),
    "kr009.py": ("""\
        import tensorflow as tf
        base = tf.keras.applications.VGG16(weights=None)
        model = tf.keras.Sequential([base.input, tf.keras.layers.Dense(10)])
        """, "KR009", 2, False),
    "kr010.py": ("""\
        import pandas as pd
        import keras
        train_data = pd.read_csv("train.csv")
        model = keras.Sequential([keras.layers.Dense(1, input_shape=(4,))])
        model.compile(loss="mse")
        model.fit(train_data, epochs=5)
        """, "KR010", 5, False),
    "kr011.py": ("""\
        import keras
        base = keras.applications.ResNet50(include_top=False)
        """, "KR011", 1, False),
}


@pytest.mark.timeout(240)
async def test_each_keras_mistake_and_its_fix_in_the_editor(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    client = await start(tmp_path, ws)
    try:
        texts = {}
        for name, (src, code, line, fixable) in CASES.items():
            texts[name] = textwrap.dedent(src)
            open_doc(client, ws / name, texts[name])
        for name, (src, code, line, fixable) in CASES.items():
            path = ws / name
            uri = path.as_uri()
            diags = await diagnostics(client, uri, lambda d, code=code: any(x.code == code for x in d))
            mine = [d for d in diags if d.code == code]
            assert [d.range.start.line for d in mine] == [line], (name, [(d.code, d.message) for d in diags])
            if not fixable:
                continue
            actions = await client.text_document_code_action_async(types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri), range=mine[0].range,
                context=types.CodeActionContext(diagnostics=mine)))
            fix = next(a for a in actions or [] if a.kind == types.CodeActionKind.QuickFix and a.edit is not None
                       and a.diagnostics and a.diagnostics[0].code == code)
            fixed = apply_edits(texts[name], fix.edit.changes[uri])
            replace_doc(client, path, fixed, 2)
            await diagnostics(client, uri, lambda d, code=code: not any(x.code == code for x in d))
    finally:
        await client.shutdown_session()
