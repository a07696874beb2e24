"""The host fast MAC kernels (tflm_unit._fast, tflm_unit.runtime.fast) against
the C core's kernels (tflm_unit.core.kernels): outputs and executed MACs per
output channel bit for bit, dense and UnIT, every division mode."""
import itertools
import zlib

import numpy as np
import pytest

from tflm_unit.core import kernels
from tflm_unit.runtime import fast
from tflm_unit.runtime.interpreter import SkipSetting

pytestmark = pytest.mark.skipif(not fast.available(), reason="tflm_unit._fast is not built")

DIVISIONS = kernels.DIVISION_MODES
#: the portable C tiles, and the AVX-512 ones (BW; VNNI) where this CPU has them
SIMD_LEVELS = list(range(fast.simd_level() + 1))  # 2 (VNNI): dense and UnIT as uint8 x int8 tiles
if fast.simd_level() >= 2:
    SIMD_LEVELS.append("2-int16")  # VNNI with UnIT on the int16 tiles (fast.UNIT_U8 off)


def _simd_form(simd, monkeypatch) -> int:
    """The FastLayer simd level of a SIMD_LEVELS entry (setting fast.UNIT_U8)."""
    monkeypatch.setattr(fast, "UNIT_U8", simd != "2-int16")
    return 2 if simd == "2-int16" else simd


def _requant(rng, channels):
    multiplier = rng.integers(1 << 29, (1 << 31) - 1, channels).astype(np.int32)
    shift = rng.integers(-11, -5, channels).astype(np.int32)
    return multiplier, shift


def _assert_same(got: kernels.KernelResult, want: kernels.KernelResult):
    np.testing.assert_array_equal(got.output, want.output)
    np.testing.assert_array_equal(got.channel_executed, want.channel_executed)
    assert got.macs_executed == want.macs_executed
    assert got.macs_total == want.macs_total


