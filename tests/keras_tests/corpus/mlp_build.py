import keras
from keras import layers

model = keras.Sequential([layers.Dense(64, activation="relu"), layers.Dense(64, use_bias=False), layers.Dense(3)])
model.build((None, 12))
