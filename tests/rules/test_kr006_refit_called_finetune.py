from rules.ruletest import rule, assert_clean, assert_flagged

WRONG = """
import tensorflow as tf
model = tf.keras.Sequential([tf.keras.layers.Dense(10, input_shape=(4,))])
model.compile(loss="mse")
# 训练模型
model.fit(x_train, y_train, epochs=5)

# 微调模型
model.fit(x_train, y_train, epochs=5)  # <-
"""


def test_the_seed_refit_called_finetuning():
    assert_flagged(WRONG, "KR006", "line 6", "not fine-tuning")
    assert_flagged(WRONG.replace("# 微调模型", "# fine-tune the model"), "KR006")


def test_more_epochs_without_the_claim_or_new_data_is_clean():
    assert rule("KR006").severity  # registered, so the silence below is its own
    assert_clean(WRONG.replace("# 微调模型", "# train more"), "KR006")
    assert_clean(WRONG.replace("model.fit(x_train, y_train, epochs=5)  # <-", "model.fit(x_new, y_new, epochs=5)"),
                 "KR006")
