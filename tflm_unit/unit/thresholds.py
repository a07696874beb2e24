"""Real UnIT thresholds <-> the int16 thresholds the int8 kernels compare with.

An int8 kernel compares |x'*w_q| with an integer T_q, where the real product
is x*w = s_x*s_w[c] * x'*w_q.  The exact integer threshold of output channel c
would be T / (s_x*s_w[c]), but the kernels hold one integer per *group* of
output channels (DESIGN.md section 3: a per-group threshold lets a dense layer
divide once per input and group).  We use the mean weight scale of the
group's channels, so the group's average channel gets the requested real T;
channels with a larger or smaller scale skip slightly more or less, and
calibration (which picks T with the kernels in the loop) absorbs that.

T_q = round(T / (s_x * mean(s_w over the group))), saturated to [0, 32767]:
negative thresholds mean "skip nothing extra" (0), and |x'*w_q| <= 255*128 =
32640 < 32767, so the top of the range already skips every MAC.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from tflm_unit.errors import OptionError

T_Q_MAX = 32767

ArrayLike = Union[float, np.ndarray, list]


def _group_scales(input_scale: float, weight_scales: ArrayLike, group_size: Optional[int],
                  num_channels: Optional[int], num_thresholds: Optional[int]) -> np.ndarray:
    """s_x * mean(s_w over each group's channels), one value per group.

    The channel count comes from weight_scales when it is per channel (1-D),
    else from num_channels; with a per-tensor scale it is not needed.
    """
    input_scale = float(input_scale)
    if not np.isfinite(input_scale) or input_scale <= 0:
        raise OptionError(f"input_scale must be finite and > 0, got {input_scale}")
    scales = np.asarray(weight_scales, dtype=np.float64)
    if scales.ndim == 1 and scales.size == 1:
        # One scale for all output channels (per-tensor quantisation, as a
        # .tflite stores it: a 1-element array): broadcast to every channel.
        scales = scales.reshape(())
    if scales.ndim > 1:
        raise OptionError(f"weight_scales must be a scalar or 1-D, got shape {scales.shape}")
    if scales.size == 0 or not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        raise OptionError("weight_scales must be finite and > 0")
    if group_size is not None and (isinstance(group_size, bool) or
                                   not isinstance(group_size, (int, np.integer)) or
                                   group_size < 1):
        raise OptionError(f"group_size must be a positive integer or None, got {group_size!r}")

    if scales.ndim == 1:
        channels = scales.size  # per-channel scales
        if num_channels is not None and num_channels != channels:
            raise OptionError(f"num_channels {num_channels} != {channels} weight_scales")
    elif num_channels is not None:
        channels = int(num_channels)
        if channels < 1:
            raise OptionError(f"num_channels must be >= 1, got {num_channels}")
    else:
        # Per-tensor scale and no channel count: every group has the same
        # scale, only the number of groups is needed.
        if num_thresholds is not None:
            groups = num_thresholds
        elif group_size is None:
            groups = 1
        else:
            raise OptionError("with a per-tensor weight scale, a scalar threshold and a "
                             "group_size, give num_channels to know the number of groups")
        return np.full(groups, input_scale * float(scales))

    if group_size is None:
        group_size = channels  # one group: a per-layer threshold
    group_size = int(group_size)
    if channels % group_size != 0:
        raise OptionError(f"group_size {group_size} does not divide the {channels} output channels")
    per_channel = np.broadcast_to(scales, (channels,))
    group_means = per_channel.reshape(channels // group_size, group_size).mean(axis=1)
    return input_scale * group_means


def _as_group_values(values: ArrayLike, name: str) -> Tuple[np.ndarray, Optional[int]]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim > 1:
        raise OptionError(f"{name} must be a scalar or 1-D [groups], got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise OptionError(f"{name} must be finite")
    return array, (array.size if array.ndim == 1 else None)


def quantize_thresholds(t_real: ArrayLike, input_scale: float, weight_scales: ArrayLike,
                        group_size: Optional[int], num_channels: Optional[int] = None) -> np.ndarray:
    """Real thresholds (scalar or [G]) -> int16 T_q [G] for an int8 layer.

    T_q[g] = round(T[g] / (s_x * mean(s_w[c] for c in group g))), half away
    from zero, saturated to [0, 32767].  weight_scales is per tensor (a scalar
    or a 1-element array, broadcast to every channel)
    or per output channel [C_out]; group_size None means one group per layer.
    A scalar t_real is used for every group.
    """
    t_real, num_thresholds = _as_group_values(t_real, "t_real")
    group_scales = _group_scales(input_scale, weight_scales, group_size, num_channels,
                                 num_thresholds)
    if num_thresholds is not None and num_thresholds != group_scales.size:
        raise OptionError(
            f"t_real has {num_thresholds} values but the layer has {group_scales.size} groups")
    scaled = np.broadcast_to(t_real, group_scales.shape) / group_scales
    rounded = np.floor(np.abs(scaled) + 0.5) * np.sign(scaled)
    return np.clip(rounded, 0, T_Q_MAX).astype(np.int16)


def dequantize_thresholds(t_q: ArrayLike, input_scale: float, weight_scales: ArrayLike,
                          group_size: Optional[int], num_channels: Optional[int] = None) -> np.ndarray:
    """int16 T_q [G] -> the real threshold each group's average channel gets:
    T[g] = T_q[g] * s_x * mean(s_w over the group).  Returns float64 [G]."""
    t_q_array = np.asarray(t_q)
    if not np.issubdtype(t_q_array.dtype, np.integer):
        raise OptionError(f"t_q must hold integers, got dtype {t_q_array.dtype}")
    values, num_thresholds = _as_group_values(t_q_array, "t_q")
    group_scales = _group_scales(input_scale, weight_scales, group_size, num_channels,
                                 num_thresholds)
    if num_thresholds is not None and num_thresholds != group_scales.size:
        raise OptionError(
            f"t_q has {num_thresholds} values but the layer has {group_scales.size} groups")
    return np.broadcast_to(values, group_scales.shape) * group_scales
