import keras
from keras import layers, ops


class Patches(layers.Layer):
    def __init__(self, size):
        super().__init__()
        self.size = size

    def call(self, images):
        shape = ops.shape(images)
        batch, channels = shape[0], shape[-1]
        patches = ops.image.extract_patches(images, self.size)
        return ops.reshape(patches, (batch, -1, self.size * self.size * channels))


class Encoder(layers.Layer):
    def __init__(self, count, dim):
        super().__init__()
        self.count = count
        self.projection = layers.Dense(dim)
        self.position = layers.Embedding(input_dim=count, output_dim=dim)

    def call(self, patches):
        positions = ops.expand_dims(ops.arange(start=0, stop=self.count, step=1), axis=0)
        return self.projection(patches) + self.position(positions)


inputs = keras.Input(shape=(32, 32, 3))
x = Patches(8)(inputs)
x = Encoder(16, 24)(x)
y = ops.transpose(x, axes=[0, 2, 1])
y = layers.Dense(5)(y)
z = ops.reshape(x, (-1, 4, 4, 24))
z = layers.Conv2D(2, 3)(z)
w = layers.Dense(3)(ops.cast(x, "float32") * 2.0)
model = keras.Model(inputs, [y, z, w])
