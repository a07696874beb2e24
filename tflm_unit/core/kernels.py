"""Typed NumPy API over the C UnIT kernels (``custom_ops/core`` via ``tflm_unit._core``).

Every function validates shapes, dtypes and parameters here, with the same
rules as the C core (custom_ops/core/unit_core.h), so a bad call raises
:class:`tflm_unit.errors.KernelArgumentError` naming the argument before any
C code runs; a status the core still returns becomes the same error.  Each
function allocates the output and returns a :class:`KernelResult` with the
MAC counters, so callers (the host runtime, calibration, tests) never touch
raw buffers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple, Union

import numpy as np

from tflm_unit import _core
from tflm_unit.errors import KernelArgumentError

#: The largest finite float32 (scales travel to C as float).
_FLOAT32_MAX = float(np.finfo(np.float32).max)

#: The C core's index limit (int32 sizes, counts and geometry).
INT32_MAX = 2**31 - 1

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
    """The C enum value of a division mode name (KernelArgumentError if unknown)."""
    modes = FLOAT_DIVISION_MODES if float_model else DIVISION_MODES
    if mode not in modes:
        raise KernelArgumentError(f"unknown division mode {mode!r}; expected one of {modes}")
    return modes.index(mode)


def _int_in(value, name: str, lo: int, hi: int) -> int:
    """value as a Python int in [lo, hi] (bools and non-integral values refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
            value = int(value)
        else:
            raise KernelArgumentError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if not lo <= v <= hi:
        raise KernelArgumentError(f"{name} must lie in [{lo}, {hi}], got {v}")
    return v


def compute_out_size(padding: str, in_size: int, filter_size: int, stride: int, dilation: int) -> int:
    """Output size of one spatial dimension, as TFLite computes it (exact
    integer arithmetic: 0 when the effective filter does not fit)."""
    if padding not in PADDINGS:
        raise KernelArgumentError(f"padding must be one of {PADDINGS}, got {padding!r}")
    args = [_int_in(v, n, 1, INT32_MAX) for v, n in ((in_size, "in_size"), (filter_size, "filter_size"),
                                                     (stride, "stride"), (dilation, "dilation"))]
    return int(_core.compute_out_size(PADDINGS.index(padding), *args))


def compute_padding(stride: int, dilation: int, in_size: int, filter_size: int, out_size: int) -> int:
    """Top/left padding of one spatial dimension, as TFLite computes it."""
    args = [_int_in(v, n, 1, INT32_MAX) for v, n in ((stride, "stride"), (dilation, "dilation"),
                                                     (in_size, "in_size"), (filter_size, "filter_size"),
                                                     (out_size, "out_size"))]
    return int(_core.compute_padding(*args))


def quantize_multiplier(real_multiplier: float) -> Tuple[int, int]:
    """A real requantisation scale → (Q31 multiplier, power-of-two shift)."""
    real = float(real_multiplier)
    if not np.isfinite(real) or real < 0.0:
        raise KernelArgumentError(f"real multiplier must be finite and >= 0, got {real_multiplier!r}")
    return tuple(_core.quantize_multiplier(real))  # type: ignore[return-value]


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier on one int32."""
    return int(_core.multiply_by_quantized_multiplier(_int_in(x, "x", -2**31, INT32_MAX),
                                                      _int_in(multiplier, "multiplier", 0, INT32_MAX),
                                                      _int_in(shift, "shift", -31, 30)))


def activation_range_int8(fused_activation: int, scale: float, zero_point: int) -> Tuple[int, int]:
    """Clamp range of a fused activation (tflite::ActivationFunctionType) for int8."""
    if fused_activation not in (0, 1, 2, 3):
        raise KernelArgumentError(
            f"unsupported fused activation {fused_activation} (NONE, RELU, RELU_N1_TO_1, RELU6 are)")
    s = float(scale)
    if not np.isfinite(s) or s > _FLOAT32_MAX or not np.float32(s) > 0.0:
        raise KernelArgumentError(f"scale must be a positive finite float32, got {scale!r}")
    zp = _int_in(zero_point, "zero_point", -128, 127)
    return tuple(_core.activation_range_int8(int(fused_activation), s, zp))  # type: ignore


_SCRATCH_KINDS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 2,
                  "FULLY_CONNECTED_SORTED": 3, "TRANSPOSE_CONV": 4}


def scratch_bytes(op: str, filter_shape, output_shape, skipping: bool, group_size: int = 1,
                  minimum: bool = False) -> int:
    """Scratch a kernel call needs (the C core's unit_*_scratch_bytes): conv
    and depthwise need int32 accumulators for a whole image's positions
    (``minimum``: for one output row — they then work in row blocks, any size
    in between works) plus, when skipping, the quotients of one channel;
    fully connected needs scratch only when skipping, its sorted layout
    always (``FULLY_CONNECTED_SORTED``), a transposed conv int32 accumulators
    for one output image.  ``op`` is the builtin name; for fully
    connected ``output_shape`` ends in the output depth."""
    if op not in _SCRATCH_KINDS:
        raise KernelArgumentError(f"no scratch rule for {op!r}; expected one of {tuple(_SCRATCH_KINDS)}")
    f = tuple(_int_in(d, "filter_shape entry", 1, INT32_MAX) for d in filter_shape)
    o = tuple(_int_in(d, "output_shape entry", 1, INT32_MAX) for d in output_shape)
    if len(f) > 4 or len(o) > 4:
        raise KernelArgumentError(f"shapes have at most 4 dims, got {f} and {o}")
    f4 = (1,) * (4 - len(f)) + f if len(f) < 4 else f
    o4 = (1,) * (4 - len(o)) + o if len(o) < 4 else o
    group = _int_in(group_size, "group_size", 1, INT32_MAX)
    return int(_core.scratch_bytes(_SCRATCH_KINDS[op], f4, o4, bool(skipping), group, bool(minimum)))


def divide(t_q, d, mode: str = "exact") -> np.ndarray:
    """Elementwise UnIT integer division T_q / d (t_q in [0, 32767], d in [1, 255])."""
    t_arr, d_arr = np.broadcast_arrays(np.asarray(t_q), np.asarray(d))
    if t_arr.dtype.kind not in "iu" or d_arr.dtype.kind not in "iu":
        raise KernelArgumentError("divide takes integer t_q and d")
    if t_arr.size and (t_arr.min() < 0 or t_arr.max() > 32767):
        raise KernelArgumentError("t_q must lie in [0, 32767]")
    if d_arr.size and (d_arr.min() < 1 or d_arr.max() > 255):
        raise KernelArgumentError("d must lie in [1, 255]")
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
        raise KernelArgumentError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.dtype != dtype:
        raise KernelArgumentError(f"{name} must be {np.dtype(dtype).name}, got {array.dtype}")
    if array.ndim != ndim:
        raise KernelArgumentError(f"{name} must have {ndim} dimensions, got shape {array.shape}")
    if array.size == 0:
        raise KernelArgumentError(f"{name} must not be empty, got shape {array.shape}")
    _check_count(array.shape, name)
    return np.ascontiguousarray(array)


def _per_channel(array, dtype, channels: int, name: str, lo: Optional[int] = None,
                 hi: Optional[int] = None) -> np.ndarray:
    """One value per output channel (a scalar is repeated) as a contiguous
    `dtype` array.  Integer targets take integers, or floats with integral
    values, inside [lo, hi] (default: the dtype's range): a cast would wrap
    1e12 or truncate 0.5 silently."""
    arr = np.asarray(array)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise KernelArgumentError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.reshape(-1)
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        lo = int(info.min) if lo is None else lo
        hi = int(info.max) if hi is None else hi
        if arr.dtype.kind == "f":
            if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
                raise KernelArgumentError(f"{name} must hold integers, got non-integral or non-finite values")
        if arr.size and (arr.min() < lo or arr.max() > hi):
            raise KernelArgumentError(f"{name} values must lie in [{lo}, {hi}], got [{arr.min()}, {arr.max()}]")
    if arr.size != 1 and arr.size != channels:
        raise KernelArgumentError(
            f"{name} has {arr.size} entries, expected {channels} (one per output channel)")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if arr.size == 1 and channels > 1:
        arr = np.repeat(arr, channels)
    return arr


def _requant_args(multiplier, shift, channels: int) -> Tuple[np.ndarray, np.ndarray]:
    """Per-channel requantisation as TFLM's MultiplyByQuantizedMultiplier
    accepts it: multiplier in [0, 2^31 - 1], shift in [-31, 30]."""
    return (_per_channel(multiplier, np.int32, channels, "multiplier", 0, INT32_MAX),
            _per_channel(shift, np.int32, channels, "shift", -31, 30))


def _check_int8_params(input_offset, output_offset, act_min, act_max) -> Tuple[int, int, int, int]:
    """Offsets and clamp of an int8 kernel: input_offset = -zero point in
    [-127, 128], output_offset = zero point in [-128, 127],
    -128 <= act_min <= act_max <= 127."""
    i_off = _int_in(input_offset, "input_offset", -127, 128)
    o_off = _int_in(output_offset, "output_offset", -128, 127)
    lo = _int_in(act_min, "act_min", -128, 127)
    hi = _int_in(act_max, "act_max", -128, 127)
    if lo > hi:
        raise KernelArgumentError(f"act_min {lo} > act_max {hi}")
    return i_off, o_off, lo, hi


def _check_float_clamp(act_min, act_max) -> Tuple[float, float]:
    """A float clamp: act_min <= act_max, neither NaN (infinities allowed)."""
    lo, hi = float(act_min), float(act_max)
    if not lo <= hi:
        raise KernelArgumentError(f"act_min {act_min!r} must be <= act_max {act_max!r} (and not NaN)")
    return lo, hi


def _check_count(shape, name: str) -> None:
    """The C core indexes with int32: every tensor has < 2^31 elements."""
    if int(np.prod([int(d) for d in shape], dtype=object)) > INT32_MAX:
        raise KernelArgumentError(f"{name} of shape {tuple(shape)} has more than 2^31 - 1 elements")


def _skip_args(thresholds, group_size: Optional[int], channels: int, division: str, float_model: bool):
    """(thresholds buffer or None, group_size, division index) for the C call."""
    div = division_index(division, float_model)
    if thresholds is None:
        return None, 0, div
    t = np.asarray(thresholds)
    dtype = np.float32 if float_model else np.int16
    if not float_model and t.dtype.kind not in "iu":
        raise KernelArgumentError(f"int8 kernels take integer thresholds (int16 T_q), got {t.dtype}")
    if not float_model and t.size and (t.min() < -32768 or t.max() > 32767):
        raise KernelArgumentError("int8 kernels take int16 thresholds; saturate T_q to [0, 32767] first")
    t = np.ascontiguousarray(t, dtype=dtype).reshape(-1)
    group = channels if group_size is None else int(group_size)
    if group <= 0 or channels % group != 0:
        raise KernelArgumentError(f"group_size {group} does not divide the {channels} output channels")
    if t.size != channels // group:
        raise KernelArgumentError(f"{t.size} thresholds given, expected {channels // group} "
                         f"(= {channels} channels / group size {group})")
    return t, group, div


def _check_spatial(axis: str, in_size: int, k: int, stride: int, dilation: int, pad: int, out: int) -> None:
    """The C core's rule for one spatial dim (unit_check_spatial): pad below
    the effective filter size, every output window starting before the
    input's end, every index within int32."""
    effective = (k - 1) * dilation + 1
    span = (out - 1) * stride
    if pad >= effective or span - pad >= in_size or span + effective - in_size > 2 * pad + 1:
        raise KernelArgumentError(
            f"{axis}: output {out} with stride {stride}, dilation {dilation}, pad {pad} and a "
            f"{k}-tap filter does not fit input {in_size}")
    if span + effective > INT32_MAX or in_size + pad + (stride if out > 1 else 1) > INT32_MAX:
        raise KernelArgumentError(f"{axis}: geometry (stride {stride}, dilation {dilation}) exceeds int32")


def conv_geometry(x_shape, kh: int, kw: int, params: ConvParams) -> Tuple[int, int, int, int]:
    """(out_h, out_w, pad_h, pad_w) for a conv on an NHWC input, in exact
    integer arithmetic, checked as the C core checks it."""
    if params.padding not in PADDINGS:
        raise KernelArgumentError(f"padding must be one of {PADDINGS}, got {params.padding!r}")
    sh = _int_in(params.stride_h, "stride_h", 1, INT32_MAX)
    sw = _int_in(params.stride_w, "stride_w", 1, INT32_MAX)
    dh = _int_in(params.dilation_h, "dilation_h", 1, INT32_MAX)
    dw = _int_in(params.dilation_w, "dilation_w", 1, INT32_MAX)
    _, h, w, _ = (int(d) for d in x_shape)
    out_h = compute_out_size(params.padding, h, kh, sh, dh)
    out_w = compute_out_size(params.padding, w, kw, sw, dw)
    if out_h <= 0 or out_w <= 0:
        raise KernelArgumentError(
            f"filter {kh}x{kw} with dilation {dh}x{dw} does not fit input {h}x{w} with {params.padding} padding")
    pad_h = compute_padding(sh, dh, h, kh, out_h) if params.padding == "SAME" else 0
    pad_w = compute_padding(sw, dw, w, kw, out_w) if params.padding == "SAME" else 0
    _check_spatial("height", h, kh, sh, dh, pad_h, out_h)
    _check_spatial("width", w, kw, sw, dw, pad_w, out_w)
    return out_h, out_w, pad_h, pad_w


def _conv_output_channels(depthwise: bool, x: np.ndarray, w: np.ndarray, params: ConvParams) -> int:
    """Output channels of a conv ([Co, kh, kw, Ci] filter) or depthwise
    ([1, kh, kw, Ci * M]) call, after checking the filter against the input."""
    if depthwise:
        _int_in(params.depth_multiplier, "depth_multiplier", 1, INT32_MAX)
        if w.shape[0] != 1 or w.shape[3] != x.shape[3] * int(params.depth_multiplier):
            raise KernelArgumentError(f"depthwise filter shape {w.shape} does not match input channels "
                             f"{x.shape[3]} x depth multiplier {params.depth_multiplier}")
        return w.shape[3]
    if w.shape[3] != x.shape[3]:
        raise KernelArgumentError(f"filter input channels {w.shape[3]} != input channels {x.shape[3]}")
    return w.shape[0]


# ------------------------------------------------------------------- int8


def _conv_like_int8(depthwise: bool, x, w, bias, multiplier, shift, params: ConvParams,
                    thresholds, group_size, division, bucketed: bool = False) -> KernelResult:
    x = _require(x, np.int8, 4, "input")
    w = _require(w, np.int8, 4, "filter")
    channels = _conv_output_channels(depthwise, x, w, params)
    kh, kw = w.shape[1], w.shape[2]
    out_h, out_w, pad_h, pad_w = conv_geometry(x.shape, kh, kw, params)
    i_off, o_off, lo, hi = _check_int8_params(params.input_offset, params.output_offset,
                                              params.act_min, params.act_max)
    bias_arr = None if bias is None else _per_channel(bias, np.int32, channels, "bias")
    mult, shft = _requant_args(multiplier, shift, channels)
    t, group, div = _skip_args(thresholds, group_size, channels, division, float_model=False)
    out_shape = (x.shape[0], out_h, out_w, channels)
    _check_count(out_shape, "output")
    out = np.empty(out_shape, dtype=np.int8)
    per_channel = np.zeros(channels, dtype=np.uint64)
    packed = (int(params.stride_h), int(params.stride_w), int(params.dilation_h), int(params.dilation_w),
              pad_h, pad_w, int(params.depth_multiplier), i_off, o_off, lo, hi)
    fn = (_core.depthwise_conv_2d_int8 if depthwise else
          _core.conv_2d_bucketed_int8 if bucketed else _core.conv_2d_int8)
    total, executed = fn(x, x.shape, w, w.shape, bias_arr, mult, shft, packed, out, out.shape,
                         t, group, div, per_channel)
    return KernelResult(out, int(total), int(executed), per_channel)


def conv_2d_int8(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray], multiplier, shift,
                 params: ConvParams, thresholds=None, group_size: Optional[int] = None,
                 division: str = "exact", layout: str = "compare") -> KernelResult:
    """int8 CONV_2D. x [N,H,W,Ci], w [Co,kh,kw,Ci], bias int32 [Co] or None,
    multiplier/shift per output channel (or scalars). thresholds: int16 T_q per
    group (None = the dense builtin kernel); group_size None = one group.
    ``layout`` "bucketed": the C core's bucketed-input kernel
    (unit_conv_bucketed.c; the same outputs and counts, DESIGN.md §9)."""
    if layout not in CONV_LAYOUTS:
        raise KernelArgumentError(f"conv layout must be one of {CONV_LAYOUTS}, got {layout!r}")
    return _conv_like_int8(False, x, w, bias, multiplier, shift, params, thresholds, group_size, division,
                           bucketed=layout == "bucketed")


#: CONV_2D kernels: compare-per-MAC (unit_conv.c) and bucketed inputs (unit_conv_bucketed.c).
CONV_LAYOUTS = ("compare", "bucketed")


def conv_bucketed_scratch_bytes(input_shape, filter_shape, output_shape, params: ConvParams,
                                skipping: bool, group_size: int = 1, minimum: bool = False) -> int:
    """Scratch of a bucketed CONV_2D call (unit_conv_bucketed_*scratch_bytes):
    whole image, or ``minimum`` one output row; 0 when the kernel cannot take
    the geometry (input rows too wide for its byte column indices)."""
    shapes = [tuple(_int_in(d, "shape entry", 1, INT32_MAX) for d in s)
              for s in (input_shape, filter_shape, output_shape)]
    if any(len(s) != 4 for s in shapes):
        raise KernelArgumentError(f"conv shapes are 4-D, got {shapes}")
    kh, kw = shapes[1][1], shapes[1][2]
    _, _, pad_h, pad_w = conv_geometry(shapes[0], kh, kw, params)
    packed = (int(params.stride_h), int(params.stride_w), int(params.dilation_h), int(params.dilation_w),
              int(pad_h), int(pad_w))
    group = _int_in(group_size, "group_size", 1, INT32_MAX)
    return int(_core.conv_bucketed_scratch_bytes(*shapes, packed, bool(skipping), group, bool(minimum)))


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
        raise KernelArgumentError(f"filter depth {w.shape[1]} != input depth {x.shape[1]}")
    channels = w.shape[0]
    i_off, o_off, lo, hi = _check_int8_params(input_offset, output_offset, act_min, act_max)
    for arr, name in ((x, "input"), (w, "filter"), ((x.shape[0], channels), "output")):
        _check_count(arr.shape if isinstance(arr, np.ndarray) else arr, name)
    bias_arr = None if bias is None else _per_channel(bias, np.int32, channels, "bias")
    mult, shft = _requant_args(multiplier, shift, channels)
    t, group, div = _skip_args(thresholds, group_size, channels, division, float_model=False)
    out = np.empty((x.shape[0], channels), dtype=np.int8)
    per_channel = np.zeros(channels, dtype=np.uint64)
    total, executed = _core.fully_connected_int8(
        x, x.shape[0], x.shape[1], channels, w, bias_arr, mult, shft,
        (i_off, o_off, lo, hi), out, t, group, div, per_channel)
    return KernelResult(out, int(total), int(executed), per_channel)


@dataclass(frozen=True)
class FcSortedLayout:
    """The sorted FULLY_CONNECTED layout (unit_fc_sorted_t, DESIGN.md §9): per
    input and threshold group, the group's weights in descending |w| with their
    output index, then zeros (the last one a sentinel).  ``weights`` int8 and
    ``index`` uint8 (<= 256 outputs) or uint16, each
    ``input_depth * (output_depth + groups)`` long."""

    weights: np.ndarray
    index: np.ndarray
    group_size: int
    input_depth: int
    output_depth: int

    @property
    def nbytes(self) -> int:
        """Constant bytes the layout stores (weights + indices)."""
        return int(self.weights.nbytes + self.index.nbytes)


def fc_sorted_entries(input_depth: int, output_depth: int, group_size: int) -> int:
    """Entries per array of a sorted layout (unit_fc_sorted_entries)."""
    d = _int_in(input_depth, "input_depth", 1, INT32_MAX)
    o = _int_in(output_depth, "output_depth", 1, INT32_MAX)
    g = _int_in(group_size, "group_size", 1, INT32_MAX)
    if o % g:
        raise KernelArgumentError(f"group_size {g} does not divide the {o} output channels")
    entries = d * (o + o // g)
    if entries > INT32_MAX:
        raise KernelArgumentError(f"sorted layout of {d} x {o} exceeds int32 entries")
    return entries


def fc_sorted_layout(w: np.ndarray, group_size: Optional[int] = None) -> FcSortedLayout:
    """The sorted layout of an int8 filter [O, D] for thresholds in groups of
    ``group_size`` output channels (default: one group), built by the C core."""
    w = _require(w, np.int8, 2, "filter")
    out_depth, in_depth = (int(v) for v in w.shape)
    group = out_depth if group_size is None else int(group_size)
    entries = fc_sorted_entries(in_depth, out_depth, group)
    if out_depth > 65536:
        raise KernelArgumentError(f"sorted layout: {out_depth} outputs exceed uint16 indices")
    weights = np.empty(entries, dtype=np.int8)
    index = np.empty(entries, dtype=np.uint8 if out_depth <= 256 else np.uint16)
    _core.fc_sorted_build(w, in_depth, out_depth, group, weights, index)
    return FcSortedLayout(weights, index, group, in_depth, out_depth)


def check_fc_sorted_layout(w: np.ndarray, layout: FcSortedLayout) -> None:
    """Raise KernelArgumentError unless ``layout`` is the sorted layout of
    the int8 filter ``w`` [O, D] (unit_fc_sorted_check_filter: indices inside
    their groups, descending |w|, each of the filter's non-zero weights once
    at its output index), as a layout read from a file must be."""
    w = _require(w, np.int8, 2, "filter")
    if not isinstance(layout, FcSortedLayout):
        raise KernelArgumentError("layout must be an FcSortedLayout")
    if (layout.output_depth, layout.input_depth) != tuple(int(v) for v in w.shape):
        raise KernelArgumentError(f"layout of {layout.output_depth} x {layout.input_depth} for a filter {w.shape}")
    _core.fc_sorted_check_filter(w, layout.input_depth, layout.output_depth, layout.group_size,
                                 np.ascontiguousarray(layout.weights, dtype=np.int8),
                                 np.ascontiguousarray(layout.index))


def fully_connected_sorted_int8(x: np.ndarray, layout: FcSortedLayout, bias: Optional[np.ndarray],
                                multiplier, shift, input_offset: int, output_offset: int,
                                act_min: int = -128, act_max: int = 127, thresholds=None,
                                group_size: Optional[int] = None, division: str = "exact") -> KernelResult:
    """int8 FULLY_CONNECTED on a sorted layout: the output and executed MACs of
    :func:`fully_connected_int8` with the same thresholds, bit for bit (without
    thresholds it runs at T = 0, so zero products are not counted)."""
    x = _require(x, np.int8, 2, "input")
    if not isinstance(layout, FcSortedLayout):
        raise KernelArgumentError("layout must be an FcSortedLayout (fc_sorted_layout)")
    channels = layout.output_depth
    if x.shape[1] != layout.input_depth:
        raise KernelArgumentError(f"layout input depth {layout.input_depth} != input depth {x.shape[1]}")
    i_off, o_off, lo, hi = _check_int8_params(input_offset, output_offset, act_min, act_max)
    _check_count((x.shape[0], channels), "output")
    bias_arr = None if bias is None else _per_channel(bias, np.int32, channels, "bias")
    mult, shft = _requant_args(multiplier, shift, channels)
    t, group, div = _skip_args(thresholds, layout.group_size if group_size is None else group_size,
                               channels, division, float_model=False)
    if t is not None and group != layout.group_size:
        raise KernelArgumentError(f"thresholds in groups of {group} on a layout sorted in groups of "
                                  f"{layout.group_size}")
    out = np.empty((x.shape[0], channels), dtype=np.int8)
    per_channel = np.zeros(channels, dtype=np.uint64)
    total, executed = _core.fully_connected_sorted_int8(
        x, x.shape[0], x.shape[1], channels, np.ascontiguousarray(layout.weights, dtype=np.int8),
        np.ascontiguousarray(layout.index), layout.group_size, bias_arr, mult, shft,
        (i_off, o_off, lo, hi), out, t, group, div, per_channel)
    return KernelResult(out, int(total), int(executed), per_channel)


# ------------------------------------------------------------------ float32


def _conv_like_float(depthwise: bool, x, w, bias, params: ConvParams, thresholds, group_size,
                     division) -> KernelResult:
    x = _require(x, np.float32, 4, "input")
    w = _require(w, np.float32, 4, "filter")
    channels = _conv_output_channels(depthwise, x, w, params)
    out_h, out_w, pad_h, pad_w = conv_geometry(x.shape, w.shape[1], w.shape[2], params)
    lo, hi = _check_float_clamp(params.act_min, params.act_max)
    bias_arr = None if bias is None else _per_channel(bias, np.float32, channels, "bias")
    t, group, div = _skip_args(thresholds, group_size, channels, division, float_model=True)
    out_shape = (x.shape[0], out_h, out_w, channels)
    _check_count(out_shape, "output")
    out = np.empty(out_shape, dtype=np.float32)
    per_channel = np.zeros(channels, dtype=np.uint64)
    packed = (int(params.stride_h), int(params.stride_w), int(params.dilation_h), int(params.dilation_w),
              pad_h, pad_w, int(params.depth_multiplier), lo, hi)
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
        raise KernelArgumentError(f"filter depth {w.shape[1]} != input depth {x.shape[1]}")
    channels = w.shape[0]
    lo, hi = _check_float_clamp(act_min, act_max)
    for shape, name in ((x.shape, "input"), (w.shape, "filter"), ((x.shape[0], channels), "output")):
        _check_count(shape, name)
    bias_arr = None if bias is None else _per_channel(bias, np.float32, channels, "bias")
    t, group, div = _skip_args(thresholds, group_size, channels, division, float_model=True)
    out = np.empty((x.shape[0], channels), dtype=np.float32)
    per_channel = np.zeros(channels, dtype=np.uint64)
    total, executed = _core.fully_connected_float(
        x, x.shape[0], x.shape[1], channels, w, bias_arr, (lo, hi), out, t, group,
        div, per_channel)
    return KernelResult(out, int(total), int(executed), per_channel)
