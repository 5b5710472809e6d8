import keras
from keras import layers

model = keras.Sequential([
    keras.Input(shape=(64, 48, 3)),
    layers.Conv2D(16, 5, strides=2, padding="same"),
    layers.BatchNormalization(),
    layers.ReLU(),
    layers.Conv2D(32, 3, strides=(2, 1), padding="valid", dilation_rate=1),
    layers.AveragePooling2D(pool_size=3, strides=2, padding="same"),
    layers.GlobalMaxPooling2D(),
    layers.Dense(4),
])
