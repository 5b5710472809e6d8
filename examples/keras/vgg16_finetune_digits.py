"""Seed 001's pipeline, corrected: features and labels kept apart (the article fitted a
DataFrame without its labels), a small
classifier trained with a validation split of the training data, then VGG16 fine-tuned the
usual way: the base frozen while a new head trains, then its last block unfrozen and the
model compiled again with a low learning rate. VGG16 has weights=None here (no download)
and takes the digits scaled up to 32x32 with three channels.

    python examples/keras/vgg16_finetune_digits.py --epochs=3
    python examples/keras/vgg16_finetune_digits.py --epochs=1 --samples=64   # a quick look

VGG16 is 14.7M parameters: on a CPU each epoch over the 1,437 training images takes minutes;
--samples keeps the first N of them for the VGG16 stage.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

epochs = 3
samples = 0  # 0: all
for arg in sys.argv[1:]:
    if arg.startswith("--epochs="):
        epochs = int(arg.split("=", 1)[1])
    elif arg.startswith("--samples="):
        samples = int(arg.split("=", 1)[1])

features, labels = load_digits(return_X_y=True)
features = features / 16.0
x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.2, random_state=0)

# a small classifier: logits, so the loss is told from_logits=True
model = keras.Sequential([
    keras.Input(shape=(64,)),
    keras.layers.Dense(128, activation="relu"),
    keras.layers.Dropout(0.2),
    keras.layers.Dense(10),
])
model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
model.fit(x_train, y_train, epochs=epochs, batch_size=32, validation_split=0.1, verbose=2)
test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
print(f"MLP test accuracy: {test_acc:.3f}")


def as_images(rows):
    """8x8 digits -> 32x32 RGB, the smallest input VGG16 takes."""
    images = rows.reshape(-1, 8, 8)
    images = np.kron(images, np.ones((4, 4)))
    return np.repeat(images[..., None], 3, axis=-1).astype("float32")


images_train, images_test = as_images(x_train), as_images(x_test)
if samples:
    images_train, y_train, images_test, y_test = images_train[:samples], y_train[:samples], \
        images_test[:samples], y_test[:samples]

pretrained_model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
pretrained_model.trainable = False
inputs = keras.Input(shape=(32, 32, 3))
x = pretrained_model(inputs, training=False)
x = keras.layers.Flatten()(x)
outputs = keras.layers.Dense(10, activation="softmax")(x)
fine_tuned_model = keras.Model(inputs, outputs)

fine_tuned_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
fine_tuned_model.fit(images_train, y_train, epochs=epochs, batch_size=32, validation_split=0.1, verbose=2)

# fine-tune: unfreeze the last block, compile again with a low learning rate
pretrained_model.trainable = True
for layer in pretrained_model.layers[:-4]:
    layer.trainable = False
fine_tuned_model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy",
                         metrics=["accuracy"])
fine_tuned_model.fit(images_train, y_train, epochs=epochs, batch_size=32, validation_split=0.1, verbose=2)
test_loss, test_acc = fine_tuned_model.evaluate(images_test, y_test, verbose=0)
print(f"VGG16 test accuracy: {test_acc:.3f}")
