# Code sample 2 of the seed document /work/shared/seeds/001_f0f735f1a2572119.txt (the shared seeds
# folder beside the checkout), copied verbatim, mistakes included.
import tensorflow as tf

# 定义模型
model = tf.keras.Sequential([
    tf.keras.layers.Dense(128, activation='relu', input_shape=(input_shape,)),
    tf.keras.layers.Dropout(0.2),
    tf.keras.layers.Dense(10)
])

# 编译模型
model.compile(optimizer='adam',
              loss=tf.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=['accuracy'])

# 训练模型
model.fit(train_data, epochs=5, batch_size=32, validation_data=test_data)
