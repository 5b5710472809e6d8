import keras
from keras import layers

a = keras.Input(shape=(16,))
b = keras.Input(shape=(16,))
x1 = layers.Dense(8)(a)
x2 = layers.Dense(8)(b)
m = layers.Multiply()([x1, x2])
s = layers.Subtract()([x1, x2])
avg = layers.Average()([m, s])
mx = layers.Maximum()([m, s])
out = layers.Concatenate(axis=1)([avg, mx])
model = keras.Model([a, b], out)
