"""How data reach a model: one place for every entry point (DESIGN.md §9 "Input scaling").

``convert``, ``calibrate``, ``eval``, ``msp430``, the demo and the Python API
all turn a user's arrays into the model's input tensor here, so they cannot
disagree about scaling or layout.

Scaling is decided per model, never by a fixed rule (:func:`infer_input_scaling`):

* an int8 ``.tflite``: integer data (uint8 pixels, ...) are mapped into the
  real range its input quantisation covers, ``(-128 - zp)·s … (127 - zp)·s``,
  snapped to the usual conventions: ≈[0, 255] → raw values, ≈[0, 1] →
  ``x / 255``, ≈[-1, 1] → ``x / 127.5 - 1`` (any other range: the data type's
  full range mapped linearly onto it).  int8 data are taken as already
  quantised.  Float data pass unchanged.
* a Keras model whose graph starts with ``Rescaling`` / ``Normalization``:
  raw values (the model scales them itself).  Any other Keras model or a float
  ``.tflite``: integer data scaled to [0, 1], float data unchanged.
* an explicit ``input_range`` (``"raw"``, ``"0,1"``, ``(-1, 1)``, ...)
  overrides the inference: integer data are mapped from their type's full
  range (uint8: 0..255) onto it, float data from [0, 255] (pixels stored as
  float), and ``"raw"`` passes every value unchanged.

Data are validated here too (:func:`validate_data`): layout and shape must
match the model (only a trailing channel axis of size 1 may be added or
dropped), values finite, labels integral and within the model's classes.
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from tflm_unit.errors import DataError, InputScalingError, OptionError
from tflm_unit.runtime import Interpreter

ModelLike = Union[bytes, str, os.PathLike, Interpreter, Any]
InputRange = Union[None, str, Sequence[float]]

#: Share of input values clipped by the int8 input quantisation above which a warning is given.
CLIP_WARNING_FRACTION = 0.001
#: Share of clipped values, with values beyond twice the covered range, that is a scale error.
CLIP_ERROR_FRACTION = 0.05
#: Data spanning less than 1/MIN_SPAN_RATIO of the int8 input's range (4 of its 255 steps) are a scale error.
MIN_SPAN_RATIO = 64.0

_CONVENTIONS = {"raw": (0.0, 255.0), "unit": (0.0, 1.0), "symmetric": (-1.0, 1.0)}


class InputRangeWarning(UserWarning):
    """Data fall outside the real range the model's int8 input covers."""


