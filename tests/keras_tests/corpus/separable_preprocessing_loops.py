import keras
from keras import layers

num_blocks = 3


def conv_block(x, filters):
    x = layers.SeparableConv2D(filters, 3, padding="same", depth_multiplier=2)(x)
    x = layers.GroupNormalization(groups=filters // 4)(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    return x


augment = keras.Sequential(
    [layers.Resizing(48, 40), layers.RandomCrop(40, 32), layers.Normalization()], name="augment")
head = keras.Sequential([layers.Dense(16, activation="relu") for _ in range(2)])


def build_image_model():
    inputs = keras.Input(shape=(64, 64, 3))
    x = augment(inputs)
    for i in range(num_blocks):
        x = conv_block(x, 8 * (i + 1))
    x = layers.CenterCrop(2, 2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = head(x)
    return keras.Model(inputs, outputs)


def build_sequence_model():
    inputs = keras.Input(shape=(20, 6))
    x = layers.SeparableConv1D(8, 3)(inputs)
    x = layers.Conv1DTranspose(4, 3, strides=2)(x)
    x = layers.UpSampling1D(2)(x)
    x = layers.ZeroPadding1D((1, 2))(x)
    x = layers.UnitNormalization()(x)
    outputs = layers.DepthwiseConv1D(5, depth_multiplier=3)(x)
    return keras.Model(inputs, outputs)


image_model = build_image_model()
sequence_model = build_sequence_model()
