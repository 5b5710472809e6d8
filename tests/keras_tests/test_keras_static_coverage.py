"""`ml-lsp shapes` on the ways keras-io examples build models that the static Keras engine
used to skip or get wrong: loops over range(n), list comprehensions, layer classes without a
rule, a Sequential made in one function and called in another, attention inside a custom
layer, and values a loop or an if changes. Where the engine cannot know, it says unknown."""

from __future__ import annotations

import textwrap

from keras_tests.test_keras_shapes_cli import shapes_json


def by_name(entries):
    return {e["name"]: e for e in entries}


def test_range_loops_and_list_comprehensions_build_every_layer_in_keras_order(tmp_path):
    entries = shapes_json(tmp_path, textwrap.dedent("""\
        import keras
        from keras import layers

        depth = 3
        augment = keras.Sequential([layers.Rescaling(0.5), layers.Dense(6)], name="augment")


        def build():
            inputs = keras.Input(shape=(16,))
            x = augment(inputs)
            for i in range(depth):
                x = layers.Dense(8 * (i + 1))(x)
            for block in [layers.Dense(4) for _ in range(len([1, 2]))]:
                x = block(x)
            return keras.Model(inputs, x)


        model = build()
        """))
    got = {e["name"]: (e["scope"], e["line"], e["shape"], e["params"]) for e in entries}
    assert got["dense_1"] == ("build", 12, ["B", 8], 56)
    assert got["dense_2"] == ("build", 12, ["B", 16], 144)
    assert got["dense_3"] == ("build", 12, ["B", 24], 408)
    assert got["dense_4"][2:] == (["B", 4], 100) and got["dense_5"][2:] == (["B", 4], 20)
    # the Sequential's layers where Keras lists them: where they were made, at module level
    assert got["dense"] == ("<module>", 5, ["B", 6], 102)
    assert got["augment"] == ("build", 10, ["B", 6], 102)


def test_a_layer_class_without_a_rule_is_unknown_and_keeps_later_names_in_step(tmp_path):
    entries = by_name(shapes_json(tmp_path, textwrap.dedent("""\
        import keras
        from keras import layers

        inputs = keras.Input(shape=(10,))
        x = layers.Lambda(lambda t: t * 2)(inputs)
        y = layers.Lambda(lambda t: t[:, :4])(inputs)
        z = layers.Dense(3)(inputs)
        model = keras.Model(inputs, [x, y, z])
        """)))
    assert entries["lambda"]["line"] == 5 and entries["lambda"]["shape"] is None
    assert entries["lambda_1"]["line"] == 6 and entries["lambda_1"]["shape"] is None
    assert entries["dense"]["shape"] == ["B", 3]


def test_values_changed_by_augmented_assignment_in_a_known_loop(tmp_path):
    entries = by_name(shapes_json(tmp_path, textwrap.dedent("""\
        import keras
        from keras import layers

        inputs = keras.Input(shape=(32, 32, 3))
        filters = 16
        x = inputs
        for _ in range(2):
            x = layers.Conv2D(filters, 3, strides=2)(x)
            filters *= 2
        x = layers.Conv2D(filters, 1)(x)
        model = keras.Model(inputs, x)
        """)))
    assert entries["conv2d_1"]["shape"] == ["B", 7, 7, 32]
    assert (entries["conv2d_2"]["shape"], entries["conv2d_2"]["params"]) == (["B", 7, 7, 64], 2112)


def test_what_an_unknown_loop_or_if_changes_becomes_unknown_not_wrong(tmp_path):
    entries = by_name(shapes_json(tmp_path, textwrap.dedent("""\
        import keras
        from keras import layers


        def build(n_blocks, wide):
            inputs = keras.Input(shape=(32, 32, 3))
            filters = 16
            x = inputs
            for _ in range(n_blocks):
                x = layers.Conv2D(filters, 3, strides=2)(x)
                filters *= 2
            x = layers.Conv2D(filters, 1, name="after_loop")(x)
            y = layers.GlobalAveragePooling2D()(inputs)
            if wide:
                y = layers.Dense(64)(y)
            else:
                y = layers.Dense(8)(y)
            y = layers.Dense(2, name="after_if")(y)
            return keras.Model(inputs, [x, y])
        """)))
    assert entries["conv2d"]["shape"] == ["B", 15, 15, 16]  # the first pass is still known
    assert entries["after_loop"]["shape"] is None or None in entries["after_loop"]["shape"]
    assert entries["after_loop"]["params"] is None
    assert entries["after_if"]["shape"] in (None, ["B", 2]) and entries["after_if"]["params"] is None