@dataclass
class InputScaling:
    """How raw data are mapped to the model's real input values, and why.

    ``target`` is the real range integer data are mapped onto (from their
    type's full range, or [0, 255] for float data under an override); None
    maps nothing (values pass unchanged).  ``float_data`` says whether float
    data are mapped too (only under an explicit override).  ``covered`` is the
    real range of the model's int8 input, when it has one.
    """

    source: str  # "override", "int8 input", "keras preprocessing", "keras", "float input"
    reason: str
    target: Optional[Tuple[float, float]]
    float_data: bool = False
    covered: Optional[Tuple[float, float]] = None
    mapping: str = ""  # filled in by apply(): how the last data given were mapped
    clipped_fraction: Optional[float] = None
    stats: Dict[str, Any] = field(default_factory=dict)

    def describe_mapping(self, dtype: np.dtype) -> str:
        """How data of ``dtype`` are mapped, e.g. ``uint8 0..255 -> [0, 1] (x / 255)``."""
        dtype = np.dtype(dtype)
        if dtype == np.int8 and self.source == "int8 input":
            return "int8 data are taken as already quantised (passed unchanged)"
        is_int = np.issubdtype(dtype, np.integer) or dtype == np.bool_
        if self.target is None or (not is_int and not self.float_data):
            return f"{dtype.name} values passed unchanged"
        low, high = _domain(dtype)
        return (f"{dtype.name} {_fmt(low)}..{_fmt(high)} -> [{_fmt(self.target[0])}, {_fmt(self.target[1])}]"
                f"{_formula(low, high, self.target)}")

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Raw data → float32 real input values (int8 data for an int8 model: unchanged)."""
        x = np.asarray(x)
        self.mapping = self.describe_mapping(x.dtype)
        if x.dtype == np.int8 and self.source == "int8 input":
            return x
        is_int = np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_
        if self.target is None or (not is_int and not self.float_data):
            return x.astype(np.float32, copy=False)
        low, high = _domain(x.dtype)
        if not is_int and x.size and (float(np.min(x)) < low or float(np.max(x)) > high):
            raise InputScalingError(
                f"--input-range maps float data from [0, 255], but the data span [{_fmt(float(np.min(x)))}, "
                f"{_fmt(float(np.max(x)))}]; use --input-range raw for data already in the model's units")
        lo, hi = self.target
        factor = (hi - lo) / (high - low)
        return ((x.astype(np.float64) - low) * factor + lo).astype(np.float32)

    def to_dict(self) -> Dict[str, Any]:
        return {"source": self.source, "reason": self.reason,
                "range": None if self.target is None else list(self.target),
                "covered_range": None if self.covered is None else [round(v, 6) for v in self.covered],
                "mapping": self.mapping, "clipped_fraction": self.clipped_fraction, **self.stats}

    def text(self) -> str:
        """One line for the CLI's text output."""
        line = f"input scaling ({self.source}): {self.mapping or self.reason}"
        if self.source != "override":
            line += f" — {self.reason}"
        if self.clipped_fraction:
            line += f"; {self.clipped_fraction:.2%} of values clipped by the int8 input"
        return line + " (override with --input-range)"


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _formula(low: float, high: float, target: Tuple[float, float]) -> str:
    if (low, high) == (0.0, 255.0):
        known = {(0.0, 255.0): " (raw values)", (0.0, 1.0): " (x / 255)", (-1.0, 1.0): " (x / 127.5 - 1)"}
        return known.get((float(target[0]), float(target[1])), "")
    return ""


def _domain(dtype: np.dtype) -> Tuple[float, float]:
    """The raw value range data of this type stand for: an integer type's full
    range; [0, 255] for float (pixels stored as float, under an override)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return 0.0, 1.0
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return float(info.min), float(info.max)
    return 0.0, 255.0


def parse_input_range(value: InputRange) -> Optional[InputScaling]:
    """An ``--input-range`` / ``input_range=`` value → the override, or None
    (infer).  Accepts ``"raw"``, ``"LO,HI"`` or a pair of numbers; OptionError
    otherwise."""
    if value is None:
        return None
    if isinstance(value, InputScaling):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("raw", "none"):
            return InputScaling("override", "input range 'raw': values passed unchanged", None)
        parts = [p for p in text.replace(":", ",").split(",")]
    else:
        try:
            parts = list(value)
        except TypeError:
            raise OptionError(f"input range must be 'raw' or 'LO,HI', got {value!r}") from None
    try:
        if len(parts) != 2:
            raise ValueError
        lo, hi = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise OptionError(f"input range must be 'raw' or 'LO,HI' (e.g. 0,1 or -1,1), got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise OptionError(f"input range needs finite LO < HI, got {value!r}")
    return InputScaling("override", f"input range [{_fmt(lo)}, {_fmt(hi)}] given", (lo, hi), float_data=True)


def int8_input_range(interpreter: Interpreter) -> Optional[Tuple[float, float]]:
    """The real range the model's int8 input covers, or None for a float input."""
    tensor = interpreter.input_details[0]
    if tensor.dtype != np.int8 or tensor.scale.size == 0:
        return None
    s, zp = tensor.scalar_scale(), tensor.scalar_zero_point()
    return (-128 - zp) * s, (127 - zp) * s


