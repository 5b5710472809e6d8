import keras
from keras import layers


class AttentionBlock(layers.Layer):
    def __init__(self, key_dim, heads):
        super().__init__()
        self.attention = layers.MultiHeadAttention(num_heads=heads, key_dim=key_dim, value_dim=3, use_bias=False)
        self.norm = layers.LayerNormalization()

    def call(self, x):
        return self.norm(x + self.attention(x, x))


inputs = keras.Input(shape=(7, 16))
x = AttentionBlock(4, 3)(inputs)
outputs = layers.Dense(2)(x)
model = keras.Model(inputs, outputs)
