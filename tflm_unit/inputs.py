"""How data reach a model: one place for every entry point (DESIGN.md §9 "Input scaling").

``convert``, ``calibrate``, ``eval``, ``msp430``, the demo and the Python API
all turn a user's arrays into the model's input tensor here, so they cannot
disagree about scaling or layout.
"""
from __future__ import annotations

import os
from typing import Any, Optional, Union

import numpy as np

from tflm_unit.runtime import Interpreter

ModelLike = Union[bytes, str, os.PathLike, Interpreter, Any]


def load_interpreter(model: ModelLike, representative: Optional[np.ndarray] = None) -> Interpreter:
    """An Interpreter from a .tflite (bytes / path), an Interpreter, or a Keras
    model (converted to int8 with ``representative`` data)."""
    if isinstance(model, Interpreter):
        return model
    if isinstance(model, (bytes, bytearray, str, os.PathLike)):
        return Interpreter(bytes(model) if isinstance(model, bytearray) else model)
    if hasattr(model, "layers") and hasattr(model, "predict"):
        if representative is None:
            raise ValueError("a Keras model needs representative data for int8 conversion")
        return Interpreter(_keras_to_int8(model, representative))
    raise TypeError(f"expected .tflite bytes, a path, an Interpreter or a Keras model, got {type(model).__name__}")


def _keras_to_int8(model: Any, representative: np.ndarray) -> bytes:
    """The converter's dense full-integer int8 model (int8 in and out)."""
    from tflm_unit.converter import int8_model

    return int8_model(model, representative, num_calibration_samples=min(len(representative), 200))


def prepare_inputs(interpreter: Interpreter, x: np.ndarray) -> np.ndarray:
    """Data as the model's input: uint8 images are scaled to [0, 1], a missing
    channel axis is added, then float data is quantised to int8."""
    x = np.asarray(x)
    tensor = interpreter.input_details[0]
    if x.dtype == np.uint8 and tensor.dtype != np.uint8:
        x = x.astype(np.float32) / np.float32(255.0)
    expected = tuple(tensor.shape[1:])
    if x.shape[1:] != expected:
        if int(np.prod(x.shape[1:])) != int(np.prod(expected)):
            raise ValueError(f"inputs of shape {x.shape[1:]} do not fit the model's {expected}")
        x = x.reshape((x.shape[0],) + expected)
    if x.dtype != tensor.dtype:
        x = interpreter.quantize_input(x)
    return np.ascontiguousarray(x)


def prepare_labels(y: np.ndarray) -> np.ndarray:
    """Class indices from indices or one-hot rows."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    return y.reshape(-1).astype(np.int64)


def predictions(output: np.ndarray) -> np.ndarray:
    return output.reshape(output.shape[0], -1).argmax(axis=1)


def float_inputs(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
