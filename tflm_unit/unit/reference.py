"""NumPy reference of the UnIT kernels: the test oracle for the C core.

An independent second implementation, written from the specification in
DESIGN.md section 3 (not from the C code), that favours readability over
speed while staying vectorised over batch, positions and channels.

Int8 arithmetic is TFLite's as TFLM's reference kernels compute it:
x' = x_q + input_offset, symmetric int8 weights, an int32 accumulator of
x'*w over the in-bounds taps plus the bias, requantised per output channel
by MultiplyByQuantizedMultiplier (gemmlowp's double rounding), plus the
output offset, clamped to [act_min, act_max].

UnIT skipping (thresholds given): a tap of output channel c is skipped when
w == 0, x' == 0, or -- conv / depthwise -- |x'| <= div(T_q[g], |w|),
-- fully connected -- |w| <= div(T_q[g], |x'|), with g = c // group_size
and div the chosen division mode (tflm_unit.unit.division).  Negative
thresholds act as 0.  Skipped taps contribute nothing; executed taps
contribute x'*w exactly.  Without thresholds every in-bounds tap is
executed, zero ones included.

Float32 kernels accumulate in float32 in the C loop order (conv: ky, kx, ic;
depthwise: ky, kx; fully connected: d), add the bias, then clamp, so that
they match the C core bit for bit.

Counters: macs_total counts every connection (taps over padding included),
macs_executed the multiplications really performed, channel_executed the
executed ones per output channel.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple, Union

import numpy as np

from tflm_unit.unit.division import (DIVISION_MODES, FLOAT_DIVISION_MODES, divide,
                                     divide_float)

# The shared parameter / result types of the C wrappers (same signatures).
from tflm_unit.core.kernels import ConvParams, KernelResult  # noqa: E402

INT32_MIN = -(2 ** 31)
INT32_MAX = 2 ** 31 - 1

__all__ = [
    "ConvParams", "KernelResult",
    "quantize_multiplier", "multiply_by_quantized_multiplier",
    "saturating_rounding_doubling_high_mul", "rounding_divide_by_pot",
    "compute_out_size", "compute_padding",
    "conv_2d_int8", "depthwise_conv_2d_int8", "fully_connected_int8",
    "conv_2d_float", "depthwise_conv_2d_float", "fully_connected_float",
]


# ---------------------------------------------------------------------------
# Fixed-point helpers, as TFLite computes them (gemmlowp semantics), in int64.
# ---------------------------------------------------------------------------

def _wrap_int32(values: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values into the int32 range (as int64)."""
    return ((values.astype(np.int64) + 2 ** 31) % 2 ** 32) - 2 ** 31


