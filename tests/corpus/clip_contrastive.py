# corpus: entry=MiniCLIP
# corpus: init=embed_dim=16, vocab_size=64, context_length=8, width=24
# corpus: input=image=3,3,16,16
# corpus: input=text=3,8 long<64
# CLIP-style dual encoder (openai/CLIP model.py idioms): text features taken at the EOT
# token with advanced indexing, projections by matrix parameters, logit_scale.exp().
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class MiniCLIP(nn.Module):
    def __init__(self, embed_dim, vocab_size, context_length, width, image_channels=3):
        super().__init__()
        self.context_length = context_length
        self.visual = nn.Sequential(
            nn.Conv2d(image_channels, width, kernel_size=4, stride=4),
            nn.GELU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(width, embed_dim),
        )
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(self.context_length, width))
        layer = nn.TransformerEncoderLayer(width, nhead=4, dim_feedforward=width * 2, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, num_layers=1)
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.empty(width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * np.log(1 / 0.07))
        nn.init.normal_(self.positional_embedding, std=0.01)
        nn.init.normal_(self.text_projection, std=width ** -0.5)

    def encode_image(self, image):
        return self.visual(image)

    def encode_text(self, text):
        x = self.token_embedding(text)  # [batch_size, n_ctx, d_model]
        x = x + self.positional_embedding
        x = self.transformer(x)
        x = self.ln_final(x)
        # x.shape = [batch_size, n_ctx, transformer.width]
        # take features from the eot embedding (eot_token is the highest number in each sequence)
        x = x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection
        return x

    def forward(self, image, text):
        image_features = self.encode_image(image)
        text_features = self.encode_text(text)

        # normalized features
        image_features = image_features / image_features.norm(dim=1, keepdim=True)
        text_features = text_features / text_features.norm(dim=1, keepdim=True)

        # cosine similarity as logits
        logit_scale = self.logit_scale.exp()
        logits_per_image = logit_scale * image_features @ text_features.t()
        logits_per_text = logits_per_image.t()

        labels = torch.arange(image.shape[0])
        loss = (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2
        return logits_per_image, logits_per_text, loss
