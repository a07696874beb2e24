"""Host fast path of the int8 MAC layers (``tflm_unit._fast``).

The interpreter's CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED steps (and
their UNIT_* twins) call :meth:`FastLayer.run` when the extension is built;
it gives the same outputs and per-channel executed-MAC counts as
:mod:`tflm_unit.core.kernels` (the C core) bit for bit, tiled so the compiler
vectorises it and split over threads.  Everything that does not depend on the
batch is prepared once per layer: int16 weights, scratch, and the per-weight
skip bounds (rebuilt only when the layer's thresholds change).
"""
from __future__ import annotations

import os
import threading
from typing import Optional, Tuple

import numpy as np

from tflm_unit.core import kernels

try:
    from tflm_unit import _fast
except ImportError:  # pragma: no cover - a build without the fast extension
    _fast = None

#: Threads per MAC call (the core splits positions / batches between them).
THREADS = max(1, min(2, os.cpu_count() or 1))
#: UnIT conv / FC on VNNI CPUs as uint8 x int8 tiles (False: the int16 tiles; for tests).
UNIT_U8 = True

_KIND_CONV, _KIND_DEPTHWISE, _KIND_FC = 0, 1, 2
#: Deepest im2col row the fast conv takes (its per-position counts are 16 bits).
_MAX_DEPTH = 65504
#: ... and the AVX-512 tiles (their per-lane counts are 16 bits).
_MAX_SIMD_DEPTH = 16352
#: The dense tiles as uint8 x int8 (VNNI; fast_kernels.h FAST_SIMD_U8).
_SIMD_U8 = 3
#: The UnIT tiles as uint8 x int8 (VNNI, every skip bound >= 0; FAST_SIMD_UNIT_U8).
_SIMD_UNIT_U8 = 4


def simd_level() -> int:
    """The vector tiles this CPU runs (0: portable C, 1: AVX-512BW, 2: AVX-512 VNNI);
    TFLM_UNIT_FAST_SIMD=0 forces the portable tiles."""
    if _fast is None or os.environ.get("TFLM_UNIT_FAST_SIMD", "1") == "0":
        return 0
    return int(_fast.simd_level())


