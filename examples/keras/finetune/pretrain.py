"""Pretrain the Keras digits CNN on 0-4 and save it as a .keras file, the starting point of

    python examples/keras/finetune/pretrain.py --out pretrained.keras
    ml-lsp finetune --model pretrained.keras --data examples/keras/finetune/data.py:digits_5_9 \
        --freeze 'conv*' --replace-head head=5 --epochs 3 --lr 0.003 --wait
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras
from data import digits_0_4
from model import build_cnn

parser = argparse.ArgumentParser()
parser.add_argument("--out", default="pretrained.keras")
parser.add_argument("--epochs", type=int, default=8)
args = parser.parse_args()

keras.utils.set_random_seed(0)
(x, y), (x_val, y_val) = digits_0_4()
model = build_cnn(classes=5)
model.compile(optimizer=keras.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(x, y, epochs=args.epochs, batch_size=32, validation_data=(x_val, y_val), verbose=0)
_, accuracy = model.evaluate(x_val, y_val, verbose=0)
model.save(args.out)
print(f"saved {args.out} (val_accuracy {accuracy:.4f})")
