from rules.ruletest import rule, apply_fix, assert_clean, assert_flagged


def test_conv2d_on_a_rank_2_input():
    assert_flagged("""
    import keras
    from keras import layers
    model = keras.Sequential([
        keras.Input(shape=(784,)),
        layers.Conv2D(32, 3),  # <-
    ])
    """, "KR001", "Conv2D", "rank-4", "rank 2")


def test_dense_output_that_cannot_match_a_later_reshape():
    assert_flagged("""
    import tensorflow as tf
    model = tf.keras.Sequential([
        tf.keras.layers.Dense(100, input_shape=(64,)),
        tf.keras.layers.Reshape((8, 8)),  # <-
    ])
    """, "KR001", "64", "100")


def test_concatenate_of_mismatched_dims():
    assert_flagged("""
    import keras
    from keras import layers
    a = keras.Input(shape=(10, 4))
    b = keras.Input(shape=(12, 4))
    c = layers.Concatenate()([a, b])  # <-
    """, "KR001", "Concatenate")


def test_vgg16_with_its_classifier_at_32x32_and_the_fix():
    src = """
    import keras
    base = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3))  # <-
    """
    assert_flagged(src, "KR001", "include_top")
    assert "include_top=False" in apply_fix(src, "KR001")


def test_matching_shapes_are_clean():
    assert rule("KR001").severity  # registered, so the silence below is its own
    assert_clean("""
    import keras
    from keras import layers
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 3),
        layers.Flatten(),
        layers.Dense(64),
        layers.Reshape((8, 8)),
    ])
    a = keras.Input(shape=(10, 4))
    b = keras.Input(shape=(10, 6))
    c = layers.Concatenate()([a, b])
    """, "KR001")