def test_attention_projections_inside_a_custom_layer(tmp_path):
    text = (__import__("pathlib").Path(__file__).parent / "corpus" / "attention_in_custom_layer.py").read_text()
    entries = by_name(shapes_json(tmp_path, text))
    assert (entries["query"]["shape"], entries["query"]["params"]) == (["B", 7, 3, 4], 192)
    assert (entries["value"]["shape"], entries["value"]["params"]) == (["B", 7, 3, 3], 144)
    assert (entries["attention_output"]["shape"], entries["attention_output"]["params"]) == (["B", 7, 16], 144)
    assert entries["query"]["scope"] == "AttentionBlock.call"
    assert entries["attention_block"]["params"] == 672 + 32


def test_an_application_without_its_top_takes_any_image_size(tmp_path):
    entries = by_name(shapes_json(tmp_path, textwrap.dedent("""\
        import keras

        base = keras.applications.VGG19(weights=None, include_top=False)
        """)))
    assert entries["vgg19"]["shape"] == ["B", None, None, 512]


def test_keras_ops_in_custom_layers_and_between_layers(tmp_path):
    text = (__import__("pathlib").Path(__file__).parent / "corpus" / "ops_patches_encoder.py").read_text()
    got = {e["name"]: (e["shape"], e["params"]) for e in shapes_json(tmp_path, text)}
    assert got["patches"] == (["B", 16, 192], 0)  # ops.shape, ops.image.extract_patches, ops.reshape
    assert got["encoder"] == (["B", 16, 24], 5016)  # a (B, 16, 24) tensor plus a (1, 16, 24) one
    assert got["dense_1"] == (["B", 24, 5], 85)  # after ops.transpose
    assert got["conv2d"] == (["B", 2, 2, 2], 434)  # ops.reshape with the batch as -1
    assert got["dense_2"] == (["B", 16, 3], 75)  # ops.cast, times a number


def test_a_custom_layer_whose_call_is_not_followed_still_has_its_entry(tmp_path):
    entries = by_name(shapes_json(tmp_path, textwrap.dedent("""\
        import keras
        from keras import layers, ops


        class Mystery(layers.Layer):
            def call(self, x):
                return ops.einsum("bij,bjk->bik", x, x)


        inputs = keras.Input(shape=(4, 4))
        x = Mystery()(inputs)
        outputs = layers.Dense(2)(x)
        model = keras.Model(inputs, outputs)
        """)))
    assert entries["mystery"]["line"] == 11 and entries["mystery"]["shape"] is None
    assert entries["dense"]["params"] is None


def test_custom_layer_counts_a_sequential_it_owns_and_not_weights_it_makes_itself(tmp_path):
    entries = by_name(shapes_json(tmp_path, textwrap.dedent("""\
        import keras
        from keras import layers


        class Block(layers.Layer):
            def __init__(self):
                super().__init__()
                self.ffn = keras.Sequential([layers.Dense(8), layers.Dense(4)])
                self.norm = layers.LayerNormalization()

            def call(self, x):
                return self.norm(self.ffn(x))


        class Scale(layers.Layer):
            def build(self, input_shape):
                self.scale = self.add_weight(shape=(input_shape[-1],))

            def call(self, x):
                return x * self.scale


        inputs = keras.Input(shape=(6,))
        x = Block()(inputs)
        y = Scale()(x)
        model = keras.Model(inputs, y)
        """)))
    assert (entries["block"]["shape"], entries["block"]["params"]) == (["B", 4], 100)
    assert entries["scale"]["params"] is None  # add_weight in build(): not counted, so not claimed


def test_closures_and_boolean_tests_are_followed(tmp_path):
    entries = by_name(shapes_json(tmp_path, textwrap.dedent("""\
        import keras
        from keras import layers


        def residual_block(width):
            def apply(x):
                return layers.Dense(width)(x)
            return apply


        inputs = keras.Input(shape=(4,))
        x = inputs
        for i in range(3):
            if i > 0 and not i % 2 == 1:
                x = layers.Dense(2 ** 3)(x)
            x = residual_block(6 * (i + 1))(x)
        model = keras.Model(inputs, x)
        """)))
    assert (entries["dense"]["scope"], entries["dense"]["shape"], entries["dense"]["params"]) == ("apply", ["B", 6], 30)
    assert entries["dense_1"]["shape"] == ["B", 12]
    assert (entries["dense_2"]["line"], entries["dense_2"]["shape"]) == (15, ["B", 8])
    assert (entries["dense_3"]["shape"], entries["dense_3"]["params"]) == (["B", 18], 162)


