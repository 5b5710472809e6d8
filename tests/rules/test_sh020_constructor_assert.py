"""SH020: a constructor's assert that fails for the arguments the model is built with is
flagged on the assert line, naming the values; quiet when it holds or a value is unknown."""

from rules.ruletest import assert_clean, assert_flagged

WRONG = '''
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        assert n_embd % n_head == 0  # <-
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        return self.proj(x)


attn = Attention(64, 6)
'''


def test_flagged_on_the_assert_line_with_the_values():
    found = assert_flagged(WRONG, 'SH020', 'assert n_embd % n_head == 0 fails when the model is built',
                           'n_embd = 64', 'n_head = 6')
    assert found[0].severity == 'error'


def test_flagged_for_the_entry_built_from_init():
    src = WRONG.replace("attn = Attention(64, 6)\n", "")
    assert_flagged(src, 'SH020', 'n_head = 6', entry='Attention', init='n_embd=64, n_head=6', inputs={'x': ['B', 64]})


def test_quiet_when_it_holds():
    assert_clean(WRONG.replace('Attention(64, 6)', 'Attention(64, 4)'), 'SH020')


def test_quiet_when_a_value_is_unknown():
    # nobody builds it: the sizes are the parameters' names, and the assert may hold
    assert_clean(WRONG.replace("attn = Attention(64, 6)\n", ""), 'SH020')


def test_quiet_for_arguments_the_engine_made_up():
    # nobody builds it: the engine builds the config with its defaults to analyse the class,
    # and an assert those defaults fail says nothing about the models the user builds
    src = '''
import torch.nn as nn
from dataclasses import dataclass


@dataclass
class Config:
    vocab_size: int = None
    n_embd: int = 64


class Model(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        assert config.vocab_size is not None  # <-
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)

    def forward(self, idx):
        return self.wte(idx)
'''
    assert_clean(src, 'SH020')
    # built with those defaults in the code: it does fail
    assert_flagged(src + "\n\nmodel = Model(Config())\n", 'SH020', 'config.vocab_size is not None',
                   'config.vocab_size = None')


FACTORY = '''
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, width=8, img_size=None):
        super().__init__()
        assert img_size is not None, 'img_size is required'
        self.fc = nn.Linear(width, 2)

    def forward(self, x):
        return self.fc(x)


def net_small(pretrained=False, **kwargs):
    return Net(width=16, **kwargs)
'''


def test_quiet_for_a_default_that_unknown_keywords_may_replace():
    # timm's model factories: `def mobileone_s0(pretrained=False, **kwargs)` builds the model
    # with `**kwargs`, through which its registry passes img_size; nobody calls it here, so
    # img_size may be anything, not its default None
    assert_clean(FACTORY, 'SH020')


def test_flagged_where_the_keywords_are_known_to_leave_the_default():
    called = FACTORY.replace("img_size is required'", "img_size is required'  # <-")
    assert_flagged(called + "\nmodel = net_small(pretrained=False)\n", 'SH020', 'img_size = None')
