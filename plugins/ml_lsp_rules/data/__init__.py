"""Data rules: which split a model trains on, how a training DataLoader samples, how a
checkpoint is loaded."""
