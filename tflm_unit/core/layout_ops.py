"""Typed NumPy API over the C core's layout / geometry ops and TRANSPOSE_CONV
(``custom_ops/core/unit_layout.h``).

Each function reproduces TFLM's reference kernel bit for bit (int8 and
float32; the data-movement ops also take any 1-, 2- or 4-byte dtype, as
TFLM's do).  They validate shapes and options here, call the one C
implementation — the code the MSP430 graph runner also runs — and return new
arrays.  Bad arguments raise :class:`tflm_unit.errors.KernelArgumentError`
naming the argument.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from tflm_unit import _core
from tflm_unit.core.kernels import PADDINGS, KernelResult
from tflm_unit.errors import KernelArgumentError

#: Ranks the kernels accept (TFLM: STRIDED_SLICE and TRANSPOSE up to 5-D).
MAX_SLICE_DIMS = 5
MAX_TRANSPOSE_DIMS = 5


def _array(x, name: str, dtypes: Sequence[type] = (np.int8, np.float32)) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise KernelArgumentError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in [np.dtype(d) for d in dtypes]:
        names = "/".join(np.dtype(d).name for d in dtypes)
        raise KernelArgumentError(f"{name} must have dtype {names}, got {x.dtype}")
    if x.size == 0:
        raise KernelArgumentError(f"{name} must not be empty (shape {x.shape})")
    return np.ascontiguousarray(x)


def _movable(x, name: str = "x") -> np.ndarray:
    """Any tensor the byte-copying kernels move: 1-, 2- or 4-byte elements."""
    x = _array(x, name, (np.int8, np.uint8, np.int16, np.int32, np.float32, np.bool_))
    return x


def _ints(values, name: str) -> List[int]:
    try:
        return [int(v) for v in np.asarray(values).reshape(-1)]
    except (TypeError, ValueError):
        raise KernelArgumentError(f"{name} must be a sequence of ints, got {values!r}") from None


def _call(fn, what: str, *args):
    try:
        return fn(*args)
    except (ValueError, TypeError) as err:
        raise KernelArgumentError(f"{what}: {err}") from None


# ------------------------------------------------------------ STRIDED_SLICE


def strided_slice_prepare(input_shape: Sequence[int], begin, end, strides, begin_mask: int = 0,
                          end_mask: int = 0, shrink_axis_mask: int = 0):
    """The slice resolved per axis as TFLM's Eval resolves it: (start, stop,
    stride) tuples and the output shape (shrunk axes dropped)."""
    dims = _ints(input_shape, "input_shape")
    b, e, s = _ints(begin, "begin"), _ints(end, "end"), _ints(strides, "strides")
    if not 1 <= len(dims) <= MAX_SLICE_DIMS or not len(b) == len(e) == len(s) == len(dims):
        raise KernelArgumentError(f"strided_slice: begin {b}, end {e} and strides {s} need one entry per "
                                  f"dim of the 1..{MAX_SLICE_DIMS}-D input {tuple(dims)}")
    if any(v == 0 for v in s):
        raise KernelArgumentError(f"strided_slice: strides must be non-zero, got {s}")
    start, stop, stride, _ = _call(_core.strided_slice_prepare, "strided_slice", dims, b, e, s,
                                   int(begin_mask), int(end_mask), int(shrink_axis_mask))
    shape = []
    for axis in range(len(dims)):
        if (int(shrink_axis_mask) >> axis) & 1:
            continue
        lo, hi, st = start[axis], stop[axis], stride[axis]
        shape.append(max(0, (hi - lo + st - 1) // st) if st > 0 else max(0, (lo - hi - st - 1) // -st))
    return (start, stop, stride), tuple(shape)


def strided_slice(x: np.ndarray, begin, end, strides, begin_mask: int = 0, end_mask: int = 0,
                  shrink_axis_mask: int = 0) -> np.ndarray:
    """STRIDED_SLICE (TFLM ignores the ellipsis / new-axis masks; callers
    refuse models that set them)."""
    x = _movable(x)
    (start, stop, stride), shape = strided_slice_prepare(x.shape, begin, end, strides, begin_mask, end_mask,
                                                         shrink_axis_mask)
    out = np.empty(shape, dtype=x.dtype)
    if out.size:
        _call(_core.strided_slice, "strided_slice", x.shape, start, stop, stride, x.dtype.itemsize,
              x.reshape(-1).view(np.uint8), out.reshape(-1).view(np.uint8), int(out.size))
    return out


# ------------------------------------------------------------ SPLIT / SPLIT_V


def split(x: np.ndarray, axis: int, sizes: Sequence[int]) -> List[np.ndarray]:
    """SPLIT / SPLIT_V along ``axis`` into pieces of ``sizes`` (summing to
    the axis length)."""
    x = _movable(x)
    axis = int(axis)
    if not -x.ndim <= axis < x.ndim:
        raise KernelArgumentError(f"split: axis {axis} is out of range for a {x.ndim}-D input")
    axis %= x.ndim
    sizes = _ints(sizes, "sizes")
    if not sizes or any(s <= 0 for s in sizes) or sum(sizes) != x.shape[axis]:
        raise KernelArgumentError(f"split: sizes {sizes} must be positive and sum to {x.shape[axis]}")
    outer = int(np.prod(x.shape[:axis], dtype=np.int64))
    inner = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    outs = [np.empty(x.shape[:axis] + (s,) + x.shape[axis + 1:], dtype=x.dtype) for s in sizes]
    _call(_core.split, "split", outer, x.shape[axis], inner, sizes, x.dtype.itemsize,
          x.reshape(-1).view(np.uint8), [o.reshape(-1).view(np.uint8) for o in outs])
    return outs


# ------------------------------------------------------------ TRANSPOSE


def transpose(x: np.ndarray, perm: Sequence[int]) -> np.ndarray:
    """TRANSPOSE: output dim i is input dim perm[i]."""
    x = _movable(x)
    perm = _ints(perm, "perm")
    if not 1 <= x.ndim <= MAX_TRANSPOSE_DIMS or sorted(perm) != list(range(x.ndim)):
        raise KernelArgumentError(f"transpose: perm {perm} must be a permutation of the dims of the "
                                  f"1..{MAX_TRANSPOSE_DIMS}-D input {x.shape}")
    out = np.empty(tuple(x.shape[p] for p in perm), dtype=x.dtype)
    _call(_core.transpose, "transpose", x.shape, perm, x.dtype.itemsize, x.reshape(-1).view(np.uint8),
          out.reshape(-1).view(np.uint8))
    return out


# ------------------------------------------------------------ RESIZE_*


def _size(size, name: str = "size") -> Tuple[int, int]:
    values = _ints(size, name)
    if len(values) != 2 or min(values) <= 0:
        raise KernelArgumentError(f"{name} must be two positive ints (height, width), got {size!r}")
    return values[0], values[1]


def _options(align_corners: bool, half_pixel_centers: bool, op: str) -> Tuple[int, int]:
    if align_corners and half_pixel_centers:
        raise KernelArgumentError(f"{op}: align_corners and half_pixel_centers cannot both be set (TFLM refuses it)")
    return int(bool(align_corners)), int(bool(half_pixel_centers))


def resize_nearest_index(input_size: int, output_size: int, align_corners: bool = False,
                         half_pixel_centers: bool = False) -> np.ndarray:
    """The input row / column each output row / column copies (int32)."""
    if int(input_size) <= 0 or int(output_size) <= 0:
        raise KernelArgumentError(f"resize: sizes must be positive, got {input_size} -> {output_size}")
    index = np.empty(int(output_size), dtype=np.int32)
    _call(_core.resize_nearest_index, "resize_nearest_neighbor", int(input_size), int(output_size),
          int(bool(align_corners)), int(bool(half_pixel_centers)), index)
    return index


def _nhwc(x, op: str) -> np.ndarray:
    if x.ndim != 4:
        raise KernelArgumentError(f"{op}: the input must be 4-D NHWC, got shape {x.shape}")
    return x


def resize_nearest_neighbor(x: np.ndarray, size, align_corners: bool = False,
                            half_pixel_centers: bool = False) -> np.ndarray:
    """RESIZE_NEAREST_NEIGHBOR of an NHWC tensor to ``size`` = (h, w)."""
    x = _nhwc(_movable(x), "resize_nearest_neighbor")
    out_h, out_w = _size(size)
    yi = resize_nearest_index(x.shape[1], out_h, align_corners, half_pixel_centers)
    xi = resize_nearest_index(x.shape[2], out_w, align_corners, half_pixel_centers)
    out = np.empty((x.shape[0], out_h, out_w, x.shape[3]), dtype=x.dtype)
    _call(_core.resize_nearest, "resize_nearest_neighbor", x.shape, out_h, out_w, yi, xi, x.dtype.itemsize,
          x.reshape(-1).view(np.uint8), out.reshape(-1).view(np.uint8))
    return out


def resize_bilinear_prepare(input_hw: Sequence[int], size, align_corners: bool = False,
                            half_pixel_centers: bool = False) -> Tuple[int, int, int]:
    """The int8 kernel's (height_scale_10, width_scale_10, half_pixel_centers)."""
    in_h, in_w = _size(input_hw, "input_hw")
    out_h, out_w = _size(size)
    align, half = _options(align_corners, half_pixel_centers, "resize_bilinear")
    return tuple(_call(_core.resize_bilinear_prepare_int8, "resize_bilinear", in_h, in_w, out_h, out_w,
                       align, half))  # type: ignore[return-value]


