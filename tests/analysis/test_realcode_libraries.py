"""Idioms of the libraries' own code (transformers, timm, diffusers, torchtune) that the
engine follows when a model file uses them (issue 13), written small in our own words."""

from engine_helpers import analyze, last


def test_a_cache_that_starts_as_an_empty_tensor_grows_by_what_is_concatenated():
    # transformers' DynamicLayer: keys start as torch.tensor([]) and each update concatenates
    # along the sequence; torch skips the 1-D empty tensor, so the keys are the update's
    f = analyze("""
    class KVCache:
        def __init__(self):
            self.keys = None

        def update(self, k):
            if self.keys is None:
                self.keys = torch.tensor([], dtype=k.dtype)
            self.keys = torch.cat([self.keys, k], dim=-2)
            return self.keys


    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.k_proj = nn.Linear(64, 32)

        def forward(self, x):
            cache = KVCache()
            k = self.k_proj(x)
            keys = cache.update(k)
            return keys
    """, entry="Attention", inputs={"x": [2, 16, 64]})
    assert last(f, "keys") == [2, 16, 32]
