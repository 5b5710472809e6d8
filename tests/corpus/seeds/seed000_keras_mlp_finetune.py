# Code sample 1 of the seed document /work/shared/seeds/000_4609c21b20e8c918.txt (the shared seeds
# folder beside the checkout), copied verbatim, mistakes included.
import tensorflow as tf

# 定义模型
model = tf.keras.Sequential([
    tf.keras.layers.Dense(128, activation='relu', input_shape=(784,)),
    tf.keras.layers.Dense(64, activation='relu'),
    tf.keras.layers.Dense(10, activation='softmax')
])

# 编译模型
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])

# 训练模型
model.fit(x_train, y_train, epochs=10)

# 微调模型
model.fit(x_test, y_test, epochs=10)
