import keras
from keras import layers

model = keras.Sequential([
    keras.Input(shape=(10, 3)),
    layers.Permute((2, 1)),
    layers.Flatten(),
    layers.RepeatVector(4),
    layers.SimpleRNN(7),
])
