"""The ground-truth comparison counts what issue 4's bars name: exact, right rank, and
contradicted (a wrong int where runtime has an int, or a wrong rank)."""

from pathlib import Path

import pytest

from groundtruth.harness import CorpusModel, HeaderError, compare, parse_header

MODEL = CorpusModel(path=Path("/x/model.py"), entry="Net")


def _rt(line, name, shape):
    return {"scope": "Net.forward", "line": line, "name": name, "shape": shape, "dtype": "float"}


def test_exact_symbolic_missing_and_contradicted():
    runtime = [_rt(1, "a", [4, 8]), _rt(2, "b", [4, 8]), _rt(3, "c", [4, 8]),
               _rt(4, "d", [4, 8]), _rt(5, "e", [4, 8])]
    static = [_rt(1, "a", [4, 8]),          # exact
              _rt(2, "b", ["B", 8]),        # right rank, not exact, not contradicted
              _rt(3, "c", [4, 9]),          # wrong int
              _rt(4, "d", [4, 8, 1])]       # wrong rank; e is missing
    tally = compare(MODEL, runtime, static)
    assert (tally.total, tally.exact, tally.right_rank) == (5, 1, 3)
    assert (tally.contradicted, tally.contradicted_ints) == (2, 1)
    kinds = {d.name: d.kind for d in tally.disagreements}
    assert kinds == {"b": "inexact", "c": "contradicted", "d": "contradicted", "e": "missing"}
    assert str([d for d in tally.disagreements if d.name == "c"][0]) == \
        "/x/model.py:3 (Net.forward) c: static [4, 9] vs runtime [4, 8] [contradicted]"


def test_a_dim_that_varied_at_runtime_must_not_be_a_fixed_int():
    # e.g. x in a loop over layers of different widths: any one int is wrong for some pass
    runtime = [_rt(1, "x", [2, None])]
    assert compare(MODEL, runtime, [_rt(1, "x", [2, "n"])]).exact == 1
    assert compare(MODEL, runtime, [_rt(1, "x", [2, None])]).exact == 1
    wrong = compare(MODEL, runtime, [_rt(1, "x", [2, 8])])
    assert wrong.exact == 0 and wrong.contradicted_ints == 1
    assert wrong.disagreements[0].kind == "contradicted"


def test_a_rank_polymorphic_shape_is_right_rank_where_the_runtime_rank_allows_it():
    # (*, 256): what a first Linear(256, ...) says of its input; the runtime's rank 2 or 3
    runtime = [_rt(1, "a", [2, 256]), _rt(2, "b", [2, 16, 256]), _rt(3, "c", [256]),
               _rt(4, "d", [2, 16, 128]), _rt(5, "e", [256])]
    static = [_rt(1, "a", ["*", 256]), _rt(2, "b", ["*", 256]), _rt(3, "c", ["*", 256]),
              _rt(4, "d", ["*", 256]),          # a wrong int in the tail
              _rt(5, "e", ["*", "T", 256])]     # a tail longer than the runtime's rank
    tally = compare(MODEL, runtime, static)
    assert (tally.right_rank, tally.star_rank, tally.exact) == (3, 3, 0)
    assert (tally.contradicted, tally.contradicted_ints) == (2, 1)
    assert {d.name for d in tally.disagreements if d.wrong_int} == {"d"}
    # a made-up fixed rank that differs stays wrong
    made_up = compare(MODEL, [_rt(1, "x", [2, 16, 256])], [_rt(1, "x", ["B", 256])])
    assert (made_up.right_rank, made_up.contradicted) == (0, 1)


def test_a_wrong_dtype_is_counted_apart_from_shapes():
    runtime = [dict(_rt(1, "idx", [2, 3]), dtype="long")]
    tally = compare(MODEL, runtime, [_rt(1, "idx", [2, 3])])
    assert (tally.exact, tally.wrong_dtype) == (1, 1)
    assert [d.kind for d in tally.disagreements] == ["dtype"]
    assert compare(MODEL, runtime, [dict(_rt(1, "idx", [2, 3]), dtype=None)]).wrong_dtype == 0


def test_unknown_static_shape_is_missing_not_contradicted():
    tally = compare(MODEL, [_rt(1, "x", [2, 3])], [_rt(1, "x", None)])
    assert (tally.exact, tally.right_rank, tally.contradicted) == (0, 0, 0)


def test_header_parsing(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("# corpus: entry=GPT\n# corpus: init=GPTConfig(n_layer=2, n_embd=32)\n"
                    "# corpus: input=idx=2,16 long<65\n# corpus: input=mask=2,16 bool\n"
                    "# corpus: argv=--nz 16\nimport torch\n")
    model = parse_header(path)
    assert (model.entry, model.init, model.argv, model.load) == \
        ("GPT", "GPTConfig(n_layer=2, n_embd=32)", ["--nz", "16"], "module")
    assert [(i.name, i.dims, i.dtype, i.high) for i in model.inputs] == \
        [("idx", [2, 16], "long", 65), ("mask", [2, 16], "bool", None)]
    assert model.inputs[0].cli_arg() == "idx=2,16"
    path.write_text("# corpus: entry=Net\n# corpus: input=x=4;5\n")
    with pytest.raises(HeaderError, match="bad `# corpus: input=x=4;5`"):
        parse_header(path)
    path.write_text("import torch\n")
    assert parse_header(path) is None
