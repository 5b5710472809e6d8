"""Generate a realistic large PyTorch model file (about 1,000 lines by default) for the
latency and check-speed benchmarks.

The file is what a big research repository's ``models.py`` looks like: many ``nn.Module``
classes (conv blocks, residual blocks, attention, transformer blocks, recurrent encoders,
heads), helper functions that return layers, config dataclasses, and top-level models whose
``forward`` chains them with real shape flow (flatten sizes computed from the conv stack,
heads split and merged, concatenations, pooling). Every size is consistent: the generated
models run with torch without a shape error (``--check`` runs each one).

    python benchmarks/gen_big_model.py                 # to stdout
    python benchmarks/gen_big_model.py -o big.py --lines 1000 --seed 0
    python benchmarks/gen_big_model.py -o big.py --check
"""

from __future__ import annotations

import argparse
import random
import sys
import types

HEADER = '''\
"""Model zoo: vision, sequence and multimodal networks (generated for benchmarks)."""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def make_mlp(in_features, hidden, out_features, dropout=0.1):
    return nn.Sequential(
        nn.Linear(in_features, hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, out_features),
    )

'''


def _vision_unit(k: int, rng: random.Random) -> tuple[str, str]:
    """Conv blocks + residual block + head; returns (source, smoke-test call)."""
    in_ch = rng.choice([1, 3])
    c1, c2 = rng.choice([8, 16]), rng.choice([16, 24, 32])
    size = rng.choice([28, 32, 64])
    n_classes = rng.choice([10, 100, 5])
    hidden = rng.choice([64, 128])
    after = size // 2 // 2  # two 2x2 poolings
    src = f'''
class ConvBlock{k}(nn.Module):
    """conv -> bn -> relu, twice, then 2x2 max pooling."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.pool(x)
        return x


class ResidualBlock{k}(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        identity = x
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + identity
        return F.relu(out)


class VisionNet{k}(nn.Module):
    def __init__(self, in_channels={in_ch}, num_classes={n_classes}):
        super().__init__()
        self.block1 = ConvBlock{k}(in_channels, {c1})
        self.block2 = ConvBlock{k}({c1}, {c2})
        self.res = ResidualBlock{k}({c2})
        self.head = make_mlp({c2} * {after} * {after}, {hidden}, num_classes)

    def forward(self, images):
        feats = self.block1(images)
        feats = self.block2(feats)
        feats = self.res(feats)
        flat = feats.view(feats.size(0), -1)
        logits = self.head(flat)
        probs = F.softmax(logits, dim=-1)
        return logits, probs
'''
    return src, f"VisionNet{k}()(torch.randn(2, {in_ch}, {size}, {size}))"


def _transformer_unit(k: int, rng: random.Random) -> tuple[str, str]:
    heads = rng.choice([2, 4])
    dim = heads * rng.choice([8, 16])
    vocab = rng.choice([100, 256, 1000])
    layers = rng.choice([2, 3, 4])
    block = rng.choice([32, 64])
    src = f'''
@dataclass
class TextConfig{k}:
    vocab_size: int = {vocab}
    block_size: int = {block}
    n_layer: int = {layers}
    n_head: int = {heads}
    n_embd: int = {dim}
    dropout: float = 0.1


class SelfAttention{k}(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        mask = torch.tril(torch.ones(config.block_size, config.block_size))
        self.register_buffer("mask", mask.view(1, 1, config.block_size, config.block_size))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(self.n_embd, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = self.drop(att) @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y)


class TransformerBlock{k}(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.attn = SelfAttention{k}(config)
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.mlp = make_mlp(config.n_embd, 4 * config.n_embd, config.n_embd, config.dropout)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        x = x + self.mlp(self.ln2(x))
        return x


class TextModel{k}(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList([TransformerBlock{k}(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        pos = torch.arange(T, device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(pos)
        for block in self.blocks:
            x = block(x)
        x = self.ln_f(x)
        logits = self.lm_head(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss
'''
    return src, f"TextModel{k}(TextConfig{k}())(torch.randint(0, {vocab}, (2, {block // 2})))"


def _recurrent_unit(k: int, rng: random.Random) -> tuple[str, str]:
    emb = rng.choice([16, 32])
    hidden = rng.choice([24, 32, 48])
    vocab = rng.choice([50, 500])
    tags = rng.choice([5, 9, 17])
    cell = rng.choice(["LSTM", "GRU"])
    unpack = "out, (h, c)" if cell == "LSTM" else "out, h"
    src = f'''
class SequenceTagger{k}(nn.Module):
    def __init__(self, vocab_size={vocab}, embed_dim={emb}, hidden_dim={hidden}, num_tags={tags}):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = nn.{cell}(embed_dim, hidden_dim, num_layers=2, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(0.2)
        self.proj = nn.Linear(2 * hidden_dim, num_tags)
        self.pool_proj = nn.Linear(4 * hidden_dim, num_tags)

    def forward(self, tokens):
        mask = tokens != 0
        emb = self.dropout(self.embedding(tokens))
        {unpack} = self.rnn(emb)
        emissions = self.proj(self.dropout(out))
        emissions = emissions.masked_fill(~mask.unsqueeze(-1), 0.0)
        final = torch.cat([h[-2], h[-1]], dim=-1)
        mean = out.mean(dim=1)
        sentence = self.pool_proj(torch.cat([final, mean], dim=-1))
        return emissions, sentence
'''
    return src, f"SequenceTagger{k}()(torch.randint(0, {vocab}, (3, 11)))"


