"""Typed NumPy API over the C UnIT kernels (``custom_ops/core`` via ``tflm_unit._core``).

Every function validates shapes and dtypes here, allocates the output and
returns a :class:`KernelResult` with the MAC counters, so callers (the host
runtime, calibration, tests) never touch raw buffers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple, Union

import numpy as np

from tflm_unit import _core

#: Integer division approximations, in the C enum's order (unit_division_t).
DIVISION_MODES: Tuple[str, ...] = ("exact", "shift", "tree", "clz")
#: Float division approximations (unit_float_division_t).
FLOAT_DIVISION_MODES: Tuple[str, ...] = ("exact", "bitmask")
#: tflite::Padding values.
PADDINGS: Tuple[str, ...] = ("SAME", "VALID")


@dataclass(frozen=True)
class ConvParams:
    """Options of a conv / depthwise conv, as in the builtin options tables.

    ``input_offset`` is minus the input zero point, ``output_offset`` the
    output zero point; ``act_min``/``act_max`` the fused-activation clamp in
    the output's domain (quantised ints for int8, floats for float32).
    """

    stride_h: int = 1
    stride_w: int = 1
    dilation_h: int = 1
    dilation_w: int = 1
    padding: str = "VALID"
    depth_multiplier: int = 1
    input_offset: int = 0
    output_offset: int = 0
    act_min: Union[int, float] = -128
    act_max: Union[int, float] = 127


@dataclass
class KernelResult:
    """A kernel's output and its MAC counters (see unit_stats_t)."""

    output: np.ndarray
    macs_total: int
    macs_executed: int
    channel_executed: np.ndarray = field(repr=False)

    @property
    def macs_skipped(self) -> int:
        return self.macs_total - self.macs_executed


def division_index(mode: str, float_model: bool = False) -> int:
    """The C enum value of a division mode name (ValueError if unknown)."""
    modes = FLOAT_DIVISION_MODES if float_model else DIVISION_MODES
    if mode not in modes:
        raise ValueError(f"unknown division mode {mode!r}; expected one of {modes}")
    return modes.index(mode)


def compute_out_size(padding: str, in_size: int, filter_size: int, stride: int, dilation: int) -> int:
    """Output size of one spatial dimension, as TFLite computes it."""
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    return int(_core.compute_out_size(PADDINGS.index(padding), in_size, filter_size, stride, dilation))


def compute_padding(stride: int, dilation: int, in_size: int, filter_size: int, out_size: int) -> int:
    """Top/left padding of one spatial dimension, as TFLite computes it."""
    return int(_core.compute_padding(stride, dilation, in_size, filter_size, out_size))


