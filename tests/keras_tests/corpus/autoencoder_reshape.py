import keras
from keras import layers

encoder = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Flatten(),
    layers.Dense(64, activation="relu"),
    layers.Dense(16),
], name="encoder")
decoder = keras.Sequential([
    keras.Input(shape=(16,)),
    layers.Dense(7 * 7 * 8, activation="relu"),
    layers.Reshape((7, 7, 8)),
    layers.UpSampling2D(2),
    layers.Conv2DTranspose(8, 3, strides=2, padding="same"),
    layers.Conv2D(1, 3, padding="same", activation="sigmoid"),
], name="decoder")
