"""SH020 constructor-assert: an assert in a constructor that fails for the given arguments."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH020',
    name='constructor-assert',
    kinds=('constructor_assert',),
    summary='an assert in a constructor fails for the arguments the model is built with',
    severity='error',
    docs="""\
A constructor's `assert` states what its arguments must satisfy; with the arguments the
model is built with (a call in the code, `--init`, or the config's defaults) it is false,
so building the model raises AssertionError. Reported only when every value the test
reads is known.

Wrong:
    config = GPTConfig(n_embd=64)      # n_head defaults to 6
    model = GPT(config)                # assert config.n_embd % config.n_head == 0 fails

Right:
    config = GPTConfig(n_embd=64, n_head=4)""",
)
