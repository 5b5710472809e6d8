"""SH006 embedding-input: Embedding fed a float tensor or indices beyond num_embeddings."""

from ml_lsp.analysis.lint import shape_rule

RULE = shape_rule(
    code='SH006',
    name='embedding-input',
    kinds=('embedding_input',),
    summary='Embedding fed a float tensor or indices beyond num_embeddings',
    severity='error',
    docs="""\
`Embedding(num_embeddings, dim)` looks rows up by integer index: a float input raises, and an
index >= `num_embeddings` is an out-of-range error (on GPU, a device-side assert far from the cause).

Wrong:
    self.emb = nn.Embedding(100, 32)
    x = self.emb(torch.randn(4, 10))

Right:
    x = self.emb(tokens.long())        # tokens in [0, 100)""",
)
