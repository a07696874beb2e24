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
from tflm_unit.errors import InputScalingError
from tflm_unit.inputs import (InputRange, InputScaling, infer_input_scaling, parse_input_range, positive_count,
                              validate_data)

#: Samples of the representative dataset used for quantisation by default.
DEFAULT_CALIBRATION_SAMPLES = 100

#: Below this top-1 agreement of int8 with float predictions on the calibration data the
#: int8 model is refused (InputScalingError).  Quantisation alone costs a few percent on a
#: sane model; under 50 % the int8 model is closer to a constant than to its float source.
MIN_INT8_FLOAT_AGREEMENT = 0.5


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


def representative_samples(data: Any, input_shape: Sequence[int], limit: int,
                           scaling: Optional[InputScaling] = None) -> np.ndarray:
    """The user's data as float32 samples shaped like the model input, mapped
    by ``scaling`` (raw values when None); DataError when they do not fit."""
    if data is None:
        raise ConversionError("representative data is required to quantise the model to int8")
    if hasattr(data, "x_train"):  # a tflm_unit.datasets.Dataset
        data = data.x_train
    x, _ = validate_data(np.asarray(data), input_shape=input_shape, what="representative data")
    x = x[: positive_count(limit, "num_calibration_samples")]
    mapped = (scaling or InputScaling("override", "raw", None)).apply(x)
    return np.ascontiguousarray(mapped, dtype=np.float32)


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


def keras_to_int8(model: Any, representative_data: Any, num_samples: int = DEFAULT_CALIBRATION_SAMPLES,
                  input_range: InputRange = None) -> Tuple[bytes, InputScaling]:
    """A tf_keras or Keras 3 model → (int8 ``.tflite`` bytes with int8 input
    and output, the input scaling used).

    The representative data are scaled as :func:`tflm_unit.inputs.infer_input_scaling`
    decides for the model (raw for a model that starts with Rescaling /
    Normalization), and the int8 model is checked against the float one on
    them (:func:`check_int8_agreement`)."""
    tf = import_tensorflow()

    input_shape = keras_input_shape(model)
    scaling = infer_input_scaling(model, input_range)
    samples = representative_samples(representative_data, input_shape, num_samples, scaling)
    scaling.mapping = scaling.describe_mapping(_raw_dtype(representative_data))
    spec = tf.TensorSpec((1,) + input_shape, tf.float32)
    if _is_keras3(model):
        # Keras 3 models convert through an exported SavedModel (variables
        # captured by a plain tf.function do not survive calibration).
        export_dir = tempfile.mkdtemp(prefix="tflm_unit_export_")
        try:
            from tflm_unit.resources import capture_c_output

            with capture_c_output():
                model.export(export_dir, format="tf_saved_model", input_signature=[spec], verbose=False)
            result = _run_converter(lambda: tf.lite.TFLiteConverter.from_saved_model(export_dir), samples)
        except ConversionError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise ConversionError(f"cannot export the Keras model for conversion: {_first_line(exc)}") from None
        finally:
            shutil.rmtree(export_dir, ignore_errors=True)
    else:
        function = tf.function(lambda x: model(x, training=False))
        try:
            concrete = function.get_concrete_function(spec)
        except Exception as exc:  # noqa: BLE001
            raise ConversionError(f"cannot trace the Keras model: {_first_line(exc)}") from None
        result = _run_converter(lambda: tf.lite.TFLiteConverter.from_concrete_functions([concrete], model),
                                samples)
    float_outputs = np.asarray(model(samples, training=False))
    check_int8_agreement(result, samples, float_outputs, scaling)
    return result, scaling


def _raw_dtype(data: Any) -> np.dtype:
    if hasattr(data, "x_train"):
        data = data.x_train
    return np.asarray(data).dtype