def quantize_multiplier(real_multiplier: Union[float, np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """A real multiplier as (Q31 multiplier, power-of-two shift), like TFLite.

    real = q * 2^shift with q in [0.5, 1) (frexp); the Q31 value is
    round(q * 2^31) (half away from zero).  When that rounds up to 2^31 it
    is halved and the shift incremented; a shift below -31 gives (0, 0), as
    does a zero multiplier.  Works element-wise; returns two int32 arrays.
    """
    reals = np.asarray(real_multiplier, dtype=np.float64)
    if not np.all(np.isfinite(reals)):
        raise ValueError("real_multiplier must be finite")
    multipliers = np.zeros(reals.shape, dtype=np.int32)
    shifts = np.zeros(reals.shape, dtype=np.int32)
    for index, real in np.ndenumerate(reals):
        if real == 0.0:
            continue
        fraction, shift = math.frexp(float(real))
        scaled = fraction * float(2 ** 31)
        q_fixed = int(math.copysign(math.floor(abs(scaled) + 0.5), scaled))
        if q_fixed == 2 ** 31:
            q_fixed //= 2
            shift += 1
        if shift < -31:
            shift = 0
            q_fixed = 0
        if q_fixed > INT32_MAX or q_fixed < INT32_MIN:
            raise ValueError(f"real_multiplier {real} does not fit a Q31 multiplier")
        multipliers[index] = q_fixed
        shifts[index] = shift
    return multipliers, shifts


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """High 32 bits of 2*a*b, rounded half away from zero; saturates the one
    overflow case (a == b == INT32_MIN) to INT32_MAX.  int64 in, int64 out."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    product = a * b  # |a*b| <= 2^62 fits int64
    nudge = np.where(product >= 0, 1 << 30, 1 - (1 << 30))
    total = product + nudge
    # C integer division truncates toward zero.
    high = np.sign(total) * (np.abs(total) // (1 << 31))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, INT32_MAX, high).astype(np.int64)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """x / 2^exponent rounded to nearest, ties away from zero (gemmlowp)."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: np.ndarray, multiplier: np.ndarray,
                                     shift: np.ndarray) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding), element-wise.

    SaturatingRoundingDoublingHighMul(x * 2^max(shift, 0), multiplier), then
    RoundingDivideByPOT by max(-shift, 0).  x * 2^left_shift wraps like an
    int32 multiplication (TFLite assumes it does not overflow).  Returns int32.
    """
    x = np.asarray(x, dtype=np.int64)
    multiplier = np.asarray(multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left_shift = np.maximum(shift, 0)
    right_shift = np.maximum(-shift, 0)
    shifted = _wrap_int32(x * (np.int64(1) << left_shift))
    high = saturating_rounding_doubling_high_mul(shifted, multiplier)
    return rounding_divide_by_pot(high, right_shift).astype(np.int32)


# ---------------------------------------------------------------------------
# Geometry, as TFLite's ComputeOutSize / ComputePaddingHeightWidth.
# ---------------------------------------------------------------------------

def compute_out_size(padding: str, in_size: int, filter_size: int, stride: int,
                     dilation: int) -> int:
    """Output size of one spatial dimension for SAME or VALID padding."""
    effective_filter = (filter_size - 1) * dilation + 1
    if padding == "SAME":
        return (in_size + stride - 1) // stride
    if padding == "VALID":
        return (in_size + stride - effective_filter) // stride
    raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")


def compute_padding(stride: int, dilation: int, in_size: int, filter_size: int,
                    out_size: int) -> int:
    """Top/left padding: half the total padding, rounded down, never negative."""
    effective_filter = (filter_size - 1) * dilation + 1
    total = (out_size - 1) * stride + effective_filter - in_size
    return max(total, 0) // 2


# ---------------------------------------------------------------------------
# Argument checks: bad input is a ValueError naming the argument.
# ---------------------------------------------------------------------------

def _check_array(value, name: str, dtype, ndim: int) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(value).__name__}")
    if value.dtype != dtype:
        raise ValueError(f"{name} must have dtype {np.dtype(dtype).name}, got {value.dtype}")
    if value.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {value.shape}")
    if value.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {value.shape}")
    return value


def _check_int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value}")
    return int(value)


def _check_per_channel(value, name: str, dtype, channels: int) -> np.ndarray:
    """A per-output-channel vector: exactly [channels] of the given dtype."""
    array = _check_array(value, name, dtype, 1)
    if array.shape != (channels,):
        raise ValueError(f"{name} must have shape ({channels},), got {array.shape}")
    return array


def _check_requant(multiplier, shift, channels: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per-channel Q31 multipliers and shifts; a scalar (or one value) is
    repeated for per-tensor quantisation, as the C wrappers do."""
    arrays = []
    for value, name in ((multiplier, "multiplier"), (shift, "shift")):
        array = np.asarray(value)
        if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
        array = array.astype(np.int64).reshape(-1)
        if array.size == 1:
            array = np.repeat(array, channels)
        if array.size != channels:
            raise ValueError(f"{name} has {array.size} entries, expected {channels} "
                             "(one per output channel)")
        arrays.append(array)
    multiplier, shift = arrays
    if multiplier.min() < INT32_MIN or multiplier.max() > INT32_MAX:
        raise ValueError("multiplier must fit int32")
    if shift.min() < -31 or shift.max() > 30:
        raise ValueError(f"shift must lie in [-31, 30], got [{shift.min()}, {shift.max()}]")
    return multiplier, shift


