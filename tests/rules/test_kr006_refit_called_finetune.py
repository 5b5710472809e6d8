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


def test_unfreezing_and_compiling_again_is_a_fine_tuning_stage():
    assert rule("KR006").severity
    assert_clean("""
    import keras
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    base.trainable = False
    model = keras.Sequential([base, keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x_train, y_train)
    # fine-tune: unfreeze, compile again with a low learning rate
    base.trainable = True
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="mse")
    model.fit(x_train, y_train)
    """, "KR006")
