"""Every op rule of the built-in torch_shapes plugin, checked against torch itself: each
case is one expression; the static engine's shape for it must equal the shape torch
computes on real tensors of the same input shapes (torch is the oracle, so no expected
shape is written down by hand)."""

from __future__ import annotations

import pytest

from ml_lsp.analysis import analyze_source, dim_json

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

# (expression, {input: shape or (dtype, shape)})
CASES = [
    # --- layers
    ("nn.Linear(4, 5)(x)", {"x": (2, 3, 4)}),
    ("nn.Bilinear(4, 6, 5)(x, y)", {"x": (2, 4), "y": (2, 6)}),
    ("nn.Conv1d(3, 8, 3)(x)", {"x": (2, 3, 20)}),
    ("nn.Conv1d(3, 8, 5, stride=2, padding=2, dilation=2)(x)", {"x": (2, 3, 21)}),
    ("nn.Conv2d(3, 8, 3, stride=2, padding=1)(x)", {"x": (2, 3, 17, 16)}),
    ("nn.Conv2d(4, 8, (3, 5), padding='same')(x)", {"x": (2, 4, 9, 9)}),
    ("nn.Conv2d(4, 8, 3, padding='valid', groups=2)(x)", {"x": (2, 4, 9, 9)}),
    ("nn.Conv2d(3, 6, 3)(x)", {"x": (3, 10, 10)}),
    ("nn.Conv3d(2, 4, 3, padding=1)(x)", {"x": (1, 2, 5, 6, 7)}),
    ("nn.ConvTranspose1d(4, 2, 4, stride=2, padding=1)(x)", {"x": (2, 4, 10)}),
    ("nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)(x)", {"x": (2, 4, 7, 7)}),
    ("nn.MaxPool1d(2)(x)", {"x": (2, 3, 11)}),
    ("nn.MaxPool2d(3, stride=2, padding=1)(x)", {"x": (2, 3, 15, 15)}),
    ("nn.MaxPool2d(2, ceil_mode=True)(x)", {"x": (2, 3, 7, 7)}),
    ("nn.AvgPool1d(3, stride=2)(x)", {"x": (2, 3, 12)}),
    ("nn.AvgPool2d(2)(x)", {"x": (2, 3, 9, 8)}),
    ("nn.AdaptiveAvgPool1d(4)(x)", {"x": (2, 3, 17)}),
    ("nn.AdaptiveAvgPool2d((1, 1))(x)", {"x": (2, 3, 9, 8)}),
    ("nn.AdaptiveAvgPool2d((None, 3))(x)", {"x": (2, 3, 9, 8)}),
    ("nn.AdaptiveMaxPool2d(2)(x)", {"x": (2, 3, 9, 8)}),
    ("nn.BatchNorm1d(3)(x)", {"x": (4, 3)}),
    ("nn.BatchNorm1d(3)(x)", {"x": (4, 3, 7)}),
    ("nn.BatchNorm2d(3)(x)", {"x": (4, 3, 5, 5)}),
    ("nn.LayerNorm(6)(x)", {"x": (2, 5, 6)}),
    ("nn.LayerNorm([5, 6])(x)", {"x": (2, 5, 6)}),
    ("nn.GroupNorm(2, 4)(x)", {"x": (2, 4, 3, 3)}),
    ("nn.InstanceNorm2d(3)(x)", {"x": (2, 3, 4, 4)}),
    ("nn.Dropout(0.1)(x)", {"x": (2, 3)}),
    ("nn.Dropout2d()(x)", {"x": (2, 3, 4, 4)}),
    ("nn.Embedding(10, 4)(x)", {"x": ("long", (2, 7))}),
    ("nn.RNN(4, 6)(x)", {"x": (7, 2, 4)}),
    ("nn.GRU(4, 6, batch_first=True, bidirectional=True)(x)", {"x": (2, 7, 4)}),
    ("nn.LSTM(4, 6, num_layers=2)(x)", {"x": (7, 2, 4)}),
    ("nn.LSTM(4, 6, batch_first=True, bidirectional=True, num_layers=3)(x)", {"x": (2, 7, 4)}),
    ("nn.LSTM(4, 6)(x)", {"x": (7, 4)}),
    ("nn.LSTMCell(4, 6)(x)", {"x": (2, 4)}),
    ("nn.GRUCell(4, 6)(x)", {"x": (2, 4)}),
    ("nn.MultiheadAttention(8, 2)(x, x, x)", {"x": (5, 2, 8)}),
    ("nn.MultiheadAttention(8, 2, batch_first=True)(x, y, y)", {"x": (2, 5, 8), "y": (2, 3, 8)}),
    ("nn.MultiheadAttention(8, 2, batch_first=True)(x, y, y, average_attn_weights=False)",
     {"x": (2, 5, 8), "y": (2, 3, 8)}),
    ("nn.TransformerEncoderLayer(8, 2, 16)(x)", {"x": (5, 2, 8)}),
    # sub-modules a library module builds, read by code that subclasses or pokes into it
    ("nn.Transformer(16, 2, 1, 1, 32).encoder(x)", {"x": (5, 2, 16)}),
    ("nn.Transformer(16, 2, 1, 1, 32).encoder.layers[0].linear1(x)", {"x": (5, 2, 16)}),
    ("nn.TransformerEncoderLayer(8, 2, 16).linear1(x)", {"x": (5, 2, 8)}),
    ("nn.TransformerDecoderLayer(8, 2, 16).norm3(x)", {"x": (5, 2, 8)}),
    ("nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2)(x)",
     {"x": (2, 5, 8)}),
    ("nn.Flatten()(x)", {"x": (2, 3, 4, 5)}),
    ("nn.Flatten(0, 1)(x)", {"x": (2, 3, 4)}),
    ("nn.Unflatten(1, (3, 4))(x)", {"x": (2, 12)}),
    ("nn.Identity()(x)", {"x": (2, 3)}),
    ("nn.Upsample(scale_factor=2)(x)", {"x": (1, 3, 4, 5)}),
    ("nn.Upsample(size=(8, 9))(x)", {"x": (1, 3, 4, 5)}),
    ("nn.PixelShuffle(2)(x)", {"x": (1, 8, 3, 3)}),
    ("nn.PixelUnshuffle(2)(x)", {"x": (1, 3, 6, 4)}),
    ("nn.Unfold(kernel_size=3, padding=1)(x)", {"x": (2, 3, 6, 5)}),
    ("nn.Unfold((2, 3), dilation=2, stride=(1, 2))(x)", {"x": (3, 9, 8)}),
    ("nn.Fold(output_size=(6, 4), kernel_size=2, stride=2)(x)", {"x": (2, 12, 6)}),
    ("nn.ZeroPad2d((1, 2, 3, 4))(x)", {"x": (1, 2, 3, 3)}),
    ("nn.GLU()(x)", {"x": (2, 8)}),
    ("nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))(x)", {"x": (3, 4)}),
    ("nn.GELU()(x)", {"x": (2, 3)}),
    ("nn.SiLU()(x)", {"x": (2, 3)}),
    ("nn.LeakyReLU(0.2)(x)", {"x": (2, 3)}),
    ("nn.Softmax(dim=-1)(x)", {"x": (2, 3)}),
    ("nn.Tanh()(x)", {"x": (2, 3)}),
    ("nn.PReLU()(x)", {"x": (2, 3)}),
    # --- shaping
    ("x.view(2, -1)", {"x": (2, 3, 4)}),
    ("x.view(-1)", {"x": (2, 3, 4)}),
    ("x.reshape((4, 6))", {"x": (2, 3, 4)}),
    ("x.reshape(x.size(0), -1, 2)", {"x": (2, 3, 4)}),
    ("x.flatten()", {"x": (2, 3, 4)}),
    ("x.flatten(1)", {"x": (2, 3, 4)}),
    ("torch.flatten(x, 0, 1)", {"x": (2, 3, 4)}),
    ("x.unflatten(1, (2, 2))", {"x": (3, 4)}),
    ("x.permute(2, 0, 1)", {"x": (2, 3, 4)}),
    ("x.permute((0, 2, 1))", {"x": (2, 3, 4)}),
    ("x.transpose(1, 2)", {"x": (2, 3, 4)}),
    ("x.transpose(-1, -2)", {"x": (2, 3, 4)}),
    ("x.T", {"x": (2, 3)}),
    ("x.mT", {"x": (5, 2, 3)}),
    ("x.t()", {"x": (2, 3)}),
    ("x.unsqueeze(0)", {"x": (2, 3)}),
    ("x.unsqueeze(-1)", {"x": (2, 3)}),
    ("x.squeeze()", {"x": (2, 1, 3, 1)}),
    ("x.squeeze(1)", {"x": (2, 1, 3)}),
    ("x.squeeze(0)", {"x": (2, 1, 3)}),
    ("x.expand(4, 2, 3)", {"x": (2, 1)}),
    ("x.expand(-1, 5)", {"x": (2, 1)}),
    ("x.expand_as(y)", {"x": (1, 3), "y": (4, 3)}),
    ("x.broadcast_to(4, 2, 3)", {"x": (2, 1)}),
    ("x.movedim(1, -1)", {"x": (2, 3, 4, 5)}),
    ("torch.movedim(x, (0, 1), (2, 0))", {"x": (2, 3, 4, 5)}),
    ("torch.moveaxis(x, -1, 0)", {"x": (2, 3, 4)}),
    ("torch.broadcast_to(x, (5, 2, 3))", {"x": (1, 3)}),
    ("torch.isneginf(x)", {"x": (2, 5)}),
    ("x.isposinf()", {"x": (3, 1, 4)}),
    ("x.repeat(2, 3)", {"x": (2, 3)}),
    ("x.repeat(2, 1, 1)", {"x": (2, 3)}),
    ("x.repeat_interleave(2, dim=1)", {"x": (2, 3)}),
    ("x.contiguous()", {"x": (2, 3)}),
    ("x.chunk(3, dim=-1)", {"x": (2, 9)}),
    ("x.chunk(2, dim=1)", {"x": (2, 5)}),
    ("x.split(4, dim=1)", {"x": (2, 10)}),
    ("x.split([3, 7], dim=1)", {"x": (2, 10)}),
    ("x.split_with_sizes([3, 7], dim=1)", {"x": (2, 10)}),
    ("torch.split_with_sizes(x, split_sizes=[3, 7], dim=1)", {"x": (2, 10)}),
    ("x.unbind(0)", {"x": (3, 4)}),
    ("torch.unbind(x, dim=1)", {"x": (3, 2)}),
    ("x.unfold(2, 3, 2)", {"x": (2, 4, 9)}),
    ("x[0]", {"x": (2, 3, 4)}),
    ("x[:, 1]", {"x": (2, 3, 4)}),
    ("x[..., 0]", {"x": (2, 3, 4)}),
    ("x[:, None, 1:3]", {"x": (2, 3, 4)}),
    ("x[None, ..., None]", {"x": (2, 3)}),
    ("x[:, ::2]", {"x": (2, 7)}),
    ("x[1:-1]", {"x": (6, 2)}),
    ("x[y]", {"x": (5, 3), "y": ("long", (2, 4))}),
    ("x[:, y]", {"x": (5, 6, 3), "y": ("long", (4,))}),
    ("x[y, :, y]", {"x": (5, 6, 7), "y": ("long", (4,))}),
    ("x[[0, 2]]", {"x": (5, 3)}),
    ("x[y > 0]", {"x": (5, 3), "y": (5, 3)}),
    ("torch.cat([x, y], dim=1)", {"x": (2, 3), "y": (2, 5)}),
    ("torch.cat((x, y))", {"x": (2, 3), "y": (4, 3)}),
    ("torch.stack([x, y], dim=1)", {"x": (2, 3), "y": (2, 3)}),
    ("torch.stack([x, y, x], dim=-1)", {"x": (2, 3), "y": (2, 3)}),
    ("x.float()", {"x": ("long", (2, 3))}),
    ("x.long()", {"x": (2, 3)}),
    ("x.to(torch.long)", {"x": (2, 3)}),
    ("x.scatter(1, y, 1.0)", {"x": (3, 5), "y": ("long", (3, 2))}),
    # litgpt's LoRA zero-pads the enabled q/v updates into the qkv width
    ("x.new_zeros(2, 6, 12).index_copy_(dim=-1, index=y, source=x)", {"x": (2, 6, 8), "y": ("long", (8,))}),
    ("x.gather(1, y)", {"x": (3, 5), "y": ("long", (3, 2))}),
    ("x.take_along_dim(y, dim=1)", {"x": (2, 6, 4), "y": ("long", (2, 1, 1))}),
    ("torch.isin(y, z)", {"y": ("long", (2, 16)), "z": ("long", (3,))}),
    ("torch.take_along_dim(x, y, 2)", {"x": (2, 6, 4), "y": ("long", (1, 6, 3))}),
    ("torch.take_along_dim(x, y)", {"x": (2, 6, 4), "y": ("long", (5,))}),
    ("x.index_select(0, y)", {"x": (5, 3), "y": ("long", (4,))}),
    ("x.index_select(1, y)", {"x": (5, 3), "y": ("long", ())}),
    # --- math
    ("x + y", {"x": (2, 3), "y": (3,)}),
    ("x * y", {"x": (2, 1, 4), "y": (3, 1)}),
    ("x - 1", {"x": (2, 3)}),
    ("2 / x", {"x": (2, 3)}),
    ("x ** 2", {"x": (2, 3)}),
    ("x > y", {"x": (2, 3), "y": (2, 3)}),
    ("x @ y", {"x": (2, 3), "y": (3, 4)}),
    ("x @ y", {"x": (5, 2, 3), "y": (3, 4)}),
    ("x @ y", {"x": (3,), "y": (3, 4)}),
    ("x @ y", {"x": (2, 3), "y": (3,)}),
    ("x @ y", {"x": (3,), "y": (3,)}),
    ("torch.matmul(x, y)", {"x": (5, 1, 2, 3), "y": (4, 3, 6)}),
    ("torch.mm(x, y)", {"x": (2, 3), "y": (3, 4)}),
    ("torch.bmm(x, y)", {"x": (5, 2, 3), "y": (5, 3, 4)}),
    ("torch.einsum('bij,bjk->bik', x, y)", {"x": (5, 2, 3), "y": (5, 3, 4)}),
    ("torch.einsum('bhid,bhjd->bhij', x, y)", {"x": (2, 4, 5, 8), "y": (2, 4, 6, 8)}),
    ("torch.einsum('ij,jk', x, y)", {"x": (2, 3), "y": (3, 4)}),
    ("torch.einsum('...ij,...jk->...ik', x, y)", {"x": (7, 2, 3), "y": (7, 3, 4)}),
    ("torch.einsum('ii->i', x)", {"x": (3, 3)}),
    ("x.sum()", {"x": (2, 3)}),
    ("x.sum(dim=1)", {"x": (2, 3, 4)}),
    ("x.sum((0, 2), keepdim=True)", {"x": (2, 3, 4)}),
    ("x.mean(-1)", {"x": (2, 3, 4)}),
    ("x.mean(dim=1, keepdim=True)", {"x": (2, 3, 4)}),
    ("x.max(dim=1)", {"x": (2, 3, 4)}),
    ("x.max(dim=1)[0]", {"x": (2, 3, 4)}),
    ("x.max(dim=1).values", {"x": (2, 3, 4)}),
    ("x.max()", {"x": (2, 3, 4)}),
    ("torch.max(x, y)", {"x": (2, 3), "y": (3,)}),
    ("x.std(0)", {"x": (2, 3)}),
    ("x.norm(dim=-1)", {"x": (2, 3)}),
    ("x.norm(2, dim=-1, keepdim=True)", {"x": (2, 3)}),
    ("x.norm(2, 1)", {"x": (2, 3, 4)}),
    ("torch.linalg.norm(x, dim=1)", {"x": (32, 64)}),
    ("torch.linalg.norm(x)", {"x": (2, 3, 4)}),
    ("torch.linalg.norm(x, 2, -1, True)", {"x": (2, 3, 4)}),
    ("torch.linalg.vector_norm(x, dim=(1, 2))", {"x": (2, 3, 4)}),
    ("torch.linalg.matrix_norm(x)", {"x": (2, 3, 4)}),
    ("torch.linalg.matrix_norm(x, keepdim=True)", {"x": (2, 3, 4)}),
    ("torch.pow(2.0, x)", {"x": (2, 3)}),
    ("x[:, [-1], :]", {"x": (2, 5, 3)}),
    ("x.softmax(-1)", {"x": (2, 3)}),
    ("torch.log_softmax(x, dim=1)", {"x": (2, 3)}),
    ("x.argmax(dim=-1)", {"x": (2, 3)}),
    ("x.argmax()", {"x": (2, 3)}),
    ("x.argmin(1, keepdim=True)", {"x": (2, 3)}),
    ("x.topk(2)", {"x": (4, 5)}),
    ("torch.topk(x, 3, dim=0)", {"x": (4, 5)}),
    ("x.sort(dim=0)", {"x": (4, 5)}),
    ("torch.where(x > 0, x, y)", {"x": (2, 3), "y": (3,)}),
    ("torch.where(x > 0, x, 0.0)", {"x": (2, 3)}),
    ("x.masked_fill(y > 0, float('-inf'))", {"x": (2, 3, 4), "y": (3, 4)}),
    ("torch.tril(x)", {"x": (4, 4)}),
    ("x.triu(1)", {"x": (4, 4)}),
    ("x.cumsum(1)", {"x": (2, 3)}),
    ("torch.exp(x)", {"x": (2, 3)}),
    ("torch.atanh(x)", {"x": (2, 3)}),
    ("x.asinh().erfinv()", {"x": (2, 3)}),
    ("x.abs().sqrt()", {"x": (2, 3)}),
    ("x.clamp(min=0)", {"x": (2, 3)}),
    ("torch.outer(x, y)", {"x": (3,), "y": (4,)}),
    ("torch.cdist(x, y)", {"x": (2, 5, 4), "y": (2, 7, 4)}),
    ("torch.cdist(x, y)", {"x": (5, 4), "y": (7, 4)}),
    ("torch.cdist(x, y)", {"x": (3, 1, 5, 4), "y": (2, 7, 4)}),
    # --- functional
    ("F.relu(x)", {"x": (2, 3)}),
    ("F.gelu(x)", {"x": (2, 3)}),
    ("F.dropout(x, 0.5)", {"x": (2, 3)}),
    ("F.linear(x, y)", {"x": (2, 3), "y": (5, 3)}),
    ("F.conv2d(x, y, padding=1)", {"x": (2, 3, 8, 8), "y": (6, 3, 3, 3)}),
    ("F.conv1d(x, y, stride=2)", {"x": (2, 3, 9), "y": (4, 3, 3)}),
    ("F.conv_transpose2d(x, y, stride=2)", {"x": (2, 8, 8, 8), "y": (8, 4, 3, 3)}),
    ("F.conv_transpose2d(x, y, stride=(2, 2), output_padding=(1, 0), padding=0)", {"x": (2, 8, 8, 8), "y": (8, 4, 3, 3)}),
    ("F.conv_transpose2d(x, y, None, 2, 1, 1, 2)", {"x": (2, 8, 5, 7), "y": (8, 3, 4, 4)}),
    ("F.conv_transpose1d(x, y, stride=3, dilation=2)", {"x": (2, 6, 9), "y": (6, 2, 3)}),
    ("F.max_pool2d(x, 2)", {"x": (2, 3, 9, 8)}),
    ("F.max_pool2d(x, kernel_size=3, stride=1, padding=1)", {"x": (2, 3, 9, 8)}),
    ("F.avg_pool1d(x, 4)", {"x": (2, 3, 9)}),
    ("F.adaptive_avg_pool2d(x, 1)", {"x": (2, 3, 9, 8)}),
    ("F.adaptive_avg_pool1d(x, 5)", {"x": (2, 3, 9)}),
    ("F.layer_norm(x, (4,))", {"x": (2, 3, 4)}),
    ("F.embedding(x, y)", {"x": ("long", (2, 5)), "y": (10, 3)}),
    ("F.one_hot(x, 6)", {"x": ("long", (2, 5))}),
    ("F.interpolate(x, scale_factor=2)", {"x": (1, 3, 4, 5)}),
    ("F.interpolate(x, size=(7, 9), mode='bilinear')", {"x": (1, 3, 4, 5)}),
    ("F.pad(x, (1, 2))", {"x": (2, 3, 4)}),
    ("F.pad(x, (1, 1, 2, 0))", {"x": (2, 3, 4)}),
    ("F.scaled_dot_product_attention(x, y, y)", {"x": (2, 4, 5, 8), "y": (2, 4, 7, 8)}),
    ("F.multi_head_attention_forward(x, y, y, 8, 2, w, b, None, None, False, 0.0, o, c)",
     {"x": (3, 2, 8), "y": (5, 2, 8), "w": (24, 8), "b": (24,), "o": (6, 8), "c": (6,)}),
    ("F.multi_head_attention_forward(x, y, y, 8, 2, w, b, None, None, False, 0.0, o, c, need_weights=False)[0]",
     {"x": (3, 2, 8), "y": (5, 2, 8), "w": (24, 8), "b": (24,), "o": (6, 8), "c": (6,)}),
    ("F.multi_head_attention_forward(query=x[:1], key=x, value=x, embed_dim_to_check=8, num_heads=2, "
     "q_proj_weight=w, k_proj_weight=w, v_proj_weight=w, in_proj_weight=None, in_proj_bias=b, bias_k=None, "
     "bias_v=None, add_zero_attn=False, dropout_p=0, out_proj_weight=o, out_proj_bias=c, "
     "use_separate_proj_weight=True, training=False, need_weights=False)[0]",
     {"x": (5, 2, 8), "w": (8, 8), "b": (24,), "o": (6, 8), "c": (6,)}),
    ("F.softmax(x, dim=-1)", {"x": (2, 3)}),
    ("F.log_softmax(x, dim=1)", {"x": (2, 3)}),
    ("F.normalize(x, dim=-1)", {"x": (2, 3)}),
    ("F.cosine_similarity(x, y, dim=1)", {"x": (2, 3), "y": (2, 3)}),
    ("F.pairwise_distance(x, y)", {"x": (2, 3), "y": (2, 3)}),
    ("F.cross_entropy(x, y)", {"x": (4, 5), "y": ("long", (4,))}),
    ("F.cross_entropy(x, y, reduction='none')", {"x": (4, 5, 6), "y": ("long", (4, 6))}),
    ("F.mse_loss(x, y)", {"x": (4, 5), "y": (4, 5)}),
    ("F.glu(x, dim=1)", {"x": (2, 6)}),
    ("F.pixel_shuffle(x, 2)", {"x": (1, 8, 3, 3)}),
    ("F.pixel_unshuffle(x, 3)", {"x": (2, 1, 6, 9)}),
    ("F.unfold(x, kernel_size=2, stride=2)", {"x": (2, 3, 8, 6)}),
    ("F.fold(x, output_size=(5, 5), kernel_size=3, padding=1)", {"x": (1, 18, 25)}),
    ("x.round_().byte()", {"x": (2, 3)}),
    # --- creation
    ("torch.randn(2, 3)", {}),
    ("torch.zeros((2, 3))", {}),
    ("torch.ones(4)", {}),
    ("torch.empty(2, 3, dtype=torch.long)", {}),
    ("torch.full((2, 3), 7)", {}),
    ("torch.arange(10)", {}),
    ("torch.arange(2, 10, 3)", {}),
    ("torch.linspace(0, 1, 5)", {}),
    ("torch.eye(3)", {}),
    ("torch.tensor([[1, 2], [3, 4], [5, 6]])", {}),
    ("torch.tensor([1.0, 2.0])", {}),
    ("torch.randint(0, 10, (2, 3))", {}),
    ("torch.randperm(5)", {}),
    ("torch.meshgrid(x, y, indexing='ij')", {"x": (3,), "y": (4,)}),
    ("torch.meshgrid([x, y], indexing='xy')", {"x": (3,), "y": (4,)}),
    ("F.affine_grid(x, (2, 3, 5, 6), align_corners=False)", {"x": (2, 2, 3)}),
    ("F.grid_sample(x, y, align_corners=False)", {"x": (2, 3, 8, 8), "y": (2, 5, 6, 2)}),
    ("torch.zeros_like(x)", {"x": (2, 3)}),
    ("torch.ones_like(x, dtype=torch.long)", {"x": (2, 3)}),
    ("x.new_zeros(4, 5)", {"x": (2, 3)}),
    ("torch.rand_like(x)", {"x": (2, 3)}),
]


