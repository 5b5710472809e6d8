"""``dtype=`` in creation ops: a dtype the engine cannot read leaves the dtype unknown; it
is not guessed as float (which made generated token ids look like floats to an Embedding)."""

from engine_helpers import analyze


GENERATE = """
class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_emb = nn.Embedding(100, 16)
        self.head = nn.Linear(16, 100)

    def forward(self, in_idx):
        x = self.tok_emb(in_idx)
        return self.head(x)


def generate(model, idx, max_new_tokens):
    batch_size, base_len = idx.shape
    generated = torch.empty(batch_size, base_len + max_new_tokens, dtype=idx.dtype)
    generated[:, :base_len] = idx
    logits = model(generated[:, :base_len])
    return logits


def main(tokenizer):
    encoded = tokenizer.encode("Hello")
    encoded_tensor = torch.tensor(encoded).unsqueeze(0)
    return generate(TinyLM(), encoded_tensor, 5)
"""


def test_dtype_taken_from_a_tensor_of_unknown_dtype_is_not_float():
    f = analyze(GENERATE)
    assert not [c for c in f.conflicts if c.kind == "embedding_input"], f.conflicts


def test_known_dtypes_and_dtype_none_still_give_the_dtype():
    f = analyze("""
    class M(nn.Module):
        def forward(self, x):
            ids = torch.empty(2, 3, dtype=torch.long)
            mask = torch.zeros(2, 3, dtype=torch.bool)
            plain = torch.ones(2, 3, dtype=None)
            like = torch.zeros(2, 3, dtype=ids.dtype)
            return ids
    """, entry="M", inputs={"x": [2, 3]})
    dtype = {b.name: b.dtype for b in f.bindings}
    assert dtype["ids"] == "long" and dtype["mask"] == "bool" and dtype["plain"] == "float"
    assert dtype["like"] == "long"


def test_float_indices_into_an_embedding_are_still_caught():
    f = analyze("""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)

        def forward(self, n):
            idx = torch.zeros(2, 3, dtype=torch.float32)
            return self.emb(idx)
    """, entry="M", inputs={"n": [1]})
    assert [c.kind for c in f.conflicts] == ["embedding_input"]
