# Code sample 1 of the seed document /work/shared/seeds/001_f0f735f1a2572119.txt (the shared seeds
# folder beside the checkout), copied verbatim, mistakes included.
import numpy as np
import pandas as pd

# 读取数据
data = pd.read_csv('data.csv')

# 数据清洗
data.dropna(inplace=True)

# 数据归一化
datacaled = (data - data.mean()) / data.std()

# 数据划分
train_data = datacaled[:int(len(datacaled) * 0.8)]
test_data = datacaled[int(len(datacaled) * 0.8):]
