# Code sample 5 of the seed document /work/shared/seeds/001_f0f735f1a2572119.txt (the shared seeds
# folder beside the checkout), copied verbatim, mistakes included.
import numpy as np

# 定义激活函数
def sigmoid(x):
    return 1 / (1 + np.exp(-x))

# 训练模型
def train_model(x, y, epochs, learning_rate):
    weights = np.random.rand(10, 2)
    biases = np.random.rand(10, 1)

    for epoch in range(epochs):
        z = np.dot(x, weights) + biases
        h = sigmoid(z)

        z2 = np.dot(h, weights) + biases
        y_pred = sigmoid(z2)

        error = y - y_pred
        d_error = error * (y_pred * (1 - y_pred))

        d_z2 = d_error * (h * (1 - h))
        d_h = d_z2

        d_z1 = np.dot(d_h.T, x)
        d_x = d_z1

        weights -= learning_rate * d_z1
        biases -= learning_rate * d_z2

    return weights, biases

# 测试模型
def test_model(x, y, weights, biases):
    z = np.dot(x, weights) + biases
    h = sigmoid(z)

    z2 = np.dot(h, weights) + biases
    y_pred = sigmoid(z2)

    error = y - y_pred
    print('Test error:', error)

# 准备数据
x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
y = np.array([[0], [1], [1], [0]])

# 训练模型
weights, biases = train_model(x, y, epochs=1000, learning_rate=0.1)

# 测试模型
test_model(x, y, weights, biases)
