# Code sample 3 of the seed document /work/shared/seeds/001_f0f735f1a2572119.txt (the shared seeds
# folder beside the checkout), copied verbatim, mistakes included.
# 评估模型
test_loss, test_acc = model.evaluate(test_data, verbose=2)
print('\nTest accuracy:', test_acc)
