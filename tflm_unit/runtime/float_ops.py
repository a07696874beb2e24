"""float32 MAX_POOL_2D, AVERAGE_POOL_2D and MEAN for the host runtime, in
TFLM's reference order so the results equal its kernels bit for bit.

Floating-point sums depend on their order, so each output adds its taps in
the order TFLM's loops do (window rows, then columns; MEAN: the reduced
elements in row-major order), one whole-tensor float32 addition per tap.
Out-of-bounds taps add +0.0 (average; TFLM's sum starts at +0.0, so the
result is the same) or are -FLT_MAX (max; TFLM starts from
numeric_limits<float>::lowest() and compares with std::max, which never
picks NaN or -inf over it).  The fused-activation clamp is TFLM's
ActivationFunctionWithMinMax, std::min(std::max(x, lo), hi).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from tflm_unit.core import activation_ops as aops
from tflm_unit.core import ops
from tflm_unit.core.ops import Activation

_LOWEST = np.float32(-np.finfo(np.float32).max)


def clamp(x: np.ndarray, activation: Activation) -> np.ndarray:
    """std::min(std::max(x, lo), hi) with TFLM's float activation range."""
    lo, hi = (np.float32(v) for v in aops.float_activation_range(activation))
    x = np.where(x < lo, lo, x)
    return np.where(hi < x, hi, x).astype(np.float32, copy=False)


def pool_2d(kind: str, x: np.ndarray, window: Tuple[int, int], strides: Tuple[int, int], padding: str,
            activation: Activation) -> np.ndarray:
    """float32 NHWC MAX_POOL_2D (``kind`` "max") or AVERAGE_POOL_2D
    ("average") over the in-bounds taps of each window."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    # the core's geometry (output size, top/left padding); scale and zero point only feed its int8 clamp
    params, (n, out_h, out_w, channels) = ops.pool_prepare(x.shape, window, strides, padding, 1.0, 0, "NONE")
    fh, fw, sh, sw = params.filter_h, params.filter_w, params.stride_h, params.stride_w
    ph, pw = params.pad_h, params.pad_w
    need_h, need_w = (out_h - 1) * sh + fh, (out_w - 1) * sw + fw
    fill = np.float32(0.0) if kind == "average" else _LOWEST
    padded = np.full((n, max(need_h, ph + x.shape[1]), max(need_w, pw + x.shape[2]), channels), fill, np.float32)
    padded[:, ph:ph + x.shape[1], pw:pw + x.shape[2]] = x
    value = np.zeros((n, out_h, out_w, channels), np.float32) if kind == "average" else \
        np.full((n, out_h, out_w, channels), _LOWEST, np.float32)
    with np.errstate(over="ignore"):  # a sum beyond FLT_MAX is inf, as in TFLM, and then clamps
        value = _taps(kind, padded, value, fh, fw, sh, sw, out_h, out_w)
    if kind == "average":
        value = value / _window_counts(x.shape, params, out_h, out_w)
    return clamp(value, activation)


def _taps(kind: str, padded: np.ndarray, value: np.ndarray, fh: int, fw: int, sh: int, sw: int, out_h: int,
          out_w: int) -> np.ndarray:
    """Every window tap in TFLM's order (rows, then columns) into ``value``."""
    for ky in range(fh):
        for kx in range(fw):
            tap = padded[:, ky:ky + (out_h - 1) * sh + 1:sh, kx:kx + (out_w - 1) * sw + 1:sw]
            if kind == "average":
                value += tap
            else:
                value = np.where(value < tap, tap, value)
    return value


def _in_bounds(size: int, filter_size: int, stride: int, pad: int, out_size: int) -> np.ndarray:
    """The in-bounds taps of each output index along one dimension."""
    origin = np.arange(out_size) * stride - pad
    return np.minimum(filter_size, size - origin) - np.maximum(0, -origin)


def _window_counts(shape: Sequence[int], params, out_h: int, out_w: int) -> np.ndarray:
    rows = _in_bounds(shape[1], params.filter_h, params.stride_h, params.pad_h, out_h)
    cols = _in_bounds(shape[2], params.filter_w, params.stride_w, params.pad_w, out_w)
    return (rows[:, None] * cols[None, :]).astype(np.float32)[None, :, :, None]


def mean(x: np.ndarray, axes: Sequence[int], keep_dims: bool) -> np.ndarray:
    """float32 MEAN over ``axes``: each output sums its reduced elements in
    row-major order, then divides by their count."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    axes = sorted({int(a) % x.ndim for a in axes})
    kept = [d for d in range(x.ndim) if d not in axes]
    moved = np.transpose(x, kept + axes)
    count = int(np.prod([x.shape[a] for a in axes])) if axes else 1
    flat = moved.reshape(moved.shape[:len(kept)] + (count,))
    total = np.zeros(flat.shape[:-1], np.float32)
    with np.errstate(over="ignore"):
        for r in range(count):
            total += flat[..., r]
    out = total / np.float32(count)
    if keep_dims:
        out = out.reshape([1 if d in axes else x.shape[d] for d in range(x.ndim)])
    return out.astype(np.float32, copy=False)
