# corpus: entry=ConvAutoencoder
# corpus: init=
# corpus: input=img=8,1,28,28
import torch
import torch.nn as nn


class ConvAutoencoder(nn.Module):
    def __init__(self, code_channels=8):
        super(ConvAutoencoder, self).__init__()
        # encoder: 1x28x28 -> 16x14x14 -> code_channels x 7 x 7
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1),
            nn.ReLU(True),
            nn.Conv2d(16, code_channels, 3, stride=2, padding=1),
            nn.ReLU(True),
        )
        # decoder mirrors it with transposed convolutions
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(code_channels, 16, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(True),
            nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1),
            nn.Sigmoid(),
        )

    def forward(self, img):
        code = self.encoder(img)
        recon = self.decoder(code)
        loss = ((recon - img) ** 2).mean()
        return recon, loss
