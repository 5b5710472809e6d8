"""The real-code benchmark's scoring of plain ``ml-lsp shapes FILE`` (issue 13): against the
model the engine was asked about (the class built with its defaults, on the inputs the engine
inferred), not the manifest's smaller model. Pure logic of benchmarks/realcode: no mirrors,
no venv, no torch."""

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace


def _benchmark_modules():
    """benchmarks/realcode's run and defaults, imported with their own siblings (its
    groundtruth.py, corpus.py) and then taken back out of sys.modules and sys.path: the
    tests' own ``groundtruth`` package must stay importable, whichever is collected first."""
    names = ("groundtruth", "corpus", "defaults", "run")
    saved = {n: sys.modules.pop(n) for n in names if n in sys.modules}
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "realcode"))
    try:
        return importlib.import_module("defaults"), importlib.import_module("run")
    finally:
        sys.path.pop(0)
        for n in names:
            sys.modules.pop(n, None)
        sys.modules.update(saved)


defaults, run = _benchmark_modules()

LABEL = "owner/repo:model.py"
# the manifest builds ViT(dim=64); the engine, given no --init, analysed ViT() with dim=768
MANIFEST_RUN = [{"scope": "ViT.forward", "line": 10, "name": "x", "shape": [2, 17, 64], "dtype": "float"},
                {"scope": "ViT.forward", "line": 11, "name": "y", "shape": [2, 64], "dtype": "float"}]
DEFAULT_RUN = [{"scope": "ViT.forward", "line": 10, "name": "x", "shape": [2, 197, 768], "dtype": "float"},
               {"scope": "ViT.forward", "line": 11, "name": "y", "shape": [2, 768], "dtype": "float"}]
STATIC = [{"scope": "ViT.forward", "line": 10, "name": "x", "shape": ["B", 197, 768], "dtype": "float"},
          {"scope": "ViT.forward", "line": 11, "name": "y", "shape": ["B", 768], "dtype": "float"}]


def test_default_dims_are_right_against_the_default_built_model():
    tally, kind = run.score_without(LABEL, MANIFEST_RUN, {"ok": True, "entries": DEFAULT_RUN}, STATIC)
    assert kind == "defaults"
    assert (tally.total, tally.right_rank, tally.contradicted) == (2, 2, 0)
    # the same static shapes against the manifest's 64-wide model were contradictions
    old = run.compare(LABEL, MANIFEST_RUN, STATIC)
    assert old.contradicted == 2


def test_a_wrong_dim_against_the_default_built_model_is_still_a_contradiction():
    wrong = [dict(STATIC[0], shape=["B", 196, 768]), STATIC[1]]
    tally, _ = run.score_without(LABEL, MANIFEST_RUN, {"ok": True, "entries": DEFAULT_RUN}, wrong)
    assert tally.contradicted == 1


def test_a_class_whose_constructor_needs_arguments_is_scored_by_rank_only():
    record = {"ok": False, "stage": "construct", "error": "TypeError: missing 1 required positional argument"}
    wrong_rank = [STATIC[0], dict(STATIC[1], shape=["B", "T", 768])]
    tally, kind = run.score_without(LABEL, MANIFEST_RUN, record, wrong_rank)
    assert kind == "needs arguments"
    # 768 vs 64 is the other model's width, not a contradiction; a rank of 3 vs 2 is
    assert (tally.right_rank, tally.contradicted) == (1, 1)


def test_needs_arguments_is_scored_against_the_model_built_as_the_engine_built_it():
    # hiera's attention: the manifest passes use_mask_unit_attn=True (a 5-D path); the engine,
    # given no arguments, ran the default False (4-D). The run built with only the required
    # arguments is the reference; the manifest's model is not what the engine was asked.
    record = {"ok": False, "stage": "construct", "error": "TypeError: missing 3 required positional arguments"}
    manifest_run = [dict(MANIFEST_RUN[0], shape=[2, 4, 4, 4, 16])]
    as_built = {"ok": True, "entries": [dict(MANIFEST_RUN[0], shape=[2, 4, 64, 16])]}
    static = [dict(STATIC[0], shape=["B", "h", "N", "d"])]
    tally, kind = run.score_without(LABEL, manifest_run, record, static, rank_record=as_built)
    assert kind == "needs arguments"
    assert (tally.right_rank, tally.contradicted) == (1, 0)
    # without that run (it raised, or could not be built): the manifest's model, as before
    tally, _ = run.score_without(LABEL, manifest_run, record, static,
                                 rank_record={"ok": False, "stage": "forward"})
    assert tally.contradicted == 1