def quantize_multiplier(real_multiplier: float) -> Tuple[int, int]:
    """A real requantisation scale → (Q31 multiplier, power-of-two shift)."""
    return tuple(_core.quantize_multiplier(float(real_multiplier)))  # type: ignore[return-value]


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier on one int32."""
    return int(_core.multiply_by_quantized_multiplier(int(x), int(multiplier), int(shift)))


def activation_range_int8(fused_activation: int, scale: float, zero_point: int) -> Tuple[int, int]:
    """Clamp range of a fused activation (tflite::ActivationFunctionType) for int8."""
    if fused_activation not in (0, 1, 2, 3):
        raise ValueError(f"unsupported fused activation {fused_activation} (NONE, RELU, RELU_N1_TO_1, RELU6 are)")
    return tuple(_core.activation_range_int8(int(fused_activation), float(scale), int(zero_point)))  # type: ignore


_SCRATCH_KINDS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 2}


def scratch_bytes(op: str, filter_shape, output_shape, skipping: bool, group_size: int = 1,
                  minimum: bool = False) -> int:
    """Scratch a kernel call needs (the C core's unit_*_scratch_bytes): conv
    and depthwise need int32 accumulators for a whole image's positions
    (``minimum``: for one output row — they then work in row blocks, any size
    in between works) plus, when skipping, the quotients of one channel;
    fully connected needs scratch only when skipping.  ``op`` is the builtin
    name; for fully connected ``output_shape`` ends in the output depth."""
    if op not in _SCRATCH_KINDS:
        raise ValueError(f"no scratch rule for {op!r}; expected one of {tuple(_SCRATCH_KINDS)}")
    f = tuple(int(d) for d in filter_shape)
    o = tuple(int(d) for d in output_shape)
    f4 = (1,) * (4 - len(f)) + f if len(f) < 4 else f
    o4 = (1,) * (4 - len(o)) + o if len(o) < 4 else o
    return int(_core.scratch_bytes(_SCRATCH_KINDS[op], f4, o4, bool(skipping), int(group_size), bool(minimum)))


def divide(t_q, d, mode: str = "exact") -> np.ndarray:
    """Elementwise UnIT integer division T_q / d (t_q in [0, 32767], d in [1, 255])."""
    t_arr, d_arr = np.broadcast_arrays(np.asarray(t_q), np.asarray(d))
    if t_arr.dtype.kind not in "iu" or d_arr.dtype.kind not in "iu":
        raise ValueError("divide takes integer t_q and d")
    if t_arr.size and (t_arr.min() < 0 or t_arr.max() > 32767):
        raise ValueError("t_q must lie in [0, 32767]")
    if d_arr.size and (d_arr.min() < 1 or d_arr.max() > 255):
        raise ValueError("d must lie in [1, 255]")
    t16 = np.ascontiguousarray(t_arr, dtype=np.int16)
    d8 = np.ascontiguousarray(d_arr, dtype=np.uint8)
    out = np.empty(t16.shape, dtype=np.int16)
    _core.divide(t16.ravel(), d8.ravel(), out.reshape(-1), division_index(mode))
    return out


def divide_float(t, d, mode: str = "exact") -> np.ndarray:
    """Elementwise UnIT float division T / |d| (``exact`` or ``bitmask``): the
    sign of d is irrelevant by definition, the skip rule compares magnitudes."""
    t_arr, d_arr = np.broadcast_arrays(np.asarray(t, dtype=np.float32), np.asarray(d, dtype=np.float32))
    t32 = np.ascontiguousarray(t_arr)
    d32 = np.ascontiguousarray(d_arr)
    out = np.empty(t32.shape, dtype=np.float32)
    _core.divide_float(t32.ravel(), d32.ravel(), out.reshape(-1), division_index(mode, float_model=True))
    return out


# ---------------------------------------------------------------- validation


def _require(array, dtype, ndim: int, name: str) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.dtype != dtype:
        raise ValueError(f"{name} must be {np.dtype(dtype).name}, got {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    return np.ascontiguousarray(array)


def _per_channel(array, dtype, channels: int, name: str) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(array), dtype=dtype).reshape(-1)
    if arr.size == 1 and channels > 1:
        arr = np.repeat(arr, channels)
    if arr.size != channels:
        raise ValueError(f"{name} has {arr.size} entries, expected {channels} (one per output channel)")
    return arr


def _skip_args(thresholds, group_size: Optional[int], channels: int, division: str, float_model: bool):
    """(thresholds buffer or None, group_size, division index) for the C call."""
    div = division_index(division, float_model)
    if thresholds is None:
        return None, 0, div
    t = np.asarray(thresholds)
    dtype = np.float32 if float_model else np.int16
    if not float_model and t.dtype.kind not in "iu":
        raise ValueError(f"int8 kernels take integer thresholds (int16 T_q), got {t.dtype}")
    if not float_model and t.size and (t.min() < -32768 or t.max() > 32767):
        raise ValueError("int8 kernels take int16 thresholds; saturate T_q to [0, 32767] first")
    t = np.ascontiguousarray(t, dtype=dtype).reshape(-1)
    group = channels if group_size is None else int(group_size)
    if group <= 0 or channels % group != 0:
        raise ValueError(f"group_size {group} does not divide the {channels} output channels")
    if t.size != channels // group:
        raise ValueError(f"{t.size} thresholds given, expected {channels // group} "
                         f"(= {channels} channels / group size {group})")
    return t, group, div


def conv_geometry(x_shape, kh: int, kw: int, params: ConvParams) -> Tuple[int, int, int, int]:
    """(out_h, out_w, pad_h, pad_w) for a conv on an NHWC input."""
    if params.padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {params.padding!r}")
    if min(params.stride_h, params.stride_w, params.dilation_h, params.dilation_w) < 1:
        raise ValueError("strides and dilations must be >= 1")
    _, h, w, _ = x_shape
    out_h = compute_out_size(params.padding, h, kh, params.stride_h, params.dilation_h)
    out_w = compute_out_size(params.padding, w, kw, params.stride_w, params.dilation_w)
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"filter {kh}x{kw} does not fit input {h}x{w} with {params.padding} padding")
    pad_h = compute_padding(params.stride_h, params.dilation_h, h, kh, out_h) if params.padding == "SAME" else 0
    pad_w = compute_padding(params.stride_w, params.dilation_w, w, kw, out_w) if params.padding == "SAME" else 0
    return out_h, out_w, pad_h, pad_w


def _conv_output_channels(depthwise: bool, x: np.ndarray, w: np.ndarray, params: ConvParams) -> int:
    """Output channels of a conv ([Co, kh, kw, Ci] filter) or depthwise
    ([1, kh, kw, Ci * M]) call, after checking the filter against the input."""
    if depthwise:
        if w.shape[0] != 1 or w.shape[3] != x.shape[3] * params.depth_multiplier:
            raise ValueError(f"depthwise filter shape {w.shape} does not match input channels "
                             f"{x.shape[3]} x depth multiplier {params.depth_multiplier}")
        return w.shape[3]
    if w.shape[3] != x.shape[3]:
        raise ValueError(f"filter input channels {w.shape[3]} != input channels {x.shape[3]}")
    return w.shape[0]


# ------------------------------------------------------------------- int8


def _conv_like_int8(depthwise: bool, x, w, bias, multiplier, shift, params: ConvParams,
                    thresholds, group_size, division) -> KernelResult:
    x = _require(x, np.int8, 4, "input")
    w = _require(w, np.int8, 4, "filter")
    channels = _conv_output_channels(depthwise, x, w, params)
    kh, kw = w.shape[1], w.shape[2]
    out_h, out_w, pad_h, pad_w = conv_geometry(x.shape, kh, kw, params)
    bias_arr = None if bias is None else _per_channel(bias, np.int32, channels, "bias")
    mult = _per_channel(multiplier, np.int32, channels, "multiplier")
    shft = _per_channel(shift, np.int32, channels, "shift")
    t, group, div = _skip_args(thresholds, group_size, channels, division, float_model=False)
    out = np.empty((x.shape[0], out_h, out_w, channels), dtype=np.int8)
    per_channel = np.zeros(channels, dtype=np.uint64)
    packed = (params.stride_h, params.stride_w, params.dilation_h, params.dilation_w, pad_h, pad_w,
              params.depth_multiplier, int(params.input_offset), int(params.output_offset),
              int(params.act_min), int(params.act_max))
    fn = _core.depthwise_conv_2d_int8 if depthwise else _core.conv_2d_int8
    total, executed = fn(x, x.shape, w, w.shape, bias_arr, mult, shft, packed, out, out.shape,
                         t, group, div, per_channel)
    return KernelResult(out, int(total), int(executed), per_channel)


def conv_2d_int8(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray], multiplier, shift,
                 params: ConvParams, thresholds=None, group_size: Optional[int] = None,
                 division: str = "exact") -> KernelResult:
    """int8 CONV_2D. x [N,H,W,Ci], w [Co,kh,kw,Ci], bias int32 [Co] or None,
    multiplier/shift per output channel (or scalars). thresholds: int16 T_q per
    group (None = the dense builtin kernel); group_size None = one group."""
    return _conv_like_int8(False, x, w, bias, multiplier, shift, params, thresholds, group_size, division)


def depthwise_conv_2d_int8(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray], multiplier, shift,
                           params: ConvParams, thresholds=None, group_size: Optional[int] = None,
                           division: str = "exact") -> KernelResult:
    """int8 DEPTHWISE_CONV_2D. w [1,kh,kw,Ci*M]; otherwise as :func:`conv_2d_int8`."""
    return _conv_like_int8(True, x, w, bias, multiplier, shift, params, thresholds, group_size, division)


def fully_connected_int8(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray], multiplier, shift,
                         input_offset: int, output_offset: int, act_min: int = -128, act_max: int = 127,
                         thresholds=None, group_size: Optional[int] = None,
                         division: str = "exact") -> KernelResult:
    """int8 FULLY_CONNECTED. x [N,D], w [O,D]; UnIT divides by the input."""
    x = _require(x, np.int8, 2, "input")
    w = _require(w, np.int8, 2, "filter")
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"filter depth {w.shape[1]} != input depth {x.shape[1]}")
    channels = w.shape[0]
    bias_arr = None if bias is None else _per_channel(bias, np.int32, channels, "bias")
    mult = _per_channel(multiplier, np.int32, channels, "multiplier")
    shft = _per_channel(shift, np.int32, channels, "shift")
    t, group, div = _skip_args(thresholds, group_size, channels, division, float_model=False)
    out = np.empty((x.shape[0], channels), dtype=np.int8)
    per_channel = np.zeros(channels, dtype=np.uint64)
    total, executed = _core.fully_connected_int8(
        x, x.shape[0], x.shape[1], channels, w, bias_arr, mult, shft,
        (int(input_offset), int(output_offset), int(act_min), int(act_max)), out, t, group, div, per_channel)
    return KernelResult(out, int(total), int(executed), per_channel)


# ------------------------------------------------------------------ float32


def _conv_like_float(depthwise: bool, x, w, bias, params: ConvParams, thresholds, group_size,
                     division) -> KernelResult:
    x = _require(x, np.float32, 4, "input")
    w = _require(w, np.float32, 4, "filter")
    channels = _conv_output_channels(depthwise, x, w, params)
    out_h, out_w, pad_h, pad_w = conv_geometry(x.shape, w.shape[1], w.shape[2], params)
    bias_arr = None if bias is None else _per_channel(bias, np.float32, channels, "bias")
    t, group, div = _skip_args(thresholds, group_size, channels, division, float_model=True)
    out = np.empty((x.shape[0], out_h, out_w, channels), dtype=np.float32)
    per_channel = np.zeros(channels, dtype=np.uint64)
    packed = (params.stride_h, params.stride_w, params.dilation_h, params.dilation_w, pad_h, pad_w,
              params.depth_multiplier, float(params.act_min), float(params.act_max))
    fn = _core.depthwise_conv_2d_float if depthwise else _core.conv_2d_float
    total, executed = fn(x, x.shape, w, w.shape, bias_arr, packed, out, out.shape, t, group, div, per_channel)
    return KernelResult(out, int(total), int(executed), per_channel)


def conv_2d_float(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray], params: ConvParams,
                  thresholds=None, group_size: Optional[int] = None, division: str = "exact") -> KernelResult:
    """float32 CONV_2D; params.act_min/act_max are float clamp bounds."""
    return _conv_like_float(False, x, w, bias, params, thresholds, group_size, division)


def depthwise_conv_2d_float(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray], params: ConvParams,
                            thresholds=None, group_size: Optional[int] = None,
                            division: str = "exact") -> KernelResult:
    """float32 DEPTHWISE_CONV_2D."""
    return _conv_like_float(True, x, w, bias, params, thresholds, group_size, division)


def fully_connected_float(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray],
                          act_min: float = -np.inf, act_max: float = np.inf, thresholds=None,
                          group_size: Optional[int] = None, division: str = "exact") -> KernelResult:
    """float32 FULLY_CONNECTED; UnIT divides by the input."""
    x = _require(x, np.float32, 2, "input")
    w = _require(w, np.float32, 2, "filter")
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"filter depth {w.shape[1]} != input depth {x.shape[1]}")
    channels = w.shape[0]
    bias_arr = None if bias is None else _per_channel(bias, np.float32, channels, "bias")
    t, group, div = _skip_args(thresholds, group_size, channels, division, float_model=True)
    out = np.empty((x.shape[0], channels), dtype=np.float32)
    per_channel = np.zeros(channels, dtype=np.uint64)
    total, executed = _core.fully_connected_float(
        x, x.shape[0], x.shape[1], channels, w, bias_arr, (float(act_min), float(act_max)), out, t, group,
        div, per_channel)
    return KernelResult(out, int(total), int(executed), per_channel)
