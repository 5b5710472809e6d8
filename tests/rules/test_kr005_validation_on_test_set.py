from rules.ruletest import rule, apply_fix, assert_clean, assert_flagged

WRONG = """
import keras
model = keras.Sequential([keras.layers.Dense(10, input_shape=(4,))])
model.compile(loss="mse")
model.fit(x_train, y_train, validation_data=(x_test, y_test))  # <-
model.evaluate(x_test, y_test)
"""


def test_validation_data_is_the_test_split():
    assert_flagged(WRONG, "KR005", "x_test")
    assert "validation_split=0.1" in apply_fix(WRONG, "KR005")


def test_a_validation_split_is_clean():
    assert rule("KR005").severity  # registered, so the silence below is its own
    assert_clean(WRONG.replace("(x_test, y_test))", "(x_val, y_val))"), "KR005")
