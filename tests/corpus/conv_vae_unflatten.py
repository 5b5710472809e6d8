# corpus: entry=ConvVAE
# corpus: init=latent_dim=8
# corpus: input=x=4,1,28,28 rand
# Convolutional VAE using nn.Flatten / nn.Unflatten around the latent bottleneck and
# torch.chunk to split mean and log-variance.
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvVAE(nn.Module):
    def __init__(self, in_channels=1, latent_dim=16, hidden=32):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 4, stride=2, padding=1),   # 14x14
            nn.LeakyReLU(0.2),
            nn.Conv2d(hidden, hidden * 2, 4, stride=2, padding=1),   # 7x7
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.to_stats = nn.Linear(hidden * 2 * 7 * 7, 2 * latent_dim)
        self.from_latent = nn.Linear(latent_dim, hidden * 2 * 7 * 7)
        self.decoder = nn.Sequential(
            nn.Unflatten(1, (hidden * 2, 7, 7)),
            nn.ConvTranspose2d(hidden * 2, hidden, 4, stride=2, padding=1),  # 14x14
            nn.ReLU(),
            nn.ConvTranspose2d(hidden, in_channels, 4, stride=2, padding=1),  # 28x28
        )

    def forward(self, x):
        h = self.encoder(x)
        mu, logvar = torch.chunk(self.to_stats(h), 2, dim=1)
        std = torch.exp(0.5 * logvar)
        z = mu + torch.randn_like(std) * std
        logits = self.decoder(self.from_latent(z))
        recon_loss = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.size(0)
        kl = -0.5 * torch.mean(torch.sum(1 + logvar - mu ** 2 - logvar.exp(), dim=1))
        return torch.sigmoid(logits), recon_loss + kl
