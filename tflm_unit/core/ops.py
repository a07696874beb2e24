"""Typed NumPy API over the C core's non-UnIT int8 ops (``custom_ops/core/unit_ops.h``),
and their float32 forms (``*_float``: pooling, add, softmax, mean; host-only ``unit_ops_float.c``).

Each op reproduces TFLM's reference kernel bit for bit.  The functions take
NumPy arrays plus the tensors' scales / zero points and the builtin options,
compute the op's integer parameters with the C ``*_prepare_int8`` functions
(the same code the TFLM adapters and the MSP430 exporter use), run the C
kernel and return a new array.  Bad input raises
:class:`tflm_unit.errors.KernelArgumentError` (a ``ValueError``) naming the
argument, before any C code runs.

The ``*_prepare`` functions are public too, for callers that want the
integer parameters themselves (e.g. to write them into generated C).

RESHAPE (and SQUEEZE / EXPAND_DIMS) has no kernel: see :func:`reshape`.
"""
from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from tflm_unit import _core
from tflm_unit.errors import KernelArgumentError

#: The largest finite float32 (scales travel to C as float).
_FLOAT32_MAX = float(np.finfo(np.float32).max)

#: tflite::ActivationFunctionType names accepted as ``activation``.
ACTIVATIONS = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}
#: tflite::Padding names.
PADDINGS: Tuple[str, ...] = ("SAME", "VALID")

Activation = Union[str, int]
IntPair = Union[int, Sequence[int]]


# ------------------------------------------------------------------ helpers


def _activation_index(activation: Activation) -> int:
    if isinstance(activation, str):
        key = activation.upper()
        if key not in ACTIVATIONS:
            raise KernelArgumentError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        return ACTIVATIONS[key]
    if isinstance(activation, (int, np.integer)) and int(activation) in ACTIVATIONS.values():
        return int(activation)
    raise KernelArgumentError(f"activation must be one of {sorted(ACTIVATIONS)} or 0..3, got {activation!r}")


def _padding_index(padding: str) -> int:
    if not isinstance(padding, str) or padding.upper() not in PADDINGS:
        raise KernelArgumentError(f"padding must be one of {PADDINGS}, got {padding!r}")
    return PADDINGS.index(padding.upper())


def _pair(value: IntPair, name: str) -> Tuple[int, int]:
    """An int or a (h, w) pair of positive ints."""
    if isinstance(value, (int, np.integer)):
        pair = (int(value), int(value))
    else:
        try:
            pair = tuple(int(v) for v in value)
        except (TypeError, ValueError):
            raise KernelArgumentError(f"{name} must be an int or a (height, width) pair, got {value!r}") from None
        if len(pair) != 2:
            raise KernelArgumentError(f"{name} must be an int or a (height, width) pair, got {value!r}")
    if pair[0] <= 0 or pair[1] <= 0 or max(pair) > 2**31 - 1:
        raise KernelArgumentError(f"{name} must be positive (and below 2^31), got {value!r}")
    return pair  # type: ignore[return-value]