SOURCE = """
class Attn(nn.Module):
    def __init__(self, dim, heads, *, window=4, masked=False, proj):
        super().__init__()
    def forward(self, x, y=None, *, mask=None):
        return x
class Plain(nn.Module):
    def __init__(self, width=8):
        super().__init__()
"""


def test_the_required_arguments_are_cut_from_the_manifests_init():
    init = "32, heads=4, masked=True, proj=nn.Linear(4, 4), window=2"
    assert defaults.required_arguments(SOURCE, "Attn", init) == "dim=32, heads=4, proj=nn.Linear(4, 4)"
    assert defaults.required_arguments(SOURCE, "Attn", "32, masked=True") is None  # heads not given
    assert defaults.required_arguments(SOURCE, "Plain", "width=3") == ""  # all defaults: Plain()


def test_optional_forward_inputs_are_left_out_unless_the_engine_ran_them():
    specs = ["x=2,16,64", "y=2,16,64", "mask=2,16,16 bool"]
    assert defaults.without_optional(SOURCE, "Attn", specs) == ["x=2,16,64"]
    # torchtune's attention raises without y: the engine ran it with y, so does the reference
    assert defaults.without_optional(SOURCE, "Attn", specs, ran={"x": None, "y": None}) == specs[:2]


def test_inputs_torch_rejects_count_against_the_engine():
    record = {"ok": False, "stage": "forward", "device": "cpu", "line": 12,
              "error": "RuntimeError: mat1 and mat2 shapes cannot be multiplied"}
    tally, kind = run.score_without(LABEL, MANIFEST_RUN, record, STATIC)
    assert kind == "raised"
    assert (tally.total, tally.right_rank, tally.raised) == (2, 0, 2)


def test_inferred_inputs_take_the_manifests_sizes_then_distinct_small_values():
    guessed = {"img": ["B", 3, "H", "W"], "ids": ["B", "T"]}
    attempts = defaults.input_attempts(guessed, ["img=2,3,224,224", "ids=2,16 long<100>"])
    assert attempts[0] == ["img=2,3,224,224", "ids=2,16 long<2>"]
    # symbols distinct, the same symbol the same value in every input
    assert attempts[1] == ["img=2,3,3,5", "ids=2,7 long<2>"]


def test_a_rank_polymorphic_input_takes_the_manifests_leading_dims():
    attempts = defaults.input_attempts({"x": ["*", 256]}, ["x=2,16,256"])
    assert attempts[0] == ["x=2,16,256"]
    assert attempts[1] == ["x=2,256"]


def test_a_symbol_named_after_a_constructor_parameter_takes_its_default():
    # timm's efficientformer Attention built with its defaults (dim=384): the engine's
    # (B, 49, dim) is an input of 384 features, not of the manifest's 64 or a small 5
    source = "class Attention:\n    def __init__(self, dim=384, key_dim=32, *, heads: int = 8, drop=0.0):\n        pass\n"
    known = defaults.constructor_defaults(source, "Attention")
    assert known == {"dim": 384, "key_dim": 32, "heads": 8}
    attempts = defaults.input_attempts({"x": ["B", 49, "dim"]}, ["x=2,16,64"], known)
    assert attempts[0] == ["x=2,49,384"]
    assert all(a[0].endswith(",384") for a in attempts)


def test_no_attempt_where_the_engine_inferred_no_shape():
    assert defaults.input_attempts({"x": None}, ["x=2,3"]) is None
    assert defaults.input_attempts(None, ["x=2,3"]) is None


def test_the_engines_inputs_for_a_class_are_read_from_its_json():
    result = {"files": [{"path": "m.py", "shapes": [], "classes": [
        {"name": "Net", "line": 3, "inputs": {"x": ["B", 784]}}]}]}
    assert defaults.guessed_inputs(result, lambda p: p == "m.py", "Net") == {"x": ["B", 784]}
    assert defaults.guessed_inputs(result, lambda p: p == "m.py", "Other") is None


