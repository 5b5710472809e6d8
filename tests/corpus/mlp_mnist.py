# corpus: entry=MLP
# corpus: init=
# corpus: input=x=4,1,28,28
import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    """Classic fully connected MNIST classifier."""

    def __init__(self, input_size=784, hidden_size=256, num_classes=10, dropout=0.2):
        super(MLP, self).__init__()
        self.fc1 = nn.Linear(input_size, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size // 2)
        self.fc3 = nn.Linear(hidden_size // 2, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = F.relu(self.fc1(x))
        x = self.dropout(x)
        x = F.relu(self.fc2(x))
        x = self.dropout(x)
        logits = self.fc3(x)
        probs = F.softmax(logits, dim=1)
        return logits, probs