def _int8_array(x, name: str, ndim: Optional[int] = None) -> np.ndarray:
    """x as a C-contiguous int8 array; KernelArgumentError for another dtype."""
    if not isinstance(x, np.ndarray):
        raise KernelArgumentError(f"{name} must be a numpy.ndarray of int8, got {type(x).__name__}")
    if x.dtype != np.int8:
        raise KernelArgumentError(f"{name} must have dtype int8, got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise KernelArgumentError(f"{name} must have {ndim} dims, got shape {x.shape}")
    if x.size == 0:
        raise KernelArgumentError(f"{name} must not be empty (shape {x.shape})")
    return np.ascontiguousarray(x)


def _float_array(x, name: str) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.dtype != np.float32:
        raise KernelArgumentError(f"{name} must be a numpy.ndarray of float32, got "
                                  f"{getattr(x, 'dtype', type(x).__name__)}")
    if x.size == 0:
        raise KernelArgumentError(f"{name} must not be empty (shape {x.shape})")
    return np.ascontiguousarray(x)


def float_activation_range(activation: Activation) -> Tuple[float, float]:
    """TFLM's CalculateActivationRange for float (NONE: +-FLT_MAX)."""
    act = _activation_index(activation)
    return {0: (-_FLOAT32_MAX, _FLOAT32_MAX), 1: (0.0, _FLOAT32_MAX), 2: (-1.0, 1.0), 3: (0.0, 6.0)}[act]


def _scale(value: float, name: str) -> float:
    """A quantisation scale: positive and finite, also as float32 (the C core's type)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise KernelArgumentError(f"{name} must be a positive finite float, got {value!r}") from None
    if not np.isfinite(v) or v > _FLOAT32_MAX or not np.float32(v) > 0.0:
        raise KernelArgumentError(f"{name} must be a positive finite float, got {value!r}")
    return v


def _zero_point(value: int, name: str) -> int:
    if isinstance(value, (float, np.floating)) and not (np.isfinite(value) and float(value).is_integer()):
        raise KernelArgumentError(f"{name} must be an integer, got {value!r}")
    if not isinstance(value, (int, np.integer, float, np.floating)) or isinstance(value, bool):
        raise KernelArgumentError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if not -128 <= v <= 127:
        raise KernelArgumentError(f"{name} must lie in [-128, 127] for int8, got {value!r}")
    return v


# ------------------------------------------------------------------ pooling


@dataclass(frozen=True)
class PoolParams:
    """unit_pool_params_t: window, strides, top/left padding, quantised clamp."""

    filter_h: int
    filter_w: int
    stride_h: int
    stride_w: int
    pad_h: int
    pad_w: int
    act_min: int
    act_max: int


def pool_prepare(
    input_shape: Sequence[int],
    pool_size: IntPair,
    strides: IntPair = 1,
    padding: str = "VALID",
    scale: float = 1.0,
    zero_point: int = 0,
    activation: Activation = "NONE",
) -> Tuple[PoolParams, Tuple[int, int, int, int]]:
    """Integer parameters and output shape of a 2-D pool over an NHWC input."""
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 4 or min(shape) <= 0:
        raise KernelArgumentError(f"input_shape must be 4 positive dims (NHWC), got {input_shape!r}")
    fh, fw = _pair(pool_size, "pool_size")
    sh, sw = _pair(strides, "strides")
    try:
        values, out_shape = _core.pool_prepare_int8(
            _padding_index(padding), fh, fw, sh, sw, shape, _activation_index(activation),
            _scale(scale, "scale"), _zero_point(zero_point, "zero_point"))
    except KernelArgumentError as err:
        raise KernelArgumentError(f"pooling {pool_size} / {strides} / {padding} on input {shape}: {err}") from None
    return PoolParams(*values), tuple(out_shape)  # type: ignore[return-value]


def _pool(kind: str, x, pool_size, strides, padding, scale, zero_point, activation) -> np.ndarray:
    x = _int8_array(x, "x", ndim=4)
    params, out_shape = pool_prepare(x.shape, pool_size, strides, padding, scale, zero_point, activation)
    out = np.empty(out_shape, dtype=np.int8)
    run = _core.max_pool_2d_int8 if kind == "max" else _core.average_pool_2d_int8
    run(astuple(params), x.shape, x.reshape(-1), out_shape, out.reshape(-1))
    return out


def max_pool_2d(
    x: np.ndarray,
    pool_size: IntPair,
    strides: IntPair = 1,
    padding: str = "VALID",
    scale: float = 1.0,
    zero_point: int = 0,
    activation: Activation = "NONE",
) -> np.ndarray:
    """MAX_POOL_2D on int8 NHWC ``x``.

    ``scale``/``zero_point`` are the tensor's (TFLM requires input == output
    quantisation for pooling); they only matter for the fused ``activation``
    clamp.  Padding taps are ignored, not treated as values.
    """
    return _pool("max", x, pool_size, strides, padding, scale, zero_point, activation)


def average_pool_2d(
    x: np.ndarray,
    pool_size: IntPair,
    strides: IntPair = 1,
    padding: str = "VALID",
    scale: float = 1.0,
    zero_point: int = 0,
    activation: Activation = "NONE",
) -> np.ndarray:
    """AVERAGE_POOL_2D on int8 NHWC ``x``: mean of the in-bounds taps,
    rounded half away from zero (TFLM's rule).  Arguments as :func:`max_pool_2d`."""
    return _pool("average", x, pool_size, strides, padding, scale, zero_point, activation)


# ------------------------------------------------------------------ add


@dataclass(frozen=True)
class AddParams:
    """unit_add_params_t, as TFLM's CalculateOpDataAdd computes it."""

    left_shift: int
    input1_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_offset: int
    input2_multiplier: int
    input2_shift: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


def add_prepare(
    input1_scale: float,
    input1_zero_point: int,
    input2_scale: float,
    input2_zero_point: int,
    output_scale: float,
    output_zero_point: int,
    activation: Activation = "NONE",
) -> AddParams:
    """Integer parameters of an int8 ADD (left_shift 20 scheme)."""
    try:
        values = _core.add_prepare_int8(
            _scale(input1_scale, "input1_scale"), _zero_point(input1_zero_point, "input1_zero_point"),
            _scale(input2_scale, "input2_scale"), _zero_point(input2_zero_point, "input2_zero_point"),
            _scale(output_scale, "output_scale"), _zero_point(output_zero_point, "output_zero_point"),
            _activation_index(activation))
    except KernelArgumentError as err:
        raise KernelArgumentError(
            f"add: scales ({input1_scale}, {input2_scale}) -> {output_scale} give a multiplier "
            f"outside (0, 1) ({err})") from None
    return AddParams(*values)


def add(
    x1: np.ndarray,
    input1_scale: float,
    input1_zero_point: int,
    x2: np.ndarray,
    input2_scale: float,
    input2_zero_point: int,
    output_scale: float,
    output_zero_point: int,
    activation: Activation = "NONE",
) -> np.ndarray:
    """ADD of two int8 tensors with their own quantisation, NumPy broadcasting
    (up to 6 dims; e.g. [N,H,W,C] + [C] or + a scalar)."""
    x1 = _int8_array(x1, "x1")
    x2 = _int8_array(x2, "x2")
    if x1.ndim > 6 or x2.ndim > 6:
        raise KernelArgumentError(f"add supports at most 6 dims, got {x1.shape} and {x2.shape}")
    try:
        out_shape = np.broadcast_shapes(x1.shape, x2.shape)
    except KernelArgumentError:
        raise KernelArgumentError(f"add: shapes {x1.shape} and {x2.shape} do not broadcast") from None
    params = add_prepare(input1_scale, input1_zero_point, input2_scale, input2_zero_point,
                         output_scale, output_zero_point, activation)
    rank = max(len(out_shape), 1)
    dims1 = (1,) * (rank - x1.ndim) + x1.shape
    dims2 = (1,) * (rank - x2.ndim) + x2.shape
    dims_out = (1,) * (rank - len(out_shape)) + tuple(out_shape)
    out = np.empty(out_shape, dtype=np.int8)
    _core.add_int8(astuple(params), dims1, x1.reshape(-1), dims2, x2.reshape(-1), dims_out, out.reshape(-1))
    return out


# ------------------------------------------------------------------ softmax


@dataclass(frozen=True)
class SoftmaxParams:
    """unit_softmax_params_t, as TFLM's CalculateSoftmaxParams computes it."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int


def softmax_prepare(
    input_scale: float, beta: float = 1.0, output_scale: float = 1.0 / 256.0, output_zero_point: int = -128
) -> SoftmaxParams:
    """Integer parameters of an int8 -> int8 SOFTMAX.

    TFLM requires the output quantisation to be scale 1/256, zero point -128.
    """
    if float(np.float32(output_scale)) != 1.0 / 256.0 or int(output_zero_point) != -128:
        raise KernelArgumentError(
            f"softmax int8 output must have scale 1/256 and zero point -128 (TFLM's requirement), "
            f"got scale {output_scale} and zero point {output_zero_point}")
    beta_value = float(beta)
    if not np.isfinite(beta_value) or beta_value <= 0.0:
        raise KernelArgumentError(f"beta must be a positive finite float, got {beta!r}")
    try:
        values = _core.softmax_prepare_int8(_scale(input_scale, "input_scale"), beta_value,
                                            1.0 / 256.0, -128)
    except KernelArgumentError:
        raise KernelArgumentError(f"softmax: beta * input_scale = {beta_value * float(input_scale)} is too small") from None
    return SoftmaxParams(*values)


def softmax(
    x: np.ndarray,
    input_scale: float,
    beta: float = 1.0,
    output_scale: float = 1.0 / 256.0,
    output_zero_point: int = -128,
) -> np.ndarray:
    """SOFTMAX over the last axis of int8 ``x`` (any rank >= 1), TFLM's
    fixed-point exp path; output int8 with scale 1/256, zero point -128."""
    x = _int8_array(x, "x")
    if x.ndim < 1:
        raise KernelArgumentError("softmax needs at least 1 dim")
    params = softmax_prepare(input_scale, beta, output_scale, output_zero_point)
    depth = int(x.shape[-1])
    outer = int(x.size // depth)
    out = np.empty(x.shape, dtype=np.int8)
    _core.softmax_int8(astuple(params), outer, depth, x.reshape(-1), out.reshape(-1))
    return out


# ------------------------------------------------------------------ mean


@dataclass(frozen=True)
class MeanParams:
    """unit_mean_params_t: input_scale / output_scale / count as a Q31
    multiplier and shift (folded as TFLM does), the count and zero points."""

    multiplier: int
    shift: int
    count: int
    input_zero_point: int
    output_zero_point: int


def mean_prepare(
    input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int, count: int
) -> MeanParams:
    """Integer parameters of an int8 MEAN averaging ``count`` values (H * W) per output."""
    if not isinstance(count, (int, np.integer)) or not 1 <= int(count) <= 1 << 23:
        raise KernelArgumentError(f"count must be an int in [1, 2^23], got {count!r}")
    try:
        values = _core.mean_prepare_int8(
            _scale(input_scale, "input_scale"), _zero_point(input_zero_point, "input_zero_point"),
            _scale(output_scale, "output_scale"), _zero_point(output_zero_point, "output_zero_point"), int(count))
    except KernelArgumentError:
        raise KernelArgumentError(
            f"mean: input_scale / output_scale = {float(input_scale) / float(output_scale)} is out of range") from None
    return MeanParams(*values)


def mean_hw(
    x: np.ndarray,
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
    keep_dims: bool = False,
) -> np.ndarray:
    """MEAN over axes 1 and 2 (H, W) of int8 NHWC ``x`` (global average
    pooling), with TFLM's requantisation; shape [N, C], or [N, 1, 1, C] when
    ``keep_dims``."""
    x = _int8_array(x, "x", ndim=4)
    n, h, w, c = x.shape
    params = mean_prepare(input_scale, input_zero_point, output_scale, output_zero_point, h * w)
    out = np.empty((n, c), dtype=np.int8)
    _core.mean_hw_int8(astuple(params), x.shape, x.reshape(-1), out.reshape(-1))
    return out.reshape((n, 1, 1, c)) if keep_dims else out


def mean(
    x: np.ndarray,
    axes: Union[int, Sequence[int]],
    input_scale: float,
    input_zero_point: int,
    output_scale: float,
    output_zero_point: int,
    keep_dims: bool = False,
) -> np.ndarray:
    """MEAN of int8 ``x`` (1..6 dims) over ``axes`` (ints, negative count from
    the end, duplicates allowed as in TFLite), with TFLM's requantisation;
    the reduced dims are dropped, or kept as 1 when ``keep_dims``."""
    x = _int8_array(x, "x")
    if not 1 <= x.ndim <= 6:
        raise KernelArgumentError(f"mean supports 1..6 dims, got shape {x.shape}")
    reduced = _reduced_axes(x, axes)
    count = int(np.prod([x.shape[d] for d in reduced]))
    params = mean_prepare(input_scale, input_zero_point, output_scale, output_zero_point, count)
    mask = sum(1 << d for d in reduced)
    kept_shape = tuple(1 if d in reduced else n for d, n in enumerate(x.shape))
    out = np.empty(kept_shape, dtype=np.int8)
    _core.mean_int8(astuple(params), x.shape, mask, x.reshape(-1), out.reshape(-1))
    if keep_dims:
        return out
    return out.reshape(tuple(n for d, n in enumerate(x.shape) if d not in reduced))


# ------------------------------------------------------------------ pad


def pad(x: np.ndarray, paddings: Sequence[Sequence[int]], pad_value: int) -> np.ndarray:
    """PAD / PADV2 of int8 ``x`` (1..5 dims).

    ``paddings`` is one (before, after) pair per dim, as the op's paddings
    tensor.  ``pad_value`` is the output zero point for PAD, the quantised
    constant for PADV2 (TFLM requires it to share the output's quantisation).
    """
    x = _int8_array(x, "x")
    if not 1 <= x.ndim <= 5:
        raise KernelArgumentError(f"pad supports 1..5 dims, got shape {x.shape}")
    pads = np.asarray(paddings)
    if pads.shape != (x.ndim, 2) or not np.issubdtype(pads.dtype, np.integer):
        raise KernelArgumentError(f"paddings must be {x.ndim} (before, after) integer pairs, got {paddings!r}")
    if (pads < 0).any():
        raise KernelArgumentError(f"paddings must be >= 0, got {paddings!r}")
    value = _zero_point(pad_value, "pad_value")
    before = [int(p) for p in pads[:, 0]]
    after = [int(p) for p in pads[:, 1]]
    out_shape = tuple(d + b + a for d, b, a in zip(x.shape, before, after))
    out = np.empty(out_shape, dtype=np.int8)
    _core.pad_int8(x.shape, x.reshape(-1), before, after, value, out.reshape(-1))
    return out


# ------------------------------------------------------------------ concatenation


def concatenation(
    inputs: Sequence[np.ndarray],
    axis: int,
    input_scales: Optional[Sequence[float]] = None,
    input_zero_points: Optional[Sequence[int]] = None,
    output_scale: Optional[float] = None,
    output_zero_point: Optional[int] = None,
) -> np.ndarray:
    """CONCATENATION of 1..10 int8 tensors along ``axis`` (negative counts from the end).

    TFLM's int8 kernel is a byte copy and its Prepare rejects inputs whose
    scale or zero point differ from the output's (the TFLite converter puts a
    QUANTIZE before such inputs).  When quantisation arguments are given they
    are checked the same way; run :func:`requantize` first to change them.
    """
    if isinstance(inputs, np.ndarray) or not isinstance(inputs, (list, tuple)):
        raise KernelArgumentError("inputs must be a list or tuple of int8 arrays")
    if not 1 <= len(inputs) <= 10:
        raise KernelArgumentError(f"concatenation takes 1..10 inputs (TFLM's limit), got {len(inputs)}")
    arrays = [_int8_array(a, f"inputs[{i}]") for i, a in enumerate(inputs)]
    rank = arrays[0].ndim
    if not 1 <= rank <= 6 or any(a.ndim != rank for a in arrays):
        raise KernelArgumentError(f"inputs need the same rank (1..6), got shapes {[a.shape for a in arrays]}")
    if not -rank <= int(axis) < rank:
        raise KernelArgumentError(f"axis {axis} out of range for rank {rank}")
    axis = int(axis) % rank
    for i, a in enumerate(arrays):
        if a.shape[:axis] + a.shape[axis + 1:] != arrays[0].shape[:axis] + arrays[0].shape[axis + 1:]:
            raise KernelArgumentError(f"inputs[{i}] shape {a.shape} does not match {arrays[0].shape} off axis {axis}")
    if input_scales is not None or input_zero_points is not None:
        if output_scale is None or output_zero_point is None:
            raise KernelArgumentError("give output_scale and output_zero_point with the input quantisation")
        scales = list(input_scales) if input_scales is not None else [output_scale] * len(arrays)
        zps = list(input_zero_points) if input_zero_points is not None else [output_zero_point] * len(arrays)
        if len(scales) != len(arrays) or len(zps) != len(arrays):
            raise KernelArgumentError("input_scales / input_zero_points need one entry per input")
        for i, (s, z) in enumerate(zip(scales, zps)):
            if np.float32(s) != np.float32(output_scale) or int(z) != int(output_zero_point):
                raise KernelArgumentError(
                    f"inputs[{i}] quantisation (scale {s}, zero point {z}) differs from the output's "
                    f"({output_scale}, {output_zero_point}); TFLM's int8 CONCATENATION requires them equal "
                    f"- requantize the input first")
    out_shape = list(arrays[0].shape)
    out_shape[axis] = sum(a.shape[axis] for a in arrays)
    out = np.empty(tuple(out_shape), dtype=np.int8)
    _core.concatenation_int8([a.reshape(-1) for a in arrays], [a.shape for a in arrays], axis, out.reshape(-1))
    return out


# ------------------------------------------------------------------ float32
# TFLM's float reference kernels (host-only unit_ops_float.c); the fused
# activation clamps to float_activation_range.  PAD / CONCATENATION of float
# tensors move values only: NumPy's np.pad / np.concatenate are exact.


def _float_pool(average: bool, x, pool_size, strides, padding, activation) -> np.ndarray:
    x = _float_array(x, "x")
    if x.ndim != 4:
        raise KernelArgumentError(f"x must be 4-D (NHWC), got shape {x.shape}")
    params, out_shape = pool_prepare(x.shape, pool_size, strides, padding, 1.0, 0, "NONE")  # geometry only
    lo, hi = float_activation_range(activation)
    out = np.empty(out_shape, dtype=np.float32)
    _core.pool_2d_float(average, astuple(params), lo, hi, x.shape, x.reshape(-1), out_shape, out.reshape(-1))
    return out


def max_pool_2d_float(x: np.ndarray, pool_size: IntPair, strides: IntPair = 1, padding: str = "VALID",
                      activation: Activation = "NONE") -> np.ndarray:
    """float32 MAX_POOL_2D on NHWC ``x`` (padding taps ignored)."""
    return _float_pool(False, x, pool_size, strides, padding, activation)


def average_pool_2d_float(x: np.ndarray, pool_size: IntPair, strides: IntPair = 1, padding: str = "VALID",
                          activation: Activation = "NONE") -> np.ndarray:
    """float32 AVERAGE_POOL_2D on NHWC ``x``: the in-bounds taps summed in
    TFLM's order, divided by their count."""
    return _float_pool(True, x, pool_size, strides, padding, activation)


def add_float(x1: np.ndarray, x2: np.ndarray, activation: Activation = "NONE") -> np.ndarray:
    """float32 ADD with NumPy broadcasting (up to 6 dims), clamped to the
    fused activation's range."""
    from tflm_unit.core.activation_ops import broadcast_dims  # the binary ops' shape rule

    x1, x2 = _float_array(x1, "x1"), _float_array(x2, "x2")
    lo, hi = float_activation_range(activation)
    d1, d2, do, shape = broadcast_dims(x1.shape, x2.shape)
    out = np.empty(shape, dtype=np.float32)
    _core.add_float(lo, hi, d1, x1.reshape(-1), d2, x2.reshape(-1), do, out.reshape(-1))
    return out


def softmax_float(x: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """float32 SOFTMAX over the last axis (TFLM's reference: max,
    expf((x - max) * beta), sum, divide)."""
    x = _float_array(x, "x")
    if x.ndim < 1:
        raise KernelArgumentError("softmax needs at least 1 dim")
    beta_value = float(beta)
    if not np.isfinite(beta_value) or not 0.0 < beta_value <= _FLOAT32_MAX:
        raise KernelArgumentError(f"beta must be a positive finite float32, got {beta!r}")
    depth = int(x.shape[-1])
    out = np.empty(x.shape, dtype=np.float32)
    _core.softmax_float(beta_value, int(x.size // depth), depth, x.reshape(-1), out.reshape(-1))
    return out


def _reduced_axes(x: np.ndarray, axes) -> list:
    """MEAN's axes: ints, negative from the end, duplicates allowed (TFLite)."""
    axis_list = [axes] if isinstance(axes, (int, np.integer)) else list(np.ravel(axes))
    if not axis_list or not all(isinstance(a, (int, np.integer)) for a in axis_list):
        raise KernelArgumentError(f"axes must be a non-empty list of ints, got {axes!r}")
    if any(not -x.ndim <= int(a) < x.ndim for a in axis_list):
        raise KernelArgumentError(f"axes {axes!r} out of range for shape {x.shape}")
    return sorted({int(a) % x.ndim for a in axis_list})


def mean_float(x: np.ndarray, axes: Union[int, Sequence[int]], keep_dims: bool = False) -> np.ndarray:
    """float32 MEAN over ``axes`` (1..6 dims): each output's values summed in
    row-major order in float, divided by their count (TFLM's reference)."""
    x = _float_array(x, "x")
    if not 1 <= x.ndim <= 6:
        raise KernelArgumentError(f"mean supports 1..6 dims, got shape {x.shape}")
    reduced = _reduced_axes(x, axes)
    kept_shape = tuple(1 if d in reduced else n for d, n in enumerate(x.shape))
    out = np.empty(kept_shape, dtype=np.float32)
    _core.mean_float(x.shape, sum(1 << d for d in reduced), x.reshape(-1), out.reshape(-1))
    if keep_dims:
        return out
    return out.reshape(tuple(n for d, n in enumerate(x.shape) if d not in reduced))


# ------------------------------------------------------------------ quantize / dequantize


@dataclass(frozen=True)
class RequantizeParams:
    """unit_requantize_params_t: input_scale / output_scale as a Q31
    multiplier and shift, plus both zero points."""

    multiplier: int
    shift: int
    input_zero_point: int
    output_zero_point: int


def requantize_prepare(
    input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int
) -> RequantizeParams:
    """Integer parameters of an int8 -> int8 QUANTIZE (input_scale / output_scale)."""
    try:
        values = _core.requantize_prepare_int8(
            _scale(input_scale, "input_scale"), _zero_point(input_zero_point, "input_zero_point"),
            _scale(output_scale, "output_scale"), _zero_point(output_zero_point, "output_zero_point"))
    except KernelArgumentError:
        raise KernelArgumentError(
            f"requantize: input_scale / output_scale = {float(input_scale) / float(output_scale)} is too large") from None
    return RequantizeParams(*values)


def requantize(
    x: np.ndarray, input_scale: float, input_zero_point: int, output_scale: float, output_zero_point: int
) -> np.ndarray:
    """QUANTIZE int8 -> int8: change the scale / zero point of ``x``."""
    x = _int8_array(x, "x")
    params = requantize_prepare(input_scale, input_zero_point, output_scale, output_zero_point)
    out = np.empty(x.shape, dtype=np.int8)
    _core.requantize_int8(astuple(params), x.reshape(-1), out.reshape(-1))
    return out


def quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """QUANTIZE float32 -> int8: ``zero_point + round(x / scale)`` in float32,
    half away from zero, saturated to int8 (TFLM's AffineQuantize)."""
    if not isinstance(x, np.ndarray):
        raise KernelArgumentError(f"x must be a numpy.ndarray of float32, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise KernelArgumentError(f"x must have dtype float32, got {x.dtype}")
    x = np.ascontiguousarray(x)
    out = np.empty(x.shape, dtype=np.int8)
    _core.quantize_float_to_int8(_scale(scale, "scale"), _zero_point(zero_point, "zero_point"),
                                 x.reshape(-1), out.reshape(-1))
    return out


def dequantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """DEQUANTIZE int8 -> float32: ``float32(double(scale) * (x - zero_point))``."""
    x = _int8_array(x, "x")
    out = np.empty(x.shape, dtype=np.float32)
    _core.dequantize_int8(_scale(scale, "scale"), _zero_point(zero_point, "zero_point"),
                          x.reshape(-1), out.reshape(-1))
    return out


def reshape(x: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """RESHAPE: no arithmetic - the bytes stay as they are (row-major), only
    the recorded shape changes, and the quantisation is unchanged.  Returns a
    C-contiguous copy with the new shape (one -1 allowed, as NumPy)."""
    if not isinstance(x, np.ndarray):
        raise KernelArgumentError(f"x must be a numpy.ndarray, got {type(x).__name__}")
    try:
        return np.ascontiguousarray(x).reshape(tuple(int(d) for d in shape)).copy()
    except KernelArgumentError:
        raise KernelArgumentError(f"cannot reshape {x.shape} ({x.size} elements) to {tuple(shape)}") from None
