from rules.ruletest import rule, assert_clean, assert_flagged


def test_imagenet_weights_are_downloaded():
    found = assert_flagged("""
    import keras
    base = keras.applications.ResNet50(weights="imagenet", include_top=False)  # <-
    vgg = keras.applications.VGG16()  # <-
    """, "KR011", "~/.keras/models", "weights='/path/to/")
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in found[0].message
    assert found[0].severity == "info"


def test_local_or_no_weights_are_clean():
    assert rule("KR011").severity  # registered, so the silence below is its own
    assert_clean("""
    import keras
    base = keras.applications.ResNet50(weights=None)
    vgg = keras.applications.VGG16(weights="/data/vgg16.h5")
    """, "KR011")
