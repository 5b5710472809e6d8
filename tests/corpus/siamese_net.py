# corpus: entry=SiameseNetwork
# corpus: init=
# corpus: input=img1=3,1,32,32
# corpus: input=img2=3,1,32,32
# A Siamese network: one encoder applied to two inputs, compared by distance and by a head.
import torch
import torch.nn as nn
import torch.nn.functional as F


class SiameseNetwork(nn.Module):
    def __init__(self, embedding_size=32):
        super(SiameseNetwork, self).__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.fc = nn.Sequential(
            nn.Linear(16 * 8 * 8, 64),
            nn.ReLU(inplace=True),
            nn.Linear(64, embedding_size),
        )
        self.head = nn.Linear(embedding_size * 2, 1)

    def forward_once(self, x):
        output = self.cnn(x)
        output = output.view(output.size()[0], -1)
        output = self.fc(output)
        return output

    def forward(self, img1, img2):
        output1 = self.forward_once(img1)
        output2 = self.forward_once(img2)
        distance = F.pairwise_distance(output1, output2)
        diff = torch.abs(output1 - output2)
        score = self.head(torch.cat([diff, output1 * output2], dim=1)).squeeze(-1)
        return distance, score