def _audio_unit(k: int, rng: random.Random) -> tuple[str, str]:
    ch = rng.choice([16, 32])
    n_out = rng.choice([10, 35])
    src = f'''
class AudioNet{k}(nn.Module):
    def __init__(self, n_input=1, n_output={n_out}, n_channel={ch}):
        super().__init__()
        self.conv1 = nn.Conv1d(n_input, n_channel, kernel_size=80, stride=16)
        self.bn1 = nn.BatchNorm1d(n_channel)
        self.pool1 = nn.MaxPool1d(4)
        self.conv2 = nn.Conv1d(n_channel, 2 * n_channel, kernel_size=3)
        self.bn2 = nn.BatchNorm1d(2 * n_channel)
        self.pool2 = nn.MaxPool1d(4)
        self.fc = nn.Linear(2 * n_channel, n_output)

    def forward(self, wave):
        x = self.pool1(F.relu(self.bn1(self.conv1(wave))))
        x = self.pool2(F.relu(self.bn2(self.conv2(x))))
        x = F.adaptive_avg_pool1d(x, 1).squeeze(-1)
        x = self.fc(x)
        return F.log_softmax(x, dim=-1)
'''
    return src, f"AudioNet{k}()(torch.randn(2, 1, 4000))"


def _fusion_unit(k: int, rng: random.Random) -> tuple[str, str]:
    img_dim = rng.choice([32, 64])
    txt_dim = rng.choice([16, 48])
    joint = rng.choice([32, 64])
    heads = rng.choice([2, 4])
    src = f'''
class FusionHead{k}(nn.Module):
    """Image and text features fused with cross attention and a bilinear layer."""

    def __init__(self, img_dim={img_dim}, txt_dim={txt_dim}, joint_dim={joint}, num_heads={heads}, n_answers=20):
        super().__init__()
        self.img_proj = nn.Linear(img_dim, joint_dim)
        self.txt_proj = nn.Linear(txt_dim, joint_dim)
        self.cross = nn.MultiheadAttention(joint_dim, num_heads, batch_first=True)
        self.norm = nn.LayerNorm(joint_dim)
        self.bilinear = nn.Bilinear(joint_dim, joint_dim, joint_dim)
        self.classifier = nn.Linear(joint_dim, n_answers)

    def forward(self, regions, words):
        r = self.img_proj(regions)
        w = self.txt_proj(words)
        attended, weights = self.cross(w, r, r)
        w = self.norm(w + attended)
        r_pool = r.mean(dim=1)
        w_pool = w.max(dim=1).values
        joint = torch.tanh(self.bilinear(r_pool, w_pool))
        return self.classifier(joint), weights
'''
    return src, f"FusionHead{k}()(torch.randn(2, 7, {img_dim}), torch.randn(2, 5, {txt_dim}))"


def _unet_unit(k: int, rng: random.Random) -> tuple[str, str]:
    base = rng.choice([8, 16])
    src = f'''
class DoubleConv{k}(nn.Sequential):
    def __init__(self, in_channels, out_channels):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.GroupNorm(4, out_channels),
            nn.SiLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.GroupNorm(4, out_channels),
            nn.SiLU(),
        )


class TinyUNet{k}(nn.Module):
    def __init__(self, in_channels=3, n_classes=2, base={base}):
        super().__init__()
        self.enc1 = DoubleConv{k}(in_channels, base)
        self.enc2 = DoubleConv{k}(base, base * 2)
        self.bottleneck = DoubleConv{k}(base * 2, base * 4)
        self.up2 = nn.ConvTranspose2d(base * 4, base * 2, kernel_size=2, stride=2)
        self.dec2 = DoubleConv{k}(base * 4, base * 2)
        self.up1 = nn.ConvTranspose2d(base * 2, base, kernel_size=2, stride=2)
        self.dec1 = DoubleConv{k}(base * 2, base)
        self.out = nn.Conv2d(base, n_classes, kernel_size=1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        b = self.bottleneck(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return self.out(d1)
'''
    return src, f"TinyUNet{k}()(torch.randn(1, 3, 32, 32))"


UNITS = [_vision_unit, _transformer_unit, _recurrent_unit, _audio_unit, _fusion_unit, _unet_unit]


def generate(lines: int = 1000, seed: int = 0) -> tuple[str, list[str]]:
    """The file's text (at least ``lines`` lines) and one smoke-test call per top model."""
    rng = random.Random(seed)
    parts = [HEADER]
    calls: list[str] = []
    k = 0
    while sum(p.count("\n") for p in parts) < lines:
        src, call = UNITS[k % len(UNITS)](k, rng)
        parts.append(src)
        calls.append(call)
        k += 1
    return "\n".join(parts), calls


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", help="write here instead of stdout")
    parser.add_argument("--lines", type=int, default=1000, help="at least this many lines (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="run every generated model once with torch")
    args = parser.parse_args(argv)
    text, calls = generate(args.lines, args.seed)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    if args.check:
        module = types.ModuleType("generated_models")
        sys.modules["generated_models"] = module
        exec(compile(text, args.output or "<generated>", "exec"), module.__dict__)
        for call in calls:
            eval(call, module.__dict__)
        print(f"checked {len(calls)} models, {text.count(chr(10))} lines", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