def _thresholds(rng, channels, group, level):
    """level 0: T = 0 (skips zero operands only); else random T_q that skip part of the MACs."""
    if level == 0:
        return np.zeros(channels // group, np.int16)
    return rng.integers(0, level, channels // group).astype(np.int16)


CONV_CASES = [
    # (N, H, W, Ci, Co, kh, kw, stride, dilation, padding)
    (1, 9, 9, 3, 8, 3, 3, 1, 1, "SAME"),
    (2, 10, 7, 4, 6, 3, 3, 2, 1, "SAME"),
    (3, 8, 8, 2, 5, 5, 5, 1, 1, "VALID"),
    (2, 11, 9, 3, 7, 3, 2, (2, 1), 2, "SAME"),
    (1, 6, 6, 17, 9, 1, 1, 2, 1, "VALID"),
    (5, 5, 5, 1, 3, 2, 2, 1, 1, "SAME"),
    (2, 14, 14, 8, 20, 3, 3, 1, 1, "SAME"),  # channels past one block of 16, two threads
    (2, 12, 12, 1, 6, 5, 5, 1, 1, "VALID"),  # the MNIST net's first conv: rows of 5, ends at the input's end
    (1, 7, 9, 3, 4, 3, 4, 1, 1, "SAME"),  # rows of 12 taps: both words of the short-run copy
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("division", DIVISIONS)
@pytest.mark.parametrize("simd", SIMD_LEVELS)
@pytest.mark.parametrize("zero_share", [0.3, 0.85])  # 0.85: ReLU-like, the UnIT tiles walk nonzero pairs only
def test_conv_matches_core(case, division, simd, zero_share, monkeypatch):
    simd = _simd_form(simd, monkeypatch)
    n, h, w, ci, co, kh, kw, stride, dilation, padding = case
    rng = np.random.default_rng(zlib.crc32(repr((case, division, zero_share)).encode()))
    sh, sw = stride if isinstance(stride, tuple) else (stride, stride)
    x = rng.integers(-128, 128, (n, h, w, ci), dtype=np.int8)
    x[rng.random(x.shape) < zero_share] = 5  # operands at the zero point (x' = 0 for zp 5)
    filt = rng.integers(-128, 128, (co, kh, kw, ci), dtype=np.int8)
    filt[rng.random(filt.shape) < 0.2] = 0
    bias = rng.integers(-3000, 3000, co).astype(np.int32)
    multiplier, shift = _requant(rng, co)
    for zp, with_bias in ((5, True), (-128, False), (127, True)):
        params = kernels.ConvParams(sh, sw, dilation, dilation, padding, 1, -zp, rng.integers(-10, 10), -128, 127)
        b = bias if with_bias else None
        layer = fast.FastLayer(fast._KIND_CONV, filt, b, multiplier, shift, params, threads=2, simd=simd)
        _assert_same(layer.run(x), kernels.conv_2d_int8(x, filt, b, multiplier, shift, params))
        for group, level in itertools.product(sorted({1, co}), (0, 3000)):
            t = _thresholds(rng, co, group, level)
            want = kernels.conv_2d_int8(x, filt, b, multiplier, shift, params, thresholds=t, group_size=group,
                                        division=division)
            _assert_same(layer.run(x, SkipSetting(t, group, division)), want)


DEPTHWISE_CASES = [
    # (N, H, W, Ci, M, kh, kw, stride, dilation, padding)
    (1, 8, 8, 4, 1, 3, 3, 1, 1, "SAME"),
    (2, 9, 7, 3, 2, 3, 3, 2, 1, "SAME"),
    (3, 7, 7, 5, 1, 2, 3, 1, 2, "VALID"),
    (2, 6, 6, 2, 3, 5, 5, 1, 1, "SAME"),
]


@pytest.mark.parametrize("case", DEPTHWISE_CASES)
@pytest.mark.parametrize("division", DIVISIONS)
def test_depthwise_matches_core(case, division):
    n, h, w, ci, m, kh, kw, stride, dilation, padding = case
    rng = np.random.default_rng(zlib.crc32(repr((case, division, "dw")).encode()))
    co = ci * m
    x = rng.integers(-128, 128, (n, h, w, ci), dtype=np.int8)
    x[rng.random(x.shape) < 0.3] = -3
    filt = rng.integers(-128, 128, (1, kh, kw, co), dtype=np.int8)
    filt[rng.random(filt.shape) < 0.2] = 0
    bias = rng.integers(-3000, 3000, co).astype(np.int32)
    multiplier, shift = _requant(rng, co)
    for zp in (-3, -128, 100):
        params = kernels.ConvParams(stride, stride, dilation, dilation, padding, m, -zp, 3, -100, 127)
        layer = fast.FastLayer(fast._KIND_DEPTHWISE, filt, bias, multiplier, shift, params, threads=2)
        _assert_same(layer.run(x), kernels.depthwise_conv_2d_int8(x, filt, bias, multiplier, shift, params))
        for group, level in itertools.product(sorted({1, m, co}), (0, 2500)):
            t = _thresholds(rng, co, group, level)
            want = kernels.depthwise_conv_2d_int8(x, filt, bias, multiplier, shift, params, thresholds=t,
                                                  group_size=group, division=division)
            _assert_same(layer.run(x, SkipSetting(t, group, division)), want)


@pytest.mark.parametrize("rows,depth,units", [(1, 30, 10), (7, 64, 12), (33, 200, 5), (2, 1, 1)])
@pytest.mark.parametrize("division", DIVISIONS)
@pytest.mark.parametrize("simd", SIMD_LEVELS)
def test_fully_connected_matches_core(rows, depth, units, division, simd, monkeypatch):
    simd = _simd_form(simd, monkeypatch)
    rng = np.random.default_rng(zlib.crc32(repr((rows, depth, units, division)).encode()))
    x = rng.integers(-128, 128, (rows, depth), dtype=np.int8)
    x[rng.random(x.shape) < 0.3] = 12
    filt = rng.integers(-128, 128, (units, depth), dtype=np.int8)
    filt[rng.random(filt.shape) < 0.2] = 0
    filt.flat[0] = -128
    bias = rng.integers(-3000, 3000, units).astype(np.int32)
    multiplier, shift = _requant(rng, units)
    for zp, b in ((12, bias), (-128, None), (127, bias)):
        params = kernels.ConvParams(input_offset=-zp, output_offset=-7)
        layer = fast.FastLayer(fast._KIND_FC, filt, b, multiplier, shift, params, simd=simd)
        _assert_same(layer.run(x), kernels.fully_connected_int8(x, filt, b, multiplier, shift, -zp, -7))
        for group, level in itertools.product(sorted({1, units}), (0, 4000, 32767)):
            t = _thresholds(rng, units, group, level)
            want = kernels.fully_connected_int8(x, filt, b, multiplier, shift, -zp, -7, thresholds=t,
                                                group_size=group, division=division)
            _assert_same(layer.run(x, SkipSetting(t, group, division)), want)


def test_skip_bounds_follow_threshold_changes():
    """The cached per-weight bounds are rebuilt when thresholds change in place of a new array."""
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (2, 6, 6, 3), dtype=np.int8)
    filt = rng.integers(-128, 128, (4, 3, 3, 3), dtype=np.int8)
    multiplier, shift = _requant(rng, 4)
    params = kernels.ConvParams(padding="SAME", input_offset=0)
    layer = fast.FastLayer(fast._KIND_CONV, filt, None, multiplier, shift, params)
    t = np.array([100], np.int16)
    for value in (100, 5000, 0):
        t[0] = value
        want = kernels.conv_2d_int8(x, filt, None, multiplier, shift, params, thresholds=t, division="exact")
        _assert_same(layer.run(x, SkipSetting(t, 4, "exact")), want)


def test_bad_buffers_raise():
    layer = fast.fully_connected_layer(np.ones((3, 4), np.int8), None, [1 << 30], [-1], 0, 0, -128, 127)
    geometry = (1, 1, 1, 4, 1, 1, 1, 1, 3, 1, 1, 1, 1, 0, 0, 1, 0, 0, -128, 127)
    short = np.zeros(2, np.int8)
    with pytest.raises(ValueError, match="input"):
        fast._fast.conv_int8(geometry, short, layer.w16, None, None, layer.multiplier, layer.shift,
                             np.zeros(3, np.int8), np.zeros(3, np.uint64), np.zeros(10**5, np.uint8), 2)
    with pytest.raises(ValueError, match="geometry"):
        fast._fast.conv_int8(geometry[:-1], short, layer.w16, None, None, layer.multiplier, layer.shift,
                             np.zeros(3, np.int8), np.zeros(3, np.uint64), np.zeros(10**5, np.uint8), 2)


def test_whole_model_matches_core(monkeypatch):
    """A converted DS-CNN (conv, depthwise, fully connected) with and without
    the fast path: outputs and per-layer, per-channel executed MACs identical
    dense and at thresholds 0 and nonzero, per-channel groups, every division."""
    from tflite_oracle import convert_int8, keras, run_tflm

    from tflm_unit import models
    from tflm_unit.runtime import Interpreter

    rng = np.random.default_rng(11)
    x = rng.random((40, 28, 28, 1), dtype=np.float32)
    model_bytes = convert_int8(models.ds_cnn(keras_module=keras(), filters=16, blocks=2), x)
    fast_interp = Interpreter(model_bytes)
    monkeypatch.setenv("TFLM_UNIT_FAST", "0")
    core_interp = Interpreter(model_bytes)
    monkeypatch.undo()
    kinds = {op.name for op in fast_interp.mac_layers()}
    assert kinds == {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    xq = fast_interp.quantize_input(x[:12])
    np.testing.assert_array_equal(fast_interp.run(xq).outputs[0], run_tflm(model_bytes, xq)[0])
    for division, level in itertools.product(DIVISIONS, (None, 0, 2000)):
        for op in fast_interp.mac_layers():
            channels = fast_interp._output_channels(op)
            t = None if level is None else rng.integers(0, level + 1, channels).astype(np.int16)
            for interp in (fast_interp, core_interp):
                interp.set_skip(op.index, t, group_size=1, division=division)
        got, want = fast_interp.run(xq), core_interp.run(xq)
        np.testing.assert_array_equal(got.outputs[0], want.outputs[0])
        for a, b in zip(got.layers, want.layers):
            np.testing.assert_array_equal(a.channel_executed, b.channel_executed)
            assert (a.macs_total, a.macs_executed) == (b.macs_total, b.macs_executed)
        if level:
            assert got.macs_executed < want.macs_total


@pytest.mark.parametrize("activation", ["NONE", "RELU"])
def test_elementwise_add_table_matches_core(activation):
    """ADD by the table of the core's results == the core's ADD; other shapes fall back (None)."""
    from functools import partial

    from tflm_unit.core import ops

    rng = np.random.default_rng(5)
    core_add = partial(ops.add, input1_scale=0.05, input1_zero_point=-3, input2_scale=0.11, input2_zero_point=20,
                       output_scale=0.13, output_zero_point=-7, activation=activation)
    table_add = fast.elementwise(lambda a, b: core_add(a, x2=b))
    a = rng.integers(-128, 128, (3, 50, 70, 5), dtype=np.int8)  # > 65536 elements: two threads
    b = rng.integers(-128, 128, a.shape, dtype=np.int8)
    np.testing.assert_array_equal(table_add(a, b), core_add(a, x2=b))
    assert table_add(a, b[:, :, :, :1]) is None


POOL_CASES = [  # (input NHWC, window, strides, padding, activation)
    ((7, 24, 24, 6), (2, 2), (2, 2), "VALID", "NONE"),
    ((3, 24, 24, 6), (2, 2), (2, 2), "SAME", "RELU"),  # SAME with no padding needed: fast
    ((2, 9, 11, 17), (3, 2), (2, 3), "VALID", "RELU6"),
    ((2, 8, 8, 3), (8, 8), (1, 1), "VALID", "NONE"),  # global pool
    ((100, 24, 24, 6), (2, 2), (2, 2), "VALID", "RELU"),  # two threads
    ((40, 16, 16, 8), (3, 3), (1, 1), "VALID", "NONE"),  # overlapping windows, two threads
    ((2, 10, 10, 3), (3, 3), (3, 3), "VALID", "RELU_N1_TO_1"),  # the last input row / column unused
    ((2, 7, 7, 5), (3, 3), (2, 2), "SAME", "NONE"),  # padded: the core's kernel
    ((1, 5, 5, 4), (2, 2), (1, 1), "SAME", "NONE"),  # window past the edge: the core's kernel
]


@pytest.mark.parametrize("kind", ["max", "average"])
@pytest.mark.parametrize("shape,window,strides,padding,activation", POOL_CASES)
def test_pool_matches_core(kind, shape, window, strides, padding, activation):
    """The fast pool == the core's kernel bit for bit; clipped windows fall back (None)."""
    from tflm_unit.core import ops

    rng = np.random.default_rng(zlib.crc32(repr((kind, shape, window)).encode()))
    x = rng.integers(-128, 128, shape, dtype=np.int8)
    scale, zero_point = 0.07, -11
    params, out_shape = ops.pool_prepare(shape, window, strides, padding, scale, zero_point, activation)
    core = (ops.max_pool_2d if kind == "max" else ops.average_pool_2d)(
        x, window, strides, padding, scale, zero_point, activation)
    got = fast.pool_2d(kind, x, params, out_shape)
    clipped = params.pad_h or params.pad_w or (out_shape[1] - 1) * strides[0] + window[0] > shape[1] \
        or (out_shape[2] - 1) * strides[1] + window[1] > shape[2]
    if clipped:
        assert got is None
    else:
        assert got is not None and got.dtype == np.int8
        np.testing.assert_array_equal(got, core)


def test_pool_clamp_beyond_int8_makes_every_output_the_bound():
    assert fast._pool_clamp(-300, 300) == (-128, 127)
    assert fast._pool_clamp(200, 300) == (-56, -56)  # int8(200), as the core's int16 clamp
    assert fast._pool_clamp(-300, -200) == (56, 56)
    assert fast._pool_clamp(-10, 20) == (-10, 20)


def test_tile_requantisation_equals_the_core():
    """The tiles' 64-bit requantisation (fast_requantize_int8) against the core's
    unit_multiply_by_quantized_multiplier + offset + clamp, value by value,
    including the int32 extremes, left shifts and the shift clamps."""
    from tflm_unit import _core, _fast

    rng = np.random.default_rng(7)
    n = 4000
    acc = rng.integers(-(2**31), 2**31, n, dtype=np.int64).astype(np.int32)
    acc[: n // 2] = rng.integers(-40000, 40000, n // 2)  # typical accumulators
    acc[:6] = [np.iinfo(np.int32).min, np.iinfo(np.int32).max, 0, -1, 1, -(2**30)]
    multiplier = rng.integers(1 << 30, 2**31, n, dtype=np.int64).astype(np.int32)
    multiplier[:3] = [np.iinfo(np.int32).max, 1 << 30, 0]
    shift = rng.integers(-34, 33, n).astype(np.int32)  # beyond [-31, 30]: clamped as the core clamps
    shift[n // 2:] = rng.integers(-12, 2, n - n // 2)
    for offset, lo, hi in ((0, -128, 127), (-7, -128, 127), (3, 0, 127)):
        got = np.empty(n, np.int8)
        _fast.requantize_int8(acc, multiplier, shift, offset, lo, hi, got)
        # the core's product, then the int32 wrap of the offset add and the clamp
        core = [_core.multiply_by_quantized_multiplier(int(a), int(m), int(np.clip(s, -31, 30)))
                for a, m, s in zip(acc, multiplier, shift)]
        want = [min(max((c + offset + 2**31) % 2**32 - 2**31, lo), hi) for c in core]
        np.testing.assert_array_equal(got, np.array(want, np.int8))