def test_a_rank_polymorphic_shape_is_right_rank_where_the_runtime_allows_it():
    # (*, 768): what plain `ml-lsp shapes` says of an input first consumed by Linear(768, ...)
    star = [dict(STATIC[0], shape=["*", 768]), dict(STATIC[1], shape=["*", 768])]
    tally, _ = run.score_without(LABEL, MANIFEST_RUN, {"ok": True, "entries": DEFAULT_RUN}, star)
    assert (tally.right_rank, tally.star_rank, tally.contradicted, tally.exact) == (2, 2, 0, 0)
    # a tail int the default-built run does not have, or a tail longer than its rank, is wrong
    wrong = [dict(STATIC[0], shape=["*", 64]), dict(STATIC[1], shape=["*", "B", "T", 768])]
    tally, _ = run.score_without(LABEL, MANIFEST_RUN, {"ok": True, "entries": DEFAULT_RUN}, wrong)
    assert (tally.right_rank, tally.star_rank, tally.contradicted) == (0, 0, 2)
    # against the manifest's other model only the rank counts: (*, 768) fits its (2, 64)
    record = {"ok": False, "stage": "construct", "error": "TypeError: missing 1 required positional argument"}
    tally, kind = run.score_without(LABEL, MANIFEST_RUN, record, star)
    assert kind == "needs arguments" and (tally.right_rank, tally.star_rank, tally.contradicted) == (2, 2, 0)


def test_the_report_splits_right_rank_into_exact_rank_and_star_shapes(monkeypatch):
    from collections import Counter
    monkeypatch.setattr(run, "category_profile", lambda cases, pick: Counter())  # reads the class's file
    case = type("Case", (), {"split": "tune", "repo": "owner/repo", "path": "model.py", "id": "c1"})()
    tally = run.compare(LABEL, DEFAULT_RUN, [STATIC[0], dict(STATIC[1], shape=["*", 768])])
    result = run.CaseResult(case, tally, tally, None, None, [], [], [], without_kind="defaults")
    text = run.report([result], [], [], False)
    assert "right rank 2/2 = 100.0%" in text
    assert "exact rank 1/2 = 50.0%, rank-consistent (*, ...) 1/2 = 50.0%" in text


def test_a_class_the_file_builds_itself_is_scored_against_that_model():
    # SimVQ's `__main__` builds SimVQ(dim=512, channel_first=True) and calls it on a 4-D
    # input; the engine's shapes are that model's ("built_at"), so the runtime reference
    # is built by the same call, not the manifest's 3-D model (which differs in rank)
    source = ("import torch.nn as nn\n"
              "class SimVQ(nn.Module):\n"
              "    pass\n"
              "if __name__ == '__main__':\n"
              "    vq = SimVQ(\n"
              "        dim = 512,\n"
              "        codebook_transform = nn.Sequential(nn.Linear(512, 1024),\n"
              "                                           nn.Linear(1024, 512)),\n"
              "        **extra)\n")
    assert defaults.constructor_arguments(source, 5, "SimVQ") == (
        "dim=512, codebook_transform=nn.Sequential(nn.Linear(512, 1024), nn.Linear(1024, 512)), **extra")
    assert defaults.constructor_arguments(source, 6, "SimVQ") is None      # no call of it there
    assert defaults.constructor_arguments(source, 7, "SimVQ") is None      # a call of something else
    result = {"files": [{"path": "sim_vq.py", "classes": [
        {"name": "SimVQ", "line": 2, "inputs": {"x": [1, 512, 32, 32]}, "built_at": 5}]}]}
    assert defaults.built_at(result, lambda p: p == "sim_vq.py", "SimVQ") == 5
    assert defaults.built_at(result, lambda p: p == "other.py", "SimVQ") is None
    demo_run = [{"scope": "SimVQ.forward", "line": 10, "name": "q", "shape": [1, 32, 32, 512], "dtype": "float"}]
    manifest_run = [{"scope": "SimVQ.forward", "line": 10, "name": "q", "shape": [2, 16, 64], "dtype": "float"}]
    static = [{"scope": "SimVQ.forward", "line": 10, "name": "q", "shape": [1, 32, 32, 512], "dtype": "float"}]
    tally, kind = run.score_without(LABEL, manifest_run, {"ok": True, "entries": demo_run}, static, built=True)
    assert kind == "built by the file" and tally.exact == 1 and tally.contradicted == 0
    # the same shapes against the manifest's model are a rank contradiction
    tally, kind = run.score_without(LABEL, manifest_run, {"ok": False, "stage": "construct"}, static)
    assert kind == "needs arguments" and tally.contradicted == 1


