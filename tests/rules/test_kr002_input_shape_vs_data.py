from rules.ruletest import rule, apply_fix, assert_clean, assert_flagged

WRONG = """
import keras
from keras import layers
(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
model = keras.Sequential([layers.Dense(128, activation="relu", input_shape=(784,)), layers.Dense(10)])
model.fit(x_train, y_train, epochs=1)  # <-
"""


def test_mnist_images_into_a_flat_input():
    assert_flagged(WRONG, "KR002", "(784,)", "(60000, 28, 28)")


def test_fix_flattens_the_samples():
    assert "x_train.reshape(-1, 784)" in apply_fix(WRONG, "KR002")


def test_digits_without_a_channel_axis_gets_one():
    src = """
    import keras
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = digits.images / 16.0
    model = keras.Sequential([keras.layers.Conv2D(8, 3, input_shape=(8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    model.fit(x, digits.target)  # <-
    """
    assert_flagged(src, "KR002")
    assert "x[..., None]" in apply_fix(src, "KR002")


def test_matching_data_is_clean():
    assert rule("KR002").severity  # registered, so the silence below is its own
    assert_clean(WRONG.replace("model.fit(x_train,", "model.fit(x_train.reshape(-1, 784),"), "KR002")
