# corpus: entry=BiGRUTagger
# corpus: init=vocab_size=50, num_tags=7
# corpus: input=tokens=3,12 long<50
# Batched bidirectional GRU tagger (NER-style), batch_first.
import torch
from torch import nn


class BiGRUTagger(nn.Module):
    def __init__(self, vocab_size, num_tags, emb_dim=32, hidden=24, layers=2, dropout=0.1, pad_idx=0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_idx)
        self.rnn = nn.GRU(emb_dim, hidden, num_layers=layers, batch_first=True,
                          bidirectional=True, dropout=dropout)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden * 2, num_tags)

    def forward(self, tokens):
        mask = tokens != 0
        emb = self.dropout(self.embedding(tokens))
        outputs, hidden = self.rnn(emb)
        outputs = self.dropout(outputs)
        emissions = self.fc(outputs)
        emissions = emissions.masked_fill(~mask.unsqueeze(-1), 0.0)
        # concatenate the final forward and backward hidden states
        sentence_repr = torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1)
        return emissions, sentence_repr
