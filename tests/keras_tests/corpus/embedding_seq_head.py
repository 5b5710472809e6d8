import keras
from keras import layers

vocab, seq = 5000, 64
inputs = keras.Input(shape=(seq,))
x = layers.Embedding(input_dim=vocab, output_dim=32)(inputs)
x = layers.SpatialDropout1D(0.2)(x)
x = layers.GRU(24, return_sequences=True)(x)
x = layers.GlobalAveragePooling1D()(x)
x = layers.Dense(16, activation="relu")(x)
x = layers.GaussianNoise(0.1)(x)
outputs = layers.Dense(3, activation="softmax")(x)
model = keras.Model(inputs, outputs)
