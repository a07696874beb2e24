"""Keras / SavedModel → full-integer int8 ``.tflite`` through TensorFlow's
``TFLiteConverter``, with the user's data as the representative dataset.

The graph is traced with a batch size of 1 (what TFLM runs), so shape
arithmetic such as Keras 3's Flatten folds into constants instead of leaving
SHAPE / STRIDED_SLICE / PACK ops that MCU runtimes do not need.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from tflm_unit.converter.errors import ConversionError
from tflm_unit.datasets import fit_to_input_shape

#: Samples of the representative dataset used for quantisation by default.
DEFAULT_CALIBRATION_SAMPLES = 100


def import_tensorflow() -> Any:
    """``import tensorflow`` with its start-up log lines kept off the terminal."""
    import sys

    if "tensorflow" not in sys.modules:
        from tflm_unit.resources import capture_c_output

        with capture_c_output():
            import tensorflow  # noqa: F401
    return sys.modules["tensorflow"]


def is_keras_model(model: Any) -> bool:
    """True for a tf_keras or Keras 3 model object."""
    module = type(model).__module__
    return hasattr(model, "layers") and hasattr(model, "inputs") and (
        module.startswith("tf_keras") or module.startswith("keras"))


def _is_keras3(model: Any) -> bool:
    return not type(model).__module__.startswith("tf_keras")


def load_keras_file(path: str) -> Any:
    """A ``.keras`` / ``.h5`` file as a Keras model: Keras 3 first, then tf_keras
    (files written by either load); ConversionError naming both failures."""
    errors = []
    import_tensorflow()
    if path.endswith(".keras"):
        try:
            import keras

            return keras.saving.load_model(path, compile=False)
        except Exception as exc:  # noqa: BLE001 - report below with the other loader's error
            errors.append(f"Keras 3: {_first_line(exc)}")
    try:
        import tf_keras

        return tf_keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001
        errors.append(f"tf_keras: {_first_line(exc)}")
    raise ConversionError(f"cannot load the Keras model {path} ({'; '.join(errors)})")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    meaningful = [line for line in lines if "error" in line.lower() or "not" in line.lower()]
    return (meaningful or lines or [type(exc).__name__])[0][:300]


def keras_input_shape(model: Any) -> Tuple[int, ...]:
    """The per-sample input shape of a single-input Keras model."""
    inputs = model.inputs
    if inputs is None or len(inputs) != 1:
        raise ConversionError(f"the model has {0 if inputs is None else len(inputs)} inputs; "
                              f"only single-input models are supported")
    shape = tuple(inputs[0].shape)[1:]
    if any(d is None for d in shape):
        raise ConversionError(f"the model input has an unknown dimension {tuple(inputs[0].shape)}; "
                              f"give the Input layer a full shape")
    return tuple(int(d) for d in shape)


def _saved_model_input(path: str) -> Tuple[str, Tuple[int, ...]]:
    tf = import_tensorflow()

    try:
        loaded = tf.saved_model.load(path)
        signature = loaded.signatures["serving_default"]
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f"cannot load the SavedModel {path}: {_first_line(exc)}") from None
    specs = signature.structured_input_signature[1]
    if len(specs) != 1:
        raise ConversionError(f"the SavedModel has {len(specs)} inputs; only single-input models are supported")
    spec = next(iter(specs.values()))
    shape = tuple(spec.shape)[1:]
    if any(d is None for d in shape):
        raise ConversionError(f"the SavedModel input has an unknown dimension {tuple(spec.shape)}")
    return spec.name, tuple(int(d) for d in shape)


def representative_samples(data: Any, input_shape: Sequence[int], limit: int) -> np.ndarray:
    """The user's data as float32 samples shaped like the model input
    (uint8 scaled to [0, 1]); ConversionError when it does not fit."""
    if data is None:
        raise ConversionError("representative data is required to quantise the model to int8")
    if hasattr(data, "x_train"):  # a tflm_unit.datasets.Dataset
        data = data.x_train
    x = np.asarray(data)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(x.dtype, np.number):
        raise ConversionError(f"representative data must be numeric, got dtype {x.dtype}")
    if x.ndim == 0 or x.shape[0] == 0:
        raise ConversionError("representative data is empty")
    try:
        x = fit_to_input_shape(x, input_shape, "representative data")
    except ValueError as exc:
        raise ConversionError(str(exc)) from None
    x = x[: max(1, int(limit))].astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ConversionError("representative data holds NaN or infinite values")
    return x


def _run_converter(make_converter: Callable[[], Any], samples: np.ndarray) -> bytes:
    tf = import_tensorflow()

    from tflm_unit.resources import capture_c_output

    def dataset() -> Iterator[List[np.ndarray]]:
        for i in range(samples.shape[0]):
            yield [samples[i : i + 1]]

    with capture_c_output() as captured:
        try:
            converter = make_converter()
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = dataset
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
            result = converter.convert()
            error = None
        except Exception as exc:  # noqa: BLE001 - TensorFlow raises many types; one message for the user
            result, error = None, exc
    if error is not None:
        detail = _first_line(error)
        unsupported = [line.strip() for line in captured.get("text", "").splitlines()
                       if "not supported" in line or "unsupported" in line.lower()]
        if unsupported:
            detail = unsupported[0][:300]
        raise ConversionError(f"TensorFlow cannot convert the model to full-integer int8: {detail}")
    return bytes(result)


def keras_to_int8(model: Any, representative_data: Any,
                  num_samples: int = DEFAULT_CALIBRATION_SAMPLES) -> bytes:
    """A tf_keras or Keras 3 model → int8 ``.tflite`` bytes (int8 input and output)."""
    tf = import_tensorflow()

    input_shape = keras_input_shape(model)
    samples = representative_samples(representative_data, input_shape, num_samples)
    spec = tf.TensorSpec((1,) + input_shape, tf.float32)
    if _is_keras3(model):
        # Keras 3 models convert through an exported SavedModel (variables
        # captured by a plain tf.function do not survive calibration).
        export_dir = tempfile.mkdtemp(prefix="tflm_unit_export_")
        try:
            from tflm_unit.resources import capture_c_output

            with capture_c_output():
                model.export(export_dir, format="tf_saved_model", input_signature=[spec], verbose=False)
            return _run_converter(lambda: tf.lite.TFLiteConverter.from_saved_model(export_dir), samples)
        except ConversionError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ConversionError(f"cannot export the Keras model for conversion: {_first_line(exc)}") from None
        finally:
            shutil.rmtree(export_dir, ignore_errors=True)
    function = tf.function(lambda x: model(x, training=False))
    try:
        concrete = function.get_concrete_function(spec)
    except Exception as exc:  # noqa: BLE001
        raise ConversionError(f"cannot trace the Keras model: {_first_line(exc)}") from None
    return _run_converter(lambda: tf.lite.TFLiteConverter.from_concrete_functions([concrete], model), samples)


def saved_model_to_int8(path: str, representative_data: Any,
                        num_samples: int = DEFAULT_CALIBRATION_SAMPLES) -> bytes:
    """A SavedModel directory → int8 ``.tflite`` bytes."""
    tf = import_tensorflow()

    _, input_shape = _saved_model_input(path)
    samples = representative_samples(representative_data, input_shape, num_samples)
    return _run_converter(lambda: tf.lite.TFLiteConverter.from_saved_model(path), samples)


def is_saved_model_dir(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb"))


def model_to_int8(model: Any, representative_data: Any,
                  num_samples: int = DEFAULT_CALIBRATION_SAMPLES) -> Tuple[Optional[bytes], Optional[Any]]:
    """(int8 bytes, Keras model or None) for a Keras model or a Keras /
    SavedModel path; (None, None) for a ``.tflite`` (bytes or path), which the
    caller reads as it is."""
    if is_keras_model(model):
        return keras_to_int8(model, representative_data, num_samples), model
    if isinstance(model, (bytes, bytearray, memoryview)):
        return None, None
    path = os.fspath(model)
    if is_saved_model_dir(path):
        return saved_model_to_int8(path, representative_data, num_samples), None
    if os.path.isdir(path):
        raise ConversionError(f"{path} is a directory but not a SavedModel (no saved_model.pb)")
    if not os.path.exists(path):
        raise ConversionError(f"no such model: {path}")
    if path.endswith((".keras", ".h5", ".hdf5")):
        keras_model = load_keras_file(path)
        return keras_to_int8(keras_model, representative_data, num_samples), keras_model
    return None, None
