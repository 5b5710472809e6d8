"""Seed 004's CNN, corrected: one training run, measured on held-out data (the article
called a second fit on the same data "fine-tuning"). Digits are 8x8 images, one channel.

    python examples/keras/cnn_digits.py --epochs=10
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

epochs = 10
for arg in sys.argv[1:]:
    if arg.startswith("--epochs="):
        epochs = int(arg.split("=", 1)[1])

digits = load_digits()
x = digits.images[..., None] / 16.0
x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.2, random_state=0)

model = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    keras.layers.Conv2D(32, (3, 3), activation="relu"),
    keras.layers.MaxPooling2D((2, 2)),
    keras.layers.Flatten(),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dropout(0.5),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=epochs, batch_size=32, validation_split=0.1, verbose=2)

test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy: {test_acc:.3f}")