def _snap(covered: Tuple[float, float]) -> Tuple[Tuple[float, float], str]:
    """The usual convention closest to an int8 input's covered range, or the range itself."""
    lo, hi = covered
    span = hi - lo
    if span <= 0:
        return covered, "the covered range itself"
    if lo < -0.1 * span:
        if 0.5 <= span / 2.0 <= 2.0:
            return _CONVENTIONS["symmetric"], "≈[-1, 1]"
        return covered, "no usual convention fits; integer data mapped linearly onto it"
    ratios = {name: abs(math.log(span / (_CONVENTIONS[name][1] - _CONVENTIONS[name][0]))) for name in
              ("raw", "unit")}
    best = min(ratios, key=ratios.get)
    if ratios[best] <= math.log(4.0):
        return _CONVENTIONS[best], "≈[0, 255]" if best == "raw" else "≈[0, 1]"
    return covered, "no usual convention fits; integer data mapped linearly onto it"


def keras_preprocessing_layer(model: Any) -> Optional[str]:
    """The class name of a ``Rescaling`` / ``Normalization`` layer the Keras
    model applies first to its input (nested models followed), else None."""
    layers = [layer for layer in getattr(model, "layers", []) if type(layer).__name__ != "InputLayer"]
    if not layers:
        return None
    first = layers[0]
    names = {cls.__name__ for cls in type(first).__mro__}
    for wanted in ("Rescaling", "Normalization"):
        if wanted in names:
            return wanted
    if hasattr(first, "layers"):
        return keras_preprocessing_layer(first)
    return None


def infer_input_scaling(model: Any, input_range: InputRange = None) -> InputScaling:
    """How raw data should reach ``model`` (an Interpreter or a Keras model),
    or the explicit ``input_range`` override."""
    override = parse_input_range(input_range)
    covered = int8_input_range(model) if isinstance(model, Interpreter) else None
    if override is not None:
        override.covered = covered
        return override
    if isinstance(model, Interpreter):
        if covered is not None:
            target, how = _snap(covered)
            return InputScaling("int8 input", f"the int8 input covers [{_fmt(covered[0])}, {_fmt(covered[1])}] "
                                              f"({how})", target, covered=covered)
        return InputScaling("float input", "the float32 input carries no range; integer data scaled to [0, 1] "
                                           "by convention", (0.0, 1.0))
    layer = keras_preprocessing_layer(model)
    if layer is not None:
        return InputScaling("keras preprocessing", f"the model starts with a {layer} layer, so it gets raw values",
                            None)
    return InputScaling("keras", "the Keras model has no Rescaling/Normalization layer; integer data scaled "
                                 "to [0, 1]", (0.0, 1.0))


# ------------------------------------------------------------------ validation


def fit_to_input_shape(x: np.ndarray, input_shape: Sequence[int], what: str = "data") -> np.ndarray:
    """Samples shaped as the model input (without the batch dimension).

    Only a trailing channel axis of size 1 may be added or dropped (28×28
    images for a 28×28×1 input); anything else, NCHW for NHWC included, is a
    DataError naming both shapes (no silent reshape)."""
    x = np.asarray(x)
    want: Tuple[int, ...] = tuple(int(d) for d in input_shape)
    have = tuple(x.shape[1:])
    if have == want:
        return x
    if have + (1,) == want or (have and have == want + (1,)):
        return x.reshape((x.shape[0],) + want)
    hint = ""
    if len(have) == len(want) and sorted(have) == sorted(want) and have != want:
        hint = " (channels first? transpose the data to the model's layout, e.g. NCHW → NHWC)"
    raise DataError(f"{what} samples have shape {have}, the model expects {want}{hint}; only a trailing channel "
                    f"axis of size 1 may be added or dropped")


def validate_data(x: Optional[np.ndarray], y: Optional[np.ndarray] = None, *,
                  input_shape: Optional[Sequence[int]] = None, num_classes: Optional[int] = None,
                  what: str = "data") -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
    """The one check of user data (issue 13): numeric, at least one sample,
    finite, shaped as the model input (:func:`fit_to_input_shape`); labels
    integral (class indices or one-hot rows), one per sample and within
    ``num_classes``.  Returns (inputs, labels as int64 class indices)."""
    if x is not None:
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise DataError(f"{what}: inputs must be numeric, got dtype {x.dtype}")
        if x.ndim == 0 or x.shape[0] == 0:
            raise DataError(f"{what}: no samples (inputs of shape {x.shape})")
        if np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.complexfloating):
            bad = int(x.size - np.count_nonzero(np.isfinite(x)))
            if bad:
                raise DataError(f"{what}: {bad} input values are NaN or infinite "
                                f"({int(np.count_nonzero(np.isnan(x)))} NaN)")
        if np.iscomplexobj(x):
            raise DataError(f"{what}: inputs must be real numbers, got dtype {x.dtype}")
        if input_shape is not None:
            x = fit_to_input_shape(x, input_shape, what)
    if y is not None:
        y = _labels(y, what, num_classes)
        if x is not None and len(y) != len(x):
            raise DataError(f"{what}: {len(x)} inputs but {len(y)} labels")
    return x, y


