"""`ml-lsp shapes` on Keras code, as a terminal user runs it: one entry per layer, on the
line that creates it (Sequential list) or calls it (functional API, call()), its Keras
name, its output shape with the batch as B, and its parameter count as model.summary()
prints it. No TensorFlow or Keras is imported: the analysis is static."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from keras_tests import models


def shapes_json(tmp_path, text, name="model.py"):
    path = tmp_path / name
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", "--json", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["files"][0]["shapes"]


def table(entries):
    return [(e["line"], e["name"], e["shape"], e["params"]) for e in entries]


def test_sequential_list_in_the_seed_spelling(tmp_path):
    entries = shapes_json(tmp_path, models.SEQUENTIAL_TF)
    assert table(entries) == [
        (4, "conv2d", ["B", 26, 26, 32], 320),
        (5, "max_pooling2d", ["B", 13, 13, 32], 0),
        (6, "flatten", ["B", 5408], 0),
        (7, "dense", ["B", 128], 692352),
        (8, "dropout", ["B", 128], 0),
        (9, "dense_1", ["B", 10], 1290),
    ]
    assert all(e["scope"] == "<module>" and e["dtype"] == "float" for e in entries)


@pytest.mark.parametrize("spelling", ["sequential_keras", "sequential_from_tf"])
def test_every_import_spelling_gives_the_same_shapes(tmp_path, spelling):
    text = models.ALL[spelling]
    reference = table(shapes_json(tmp_path, models.SEQUENTIAL_TF, "ref.py"))
    assert len(reference) == 6
    offset = text.count("\n", 0, text.index("model =")) - models.SEQUENTIAL_TF.count(
        "\n", 0, models.SEQUENTIAL_TF.index("model ="))
    assert table(shapes_json(tmp_path, text)) == [(line + offset, *rest) for line, *rest in reference]


def test_functional_api_entries_on_the_calling_lines(tmp_path):
    entries = shapes_json(tmp_path, models.FUNCTIONAL)
    by_line = {e["line"]: (e["name"], e["shape"], e["params"]) for e in entries}
    assert by_line[6] == ("conv2d", ["B", 32, 32, 16], 448)
    assert by_line[7] == ("batch_normalization", ["B", 32, 32, 16], 64)
    assert by_line[10] == ("add", ["B", 16, 16, 16], 0)
    assert by_line[11] == ("global_average_pooling2d", ["B", 16], 0)
    assert by_line[13] == ("head", ["B", 10], 170)  # name= wins over the automatic name


def test_subclassed_model_call(tmp_path):
    entries = shapes_json(tmp_path, models.SUBCLASSED)
    assert [(e["scope"], e["line"], e["name"], e["shape"], e["params"]) for e in entries] == [
        ("MLP.call", 13, "dense", ["B", 32], 25120),
        ("MLP.call", 14, "dropout", ["B", 32], 0),
        ("MLP.call", 15, "dense_1", ["B", 10], 330),
        ("<module>", 19, "mlp", ["B", 10], 25450),  # the model called: its output and total
    ]


def test_recurrent_attention_and_merge_layers(tmp_path):
    by_name = {e["name"]: (e["shape"], e["params"]) for e in shapes_json(tmp_path, models.SEQUENCE)}
    assert by_name["embedding"] == (["B", 20, 64], 64000)
    assert by_name["lstm"] == (["B", 20, 32], 4 * 32 * (64 + 32 + 1))
    assert by_name["gru"] == (["B", 16], 3 * 16 * (32 + 16 + 2))  # Keras 3: reset_after, two biases
    assert by_name["simple_rnn"] == (["B", 20, 8], 8 * (64 + 8 + 1))
    assert by_name["multi_head_attention"][0] == ["B", 20, 64]
    assert by_name["concatenate"] == (["B", 16 + 160 + 64], 0)


def test_applications_with_and_without_the_top(tmp_path):
    entries = shapes_json(tmp_path, models.APPLICATIONS)
    by_line = {}
    for e in entries:
        by_line.setdefault(e["line"], []).append((e["name"], e["shape"], e["params"]))
    assert by_line[4] == [("mobilenetv2_1.00_96", ["B", 3, 3, 1280], 2257984)]
    assert by_line[6][1:] == [("global_average_pooling2d", ["B", 1280], 0), ("dense", ["B", 5], 6405)]
    assert by_line[7] == [("vgg16", ["B", 1, 1, 512], 14714688)]
    assert by_line[8] == [("resnet50", ["B", 1000], 25636712)]


def test_text_output_names_the_model_and_its_total(tmp_path):
    path = tmp_path / "cnn.py"
    path.write_text(models.SEQUENTIAL_TF)
    proc = subprocess.run([sys.executable, "-m", "ml_lsp", "shapes", str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "dense = (B, 128) float  <- Dense output, 692,352 params" in proc.stdout
    assert "Keras sequential model model: (B, 28, 28, 1) -> (B, 10), 693,962 params" in proc.stdout


def test_the_server_process_never_imports_keras_or_tensorflow(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(models.SEQUENTIAL_TF)
    code = ("import sys; from ml_lsp.analysis import analyze_source; "
            f"f = analyze_source(open({str(path)!r}).read(), {str(path)!r}); "
            "assert f.bindings; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'torch')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
