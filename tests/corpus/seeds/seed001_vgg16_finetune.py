# Code sample 4 of the seed document /work/shared/seeds/001_f0f735f1a2572119.txt (the shared seeds
# folder beside the checkout), copied verbatim, mistakes included.
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
