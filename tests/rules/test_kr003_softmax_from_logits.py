from rules.ruletest import rule, apply_fix, assert_clean, assert_flagged

SOFTMAX_WITH_LOGITS = """
import keras
from keras import layers
model = keras.Sequential([layers.Dense(64, input_shape=(8,)), layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam",
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # <-
"""

LOGITS_WITHOUT = """
import tensorflow as tf
model = tf.keras.Sequential([tf.keras.layers.Dense(64, input_shape=(8,)), tf.keras.layers.Dense(10)])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")  # <-
"""


def test_softmax_output_with_from_logits():
    assert_flagged(SOFTMAX_WITH_LOGITS, "KR003", "softmax", "from_logits=True")
    assert "from_logits=False" in apply_fix(SOFTMAX_WITH_LOGITS, "KR003")


def test_logits_without_from_logits():
    assert_flagged(LOGITS_WITHOUT, "KR003", "logits")
    fixed = apply_fix(LOGITS_WITHOUT, "KR003")
    assert "tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)" in fixed


def test_the_seed_pairing_is_clean():
    assert rule("KR003").severity  # registered, so the silence below is its own
    # the seed's own model: logits with from_logits=True, and softmax with the string loss
    assert_clean(SOFTMAX_WITH_LOGITS.replace('layers.Dense(10, activation="softmax")', "layers.Dense(10)"), "KR003")
    assert_clean(LOGITS_WITHOUT.replace("Dense(10)", "Dense(10, activation='softmax')"), "KR003")