def resize_bilinear(x: np.ndarray, size, align_corners: bool = False, half_pixel_centers: bool = False) -> np.ndarray:
    """RESIZE_BILINEAR (int8: TFLM's integer kernel; float32: its float one)."""
    x = _nhwc(_array(x, "x"), "resize_bilinear")
    out_h, out_w = _size(size)
    align, half = _options(align_corners, half_pixel_centers, "resize_bilinear")
    out = np.empty((x.shape[0], out_h, out_w, x.shape[3]), dtype=x.dtype)
    if x.dtype == np.int8:
        params = resize_bilinear_prepare(x.shape[1:3], (out_h, out_w), align_corners, half_pixel_centers)
        _call(_core.resize_bilinear_int8, "resize_bilinear", params, x.shape, x.reshape(-1), out.shape,
              out.reshape(-1))
    else:
        _call(_core.resize_bilinear_float, "resize_bilinear", align, half, x.shape, x.reshape(-1), out.shape,
              out.reshape(-1))
    return out


# ------------------------------------------------------------ SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND


def _as_nhwc(x: np.ndarray, block, pads, op: str):
    """4-D NHWC as is; 3-D NHC as NH1C with block_w 1 (TFLM's extension)."""
    block = _ints(block, "block_shape")
    pads = _ints(pads, "paddings")
    if x.ndim == 4:
        if len(block) != 2 or len(pads) != 4:
            raise KernelArgumentError(f"{op}: a 4-D input needs block_shape [2] and paddings [2, 2], "
                                      f"got {block} and {pads}")
        return x, (block[0], block[1]), (pads[0], pads[1], pads[2], pads[3])
    if x.ndim == 3:
        if len(block) != 1 or len(pads) != 2:
            raise KernelArgumentError(f"{op}: a 3-D input needs block_shape [1] and paddings [1, 2], "
                                      f"got {block} and {pads}")
        return x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]), (block[0], 1), (pads[0], pads[1], 0, 0)
    raise KernelArgumentError(f"{op}: the input must be 3-D or 4-D, got shape {x.shape}")


