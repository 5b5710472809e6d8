import keras
from keras import layers

inputs = keras.Input((16, 32, 32, 3))
x = layers.Conv3D(8, 3, activation="relu")(inputs)
x = layers.MaxPooling3D(2)(x)
x = layers.Conv3D(16, (1, 3, 3), padding="same")(x)
x = layers.GlobalAveragePooling3D()(x)
outputs = layers.Dense(5)(x)
model = keras.Model(inputs=inputs, outputs=outputs)
