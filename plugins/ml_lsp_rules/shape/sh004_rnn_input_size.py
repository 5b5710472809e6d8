"""SH004 rnn-input-size: RNN/LSTM/GRU input_size differs from the input's feature dim."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH004',
    name='rnn-input-size',
    kinds=('rnn_input_size',),
    summary="RNN/LSTM/GRU input_size differs from the input's feature dim",
    severity='error',
    docs="""\
An `RNN`/`LSTM`/`GRU(input_size, hidden_size)` reads `(T, B, input_size)` (or `(B, T, input_size)`
with `batch_first=True`); the last dim must equal `input_size`. A common cause is feeding the
embedding of a different width, or forgetting that a bidirectional layer doubles the width.

Wrong:
    self.emb = nn.Embedding(10000, 256)
    self.lstm = nn.LSTM(128, 512, batch_first=True)

Right:
    self.lstm = nn.LSTM(256, 512, batch_first=True)

Fix: set `input_size` to the inferred value.""",
)
