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


def test_every_seed_code_block_is_a_fixture():
    assert len(list(SEEDS.glob("*.py"))) == 9