def _check_int8_offsets(input_offset, output_offset, act_min, act_max) -> Tuple[int, int, int, int]:
    # input_offset = -zero_point with zero_point in [-128, 127]; |x'| <= 255.
    input_offset = _check_int(input_offset, "input_offset", -127, 128)
    output_offset = _check_int(output_offset, "output_offset", -128, 127)
    act_min = _check_int(act_min, "act_min", -128, 127)
    act_max = _check_int(act_max, "act_max", -128, 127)
    if act_min > act_max:
        raise ValueError(f"act_min ({act_min}) must not exceed act_max ({act_max})")
    return input_offset, output_offset, act_min, act_max


def _check_float_range(act_min, act_max) -> Tuple[np.float32, np.float32]:
    try:
        low, high = np.float32(act_min), np.float32(act_max)
    except (TypeError, ValueError):
        raise ValueError(f"act_min/act_max must be numbers, got {act_min!r}, {act_max!r}")
    if np.isnan(low) or np.isnan(high) or low > high:
        raise ValueError(f"need act_min <= act_max, got {act_min}, {act_max}")
    return low, high


def _channel_thresholds(thresholds, group_size: Optional[int], channels: int, dtype,
                        division: str, modes: tuple) -> Optional[np.ndarray]:
    """Checks the skip arguments; returns the threshold of each output channel
    (negatives replaced by 0), or None for the dense path."""
    if division not in modes:
        raise ValueError(f"unknown division mode {division!r}; expected one of {modes}")
    if thresholds is None:
        return None
    if group_size is None:
        group_size = channels  # one threshold for the whole layer
    group_size = _check_int(group_size, "group_size", 1, 2 ** 31 - 1)
    if channels % group_size != 0:
        raise ValueError(
            f"group_size {group_size} does not divide the {channels} output channels")
    thresholds = np.asarray(thresholds)
    if thresholds.ndim != 1 or thresholds.shape[0] != channels // group_size:
        raise ValueError(f"thresholds must have shape ({channels // group_size},) "
                         f"(= {channels} channels / group size {group_size}), "
                         f"got {thresholds.shape}")
    if dtype == np.float32:
        if not np.issubdtype(thresholds.dtype, np.floating):
            raise ValueError(f"float kernels take float thresholds, got {thresholds.dtype}")
        thresholds = thresholds.astype(np.float32)
        if not np.all(np.isfinite(thresholds)):
            raise ValueError("thresholds must be finite")
    else:
        if thresholds.dtype == np.bool_ or not np.issubdtype(thresholds.dtype, np.integer):
            raise ValueError(f"int8 kernels take integer thresholds (int16 T_q), "
                             f"got {thresholds.dtype}")
        if thresholds.min() < -32768 or thresholds.max() > 32767:
            raise ValueError("thresholds must fit int16")
        thresholds = thresholds.astype(np.int64)
    per_channel = np.repeat(thresholds, group_size)
    return np.maximum(per_channel, 0)


def _conv_geometry(x: np.ndarray, filter_h: int, filter_w: int, params) -> dict:
    stride_h = _check_int(params.stride_h, "stride_h", 1, 2 ** 15)
    stride_w = _check_int(params.stride_w, "stride_w", 1, 2 ** 15)
    dilation_h = _check_int(params.dilation_h, "dilation_h", 1, 2 ** 15)
    dilation_w = _check_int(params.dilation_w, "dilation_w", 1, 2 ** 15)
    padding = params.padding
    if padding not in ("SAME", "VALID"):
        raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
    _, in_h, in_w, _ = x.shape
    out_h = compute_out_size(padding, in_h, filter_h, stride_h, dilation_h)
    out_w = compute_out_size(padding, in_w, filter_w, stride_w, dilation_w)
    if out_h <= 0 or out_w <= 0:
        raise ValueError(
            f"filter {filter_h}x{filter_w} (dilation {dilation_h}x{dilation_w}) does not fit "
            f"input {in_h}x{in_w} with VALID padding")
    return dict(stride_h=stride_h, stride_w=stride_w, dilation_h=dilation_h,
                dilation_w=dilation_w, filter_h=filter_h, filter_w=filter_w,
                out_h=out_h, out_w=out_w,
                pad_h=compute_padding(stride_h, dilation_h, in_h, filter_h, out_h),
                pad_w=compute_padding(stride_w, dilation_w, in_w, filter_w, out_w))


