import keras
from keras import layers

model = keras.Sequential()
model.add(keras.Input(shape=(100,)))
for units in [256, 128, 64]:
    model.add(layers.Dense(units, activation="relu"))
    model.add(layers.BatchNormalization())
model.add(layers.Dense(2))
