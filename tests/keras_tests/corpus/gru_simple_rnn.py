import keras
from keras import layers

model = keras.Sequential([
    keras.Input(shape=(12, 6)),
    layers.GRU(20, return_sequences=True),
    layers.SimpleRNN(10, return_sequences=True),
    layers.GRU(5, reset_after=False),
])
