import keras
from keras import layers


class Block(keras.layers.Layer):
    def __init__(self, units):
        super().__init__()
        self.dense = layers.Dense(units, activation="relu")
        self.norm = layers.LayerNormalization()

    def call(self, x):
        return self.norm(self.dense(x))


class Net(keras.Model):
    def __init__(self):
        super().__init__()
        self.block = Block(48)
        self.out = layers.Dense(3)

    def call(self, inputs):
        h = self.block(inputs)
        return self.out(h)


net = Net()
result = net(keras.Input(shape=(10,)))