def _kernel_taps(x: np.ndarray, geometry: dict):
    """Yields (ky, kx, x_tap, in_bounds) for every kernel position in ky, kx
    order: x_tap [N, Ho, Wo, C] is the input each output position reads at
    that tap (clipped where out of bounds), in_bounds [Ho, Wo] says where
    the tap lies inside the input."""
    _, in_h, in_w, _ = x.shape
    out_y = np.arange(geometry["out_h"])
    out_x = np.arange(geometry["out_w"])
    for ky in range(geometry["filter_h"]):
        in_y = out_y * geometry["stride_h"] - geometry["pad_h"] + ky * geometry["dilation_h"]
        valid_y = (in_y >= 0) & (in_y < in_h)
        for kx in range(geometry["filter_w"]):
            in_x = out_x * geometry["stride_w"] - geometry["pad_w"] + kx * geometry["dilation_w"]
            valid_x = (in_x >= 0) & (in_x < in_w)
            x_tap = x[:, np.clip(in_y, 0, in_h - 1)][:, :, np.clip(in_x, 0, in_w - 1)]
            yield ky, kx, x_tap, valid_y[:, None] & valid_x[None, :]


# ---------------------------------------------------------------------------
# Skip decisions and the shared accumulation step.
# ---------------------------------------------------------------------------

def _weight_taus_int(w: np.ndarray, channel_thresholds: np.ndarray, division: str,
                     channel_axis: int) -> np.ndarray:
    """tau = div(T_q[c], |w|) for every weight, computed once per weight (the
    design's loop order); meaningless where w == 0 (those taps skip anyway)."""
    shape = [1] * w.ndim
    shape[channel_axis] = -1
    magnitude = np.abs(w.astype(np.int64))
    return divide(channel_thresholds.reshape(shape), np.maximum(magnitude, 1), division)


def _weight_taus_float(w: np.ndarray, channel_thresholds: np.ndarray, division: str,
                       channel_axis: int) -> np.ndarray:
    shape = [1] * w.ndim
    shape[channel_axis] = -1
    magnitude = np.abs(w)
    return divide_float(channel_thresholds.reshape(shape),
                        np.where(magnitude == 0, np.float32(1), magnitude), division)


def _accumulate(acc: np.ndarray, executed: np.ndarray, x_values: np.ndarray,
                weights: np.ndarray, taus: Optional[np.ndarray], in_bounds: np.ndarray) -> None:
    """One tap of a conv / depthwise layer for all positions and channels.

    x_values [N, Ho, Wo, Co] (the input each output channel reads), weights
    and taus [Co], in_bounds [Ho, Wo].  Adds the executed products to acc
    (in acc's dtype) and counts them per channel into executed.
    """
    keep = np.broadcast_to(in_bounds[None, :, :, None], x_values.shape)
    if taus is not None:
        keep = keep & (x_values != 0) & (weights != 0) & (np.abs(x_values) > taus)
    products = x_values * weights
    acc += np.where(keep, products, products.dtype.type(0))
    executed += keep.sum(axis=(0, 1, 2), dtype=np.uint64)


def _conv_accumulate(x: np.ndarray, w: np.ndarray, taus: Optional[np.ndarray], geometry: dict,
                     acc_dtype, channel_of_input: Optional[np.ndarray] = None):
    """The weight-stationary sum over the kernel taps of CONV_2D (filter
    [Co, kh, kw, Ci], channel_of_input None) or DEPTHWISE_CONV_2D (filter
    [1, kh, kw, C]; output channel c reads input channel channel_of_input[c]).
    x is the (offset) input, taus the per-weight quotients or None (dense).
    Returns (accumulators [N, H, W, C], executed per channel, total MACs)."""
    depthwise = channel_of_input is not None
    channels = w.shape[3] if depthwise else w.shape[0]
    acc = np.zeros((x.shape[0], geometry["out_h"], geometry["out_w"], channels), dtype=acc_dtype)
    executed = np.zeros(channels, dtype=np.uint64)
    for ky, kx, x_tap, in_bounds in _kernel_taps(x, geometry):
        if depthwise:
            _accumulate(acc, executed, x_tap[..., channel_of_input], w[0, ky, kx],
                        None if taus is None else taus[0, ky, kx], in_bounds)
            continue
        for ic in range(w.shape[3]):
            x_values = np.broadcast_to(x_tap[..., ic, None], acc.shape)
            _accumulate(acc, executed, x_values, w[:, ky, kx, ic],
                        None if taus is None else taus[:, ky, kx, ic], in_bounds)
    macs_total = acc.size * w.shape[1] * w.shape[2] * (1 if depthwise else w.shape[3])
    return acc, executed, int(macs_total)


