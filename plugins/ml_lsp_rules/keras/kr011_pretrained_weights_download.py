"""KR011 keras-pretrained-weights-download: ``weights='imagenet'`` downloads the weights on
first use (info: offline, point at a local file)."""

from ml_lsp.analysis.lint import Rule

from ml_lsp_rules.keras.common import keyword

DOCS = """\
``keras.applications.VGG16(weights="imagenet")`` (the default) downloads its weights from
storage.googleapis.com the first time, into ~/.keras/models. On a machine without internet
access (a cluster node, CI) this fails at run time. Download the file once elsewhere and
pass its path, or ``weights=None`` to train from scratch.

Wrong: (on a machine that cannot download)
    base = keras.applications.VGG16(weights="imagenet", include_top=False)

Right:
    base = keras.applications.VGG16(
        weights="/data/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", include_top=False)"""

_FILES = {
    "VGG16": ("vgg16_weights_tf_dim_ordering_tf_kernels.h5", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
              "528 MB", "58 MB"),
    "VGG19": ("vgg19_weights_tf_dim_ordering_tf_kernels.h5", "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
              "549 MB", "80 MB"),
    "ResNet50": ("resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                 "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "98 MB", "94 MB"),
    "MobileNetV2": ("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
                    "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", "14 MB", "9 MB"),
}


def check(ctx):
    from ml_lsp_rules.keras.common import keras_facts

    kf = keras_facts(ctx)
    if kf is None:
        return
    for app, node in kf.applications:
        weights = app.spec.kwargs.get("weights", "imagenet")
        if weights != "imagenet" or app.spec.cls not in _FILES:
            continue
        top = app.spec.kwargs.get("include_top", True) is not False
        file, file_notop, size, size_notop = _FILES[app.spec.cls]
        name = file if top else file_notop
        kw = keyword(node, "weights")
        yield RULE.at_node(ctx, kw if kw is not None else node,
                           f"{app.spec.cls}(weights='imagenet') downloads {name} ({size if top else size_notop}) "
                           f"into ~/.keras/models on first use; offline, copy that file there or pass "
                           f"weights='/path/to/{name}'")


RULE = Rule(code="KR011", name="keras-pretrained-weights-download", category="data", severity="info",
            summary="weights='imagenet' downloads on first use", docs=DOCS, check=check)
