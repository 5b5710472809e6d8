# corpus: entry=MultiTaskModel
# corpus: init=ModelConfig(hidden_size=24, tasks={"sentiment": 3, "topic": 7}), dropout=0.2
# corpus: input=features=5,40
# Hugging-Face-flavoured multi-task model: a config object with keyword overrides passed
# through **kwargs, a shared encoder and one head per task in an nn.ModuleDict.
import torch
import torch.nn as nn


class ModelConfig:
    def __init__(self, input_size=40, hidden_size=64, num_layers=2, tasks=None, **kwargs):
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.tasks = tasks or {"default": 2}
        self.dropout = kwargs.pop("dropout", 0.1)
        for key, value in kwargs.items():
            setattr(self, key, value)


class SharedEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        layers = []
        size = config.input_size
        for _ in range(config.num_layers):
            layers += [nn.Linear(size, config.hidden_size), nn.LayerNorm(config.hidden_size), nn.ReLU()]
            size = config.hidden_size
        self.layers = nn.Sequential(*layers)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.layers(x))


class MultiTaskModel(nn.Module):
    def __init__(self, config, **kwargs):
        super().__init__()
        for key, value in kwargs.items():
            setattr(config, key, value)
        self.config = config
        self.encoder = SharedEncoder(config)
        self.heads = nn.ModuleDict({
            name: nn.Linear(config.hidden_size, n_labels) for name, n_labels in config.tasks.items()
        })

    def forward(self, features):
        shared = self.encoder(features)
        sentiment = self.heads["sentiment"](shared)
        topic = self.heads["topic"](shared)
        outputs = {name: head(shared) for name, head in self.heads.items()}
        return sentiment, topic, outputs
