# corpus: entry=LSTMForecaster
# corpus: init=n_features=5, hidden_size=32, num_layers=2, horizon=3
# corpus: input=x=4,24,5
# Time-series forecaster: stacked LSTM with explicit zero initial states, last step to a head.
import torch
import torch.nn as nn


class LSTMForecaster(nn.Module):
    def __init__(self, n_features, hidden_size=64, num_layers=1, horizon=1, dropout=0.0):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.lstm = nn.LSTM(input_size=n_features, hidden_size=hidden_size,
                            num_layers=num_layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(hidden_size, horizon)

    def forward(self, x):
        h0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size).to(x.device)
        c0 = torch.zeros(self.num_layers, x.size(0), self.hidden_size).to(x.device)
        out, (hn, cn) = self.lstm(x, (h0, c0))
        last = out[:, -1, :]
        pred = self.head(last)
        return pred.unsqueeze(-1)
