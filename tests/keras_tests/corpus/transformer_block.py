import keras
from keras import layers

embed_dim, num_heads, ff_dim, maxlen = 32, 2, 32, 200
inputs = keras.Input(shape=(maxlen, embed_dim))
attn = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)(inputs, inputs)
attn = layers.Dropout(0.1)(attn)
out1 = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([inputs, attn]))
ffn = layers.Dense(ff_dim, activation="relu")(out1)
ffn = layers.Dense(embed_dim)(ffn)
out2 = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([out1, ffn]))
pooled = layers.GlobalAveragePooling1D()(out2)
outputs = layers.Dense(2, activation="softmax")(pooled)
model = keras.Model(inputs=inputs, outputs=outputs)
