"""Seed 000 as the article wrote it (on the digits): the "fine-tuning" step trains on the
test split, so the test score no longer measures unseen data. See mlp_digits.py."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

x, y = load_digits(return_X_y=True)
x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.2, random_state=0)

# 定义模型
model = tf.keras.Sequential([
    tf.keras.layers.Dense(128, activation='relu', input_shape=(64,)),
    tf.keras.layers.Dense(64, activation='relu'),
    tf.keras.layers.Dense(10, activation='softmax')
])

# 编译模型
model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])

# 训练模型
model.fit(x_train, y_train, epochs=10)

# 微调模型
model.fit(x_test, y_test, epochs=10)
