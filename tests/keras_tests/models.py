"""Keras model sources the tests share: the same models in the spellings users write."""

import textwrap

# The seed article's CNN (shared/seeds/004), in its own `import tensorflow as tf` spelling.
SEQUENTIAL_TF = textwrap.dedent("""\
    import tensorflow as tf

    model = tf.keras.Sequential([
        tf.keras.layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)),
        tf.keras.layers.MaxPooling2D((2, 2)),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(128, activation='relu'),
        tf.keras.layers.Dropout(0.5),
        tf.keras.layers.Dense(10, activation='softmax')
    ])
    """)

SEQUENTIAL_KERAS = (SEQUENTIAL_TF.replace("import tensorflow as tf", "import keras")
                    .replace("tf.keras.", "keras."))
SEQUENTIAL_FROM_TF = (SEQUENTIAL_TF.replace("import tensorflow as tf", "from tensorflow import keras\n"
                                            "from tensorflow.keras import layers")
                      .replace("tf.keras.layers.", "layers.").replace("tf.keras.", "keras."))

FUNCTIONAL = textwrap.dedent("""\
    import keras
    from keras import layers

    inputs = keras.Input(shape=(32, 32, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D()(x)
    branch = layers.Conv2D(16, 1)(x)
    x = layers.Add()([x, branch])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.LayerNormalization()(x)
    outputs = layers.Dense(10, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs)
    """)

SUBCLASSED = textwrap.dedent("""\
    import keras
    from keras import layers


    class MLP(keras.Model):
        def __init__(self, hidden=64, classes=10):
            super().__init__()
            self.fc1 = layers.Dense(hidden, activation="relu")
            self.drop = layers.Dropout(0.1)
            self.fc2 = layers.Dense(classes)

        def call(self, inputs):
            h = self.fc1(inputs)
            h = self.drop(h)
            return self.fc2(h)


    model = MLP(hidden=32)
    out = model(keras.Input(shape=(784,)))
    """)

SEQUENCE = textwrap.dedent("""\
    import keras
    from keras import layers

    tokens = keras.Input(shape=(20,), dtype="int32")
    e = layers.Embedding(1000, 64)(tokens)
    s = layers.LSTM(32, return_sequences=True)(e)
    g = layers.GRU(16)(s)
    r = layers.SimpleRNN(8, return_sequences=True)(e)
    a = layers.MultiHeadAttention(num_heads=2, key_dim=16)(e, e)
    pooled = layers.GlobalAveragePooling1D()(a)
    c = layers.Concatenate()([g, layers.Flatten()(r), pooled])
    model = keras.Model(tokens, c)
    """)

APPLICATIONS = textwrap.dedent("""\
    import keras
    from keras import layers

    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(96, 96, 3))
    base.trainable = False
    model = keras.Sequential([base, layers.GlobalAveragePooling2D(), layers.Dense(5)])
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    resnet = keras.applications.ResNet50(weights=None)
    """)

ALL = {"sequential_tf": SEQUENTIAL_TF, "sequential_keras": SEQUENTIAL_KERAS,
       "sequential_from_tf": SEQUENTIAL_FROM_TF, "functional": FUNCTIONAL, "subclassed": SUBCLASSED,
       "sequence": SEQUENCE, "applications": APPLICATIONS}
