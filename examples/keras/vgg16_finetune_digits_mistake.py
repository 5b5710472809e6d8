"""Seed 001 as the article wrote it, on the digits as a DataFrame: fit without labels,
the test set as validation data, a Sequential given tensors, categorical_crossentropy with
class ids, the pretrained base trained unfrozen, and ImageNet weights downloaded on first
use. See vgg16_finetune_digits.py."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import tensorflow as tf
from sklearn.datasets import load_digits

# 读取数据
data = load_digits(as_frame=True).frame

# 数据归一化
datacaled = (data - data.mean()) / data.std()

# 数据划分
train_data = datacaled[:int(len(datacaled) * 0.8)]
test_data = datacaled[int(len(datacaled) * 0.8):]

# 定义模型
model = tf.keras.Sequential([
    tf.keras.layers.Dense(128, activation='relu', input_shape=(64,)),
    tf.keras.layers.Dropout(0.2),
    tf.keras.layers.Dense(10)
])

# 编译模型
model.compile(optimizer='adam',
              loss=tf.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=['accuracy'])

# 训练模型
model.fit(train_data, epochs=5, batch_size=32, validation_data=test_data)

# 评估模型
test_loss, test_acc = model.evaluate(test_data, verbose=2)
print('\nTest accuracy:', test_acc)

# 加载预训练模型
pretrained_model = tf.keras.applications.VGG16(weights='imagenet')

# 定义微调后的模型
fine_tuned_model = tf.keras.Sequential([
    pretrained_model.input,
    pretrained_model.layers[-1].output,
    tf.keras.layers.Dense(10, activation='softmax')
])

# 编译微调后的模型
fine_tuned_model.compile(optimizer='adam',
                        loss='categorical_crossentropy',
                        metrics=['accuracy'])

# 微调模型
fine_tuned_model.fit(train_data, epochs=5, batch_size=32, validation_data=test_data)