def space_to_batch_nd(x: np.ndarray, block_shape, paddings, pad_value: int = 0) -> np.ndarray:
    """SPACE_TO_BATCH_ND; padded positions get the byte ``pad_value`` in every
    byte (TFLM memsets them: 0 -> 0.0 for float32)."""
    x = _movable(x)
    ndim = x.ndim
    x4, (bh, bw), (top, bottom, left, right) = _as_nhwc(x, block_shape, paddings, "space_to_batch_nd")
    if bh <= 0 or bw <= 0 or min(top, bottom, left, right) < 0:
        raise KernelArgumentError(f"space_to_batch_nd: block {block_shape} must be positive and paddings "
                                  f"{paddings} non-negative")
    h, w = x4.shape[1] + top + bottom, x4.shape[2] + left + right
    if h % bh or w % bw:
        raise KernelArgumentError(f"space_to_batch_nd: padded size {h}x{w} is not a multiple of the block {bh}x{bw}")
    out = np.empty((x4.shape[0] * bh * bw, h // bh, w // bw, x4.shape[3]), dtype=x.dtype)
    _call(_core.space_to_batch_nd, "space_to_batch_nd", x4.shape, bh, bw, top, left, out.shape,
          int(pad_value) & 0xFF, x.dtype.itemsize, x4.reshape(-1).view(np.uint8), out.reshape(-1).view(np.uint8))
    return out if ndim == 4 else out.reshape(out.shape[0], out.shape[1], out.shape[3])


def batch_to_space_nd(x: np.ndarray, block_shape, crops) -> np.ndarray:
    """BATCH_TO_SPACE_ND (the inverse of :func:`space_to_batch_nd`)."""
    x = _movable(x)
    ndim = x.ndim
    x4, (bh, bw), (top, bottom, left, right) = _as_nhwc(x, block_shape, crops, "batch_to_space_nd")
    if bh <= 0 or bw <= 0 or min(top, bottom, left, right) < 0:
        raise KernelArgumentError(f"batch_to_space_nd: block {block_shape} must be positive and crops "
                                  f"{crops} non-negative")
    if x4.shape[0] % (bh * bw):
        raise KernelArgumentError(f"batch_to_space_nd: batch {x4.shape[0]} is not a multiple of the block {bh}x{bw}")
    h, w = x4.shape[1] * bh - top - bottom, x4.shape[2] * bw - left - right
    if h <= 0 or w <= 0:
        raise KernelArgumentError(f"batch_to_space_nd: crops {crops} remove the whole output")
    out = np.zeros((x4.shape[0] // (bh * bw), h, w, x4.shape[3]), dtype=x.dtype)
    _call(_core.batch_to_space_nd, "batch_to_space_nd", x4.shape, bh, bw, top, left, out.shape, 0,
          x.dtype.itemsize, x4.reshape(-1).view(np.uint8), out.reshape(-1).view(np.uint8))
    return out if ndim == 4 else out.reshape(out.shape[0], out.shape[1], out.shape[3])


# ------------------------------------------------------------ TRANSPOSE_CONV


def transpose_conv_padding(padding: str, stride: int, output_size: int, filter_size: int) -> int:
    """TFLM's top / left padding of a transposed conv (from the OUTPUT size)."""
    if padding not in PADDINGS:
        raise KernelArgumentError(f"transpose_conv: padding must be one of {PADDINGS}, got {padding!r}")
    return int(_call(_core.transpose_conv_padding, "transpose_conv", PADDINGS.index(padding), int(stride),
                     int(output_size), int(filter_size)))


def _transpose_conv_args(x, w, output_hw, strides, padding, float_model: bool):
    dtype = np.float32 if float_model else np.int8
    x = _array(x, "input", (dtype,))
    w = _array(w, "filter", (dtype,))
    if x.ndim != 4 or w.ndim != 4:
        raise KernelArgumentError(f"transpose_conv: input {x.shape} and filter {w.shape} must be 4-D")
    if w.shape[3] != x.shape[3]:
        raise KernelArgumentError(f"transpose_conv: filter input channels {w.shape[3]} != input channels {x.shape[3]}")
    out_h, out_w = _size(output_hw, "output_hw")
    sh, sw = _size(strides, "strides")
    pad_h = transpose_conv_padding(padding, sh, out_h, w.shape[1])
    pad_w = transpose_conv_padding(padding, sw, out_w, w.shape[2])
    return x, w, (x.shape[0], out_h, out_w, w.shape[0]), (sh, sw, pad_h, pad_w)


def _per_channel(values, dtype, channels: int, name: str) -> np.ndarray:
    arr = np.ascontiguousarray(np.broadcast_to(np.asarray(values, dtype=dtype), (channels,)))
    return arr


def transpose_conv_int8(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray], multiplier, shift,
                        output_hw, strides, padding: str, input_offset: int, output_offset: int,
                        act_min: int = -128, act_max: int = 127) -> KernelResult:
    """int8 TRANSPOSE_CONV. x [N,H,W,Ci], w [Co,kh,kw,Ci], bias int32 [Co] or
    None, per-channel multiplier / shift; output [N, *output_hw, Co]."""
    x, w, out_shape, geometry = _transpose_conv_args(x, w, output_hw, strides, padding, False)
    channels = out_shape[3]
    try:
        bias_arr = None if bias is None else _per_channel(bias, np.int32, channels, "bias")
        mult = _per_channel(multiplier, np.int32, channels, "multiplier")
        shft = _per_channel(shift, np.int32, channels, "shift")
    except ValueError as err:
        raise KernelArgumentError(f"transpose_conv: {err}") from None
    if bias_arr is not None and bias_arr.size != channels:
        raise KernelArgumentError(f"transpose_conv: bias has {bias_arr.size} values for {channels} channels")
    out = np.empty(out_shape, dtype=np.int8)
    per_channel = np.zeros(channels, dtype=np.uint64)
    params = geometry + (int(input_offset), int(output_offset), int(act_min), int(act_max))
    total, executed = _call(_core.transpose_conv_int8, "transpose_conv", params, x.reshape(-1), x.shape,
                            w.reshape(-1), w.shape, bias_arr, mult, shft, out.reshape(-1), out.shape, per_channel)
    return KernelResult(out, int(total), int(executed), per_channel)


def transpose_conv_float(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray], output_hw, strides,
                         padding: str, act_min: float = -np.inf, act_max: float = np.inf) -> KernelResult:
    """float32 TRANSPOSE_CONV (TFLM's accumulation order)."""
    x, w, out_shape, geometry = _transpose_conv_args(x, w, output_hw, strides, padding, True)
    channels = out_shape[3]
    bias_arr = None if bias is None else np.ascontiguousarray(bias, dtype=np.float32).reshape(-1)
    if bias_arr is not None and bias_arr.size != channels:
        raise KernelArgumentError(f"transpose_conv: bias has {bias_arr.size} values for {channels} channels")
    out = np.empty(out_shape, dtype=np.float32)
    per_channel = np.zeros(channels, dtype=np.uint64)
    params = geometry + (float(act_min), float(act_max))
    total, executed = _call(_core.transpose_conv_float, "transpose_conv", params, x.reshape(-1), x.shape,
                            w.reshape(-1), w.shape, bias_arr, out.reshape(-1), out.shape, per_channel)
    return KernelResult(out, int(total), int(executed), per_channel)
