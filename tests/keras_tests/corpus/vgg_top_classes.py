import keras

model = keras.applications.VGG16(weights=None, classes=10)
wrapper = keras.Sequential([keras.Input(shape=(224, 224, 3)), model])
