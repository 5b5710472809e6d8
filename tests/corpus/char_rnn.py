# corpus: entry=CharRNN
# corpus: init=n_chars=30, hidden_dim=24, n_layers=2
# corpus: input=x=4,10 long<30
# corpus: input=hidden=2,4,24
# Character-level language model with nn.RNN and an explicit hidden state.
import torch
import torch.nn as nn


class CharRNN(nn.Module):
    def __init__(self, n_chars, hidden_dim, n_layers, drop_prob=0.2):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.n_layers = n_layers
        self.embed = nn.Embedding(n_chars, hidden_dim)
        self.rnn = nn.RNN(hidden_dim, hidden_dim, n_layers, dropout=drop_prob, batch_first=True)
        self.fc = nn.Linear(hidden_dim, n_chars)

    def forward(self, x, hidden):
        batch_size = x.size(0)
        emb = self.embed(x)
        out, hidden = self.rnn(emb, hidden)
        out = out.contiguous().view(-1, self.hidden_dim)
        out = self.fc(out)
        last = out.view(batch_size, -1, out.size(-1))[:, -1]
        return out, hidden, last

    def init_hidden(self, batch_size):
        hidden = torch.zeros(self.n_layers, batch_size, self.hidden_dim)
        return hidden
