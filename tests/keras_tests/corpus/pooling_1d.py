import keras
from keras import layers

model = keras.Sequential([
    keras.Input(shape=(128, 9)),
    layers.Conv1D(64, 3, padding="causal"),
    layers.MaxPooling1D(2),
    layers.Conv1D(64, 5, dilation_rate=2),
    layers.AveragePooling1D(pool_size=4, strides=2),
    layers.Flatten(),
    layers.Dense(6, activation="softmax"),
])
