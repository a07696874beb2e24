"""MACs whose operands are both non-zero, counted without touching the C kernels.

DESIGN.md §9 "Skip accounting": a MAC with x' = 0 or w = 0 (x' = x - zero
point, the value the kernels multiply; taps over padding count as x' = 0) is
one the dense kernel could skip too, so reports separate it from MACs skipped
by a threshold.  The count is the 0/1 indicator of x' != 0, summed over the
batch, dotted with a per-layer coverage map of non-zero weights (an integer
dot product, no convolution).  Fully connected layers need only an integer
dot product too.
"""
from __future__ import annotations

import numpy as np

from tflm_unit.core import kernels


def conv_nonzero_macs(x: np.ndarray, zero_value, w: np.ndarray, params: "kernels.ConvParams",
                      depthwise: bool) -> int:
    """Taps with x' != 0 and w != 0 of a CONV_2D (filter [Co, kh, kw, Ci]) or
    DEPTHWISE_CONV_2D (filter [1, kh, kw, Ci * multiplier]); ``zero_value`` is
    the stored value of x' = 0 (the input zero point; 0.0 for float).

    Each input element x[h, w, c] is used by a fixed set of (output position,
    tap) pairs, so the count is sum over the batch of [x' != 0] times a
    coverage map: the non-zero weights of every tap that reads (h, w, c),
    summed over the output positions that read it (taps over padding read
    nothing).  The map depends only on the geometry; integers throughout."""
    _, height, width, channels = x.shape
    nonzero_w = w != 0
    kh, kw = w.shape[1], w.shape[2]
    if depthwise:
        per_tap = nonzero_w.reshape(kh, kw, channels, -1).sum(axis=-1, dtype=np.int64)
    else:
        per_tap = nonzero_w.sum(axis=0, dtype=np.int64)  # [kh, kw, Ci]
    rows = _tap_rows(params.padding, height, kh, params.stride_h, params.dilation_h)
    cols = _tap_rows(params.padding, width, kw, params.stride_w, params.dilation_w)
    cover = np.zeros((height, width, channels), np.int64)
    for i in range(kh):
        for j in range(kw):
            cover += rows[i][:, None, None] * cols[j][None, :, None] * per_tap[i, j][None, None, :]
    active = np.count_nonzero(np.asarray(x).reshape(x.shape[0], -1) != zero_value, axis=0).astype(np.int64)
    return int(active @ cover.ravel())


def _tap_rows(padding: str, size: int, taps: int, stride: int, dilation: int) -> np.ndarray:
    """[taps, size] 0/1: whether input row h is read by tap k of some output row."""
    out = kernels.compute_out_size(padding, size, taps, stride, dilation)
    pad = kernels.compute_padding(stride, dilation, size, taps, out) if out else 0
    used = np.zeros((taps, size), np.int64)
    positions = np.arange(out) * stride - pad
    for k in range(taps):
        h = positions + k * dilation
        used[k, h[(h >= 0) & (h < size)]] = 1
    return used


def fully_connected_nonzero_macs(x2: np.ndarray, zero_value, w: np.ndarray) -> int:
    """Pairs (row, input d, output o) with x'[row, d] != 0 and w[o, d] != 0."""
    active_inputs = np.count_nonzero(x2 != zero_value, axis=0).astype(np.int64)
    nonzero_per_input = np.count_nonzero(w, axis=0).astype(np.int64)
    return int(active_inputs @ nonzero_per_input)
