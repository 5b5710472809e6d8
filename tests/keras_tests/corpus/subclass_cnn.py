import keras
from keras import layers


class SmallCNN(keras.Model):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = layers.Conv2D(16, 3, activation="relu")
        self.pool = layers.MaxPooling2D()
        self.conv2 = layers.Conv2D(32, 3, activation="relu")
        self.flatten = layers.Flatten()
        self.head = layers.Dense(num_classes)

    def call(self, x):
        x = self.conv1(x)
        x = self.pool(x)
        x = self.conv2(x)
        x = self.flatten(x)
        return self.head(x)


model = SmallCNN(num_classes=5)
y = model(keras.Input(shape=(28, 28, 1)))
