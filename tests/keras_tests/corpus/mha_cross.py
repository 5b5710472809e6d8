import keras
from keras import layers

query = keras.Input(shape=(8, 16))
context = keras.Input(shape=(4, 24))
out = layers.MultiHeadAttention(num_heads=4, key_dim=8, value_dim=6)(query, context)
out2 = layers.MultiHeadAttention(num_heads=2, key_dim=5, output_shape=12)(query, context, context)
model = keras.Model([query, context], [out, out2])
