"""The code samples of the seed articles (/work/shared/seeds, copied verbatim to
tests/corpus/seeds/, the same copies the shape ground truth runs): each real mistake in
them is flagged, and nothing else."""

from pathlib import Path

import pytest

from ml_lsp.analysis.lint import check_source

SEEDS = Path(__file__).parent.parent / "corpus" / "seeds"

# file -> [(line, code)]: the mistakes a reader of the article would make by copying it.
EXPECTED = {
    # "微调模型": fine-tuning with model.fit(x_test, y_test) trains on the test split.
    "seed000_keras_mlp_finetune.py": [(19, "DA001")],
    # validation_data=test_data: the test split steers training (the block alone does not show
    # that train_data is a DataFrame without labels; the whole article below does).
    "seed001_keras_train.py": [(18, "KR005")],
    # VGG16(weights='imagenet') downloads (info); Sequential given two tensors; the pretrained
    # base trained unfrozen; validation on the test split.
    "seed001_vgg16_finetune.py": [(4, "KR011"), (8, "KR009"), (9, "KR009"), (19, "KR007"), (19, "KR005")],
    # "微调模型": model.fit(x_train, y_train) again, the same training called fine-tuning.
    "seed004_keras_cnn_finetune.py": [(24, "KR006")],
    # optim.SGD(net.parameters()) while only the class Net exists: NameError.
    "seed002_torch_mlp_training.py": [(28, "TR010")],
    # Not flagged, and known: seed001_numpy_two_layer.py multiplies np.dot((4, 2), (10, 2)) in its numpy
    # network, a real shape mistake, but the shape engine models torch, not numpy. The other
    # blocks are TensorFlow/numpy code with placeholders (input_shape, epochs), not mistakes.
}


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.py")), ids=lambda p: p.name)
def test_seed_sample_findings(path):
    result = check_source(path.read_text(encoding="utf-8"), str(path))
    assert [(f.line, f.code) for f in result.findings] == EXPECTED.get(path.name, [])


# The article of seed 001 as a reader runs it: its four code blocks one after the other, in
# one notebook. Across blocks more is known (train_data is a DataFrame slice; it was fitted
# with a sparse loss first), and each mistake is flagged on its block's line.
SEED001_BLOCKS = ["seed001_data_prep.py", "seed001_keras_train.py", "seed001_keras_evaluate.py",
                  "seed001_vgg16_finetune.py"]
SEED001_EXPECTED = {
    "seed001_keras_train.py": [(18, "KR010"), (18, "KR005"), (18, "KR010")],  # fit(train_data), validation_data
    "seed001_keras_evaluate.py": [(4, "KR010")],  # evaluate(test_data) without labels
    "seed001_vgg16_finetune.py": [(4, "KR011"), (8, "KR009"), (9, "KR009"),
                                  (15, "KR004"),  # categorical_crossentropy, labels fitted as class ids
                                  (19, "KR007"), (19, "KR010"), (19, "KR005"), (19, "KR010")],
}


def test_seed001_article_as_one_notebook():
    texts = [(name, (SEEDS / name).read_text(encoding="utf-8")) for name in SEED001_BLOCKS]
    result = check_source("".join(text for _, text in texts), "seed001_article.py")
    got: dict = {}
    start = 0
    for name, text in texts:
        n = text.count("\n")
        got[name] = [(f.line - start, f.code) for f in result.findings if start < f.line <= start + n]
        start += n
    assert {k: v for k, v in got.items() if v} == SEED001_EXPECTED


def test_every_seed_code_block_is_a_fixture():
    assert len(list(SEEDS.glob("*.py"))) == 9
