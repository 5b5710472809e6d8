"""A config nobody gave: ``TransformerBlock(cfg)`` analysed without arguments, ``cfg`` a dict
or namespace the file never builds.

Its fields are what their names say: ``cfg["emb_dim"]`` and ``args.latent_dim`` are sizes
(the symbols ``emb_dim``, ``latent_dim``), ``cfg["drop_rate"]`` a number, ``cfg["qkv_bias"]``
and ``cfg["act"]`` unknown (a flag, a name). A size symbol says no more than the code does:
the model is built for every value of it, as with a constructor's integer parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_lsp.analysis.dims import Sym
from ml_lsp.analysis.ops import Args
from ml_lsp.analysis.provenance import SourceValue
from ml_lsp.analysis.values import NUM, UNK, Bound

#: words of a field that holds a flag, a name or a callable (never a size)
_NOT_A_SIZE = ("bias", "causal", "bidirectional", "act", "activation", "type", "mode", "name", "norm", "dtype",
               "device", "impl", "path", "fn", "func", "method", "style", "kind", "init", "flash", "fused",
               "compile", "checkpoint", "cache", "pool", "pooling", "layout", "padding_side", "tokenizer", "types",
               "names", "config", "configs", "kwargs", "params", "parameters", "args", "map", "mapping")
_FLAG_PREFIXES = ("use_", "is_", "has_", "with_", "add_", "no_", "enable_", "tie_", "output_", "return_",
                  "apply_", "do_", "qk_norm", "pre_", "post_")
#: words of a field that holds a float (a rate, a scale, a base)
_NUMBER_WORDS = ("drop", "dropout", "eps", "epsilon", "rate", "prob", "theta", "base", "scale", "std", "alpha",
                 "beta", "momentum", "temperature", "lr", "decay", "smoothing", "ratio", "mult", "multiplier",
                 "coef", "coeff", "thresh", "threshold")
#: words of a field that holds a size (a count of things, a width)
_SIZE_WORDS = ("dim", "dims", "size", "len", "length", "num", "n", "heads", "head", "layers", "layer", "hidden",
               "emb", "embd", "embed", "embedding", "embeddings", "vocab", "channels", "channel", "ch", "chans",
               "features", "width", "height", "depth", "groups", "kernel", "stride", "patch", "tokens", "experts",
               "classes", "model", "context", "window", "block", "seq", "ff", "inner", "intermediate", "latent",
               "units", "positions", "k", "tok", "labels", "filters", "planes", "d", "nf", "ngf", "ndf", "nz", "nc",
               "in", "out", "mlp")


def field_value(name: str):
    """The value a config field of this name stands for: a size symbol, a number, or unknown
    (a name that says neither: ``rope_freq`` may hold a dict)."""
    lowered = name.lower()
    if lowered.startswith(_FLAG_PREFIXES):
        return UNK
    words = lowered.replace("-", "_").split("_")
    if any(w in _NOT_A_SIZE for w in words):
        return UNK
    if any(w in _NUMBER_WORDS for w in words):
        return NUM
    if any(w in _SIZE_WORDS for w in words):
        return Sym.named(name)
    return UNK


#: what a dict or a namespace answers itself, not a field
_METHODS = frozenset({"get", "items", "keys", "values", "copy", "update", "pop", "setdefault", "to_dict",
                      "__dict__", "__getitem__"})


@dataclass(eq=False)
class SymbolicConfig(SourceValue):
    """``cfg`` or ``config`` given by nobody: each field read is the value its name says."""
    origin: str = ""

    def attr(self, name: str):
        if name in _METHODS:
            return Bound(self, name)
        return field_value(name)

    def method(self, name: str, a: Args):
        key = a.arg(0, "key")
        if name == "__getitem__":
            return field_value(key) if isinstance(key, str) else UNK
        if name == "get" and isinstance(key, str):
            value, default = field_value(key), a.arg(1, "default")
            if isinstance(value, Sym) and isinstance(default, int) and not isinstance(default, bool) and default > 0:
                return Sym.named(key, default)  # cfg.get("n_kv_groups", 1): a size, 1 one of its values
            return value
        return UNK
