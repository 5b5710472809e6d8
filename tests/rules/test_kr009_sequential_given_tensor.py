from rules.ruletest import rule, assert_clean, assert_flagged


def test_the_seed_sequential_of_tensors():
    assert_flagged("""
    import tensorflow as tf
    pretrained_model = tf.keras.applications.VGG16(weights='imagenet')
    fine_tuned_model = tf.keras.Sequential([
        pretrained_model.input,  # <-
        pretrained_model.layers[-1].output,  # <-
        tf.keras.layers.Dense(10, activation='softmax')
    ])
    """, "KR009", "tensor, not a layer")


def test_a_model_as_a_layer_and_an_input_first_are_clean():
    assert rule("KR009").severity  # registered, so the silence below is its own
    assert_clean("""
    import keras
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    model = keras.Sequential([keras.Input(shape=(32, 32, 3)), base, keras.layers.Flatten()])
    """, "KR009")
