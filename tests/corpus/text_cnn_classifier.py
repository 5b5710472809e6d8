# corpus: entry=TextClassifier
# corpus: init=vocab_size=200, embed_dim=16, num_class=4
# corpus: input=text=3,20 long<200
# Embedding + mean/max pooling text classifier (fastText-like), with a Kim-CNN branch.
import torch
import torch.nn as nn
import torch.nn.functional as F


class TextClassifier(nn.Module):
    def __init__(self, vocab_size, embed_dim, num_class, kernel_sizes=(3, 4, 5), num_filters=8):
        super(TextClassifier, self).__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.convs = nn.ModuleList([nn.Conv1d(embed_dim, num_filters, k) for k in kernel_sizes])
        self.fc = nn.Linear(2 * embed_dim + num_filters * len(kernel_sizes), num_class)
        self.dropout = nn.Dropout(0.5)

    def forward(self, text):
        embedded = self.embedding(text)                 # [batch, seq, emb]
        mean_pool = embedded.mean(dim=1)
        max_pool, _ = embedded.max(dim=1)
        conv_in = embedded.permute(0, 2, 1)              # [batch, emb, seq]
        conved = [F.relu(conv(conv_in)) for conv in self.convs]
        pooled = [F.max_pool1d(c, c.shape[2]).squeeze(2) for c in conved]
        cat = self.dropout(torch.cat(pooled + [mean_pool, max_pool], dim=1))
        return self.fc(cat)
