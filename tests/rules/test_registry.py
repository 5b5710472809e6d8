"""The registry as `ml-lsp rules` and the editor see it: every built-in rule arrives through
the plugin entry point, with a unique code and name and docs holding a wrong and a right example."""

import re

from ml_lsp.analysis.lint import SEVERITIES, check_source, load_rules
from ml_lsp_rules.registry import RULES


def test_every_built_in_rule_is_loaded_through_the_entry_point():
    loaded = {r.code for r in load_rules()}
    assert {r.code for r in RULES} <= loaded


def test_codes_names_and_docs():
    assert len({r.code for r in RULES}) == len({r.name for r in RULES}) == len(RULES)
    for r in RULES:
        assert re.fullmatch(r"(SH|TR|DA|KR)\d{3}", r.code), r.code
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", r.name), r.name
        if r.code.startswith("KR"):  # Keras rules: their own prefix, each in the category of its mistake
            assert r.category in ("shape", "training", "data")
        else:
            assert r.category == {"SH": "shape", "TR": "training", "DA": "data"}[r.code[:2]]
        assert r.severity in SEVERITIES
        assert "Wrong:" in r.docs and "Right:" in r.docs, r.code


def test_every_shape_conflict_kind_in_the_contract_has_a_rule():
    kinds = {k for r in RULES for k in r.conflict_kinds}
    contract = {"linear_in_features", "conv_in_channels", "norm_features", "rnn_input_size", "mha_embed_dim",
                "embedding_input", "view_numel", "view_multiple_minus_one", "matmul_inner", "einsum_dims",
                "cat_dims", "dim_out_of_range", "broadcast", "permute_dims", "spatial_nonpositive",
                "cross_entropy_shapes", "loss_broadcast"}
    assert contract <= kinds


def test_noqa_silences_one_code_or_all():
    src = 'import torch\nx = torch.load("a")  # noqa: DA003\ny = torch.load("b")  # noqa\nz = torch.load("c")  # noqa: TR001\n'
    assert [f.line for f in check_source(src, select=["DA003"]).findings] == [4]


def test_a_rule_that_raises_costs_its_findings_only():
    from dataclasses import replace

    def boom(ctx):
        raise RuntimeError("bug")
    broken = replace(RULES[0], code="XX001", check=boom)
    result = check_source('import torch\ntorch.load("a")\n', rules=[broken, *RULES], select=["XX001", "DA003"])
    assert [f.code for f in result.findings] == ["DA003"]
    assert any("XX001 failed" in p for p in result.problems)