def _requantize(acc: np.ndarray, bias: Optional[np.ndarray], multiplier: np.ndarray,
                shift: np.ndarray, output_offset: int, act_min: int, act_max: int) -> np.ndarray:
    """int32 accumulator (+ bias) -> int8 output, channel on the last axis."""
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    acc = _wrap_int32(acc)  # the C accumulator is int32
    scaled = multiply_by_quantized_multiplier(acc, multiplier, shift).astype(np.int64)
    return np.clip(scaled + output_offset, act_min, act_max).astype(np.int8)


def _finish_float(acc: np.ndarray, bias: Optional[np.ndarray], act_min: np.float32,
                  act_max: np.float32) -> np.ndarray:
    if bias is not None:
        acc = acc + bias
    return np.minimum(np.maximum(acc, act_min), act_max).astype(np.float32)


# ---------------------------------------------------------------------------
# Int8 kernels.
# ---------------------------------------------------------------------------

def conv_2d_int8(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray],
                 multiplier: np.ndarray, shift: np.ndarray, params: ConvParams,
                 thresholds: Optional[np.ndarray] = None, group_size: Optional[int] = None,
                 division: str = "exact") -> KernelResult:
    """Int8 CONV_2D (NHWC input, [Co, kh, kw, Ci] filter) with UnIT skipping."""
    x = _check_array(x, "input", np.int8, 4)
    w = _check_array(w, "filter", np.int8, 4)
    channels, filter_h, filter_w, in_c = w.shape
    if x.shape[3] != in_c:
        raise ValueError(f"filter input depth {in_c} != input channels {x.shape[3]}")
    if bias is not None:
        bias = _check_per_channel(bias, "bias", np.int32, channels)
    multiplier, shift = _check_requant(multiplier, shift, channels)
    input_offset, output_offset, act_min, act_max = _check_int8_offsets(
        params.input_offset, params.output_offset, params.act_min, params.act_max)
    channel_t = _channel_thresholds(thresholds, group_size, channels, np.int16, division,
                                    DIVISION_MODES)
    geometry = _conv_geometry(x, filter_h, filter_w, params)

    taus = None if channel_t is None else _weight_taus_int(w, channel_t, division, 0)
    acc, executed, macs_total = _conv_accumulate(x.astype(np.int64) + input_offset, w.astype(np.int64),
                                                 taus, geometry, np.int64)
    output = _requantize(acc, bias, multiplier, shift, output_offset, act_min, act_max)
    return KernelResult(output, macs_total, int(executed.sum()), executed)


