"""A small Keras CNN for the 8x8 digits (seed 004's CNN, scaled to the digits), built by a
function so `ml-lsp finetune --model examples/keras/finetune/model.py:build_cnn` can call it."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
from keras import layers


def build_cnn(classes=5):
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
        layers.MaxPooling2D(name="pool"),
        layers.Flatten(name="flatten"),
        layers.Dense(64, activation="relu", name="features"),
        layers.Dense(classes, activation="softmax", name="head"),
    ], name="digits_cnn")
