"""MACs whose operands are both non-zero, counted without touching the C kernels.

DESIGN.md §9 "Skip accounting": a MAC with x' = 0 or w = 0 (x' = x - zero
point, the value the kernels multiply; taps over padding count as x' = 0) is
one the dense kernel could skip too, so reports separate it from MACs skipped
by a threshold.  The count is a convolution of the 0/1 indicator of x' != 0
with the per-tap number of non-zero weights, run through the float32 kernels:
every partial sum is an integer below 2**24, so float32 adds it exactly in any
order.  Fully connected layers need only an integer dot product.
"""
from __future__ import annotations

import numpy as np

from tflm_unit.core import kernels

_FLOAT_EXACT = 2 ** 24


def conv_nonzero_macs(x: np.ndarray, zero_value, w: np.ndarray, params: "kernels.ConvParams",
                      depthwise: bool) -> int:
    """Taps with x' != 0 and w != 0 of a CONV_2D (filter [Co, kh, kw, Ci]) or
    DEPTHWISE_CONV_2D (filter [1, kh, kw, Ci * multiplier]); ``zero_value`` is
    the stored value of x' = 0 (the input zero point; 0.0 for float)."""
    indicator = np.ascontiguousarray(x != zero_value, dtype=np.float32)
    nonzero_w = w != 0
    geometry = dict(stride_h=params.stride_h, stride_w=params.stride_w, dilation_h=params.dilation_h,
                    dilation_w=params.dilation_w, padding=params.padding, depth_multiplier=1,
                    input_offset=0, output_offset=0, act_min=-np.inf, act_max=np.inf)
    float_params = kernels.ConvParams(**geometry)
    if depthwise:
        in_channels = x.shape[-1]
        per_tap = nonzero_w.reshape(w.shape[1], w.shape[2], in_channels, -1).sum(axis=-1)
        chunks = [per_tap]
        run = kernels.depthwise_conv_2d_float
    else:
        # Output-channel chunks keep every sum below 2**24 (exact in float32).
        per_channel = nonzero_w.reshape(w.shape[0], -1).sum(axis=1)
        chunks, start, running = [], 0, 0
        for c, count in enumerate(per_channel):
            if running + count >= _FLOAT_EXACT and c > start:
                chunks.append(nonzero_w[start:c].sum(axis=0))
                start, running = c, 0
            running += int(count)
        chunks.append(nonzero_w[start:].sum(axis=0))
        run = kernels.conv_2d_float
    total = 0
    for per_tap in chunks:
        filt = np.ascontiguousarray(per_tap[None].astype(np.float32))
        if int(per_tap.sum()) >= _FLOAT_EXACT:
            raise ValueError("too many non-zero weights for an exact float32 count")
        total += int(run(indicator, filt, None, float_params).output.sum(dtype=np.float64))
    return total


def fully_connected_nonzero_macs(x2: np.ndarray, zero_value, w: np.ndarray) -> int:
    """Pairs (row, input d, output o) with x'[row, d] != 0 and w[o, d] != 0."""
    active_inputs = np.count_nonzero(x2 != zero_value, axis=0).astype(np.int64)
    nonzero_per_input = np.count_nonzero(w, axis=0).astype(np.int64)
    return int(active_inputs @ nonzero_per_input)