def depthwise_conv_2d_int8(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray],
                           multiplier: np.ndarray, shift: np.ndarray, params: ConvParams,
                           thresholds: Optional[np.ndarray] = None,
                           group_size: Optional[int] = None,
                           division: str = "exact") -> KernelResult:
    """Int8 DEPTHWISE_CONV_2D ([1, kh, kw, Ci*M] filter; output channel
    ic*M + m reads input channel ic) with UnIT skipping."""
    x = _check_array(x, "input", np.int8, 4)
    w = _check_array(w, "filter", np.int8, 4)
    _, channel_of_input = _depthwise_channels(x, w, params)
    _, filter_h, filter_w, channels = w.shape
    if bias is not None:
        bias = _check_per_channel(bias, "bias", np.int32, channels)
    multiplier, shift = _check_requant(multiplier, shift, channels)
    input_offset, output_offset, act_min, act_max = _check_int8_offsets(
        params.input_offset, params.output_offset, params.act_min, params.act_max)
    channel_t = _channel_thresholds(thresholds, group_size, channels, np.int16, division,
                                    DIVISION_MODES)
    geometry = _conv_geometry(x, filter_h, filter_w, params)

    taus = None if channel_t is None else _weight_taus_int(w, channel_t, division, 3)
    acc, executed, macs_total = _conv_accumulate(x.astype(np.int64) + input_offset, w.astype(np.int64),
                                                 taus, geometry, np.int64, channel_of_input)
    output = _requantize(acc, bias, multiplier, shift, output_offset, act_min, act_max)
    return KernelResult(output, macs_total, int(executed.sum()), executed)


def _depthwise_channels(x: np.ndarray, w: np.ndarray, params) -> Tuple[int, np.ndarray]:
    """Checks the depthwise filter shape; returns M and, per output channel,
    the input channel it reads (oc // M)."""
    depth_multiplier = _check_int(params.depth_multiplier, "depth_multiplier", 1, 2 ** 15)
    in_c = x.shape[3]
    if w.shape[0] != 1:
        raise ValueError(f"depthwise filter must have shape [1, kh, kw, C], got {w.shape}")
    if w.shape[3] != in_c * depth_multiplier:
        raise ValueError(
            f"depthwise filter has {w.shape[3]} channels, expected input channels {in_c} x "
            f"depth_multiplier {depth_multiplier}")
    return depth_multiplier, np.arange(w.shape[3]) // depth_multiplier


def fully_connected_int8(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray],
                         multiplier: np.ndarray, shift: np.ndarray, input_offset: int,
                         output_offset: int, act_min: int = -128, act_max: int = 127,
                         thresholds: Optional[np.ndarray] = None,
                         group_size: Optional[int] = None,
                         division: str = "exact") -> KernelResult:
    """Int8 FULLY_CONNECTED (input [N, D], filter [O, D]) with UnIT skipping;
    the input is the divisor: skip when |w| <= div(T_q[g], |x'|)."""
    x = _check_array(x, "input", np.int8, 2)
    w = _check_array(w, "filter", np.int8, 2)
    batches, depth = x.shape
    channels = w.shape[0]
    if w.shape[1] != depth:
        raise ValueError(f"filter input depth {w.shape[1]} != input depth {depth}")
    if bias is not None:
        bias = _check_per_channel(bias, "bias", np.int32, channels)
    multiplier, shift = _check_requant(multiplier, shift, channels)
    input_offset, output_offset, act_min, act_max = _check_int8_offsets(
        input_offset, output_offset, act_min, act_max)
    channel_t = _channel_thresholds(thresholds, group_size, channels, np.int16, division,
                                    DIVISION_MODES)

    x_shifted = x.astype(np.int64) + input_offset
    w_wide = w.astype(np.int64)
    acc = np.zeros((batches, channels), dtype=np.int64)
    executed = np.zeros(channels, dtype=np.uint64)
    for d in range(depth):
        x_column = x_shifted[:, d, None]  # [N, 1]
        w_column = w_wide[None, :, d]  # [1, O]
        keep = np.ones((batches, channels), dtype=bool)
        if channel_t is not None:
            taus = divide(channel_t[None, :], np.maximum(np.abs(x_column), 1), division)
            keep = (x_column != 0) & (w_column != 0) & (np.abs(w_column) > taus)
        acc += np.where(keep, x_column * w_column, 0)
        executed += keep.sum(axis=0, dtype=np.uint64)
    output = _requantize(acc, bias, multiplier, shift, output_offset, act_min, act_max)
    return KernelResult(output, int(batches * channels * depth), int(executed.sum()), executed)


# ---------------------------------------------------------------------------
# Float32 kernels.
# ---------------------------------------------------------------------------

