from rules.ruletest import rule, apply_fix, assert_clean, assert_flagged

WRONG = """
import keras
from keras import layers
base = keras.applications.MobileNetV2(include_top=False, input_shape=(96, 96, 3))
model = keras.Sequential([base, layers.GlobalAveragePooling2D(), layers.Dense(5)])
model.compile(optimizer="adam", loss="mse")
model.fit(x_train, y_train)  # <-
"""


def test_pretrained_base_trained_unfrozen():
    assert_flagged(WRONG, "KR007", "base.trainable = False")
    fixed = apply_fix(WRONG, "KR007")
    assert "base.trainable = False\nmodel.compile(" in fixed


def test_frozen_base_or_random_weights_are_clean():
    assert rule("KR007").severity  # registered, so the silence below is its own
    assert_clean(WRONG.replace("model.compile(", "base.trainable = False\nmodel.compile("), "KR007")
    assert_clean(WRONG.replace("input_shape=(96, 96, 3))", "input_shape=(96, 96, 3), weights=None)"), "KR007")
