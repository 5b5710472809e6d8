import keras
from keras import layers

model = keras.Sequential([
    keras.Input(shape=(31, 31, 2)),
    layers.ZeroPadding2D(padding=1),
    layers.Conv2D(4, 3, strides=2),
    layers.ZeroPadding2D(padding=((1, 0), (0, 1))),
    layers.MaxPooling2D(pool_size=(2, 3)),
    layers.Flatten(),
])