def _pack(rows: np.ndarray, fill: int) -> np.ndarray:
    """[out_c][kp] int16 -> the AVX-512 layout [out_c/16][kp/2][16][2],
    channels padded to 16 with `fill`."""
    channels, kp = rows.shape
    padded = np.full(((channels + 15) // 16 * 16, kp), fill, np.int16)
    padded[:channels] = rows
    return np.ascontiguousarray(padded.reshape(-1, 16, kp // 2, 2).transpose(0, 2, 1, 3))


def available() -> bool:
    """True when the fast extension is built (else callers use the C core)."""
    return _fast is not None and os.environ.get("TFLM_UNIT_FAST", "1") != "0"


def _per_channel(values, dtype, channels: int) -> np.ndarray:
    arr = np.ascontiguousarray(np.asarray(values), dtype=dtype).reshape(-1)
    return np.repeat(arr, channels) if arr.size == 1 and channels > 1 else arr


class FastLayer:
    """One int8 MAC layer prepared for the fast kernels."""

    def __init__(self, kind: int, filter_data: np.ndarray, bias: Optional[np.ndarray], multiplier, shift,
                 params: kernels.ConvParams, threads: int = THREADS, simd: Optional[int] = None):
        self.kind = kind
        self.params = params
        self.threads = threads
        # One call at a time: the scratch buffer and the cached skip table are shared state, and
        # calibration runs batches on threads (each call already uses `threads` cores).
        self._lock = threading.RLock()
        f = np.ascontiguousarray(filter_data, dtype=np.int8)
        if kind == _KIND_DEPTHWISE:
            self.kh, self.kw, self.channels = int(f.shape[1]), int(f.shape[2]), int(f.shape[3])
            self.depth = self.kh * self.kw
            self.kp = self.depth
            self._filter_rows = f.reshape(self.depth, self.channels)  # [taps][C]
            self.w16 = self._filter_rows.astype(np.int16)
            self.simd = 0
        else:
            if kind == _KIND_CONV:
                self.kh, self.kw = int(f.shape[1]), int(f.shape[2])
            else:
                self.kh = self.kw = 1
            self.channels = int(f.shape[0])
            self.depth = int(f.size // self.channels)
            self.kp = int(_fast.padded_depth(self.depth))
            self._filter_rows = f.reshape(self.channels, self.depth)  # [Co][K]
            w16 = np.zeros((self.channels, self.kp), np.int16)
            w16[:, : self.depth] = self._filter_rows
            # the AVX-512 tiles (where the CPU has them) take packed weights
            level = simd_level() if simd is None else int(simd)
            self.simd = level if self.kp <= _MAX_SIMD_DEPTH else 0
            self.w16 = _pack(w16, 0) if self.simd else w16
        self.bias = None if bias is None else _per_channel(bias, np.int32, self.channels)
        self.multiplier = _per_channel(multiplier, np.int32, self.channels)
        self.shift = _per_channel(shift, np.int32, self.channels)
        self._dense_u8 = self._prepare_dense_u8() if self.simd >= 2 else None
        # int8 weights in the uint8 tiles' layout, for the UnIT form of them
        self._unit_u8_w = self._pack_quads(self._filter_rows, 0) if self.simd >= 2 else None
        self._skip_u8: Optional[np.ndarray] = None
        self._geometry: dict = {}
        self._scratch: Optional[np.ndarray] = None
        self._skip_key: Optional[tuple] = None
        self._skip_table: Optional[np.ndarray] = None

    def _prepare_dense_u8(self) -> Optional[tuple]:
        """(int8 weights packed [out_c/16][kp/4][16][4], bias + (input_offset - 128) * sum(w))
        for the VNNI uint8 tiles of the dense path (tile u = x + 128), or None
        when that bias leaves int32."""
        w = self._filter_rows.astype(np.int64)
        folded = (0 if self.bias is None else self.bias.astype(np.int64)) + \
            (int(self.params.input_offset) - 128) * w.sum(axis=1)
        if np.abs(folded).max() >= 2**31:
            return None
        return self._pack_quads(self._filter_rows, 0), folded.astype(np.int32)

    def _pack_quads(self, rows: np.ndarray, fill: int) -> np.ndarray:
        """[out_c][depth <= kp] bytes -> the uint8 tiles' layout [out_c/16][kp/4][16][4]
        (channels padded to 16 and the depth to kp with `fill`), same dtype."""
        padded = np.full(((self.channels + 15) // 16 * 16, self.kp), fill, rows.dtype)
        padded[: self.channels, : rows.shape[1]] = rows
        return np.ascontiguousarray(padded.reshape(-1, 16, self.kp // 4, 4).transpose(0, 2, 1, 3))

    def _geometry_for(self, shape: Tuple[int, ...]) -> tuple:
        """The C geometry tuple (batch filled in per call) and macs per image."""
        key = tuple(shape[1:])
        if key not in self._geometry:
            p = self.params
            if self.kind == _KIND_FC:
                h = w = out_h = out_w = 1
                c = int(shape[1])
                pad_h = pad_w = 0
            else:
                _, h, w, c = (int(d) for d in shape)
                out_h, out_w, pad_h, pad_w = kernels.conv_geometry(shape, self.kh, self.kw, p)
            dm = p.depth_multiplier if self.kind == _KIND_DEPTHWISE else 1
            geometry = (h, w, c, self.kh, self.kw, out_h, out_w, self.channels, p.stride_h, p.stride_w,
                        p.dilation_h, p.dilation_w, pad_h, pad_w, dm, int(p.input_offset),
                        int(p.output_offset), int(p.act_min), int(p.act_max))
            taps = self.kh * self.kw * (1 if self.kind == _KIND_DEPTHWISE else c)
            self._geometry[key] = (geometry, out_h, out_w, out_h * out_w * self.channels * taps)
            need = int(_fast.scratch_bytes(self.kind == _KIND_DEPTHWISE, (1,) + geometry)) * self.threads + 64
            if self._scratch is None or self._scratch.size < need:
                self._scratch = np.empty(need, np.uint8)
        return self._geometry[key]

    def _skip_bounds(self, thresholds: np.ndarray, group_size: int, division: str) -> Optional[np.ndarray]:
        """Per-weight skip bounds s (multiply where |x'| > s), cached per setting."""
        t = np.ascontiguousarray(thresholds, dtype=np.int16).reshape(-1)
        key = (t.tobytes(), int(group_size), division)
        if key != self._skip_key:
            shape = (self.depth, self.channels) if self.kind == _KIND_DEPTHWISE else (self.channels, self.kp)
            table = np.empty(shape, np.int16)
            ok = _fast.skip_table(self.kind, self._filter_rows, self.channels, self.depth, self.kp, t,
                                  int(group_size), kernels.division_index(division), table)
            # With every bound >= 0 (zero inputs never execute), the VNNI uint8 tiles
            # take min(s, 255): |x'| <= 255, so larger bounds never execute either.
            self._skip_u8 = None
            if ok and UNIT_U8 and self._unit_u8_w is not None and int(table.min()) >= 0:
                self._skip_u8 = self._pack_quads(np.minimum(table, 255).astype(np.uint8), 255)
            if ok and self.simd:
                table = _pack(table, np.iinfo(np.int16).max)
            self._skip_key, self._skip_table = key, (table if ok else None)
        return self._skip_table

    def supports(self, skip) -> bool:
        """False when a skip setting has no fast form (the caller uses the core)."""
        if skip is None:
            return True
        with self._lock:
            return self._skip_bounds(skip.thresholds, skip.group_size, skip.division) is not None

    def run(self, x: np.ndarray, skip=None) -> kernels.KernelResult:
        """The layer on a batch x (int8, NHWC; [rows, depth] for FC); skip is a
        SkipSetting or None (dense).  Same result as the core's kernels."""
        with self._lock:
            return self._run(x, skip)

    def _run(self, x: np.ndarray, skip) -> kernels.KernelResult:
        geometry, out_h, out_w, macs_per_image = self._geometry_for(x.shape)
        x = np.ascontiguousarray(x, dtype=np.int8)
        batch = int(x.shape[0])
        s = None if skip is None else self._skip_bounds(skip.thresholds, skip.group_size, skip.division)
        if self.kind == _KIND_FC:
            out = np.empty((batch, self.channels), np.int8)
        else:
            out = np.empty((batch, out_h, out_w, self.channels), np.int8)
        per_channel = np.zeros(self.channels, np.uint64)
        if s is None and self._dense_u8 is not None:
            w, bias, simd = self._dense_u8[0], self._dense_u8[1], _SIMD_U8
        elif s is not None and self._skip_u8 is not None:
            w, s, bias, simd = self._unit_u8_w, self._skip_u8, self.bias, _SIMD_UNIT_U8
        else:
            w, bias, simd = self.w16, self.bias, self.simd
        fn = _fast.depthwise_int8 if self.kind == _KIND_DEPTHWISE else _fast.conv_int8
        executed = fn((batch,) + geometry, x, w, s, bias, self.multiplier, self.shift, out,
                      per_channel, self._scratch, self.threads, simd)
        return kernels.KernelResult(out, batch * macs_per_image, int(executed), per_channel)


def conv_like_layer(depthwise: bool, filter_data: np.ndarray, bias, multiplier, shift,
                    params: kernels.ConvParams) -> Optional[FastLayer]:
    """A prepared int8 conv / depthwise layer, or None without the extension."""
    if not available() or (not depthwise and filter_data[0].size > _MAX_DEPTH):
        return None
    return FastLayer(_KIND_DEPTHWISE if depthwise else _KIND_CONV, filter_data, bias, multiplier, shift, params)


def fully_connected_layer(filter_data: np.ndarray, bias, multiplier, shift, input_offset: int,
                          output_offset: int, act_min: int, act_max: int) -> Optional[FastLayer]:
    """A prepared int8 fully connected layer ([O, D] filter), or None."""
    if not available() or filter_data.shape[1] > _MAX_DEPTH:
        return None
    params = kernels.ConvParams(input_offset=int(input_offset), output_offset=int(output_offset),
                                act_min=int(act_min), act_max=int(act_max))
    return FastLayer(_KIND_FC, filter_data, bias, multiplier, shift, params)


class FastElementwise:
    """An element-wise int8 op of two same-shape tensors (ADD) as a lookup in
    the table of all 65536 of its results, computed once by the core's op —
    bit-identical by construction, and a few cycles per element instead of
    three requantisations."""

    def __init__(self, op, threads: int = THREADS):
        """op(a, b) -> int8 array: the core's implementation (e.g. a partial of ops.add)."""
        a, b = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8), indexing="ij")
        table = op(a.reshape(-1).view(np.int8), b.reshape(-1).view(np.int8))
        self.table = np.ascontiguousarray(table, dtype=np.int8).reshape(-1)
        self.threads = threads

    def __call__(self, a: np.ndarray, b: np.ndarray) -> Optional[np.ndarray]:
        """The op on a and b, or None when they are not same-shape int8 arrays
        (the caller then runs the core's op, which broadcasts)."""
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == np.int8 and b.dtype == np.int8):
            return None
        out = np.empty(a.shape, np.int8)
        _fast.lookup2_int8(np.ascontiguousarray(a), np.ascontiguousarray(b), self.table, out, self.threads)
        return out


def elementwise(op) -> Optional[FastElementwise]:
    """A table form of an element-wise int8 op, or None without the extension."""
    return FastElementwise(op) if available() else None


def _pool_clamp(act_min: int, act_max: int) -> Tuple[int, int]:
    """The core's int8 clamp of a pooled value (unit_pool_clamp16): a bound
    beyond int8 either never binds or makes every output that bound."""
    if act_min > 127 or act_max < -128:
        value = int(np.array(act_min if act_min > 127 else act_max).astype(np.int8))
        return value, value
    return max(act_min, -128), min(act_max, 127)


def pool_2d(kind: str, x: np.ndarray, params, out_shape: Tuple[int, int, int, int]) -> Optional[np.ndarray]:
    """MAX_POOL_2D / AVERAGE_POOL_2D (``kind`` "max" / "average") on int8 NHWC
    ``x`` with the core's prepared ``params`` (core.ops.PoolParams), by the
    fast extension's row-at-a-time kernel on both cores; or None when a window
    is clipped by padding or the input edge (the caller then runs the core's
    kernel, which counts in-bounds taps).  Bit-identical to the core: max of
    int8 is exact, and the average divides the int32 sum by the tap count
    rounding half away from zero as it does."""
    if not available() or params.pad_h != 0 or params.pad_w != 0:
        return None
    n, out_h, out_w, channels = out_shape
    fh, fw, sh, sw = params.filter_h, params.filter_w, params.stride_h, params.stride_w
    if (out_h - 1) * sh + fh > x.shape[1] or (out_w - 1) * sw + fw > x.shape[2]:
        return None
    lo, hi = _pool_clamp(params.act_min, params.act_max)
    geometry = (int(n), int(x.shape[1]), int(x.shape[2]), int(channels), int(fh), int(fw), int(sh), int(sw),
                int(out_h), int(out_w), int(lo), int(hi), int(kind == "average"))
    out = np.empty(out_shape, np.int8)
    scratch = np.empty(THREADS * (int(x.shape[2]) * int(channels) * 4 + 64), np.uint8)
    _fast.pool_int8(geometry, np.ascontiguousarray(x, dtype=np.int8), out, scratch, THREADS)
    return out
