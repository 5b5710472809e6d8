import keras
from keras import layers

model = keras.Sequential()
model.add(layers.Dense(32, activation="relu", input_dim=20))
model.add(layers.Dropout(0.2))
model.add(layers.Dense(16, activation="relu"))
model.add(layers.Dense(1, activation="sigmoid"))