DATA_DEPENDENT = {"x[y > 0]"}


def _runtime(expr: str, inputs: dict):
    torch.manual_seed(0)
    env = {"torch": torch, "nn": nn, "F": F}
    for name, spec in inputs.items():
        dtype, shape = spec if isinstance(spec[0], str) else ("float", spec)
        env[name] = torch.randint(0, 3, shape) if dtype == "long" else torch.randn(*shape)
    out = eval(expr, env)
    return _flat(out)


def _flat(out, prefix=""):
    if isinstance(out, torch.Tensor):
        return {prefix: list(out.shape)}
    if isinstance(out, torch.Size):
        return {"size": list(out)}
    found = {}
    for i, x in enumerate(out):
        if x is not None:
            found.update(_flat(x, f"{prefix}[{i}]"))
    return found


def _static(expr: str, inputs: dict):
    names = list(inputs) or ["x"]
    lines = ["import torch", "import torch.nn as nn", "import torch.nn.functional as F", "",
             f"def f({', '.join(names)}):"]
    given = {}
    for name, spec in inputs.items():
        dtype, shape = spec if isinstance(spec[0], str) else ("float", spec)
        given[name] = list(shape)
        lines.append(f"    {name} = {name}.{dtype}()")
    lines.append(f"    out = {expr}")
    facts = analyze_source("\n".join(lines) + "\n", "ops.py", inputs=given or None, entry="f")
    out = {}
    for entry in facts.to_json_entries():
        if entry["name"].startswith("out"):
            out[entry["name"][3:]] = entry["shape"]
    return out, facts


