from rules.ruletest import rule, assert_clean, assert_flagged

WRONG = """
import pandas as pd
import tensorflow as tf
data = pd.read_csv("data.csv")
train_data = data[:800]
test_data = data[800:]
model = tf.keras.Sequential([tf.keras.layers.Dense(10, input_shape=(4,))])
model.compile(loss="mse")
model.fit(train_data, epochs=5, validation_data=test_data)  # <-
model.evaluate(test_data)  # <-
"""


def test_dataframe_without_labels():
    found = assert_flagged(WRONG.replace("validation_data=test_data", "validation_split=0.1"), "KR010")
    assert "fit(train_data) without labels" in found[0].message


def test_validation_data_that_is_one_frame():
    found = assert_flagged(WRONG.replace("model.fit(train_data,", "model.fit(train_data, labels,")
                           .replace("model.evaluate(test_data)  # <-", ""), "KR010", "validation_data")
    assert len(found) == 1


def test_labels_given_or_a_dataset_is_clean():
    assert rule("KR010").severity  # registered, so the silence below is its own
    assert_clean("""
    import tensorflow as tf
    model = tf.keras.Sequential([tf.keras.layers.Dense(10, input_shape=(4,))])
    model.fit(train_ds, epochs=5)
    model.fit(x_train, y_train, validation_data=(x_val, y_val))
    """, "KR010")