def _labels(y: np.ndarray, what: str, num_classes: Optional[int]) -> np.ndarray:
    y = np.asarray(y)
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_):
        raise DataError(f"{what}: labels must be numeric class indices, got dtype {y.dtype}")
    if y.size == 0:
        raise DataError(f"{what}: no labels")
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
        raise DataError(f"{what}: {int(y.size - np.count_nonzero(np.isfinite(y)))} labels are NaN or infinite")
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot rows
        if num_classes is not None and y.shape[1] != num_classes:
            raise DataError(f"{what}: one-hot labels have {y.shape[1]} columns, the model has {num_classes} classes")
        return y.argmax(axis=1).astype(np.int64)
    if y.ndim > 1 and int(np.prod(y.shape[1:])) != 1:
        raise DataError(f"{what}: labels must be class indices or one-hot rows, got shape {y.shape}")
    flat = y.reshape(-1)
    if np.issubdtype(flat.dtype, np.floating) and not np.all(flat == np.round(flat)):
        raise DataError(f"{what}: labels must be integral class indices; "
                        f"{int(np.count_nonzero(flat != np.round(flat)))} are not whole numbers")
    labels = flat.astype(np.int64)
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or (num_classes is not None and high >= num_classes):
        outside = int(np.count_nonzero((labels < 0) | (labels >= (num_classes or np.iinfo(np.int64).max))))
        limit = f"0..{num_classes - 1}" if num_classes is not None else ">= 0"
        raise DataError(f"{what}: {outside} labels lie outside the model's classes {limit} "
                        f"(labels span {low}..{high})")
    return labels


def num_classes(interpreter: Interpreter) -> int:
    """Classes of a classifier: the size of its output's last axis (2 for one unit)."""
    shape = tuple(int(d) for d in interpreter.output_details[0].shape)
    size = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return max(2, size)


