# corpus: entry=CharLSTM
# corpus: init=
# corpus: input=x=8,50 long<65
"""A character-level LSTM language model.

    python examples/models/char_lstm.py
"""
import torch
import torch.nn as nn


class CharLSTM(nn.Module):
    def __init__(self, vocab_size=65, n_embd=64, n_hidden=128, n_layers=2, dropout=0.1):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, n_embd)
        self.lstm = nn.LSTM(n_embd, n_hidden, num_layers=n_layers, dropout=dropout, batch_first=True)
        self.head = nn.Linear(n_hidden, vocab_size)

    def forward(self, x):
        emb = self.embedding(x)             # (B, T, 64)
        out, (h, c) = self.lstm(emb)        # out: (B, T, 128); h, c: (2, B, 128)
        logits = self.head(out)             # (B, T, 65)
        return logits


if __name__ == "__main__":
    model = CharLSTM()
    print(model(torch.randint(0, 65, (8, 50))).shape)