def test_a_class_with_no_run_of_its_own_is_scored_on_the_run_of_the_class_that_reaches_it():
    # diffusers' PixArtAlphaTextProjection needs constructor arguments; plain `ml-lsp shapes
    # embeddings.py` shows its lines as CombinedTimestepTextProjEmbeddings runs it, on a 2-D
    # pooled projection, while the manifest's run feeds it 3-D captions: its lines are scored
    # against the run that reaches them, the rest by rank against the manifest's
    manifest_run = [{"scope": "Proj.forward", "line": 5, "name": "h", "shape": [2, 7, 64], "dtype": "float"},
                    {"scope": "Proj.forward", "line": 6, "name": "out", "shape": [2, 7, 64], "dtype": "float"}]
    caller_run = [{"scope": "Combined.forward", "line": 20, "name": "t", "shape": [2, 32], "dtype": "float"},
                  {"scope": "Proj.forward", "line": 5, "name": "h", "shape": [2, 32], "dtype": "float"},
                  {"scope": "Proj.forward", "line": 7, "name": "z", "shape": [2, 32], "dtype": "float"}]
    reached = run.reached_lines("Proj", manifest_run, [caller_run])
    # its own methods' lines only (the caller's own line 20 is not its)
    assert list(reached) == [("Proj.forward", 5, "h"), ("Proj.forward", 7, "z")]
    static = [{"scope": "Proj.forward", "line": 5, "name": "h", "shape": ["B", 32], "dtype": "float"},
              {"scope": "Proj.forward", "line": 6, "name": "out", "shape": ["B", 7, 32], "dtype": "float"}]
    tally = run.score_reached(LABEL, manifest_run, reached, static)
    assert (tally.total, tally.right_rank, tally.contradicted) == (2, 2, 0)
    # against the manifest's run alone, the 2-D line is a rank contradiction
    assert run.compare(LABEL, manifest_run, static, rank_only=True).contradicted == 1
    # a wrong rank on a reached line is still one
    wrong = [{"scope": "Proj.forward", "line": 5, "name": "h", "shape": ["B", 7, 32], "dtype": "float"}]
    assert run.score_reached(LABEL, manifest_run, reached, wrong).contradicted == 1
    # two runs that disagree in rank leave the line's rank open
    other = [{"scope": "Proj.forward", "line": 5, "name": "h", "shape": [2, 7, 32], "dtype": "float"}]
    assert run.reached_lines("Proj", manifest_run, [caller_run, other])[("Proj.forward", 5, "h")]["shape"] is None


def test_where_torch_raised_on_small_sizes_the_symbols_are_tried_large():
    # diffusers' AutoencoderOobleck takes its (B, 2, L) input down 2048-fold: L = 5 raises
    # "kernel size can't be greater than actual input size", a large L runs
    guessed = {"sample": ["B", 2, "L"], "mask": ["B", "L"]}
    specs = defaults.larger_attempt(guessed, ["sample=2,2,64"])
    assert specs == ["sample=2,2,4099", "mask=2,4099"]
    # a symbol named after a constructor parameter keeps its default
    assert defaults.larger_attempt({"x": ["B", "T", "dim"]}, ["x=2,16,64"], {"dim": 384}) == ["x=2,4099,384"]
    assert defaults.larger_attempt({"x": None}, ["x=2,3"]) is None


def test_a_class_that_runs_with_large_sizes_is_scored_on_that_run(monkeypatch, tmp_path):
    source = tmp_path / "model.py"
    source.write_text("class VAE:\n    def __init__(self, width=8):\n        pass\n")
    case = SimpleNamespace(repo="owner/repo", path="model.py", cls="VAE", inputs=("x=2,2,64",),
                           id="owner/repo:model.py:VAE")
    raised = {"ok": False, "stage": "forward", "error": "RuntimeError: kernel size"}
    ok = {"ok": True, "entries": DEFAULT_RUN}
    asked = []

    def record(manifest, requests, workers, timeout, suffix=""):
        asked.extend((c.id, attempts, suffix) for c, attempts, _ in requests)
        return {"owner/repo:model.py:VAE" + suffix: ok}
    monkeypatch.setattr(run.groundtruth, "record_defaults", record)
    monkeypatch.setattr(run.groundtruth, "key_for", lambda manifest, c: c.id)
    result = run.CaseResult(case, run.Tally(), run.Tally(), None, None, [], [], [], guessed={"x": ["B", 2, "L"]})
    found = run.larger_runs(None, [result], {case.id: raised}, {case.id: defaults.constructor_defaults(
        source.read_text(), "VAE")}, 1)
    assert asked == [(case.id, [["x=2,2,4099"]], "|large")]
    assert found == {case.id: ok}
    # a class whose own run was fine is not run again
    asked.clear()
    assert run.larger_runs(None, [result], {case.id: ok}, {case.id: {"width": 8}}, 1) == {} and asked == []
