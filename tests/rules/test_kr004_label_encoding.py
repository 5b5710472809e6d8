from rules.ruletest import rule, apply_fix, assert_clean, assert_flagged

WRONG = """
import keras
(x_train, y_train), _ = keras.datasets.mnist.load_data()
model = keras.Sequential([keras.layers.Flatten(input_shape=(28, 28)), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="categorical_crossentropy")  # <-
model.fit(x_train, y_train)
"""


def test_categorical_with_integer_labels():
    assert_flagged(WRONG, "KR004", "categorical_crossentropy", "y_train", "integer class ids")
    assert "'sparse_categorical_crossentropy'" in apply_fix(WRONG, "KR004")


def test_sparse_with_one_hot_labels():
    assert_flagged("""
    import keras
    (x_train, y_train), _ = keras.datasets.mnist.load_data()
    y_onehot = keras.utils.to_categorical(y_train, 10)
    model = keras.Sequential([keras.layers.Flatten(input_shape=(28, 28)), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")  # <-
    model.fit(x_train, y_onehot)
    """, "KR004", "one-hot")


def test_the_same_data_trained_with_the_other_loss_before():
    assert_flagged("""
    import pandas as pd
    import tensorflow as tf
    train_data = pd.read_csv("train.csv")
    model = tf.keras.Sequential([tf.keras.layers.Dense(10, input_shape=(4,))])
    model.compile(loss=tf.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(train_data, epochs=5)
    head = tf.keras.Sequential([tf.keras.layers.Dense(10, activation="softmax", input_shape=(4,))])
    head.compile(optimizer="adam",
                 loss="categorical_crossentropy")  # <-
    head.fit(train_data, epochs=5)
    """, "KR004", "line 7")


def test_matching_encodings_are_clean():
    assert rule("KR004").severity  # registered, so the silence below is its own
    assert_clean(WRONG.replace('"categorical_crossentropy"', '"sparse_categorical_crossentropy"'), "KR004")