def test_after_an_unknown_if_that_makes_different_layers_later_names_are_not_guessed(tmp_path):
    entries = shapes_json(tmp_path, textwrap.dedent("""\
        import keras
        from keras import layers


        def build(deep):
            inputs = keras.Input(shape=(4,))
            x = layers.Dense(8)(inputs)
            if deep:
                x = layers.Dense(8)(x)
                x = layers.Dense(8)(x)
            else:
                x = layers.Dense(8)(x)
            outputs = layers.Dense(1)(x)
            return keras.Model(inputs, outputs)
        """))
    names = {e["line"]: e["name"] for e in entries}
    assert names[7] == "dense" and names[9] == "dense_1" and names[10] == "dense_2"
    assert names[12] == "dense_1"  # the else branch named as if it were the one taken
    assert names[13] == "dense_?"  # dense_2 or dense_3, depending on deep


def test_a_list_of_skip_connections_built_with_append_and_pop(tmp_path):
    entries = by_name(shapes_json(tmp_path, textwrap.dedent("""\
        import keras
        from keras import layers

        inputs = keras.Input(shape=(8, 8, 4))
        x = layers.Conv2D(4, 1)(inputs)
        skips = [x]
        for width in [8, 16]:
            x = layers.Conv2D(width, 3, padding="same")(x)
            skips.append(x)
            x = layers.MaxPooling2D()(x)
        for _ in reversed(range(2)):
            x = layers.UpSampling2D()(x)
            x = layers.Concatenate()([x, skips.pop()])
        outputs = layers.Conv2D(1, 1)(layers.Concatenate()([x, skips[-1]]))
        model = keras.Model(inputs, outputs)
        """)))
    assert entries["concatenate"]["shape"] == ["B", 4, 4, 32]
    assert entries["concatenate_1"]["shape"] == ["B", 8, 8, 40]
    assert entries["concatenate_2"]["shape"] == ["B", 8, 8, 44]
    assert entries["conv2d_3"]["params"] == 45


def test_a_conditional_expression_with_an_unknown_test(tmp_path):
    entries = shapes_json(tmp_path, textwrap.dedent("""\
        import os
        import keras
        from keras import layers

        rate = float(os.environ["RATE"])
        inputs = keras.Input(shape=(6,))
        x = layers.Dropout(rate)(inputs) if rate else inputs
        x = layers.Dropout(0.5)(x)
        model = keras.Model(inputs, layers.Dense(2)(x))
        """))
    by_line = {e["line"]: (e["name"], e["shape"]) for e in entries}
    assert by_line[7] == ("dropout", ["B", 6])
    assert by_line[8] == ("dropout_?", ["B", 6])  # dropout or dropout_1, depending on RATE
    assert by_line[9] == ("dense", ["B", 2])


def test_tensor_indexing_activations_and_a_broadcasting_add(tmp_path):
    text = (__import__("pathlib").Path(__file__).parent / "corpus" / "indexing_broadcast_add.py").read_text()
    entries = by_name(shapes_json(tmp_path, text))
    assert entries["add"]["shape"] == ["B", 8, 8, 4]  # (B, 8, 8, 4) + (B, 1, 1, 4): no conflict
    assert (entries["dense_1"]["shape"], entries["dense_1"]["params"]) == (["B", 8, 8, 3], 9)  # x[..., 1:3]
    assert entries["dense_2"]["shape"] == ["B", 8, 2]  # x[:, 0]
    assert entries["dense_3"]["shape"] == ["B", 4, 2]  # x[:, ::2, -1]


def test_ops_pad_and_concatenate_in_custom_layers(tmp_path):
    text = (__import__("pathlib").Path(__file__).parent / "corpus" / "ops_pad_concatenate.py").read_text()
    got = {e["name"]: (e["shape"], e["params"]) for e in shapes_json(tmp_path, text)}
    assert got["reflect_pad"] == (["B", 10, 12, 3], 0)
    assert got["conv2d"] == (["B", 8, 10, 4], 112)
    assert got["mix"] == (["B", 8, 10, 8], 0)


def test_tensorflow_spellings_of_the_same_ops(tmp_path):
    entries = by_name(shapes_json(tmp_path, textwrap.dedent("""\
        import tensorflow as tf
        from tensorflow import keras
        from tensorflow.keras import layers


        class Features(layers.Layer):
            def call(self, x):
                x = tf.cast(x, tf.float32)
                return tf.concat([tf.sin(x), tf.cos(x)], axis=-1)


        inputs = keras.Input(shape=(5,))
        outputs = layers.Dense(2)(Features()(inputs))
        model = keras.Model(inputs, outputs)
        """)))
    assert entries["features"]["shape"] == ["B", 10]
    assert (entries["dense"]["shape"], entries["dense"]["params"]) == (["B", 2], 22)
