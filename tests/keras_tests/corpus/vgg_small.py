import keras
from keras import layers

conv_base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(64, 64, 3))
model = keras.Sequential([conv_base, layers.Flatten(), layers.Dense(256, activation="relu"), layers.Dense(10)])