def conv_2d_float(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray], params: ConvParams,
                  thresholds: Optional[np.ndarray] = None, group_size: Optional[int] = None,
                  division: str = "exact") -> KernelResult:
    """Float32 CONV_2D with UnIT skipping (tau = T / |w|, float32)."""
    x = _check_array(x, "input", np.float32, 4)
    w = _check_array(w, "filter", np.float32, 4)
    channels, filter_h, filter_w, in_c = w.shape
    if x.shape[3] != in_c:
        raise ValueError(f"filter input depth {in_c} != input channels {x.shape[3]}")
    if bias is not None:
        bias = _check_per_channel(bias, "bias", np.float32, channels)
    act_min, act_max = _check_float_range(params.act_min, params.act_max)
    channel_t = _channel_thresholds(thresholds, group_size, channels, np.float32, division,
                                    FLOAT_DIVISION_MODES)
    geometry = _conv_geometry(x, filter_h, filter_w, params)

    taus = None if channel_t is None else _weight_taus_float(w, channel_t, division, 0)
    acc, executed, macs_total = _conv_accumulate(x, w, taus, geometry, np.float32)
    output = _finish_float(acc, bias, act_min, act_max)
    return KernelResult(output, macs_total, int(executed.sum()), executed)


def depthwise_conv_2d_float(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray],
                            params: ConvParams, thresholds: Optional[np.ndarray] = None,
                            group_size: Optional[int] = None,
                            division: str = "exact") -> KernelResult:
    """Float32 DEPTHWISE_CONV_2D with UnIT skipping."""
    x = _check_array(x, "input", np.float32, 4)
    w = _check_array(w, "filter", np.float32, 4)
    _, channel_of_input = _depthwise_channels(x, w, params)
    _, filter_h, filter_w, channels = w.shape
    if bias is not None:
        bias = _check_per_channel(bias, "bias", np.float32, channels)
    act_min, act_max = _check_float_range(params.act_min, params.act_max)
    channel_t = _channel_thresholds(thresholds, group_size, channels, np.float32, division,
                                    FLOAT_DIVISION_MODES)
    geometry = _conv_geometry(x, filter_h, filter_w, params)

    taus = None if channel_t is None else _weight_taus_float(w, channel_t, division, 3)
    acc, executed, macs_total = _conv_accumulate(x, w, taus, geometry, np.float32, channel_of_input)
    output = _finish_float(acc, bias, act_min, act_max)
    return KernelResult(output, macs_total, int(executed.sum()), executed)


def fully_connected_float(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray],
                          act_min: float = -np.inf, act_max: float = np.inf,
                          thresholds: Optional[np.ndarray] = None,
                          group_size: Optional[int] = None,
                          division: str = "exact") -> KernelResult:
    """Float32 FULLY_CONNECTED with UnIT skipping (tau = T / |x|)."""
    x = _check_array(x, "input", np.float32, 2)
    w = _check_array(w, "filter", np.float32, 2)
    batches, depth = x.shape
    channels = w.shape[0]
    if w.shape[1] != depth:
        raise ValueError(f"filter input depth {w.shape[1]} != input depth {depth}")
    if bias is not None:
        bias = _check_per_channel(bias, "bias", np.float32, channels)
    act_min, act_max = _check_float_range(act_min, act_max)
    channel_t = _channel_thresholds(thresholds, group_size, channels, np.float32, division,
                                    FLOAT_DIVISION_MODES)

    acc = np.zeros((batches, channels), dtype=np.float32)
    executed = np.zeros(channels, dtype=np.uint64)
    for d in range(depth):
        x_column = x[:, d, None]  # [N, 1]
        w_column = w[None, :, d]  # [1, O]
        keep = np.ones((batches, channels), dtype=bool)
        if channel_t is not None:
            magnitude = np.abs(x_column)
            taus = divide_float(channel_t[None, :],
                                np.where(magnitude == 0, np.float32(1), magnitude), division)
            keep = (x_column != 0) & (w_column != 0) & (np.abs(w_column) > taus)
        products = x_column * w_column
        acc += np.where(keep, products, np.float32(0))
        executed += keep.sum(axis=0, dtype=np.uint64)
    output = _finish_float(acc, bias, act_min, act_max)
    return KernelResult(output, int(batches * channels * depth), int(executed.sum()), executed)
