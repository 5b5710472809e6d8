"""How the recorder merges what two runs on guessed inputs say of one line, when one of them
is a known layer's answer on a value the engine could not follow (a vague value): it stands
only where nothing else is known of the line. guided-diffusion's UNet showed it: its time
embedding, ``(N, 4*model_channels)`` in the run that followed ``timestep_embedding``, was
shown as ``(*, 4*model_channels)`` after a parent's run that could not."""

from ml_lsp.analysis.dims import STAR, Sym
from ml_lsp.analysis.interp import INFERRED, Recorder

N, D = Sym.named("N"), 64
KEY = ("Net.forward", 12, 8, "emb")


def _record(rec, run, shape, *, vague, nested):
    rec.run = run
    rec.guess_runs.add(run)
    rec._merge(rec.bindings, KEY, INFERRED, shape, "float", (None, "", None), nested=nested, vague=vague)
    return rec.bindings[KEY][1]


def test_a_followed_shape_replaces_what_a_vague_value_said():
    rec = Recorder()
    assert _record(rec, 1, (STAR, D), vague=True, nested=True) == (STAR, D)
    assert _record(rec, 2, (N, D), vague=False, nested=False) == (N, D)


def test_a_vague_value_does_not_blur_a_followed_shape():
    rec = Recorder()
    _record(rec, 1, (N, D), vague=False, nested=False)
    assert _record(rec, 2, (STAR, D), vague=True, nested=True) == (N, D)


def test_two_followed_runs_that_differ_on_the_rank_still_blur_it():
    # the rule is for vague values only: a parent's (*, D) that the engine followed means the
    # callers differ on the rank, and the rank stays unknown
    rec = Recorder()
    _record(rec, 1, (STAR, D), vague=False, nested=True)
    assert _record(rec, 2, (N, D), vague=False, nested=False) == (STAR, D)