@pytest.mark.parametrize("expr,inputs", CASES, ids=[c[0] for c in CASES])
def test_rule_matches_torch(expr, inputs):
    runtime = _runtime(expr, inputs)
    static, facts = _static(expr, inputs)
    if expr in DATA_DEPENDENT:  # the size depends on the values: unknown, never a guessed int
        assert {k: len(v) for k, v in static.items()} == {k: len(v) for k, v in runtime.items()}
        assert all(s is None or s == r for k in runtime for s, r in zip(static[k], runtime[k]))
        assert any(s is None for k in static for s in static[k])
    else:
        assert static == runtime, f"{expr}: static {static} vs torch {runtime} ({facts.problems})"
    assert not facts.conflicts, [c.message for c in facts.conflicts]


def test_every_issue_op_has_a_rule():
    from ml_lsp_torch_shapes import all_rules
    rules = all_rules()
    required = [
        "torch.nn.Linear", "torch.nn.Bilinear", "torch.nn.Conv1d", "torch.nn.Conv2d", "torch.nn.Conv3d",
        "torch.nn.ConvTranspose1d", "torch.nn.ConvTranspose2d", "torch.nn.MaxPool1d", "torch.nn.MaxPool2d",
        "torch.nn.AvgPool1d", "torch.nn.AvgPool2d", "torch.nn.AdaptiveAvgPool2d", "torch.nn.AdaptiveMaxPool2d",
        "torch.nn.BatchNorm1d", "torch.nn.BatchNorm2d", "torch.nn.LayerNorm", "torch.nn.GroupNorm",
        "torch.nn.Dropout", "torch.nn.Embedding", "torch.nn.RNN", "torch.nn.LSTM", "torch.nn.GRU",
        "torch.nn.MultiheadAttention", "torch.nn.TransformerEncoderLayer", "torch.nn.TransformerEncoder",
        "torch.nn.Flatten", "torch.nn.Unflatten", "torch.nn.Identity", "torch.nn.Upsample",
        "torch.nn.Sequential", "torch.Tensor.view", "torch.Tensor.reshape", "torch.flatten",
        "torch.Tensor.permute", "torch.Tensor.transpose", "torch.Tensor.T", "torch.Tensor.mT",
        "torch.Tensor.unsqueeze", "torch.Tensor.squeeze", "torch.Tensor.expand", "torch.Tensor.repeat",
        "torch.Tensor.contiguous", "torch.Tensor.chunk", "torch.Tensor.split", "torch.Tensor.unbind",
        "torch.Tensor.size", "torch.Tensor.__getitem__", "torch.matmul", "torch.bmm", "torch.mm",
        "torch.einsum", "torch.cat", "torch.stack", "torch.Tensor.sum", "torch.Tensor.mean",
        "torch.softmax", "torch.nn.functional.log_softmax", "torch.argmax", "torch.topk", "torch.where",
        "torch.Tensor.masked_fill", "torch.tril", "torch.triu", "torch.add",
        "torch.nn.functional.interpolate", "torch.nn.functional.pad",
        "torch.nn.functional.scaled_dot_product_attention", "torch.nn.functional.linear",
        "torch.nn.functional.conv2d", "torch.randn", "torch.zeros", "torch.ones", "torch.full", "torch.empty",
        "torch.arange", "torch.tensor", "torch.zeros_like", "torch.ones_like",
    ]
    missing = [r for r in required if r not in rules]
    assert not missing, missing


def test_the_plugin_is_registered_through_the_entry_point():
    from ml_lsp.plugins import PluginHost
    host = PluginHost()
    host.load_entry_points()
    rules = host.merged_mapping("ml_lsp_shape_rules")
    assert "torch.nn.Linear" in rules and "torch.einsum" in rules
    assert any(p.name == "torch_shapes" for p in host.loaded)


def test_json_dims_are_ints_strings_or_null():
    assert dim_json(3) == 3 and dim_json(None) is None


@pytest.mark.parametrize("expr,dtype", [("torch.cumsum(x.long(), dim=1, dtype=torch.float32)", "float"),
                                        ("x.cumsum(1, dtype=torch.long)", "long"),
                                        ("x.bool().cumsum(1)", "long")])
def test_cumsum_takes_its_dtype_argument(expr, dtype):
    # edgenext's positional encoding: a long mask summed with dtype=torch.float32 is a float tensor
    _, facts = _static(expr, {"x": (2, 3)})
    out = [e for e in facts.to_json_entries() if e["name"] == "out"]
    assert [(e["shape"], e["dtype"]) for e in out] == [([2, 3], dtype)]
