from rules.ruletest import rule, apply_fix, assert_clean, assert_flagged

WRONG = """
import keras
from keras import layers
base = keras.applications.MobileNetV2(include_top=False, input_shape=(96, 96, 3))
base.trainable = False
model = keras.Sequential([base, layers.GlobalAveragePooling2D(), layers.Dense(5)])
model.compile(optimizer="adam", loss="mse")
model.fit(x_train, y_train)
base.trainable = True  # <-
model.fit(x_train, y_train)
"""


def test_unfreezing_without_compiling_again():
    assert_flagged(WRONG, "KR008", "compile", "line 10")
    fixed = apply_fix(WRONG, "KR008")
    assert fixed.count('model.compile(optimizer="adam", loss="mse")') == 2


def test_unfreezing_then_compiling_is_clean():
    assert rule("KR008").severity  # registered, so the silence below is its own
    assert_clean(WRONG.replace("base.trainable = True  # <-\n",
                               "base.trainable = True\nmodel.compile(optimizer='adam', loss='mse')\n"), "KR008")


def test_a_layer_slice_of_the_base_counts_too():
    assert_flagged("""
    import keras
    base = keras.applications.ResNet50(include_top=False, input_shape=(64, 64, 3))
    base.trainable = False
    model = keras.Sequential([base, keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y)
    for layer in base.layers[-10:]:
        layer.trainable = True  # <-
    model.fit(x, y)
    """, "KR008")