def check_int8_agreement(int8_bytes: bytes, samples: np.ndarray, float_outputs: np.ndarray,
                         scaling: InputScaling) -> Optional[float]:
    """Top-1 agreement of the int8 model with the float model on the
    calibration samples; InputScalingError below :data:`MIN_INT8_FLOAT_AGREEMENT`
    (the usual cause: data whose scale or offset int8 cannot resolve).

    Only samples the float model decides by more than two int8 output steps
    count (an untrained model's near-uniform outputs say nothing); when the
    float top class is among k tied int8 top classes it counts 1/k.  None when too few samples count (< 10) or the host runtime
    cannot run the model (the converter then says why)."""
    from tflm_unit.errors import UnsupportedModelError
    from tflm_unit.inputs import int8_input_range
    from tflm_unit.runtime import Interpreter

    float_outputs = float_outputs.reshape(len(samples), -1).astype(np.float64)
    if float_outputs.shape[1] < 2:
        return None
    try:
        interp = Interpreter(int8_bytes)
        outputs = interp.run(interp.quantize_input(samples)).outputs[0].reshape(len(samples), -1)
    except (UnsupportedModelError, ValueError):
        return None
    if len(interp.output_details) != 1 or outputs.shape != float_outputs.shape:
        return None  # several outputs (or another layout): no single top-1 decision to compare
    out = interp.output_details[0]
    step = out.scalar_scale() if out.dtype == np.int8 and out.scale.size else 0.0
    top2 = np.sort(float_outputs, axis=1)[:, -2:]
    decisive = (top2[:, 1] - top2[:, 0]) > 2 * step
    if int(np.count_nonzero(decisive)) < 10:
        return None
    best = float_outputs.argmax(axis=1)
    top = outputs == outputs.max(axis=1, keepdims=True)
    credit = top[np.arange(len(samples)), best] / top.sum(axis=1)  # a tie of k classes: 1/k (a fair tie-break)
    agreement = float(np.mean(credit[decisive]))
    scaling.stats["int8_float_agreement"] = round(agreement, 4)
    if agreement < MIN_INT8_FLOAT_AGREEMENT:
        covered = int8_input_range(interp)
        where = "" if covered is None else (
            f"; the int8 input covers [{covered[0]:.6g}, {covered[1]:.6g}] in steps of "
            f"{(covered[1] - covered[0]) / 255:.3g} while the data, as fed, span [{float(samples.min()):.6g}, "
            f"{float(samples.max()):.6g}]")
        raise InputScalingError(
            f"the int8 model agrees with the float model on only {agreement:.0%} of the "
            f"{int(np.count_nonzero(decisive))} calibration samples' top-1 predictions (at least "
            f"{MIN_INT8_FLOAT_AGREEMENT:.0%} expected); the likely cause is input scaling ({scaling.reason}; "
            f"{scaling.mapping}){where}: rescale or centre the data, or give --input-range / input_range=")
    return agreement


def saved_model_to_int8(path: str, representative_data: Any, num_samples: int = DEFAULT_CALIBRATION_SAMPLES,
                        input_range: InputRange = None) -> Tuple[bytes, InputScaling]:
    """A SavedModel directory → (int8 ``.tflite`` bytes, the input scaling used).

    A SavedModel's layers are not visible, so integer data are scaled to
    [0, 1] unless ``input_range`` says otherwise."""
    tf = import_tensorflow()

    _, input_shape = _saved_model_input(path)
    scaling = parse_input_range(input_range) or InputScaling(
        "saved model", "a SavedModel's preprocessing is not visible; integer data scaled to [0, 1]", (0.0, 1.0))
    samples = representative_samples(representative_data, input_shape, num_samples, scaling)
    scaling.mapping = scaling.describe_mapping(_raw_dtype(representative_data))
    return _run_converter(lambda: tf.lite.TFLiteConverter.from_saved_model(path), samples), scaling


def _keras_of_saved_model(path: str) -> Optional[Any]:
    """The Keras model a SavedModel was written from (tf_keras reads back its
    own SavedModels), or None for any other SavedModel.  Only its kernels are
    used, to name the converted ops by weights: TensorFlow (2.16 to 2.19 at
    least) names the last op of a converted SavedModel 'StatefulPartitionedCall:0'."""
    import_tensorflow()
    try:
        import tf_keras

        return tf_keras.models.load_model(path, compile=False)
    except Exception:  # noqa: BLE001 - not a Keras SavedModel: names come from the tensors
        return None


def is_saved_model_dir(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "saved_model.pb"))


def model_to_int8(model: Any, representative_data: Any, num_samples: int = DEFAULT_CALIBRATION_SAMPLES,
                  input_range: InputRange = None) -> Tuple[Optional[bytes], Optional[Any], Optional[InputScaling]]:
    """(int8 bytes, Keras model or None, input scaling) for a Keras model or
    a Keras / SavedModel path; (None, None, None) for a ``.tflite`` (bytes or
    path), which the caller reads as it is."""
    positive_count(num_samples, "num_calibration_samples")
    if is_keras_model(model):
        return _keras(model, representative_data, num_samples, input_range)
    if isinstance(model, (bytes, bytearray, memoryview)):
        return None, None, None
    path = os.fspath(model)
    if is_saved_model_dir(path):
        data, scaling = saved_model_to_int8(path, representative_data, num_samples, input_range)
        return data, _keras_of_saved_model(path), scaling
    if os.path.isdir(path):
        raise ConversionError(f"{path} is a directory but not a SavedModel (no saved_model.pb): give a .keras / "
                              f".h5 file, a SavedModel directory or a .tflite file")
    if not os.path.exists(path):
        raise ConversionError(f"no such model: {path}")
    if path.endswith((".keras", ".h5", ".hdf5")):
        return _keras(load_keras_file(path), representative_data, num_samples, input_range)
    return None, None, None


def _keras(model: Any, data: Any, num_samples: int, input_range: InputRange):
    result, scaling = keras_to_int8(model, data, num_samples, input_range)
    return result, model, scaling