def positive_count(value: Any, option: str) -> int:
    """A count option (--limit, --samples, ...) as an int >= 1; OptionError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise OptionError(f"{option} must be a positive integer, got {value!r}")
    return int(value)


# ------------------------------------------------------------------ model inputs


def load_interpreter(model: ModelLike, representative: Optional[np.ndarray] = None, *,
                     input_range: InputRange = None) -> Interpreter:
    """An Interpreter from a .tflite (bytes / path), an Interpreter, or a Keras
    model (converted to int8 with ``representative`` data, raw as the user
    has them; scaled as :func:`infer_input_scaling` decides for the model)."""
    if isinstance(model, Interpreter):
        return model
    if isinstance(model, (bytes, bytearray, str, os.PathLike)):
        return Interpreter(bytes(model) if isinstance(model, bytearray) else model)
    if hasattr(model, "layers") and hasattr(model, "predict"):
        if representative is None:
            raise DataError("a Keras model needs representative data for int8 conversion")
        from tflm_unit.converter import int8_model

        return Interpreter(int8_model(model, representative, num_calibration_samples=min(len(representative), 200),
                                      input_range=input_range))
    raise OptionError(f"expected .tflite bytes, a path, an Interpreter or a Keras model, got {type(model).__name__}")


def model_inputs(interpreter: Interpreter, x: np.ndarray, input_range: InputRange = None,
                 what: str = "data") -> Tuple[np.ndarray, InputScaling]:
    """Data as the model's input tensor, and the scaling used: validated
    (:func:`validate_data`), mapped (:func:`infer_input_scaling`), checked
    against the int8 input's range, then quantised.

    Values clipped by the int8 input quantisation: above
    :data:`CLIP_WARNING_FRACTION` an :class:`InputRangeWarning` with the
    numbers; above :data:`CLIP_ERROR_FRACTION` with values beyond twice the
    covered range, an :class:`InputScalingError` (the data's scale is wrong,
    not their tail).  Data of several samples that span under
    1/:data:`MIN_SPAN_RATIO` of the range (a few int8 steps) are an
    InputScalingError too (e.g. pixels / 255 for a model that takes raw pixels)."""
    tensor = interpreter.input_details[0]
    x, _ = validate_data(x, input_shape=tensor.shape[1:], what=what)
    scaling = infer_input_scaling(interpreter, input_range)
    real = scaling.apply(x)
    if real.dtype == np.int8 and tensor.dtype == np.int8:
        return np.ascontiguousarray(real), scaling
    if scaling.covered is not None:
        _check_clipping(real, scaling, what)
    return np.ascontiguousarray(interpreter.quantize_input(real)), scaling


def _check_clipping(real: np.ndarray, scaling: InputScaling, what: str) -> None:
    lo, hi = scaling.covered  # type: ignore[misc]
    span = hi - lo
    step = span / 255.0
    outside = (real < lo - step / 2) | (real > hi + step / 2)
    fraction = float(np.count_nonzero(outside)) / max(1, real.size)
    data_lo, data_hi = float(np.min(real)), float(np.max(real))
    scaling.clipped_fraction = fraction
    scaling.stats = {"data_range": [round(data_lo, 6), round(data_hi, 6)]}
    data_span = data_hi - data_lo
    if real.shape[0] > 1 and 0 < data_span <= span / MIN_SPAN_RATIO:
        raise InputScalingError(
            f"{what}: the data, as mapped, span [{_fmt(data_lo)}, {_fmt(data_hi)}], only {data_span / span:.2%} of "
            f"[{_fmt(lo)}, {_fmt(hi)}], the range the model's int8 input covers ({data_span / step:.1f} quantisation "
            f"steps; {scaling.mapping}): the data are scaled differently from what the model expects (e.g. "
            f"divided by 255 for a model that takes raw pixels); give raw values or --input-range / input_range=")
    if fraction <= CLIP_WARNING_FRACTION:
        return
    message = (f"{what}: {fraction:.2%} of the input values ({int(np.count_nonzero(outside))} of {real.size}) lie "
               f"outside [{_fmt(lo)}, {_fmt(hi)}], the range the model's int8 input covers, and are clipped "
               f"(the data, as mapped, span [{_fmt(data_lo)}, {_fmt(data_hi)}]; {scaling.mapping})")
    far = data_hi > hi + span or data_lo < lo - span
    if fraction > CLIP_ERROR_FRACTION and far:
        raise InputScalingError(message + "; the data are scaled differently from what the model expects: "
                                          "rescale them or give --input-range / input_range=")
    warnings.warn(message, InputRangeWarning, stacklevel=3)


def prepare_inputs(interpreter: Interpreter, x: np.ndarray, input_range: InputRange = None, *,
                   what: str = "data") -> np.ndarray:
    """Data as the model's input tensor (see :func:`model_inputs`)."""
    return model_inputs(interpreter, x, input_range, what)[0]


def prepare_labels(y: np.ndarray, num_classes: Optional[int] = None) -> np.ndarray:
    """Class indices from indices or one-hot rows, validated (:func:`validate_data`)."""
    return validate_data(None, y, num_classes=num_classes, what="labels")[1]  # type: ignore[return-value]


def predictions(output: np.ndarray) -> np.ndarray:
    return output.reshape(output.shape[0], -1).argmax(axis=1)


def float_inputs(x: np.ndarray) -> np.ndarray:
    """The data as given (no scaling: the model decides, see :func:`infer_input_scaling`).

    Kept for callers that passed representative data through it before
    handing them to :func:`load_interpreter`."""
    return np.asarray(x)
