"""The NumPy reference of the UnIT kernels (tflm_unit.unit.reference).

Checked three ways: against plain per-tap Python loops written from the
skip rule itself (small cases), against the C core bit for bit (random
shapes, thresholds and division modes), and for its fixed-point helpers
against TFLite's definitions evaluated with Python integers.
"""
import math

import numpy as np
import pytest

from tflm_unit.unit import reference as ref
from tflm_unit.unit.division import DIVISION_MODES, FLOAT_DIVISION_MODES
from tflm_unit.unit.reference import ConvParams

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1


# ---------------------------------------------------------------------------
# Fixed-point helpers against scalar Python-integer versions of TFLite's.
# ---------------------------------------------------------------------------

def _srdhm_scalar(a: int, b: int) -> int:
    if a == INT32_MIN and b == INT32_MIN:
        return INT32_MAX
    product = a * b
    nudge = (1 << 30) if product >= 0 else 1 - (1 << 30)
    total = product + nudge
    quotient = abs(total) // (1 << 31)  # C division truncates toward zero
    return quotient if total >= 0 else -quotient


def _rdbpot_scalar(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def _mbqm_scalar(x: int, multiplier: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    return _rdbpot_scalar(_srdhm_scalar(x * (1 << left), multiplier), right)


def test_multiply_by_quantized_multiplier_matches_scalar_definition():
    rng = np.random.default_rng(3)
    x = rng.integers(-2 ** 24, 2 ** 24, size=3000)
    multiplier = rng.integers(2 ** 30, 2 ** 31, size=3000) * rng.choice([1, -1], size=3000)
    shift = rng.integers(-31, 6, size=3000)
    # Edge values: rounding ties and the saturating case.
    x[:4] = [INT32_MIN, 5, -5, 0]
    multiplier[:4] = [INT32_MIN, 2 ** 30, 2 ** 30, 2 ** 30]
    shift[:4] = [0, -1, -1, -3]
    result = ref.multiply_by_quantized_multiplier(x, multiplier, shift)
    expected = [_mbqm_scalar(int(a), int(m), int(s)) for a, m, s in zip(x, multiplier, shift)]
    assert result.dtype == np.int32
    assert result.tolist() == expected
    # Saturation; double rounding: 5 * 0.25 = 1.25 gives 2 (2.5 -> 3, then
    # 1.5 -> 2) but -1.25 gives -1 (-2.5 -> -2, then -1).
    assert result[:4].tolist() == [INT32_MAX, 2, -1, 0]


def test_multiply_by_quantized_multiplier_approximates_real_product():
    rng = np.random.default_rng(4)
    reals = rng.uniform(1e-4, 0.9, size=500)
    multiplier, shift = ref.quantize_multiplier(reals)
    x = rng.integers(-2 ** 20, 2 ** 20, size=500)
    result = ref.multiply_by_quantized_multiplier(x, multiplier, shift)
    assert np.all(np.abs(result - x * reals) <= 1.0 + np.abs(x * reals) * 2 ** -29)


def test_quantize_multiplier_corner_cases():
    multiplier, shift = ref.quantize_multiplier([0.0, 1.0, 0.5, 0.75, -0.75, 2.0 ** -40,
                                                 1.0 - 2.0 ** -40, 3.0])
    assert multiplier.dtype == np.int32 and shift.dtype == np.int32
    assert multiplier.tolist() == [0, 2 ** 30, 2 ** 30, 3 * 2 ** 29, -3 * 2 ** 29, 0, 2 ** 30,
                                   3 * 2 ** 29]
    # 1 - 2^-40 rounds up to 2^31 -> halved, shift + 1; 2^-40 -> shift < -31 -> (0, 0).
    assert shift.tolist() == [0, 1, 0, 0, 0, 0, 1, 2]
    for real, m, s in zip([0.3, 1e-3, 17.25], *ref.quantize_multiplier([0.3, 1e-3, 17.25])):
        assert abs(m * 2.0 ** (int(s) - 31) - real) <= real * 2 ** -30
    with pytest.raises(ValueError, match="finite"):
        ref.quantize_multiplier(np.inf)


def test_out_size_and_padding_as_tflite():
    assert ref.compute_out_size("SAME", 28, 5, 1, 1) == 28
    assert ref.compute_out_size("SAME", 7, 3, 2, 1) == 4
    assert ref.compute_out_size("VALID", 28, 5, 1, 1) == 24
    assert ref.compute_out_size("VALID", 10, 3, 2, 2) == 3  # effective filter 5
    assert ref.compute_padding(1, 1, 28, 5, 28) == 2
    assert ref.compute_padding(2, 1, 8, 3, 4) == 0  # total 1 -> top 0 (bottom 1)
    assert ref.compute_padding(2, 1, 7, 3, 4) == 1
    assert ref.compute_padding(1, 1, 28, 5, 24) == 0


# ---------------------------------------------------------------------------
# Against plain loops written from the skip rule (small cases).
# ---------------------------------------------------------------------------

def _skipped_int(compared: int, divisor: int, threshold: int, mode: str) -> bool:
    """The skip rule on one tap: compared = |x'| (conv) or |w| (fc)."""
    if compared == 0 or divisor == 0:
        return True
    threshold = max(threshold, 0)
    if mode == "exact":
        return compared * divisor <= threshold  # |x' * w| <= T_q
    return compared <= threshold >> (divisor.bit_length() - 1)


def _loop_geometry(x, w, params, depthwise):
    """(batches, in_h, in_w, in_c, channels, kh, kw, out_h, out_w, pad_h, pad_w)
    of a conv ([Co, kh, kw, Ci] filter) or depthwise ([1, kh, kw, C]) call."""
    batches, in_h, in_w, in_c = x.shape
    channels, kh, kw = (w.shape[3], w.shape[1], w.shape[2]) if depthwise else w.shape[:3]
    out_h = ref.compute_out_size(params.padding, in_h, kh, params.stride_h, params.dilation_h)
    out_w = ref.compute_out_size(params.padding, in_w, kw, params.stride_w, params.dilation_w)
    pad_h = ref.compute_padding(params.stride_h, params.dilation_h, in_h, kh, out_h)
    pad_w = ref.compute_padding(params.stride_w, params.dilation_w, in_w, kw, out_w)
    return batches, in_h, in_w, in_c, channels, kh, kw, out_h, out_w, pad_h, pad_w


def _loop_conv_int8(x, w, bias, multiplier, shift, params, thresholds, group_size, mode,
                    depthwise=False):
    """Direct per-output, per-tap loops; returns (output, executed per channel)."""
    batches, in_h, in_w, in_c, channels, kh, kw, out_h, out_w, pad_h, pad_w = _loop_geometry(
        x, w, params, depthwise)
    group_size = group_size or channels
    acc = np.zeros((batches, out_h, out_w, channels), dtype=np.int64)
    executed = np.zeros(channels, dtype=np.uint64)
    for n in range(batches):
        for oy in range(out_h):
            for ox in range(out_w):
                for c in range(channels):
                    total = 0 if bias is None else int(bias[c])
                    for ky in range(kh):
                        for kx in range(kw):
                            iy = oy * params.stride_h - pad_h + ky * params.dilation_h
                            ix = ox * params.stride_w - pad_w + kx * params.dilation_w
                            if not (0 <= iy < in_h and 0 <= ix < in_w):
                                continue
                            input_channels = ([c // params.depth_multiplier] if depthwise
                                              else range(in_c))
                            for ic in input_channels:
                                xv = int(x[n, iy, ix, ic]) + params.input_offset
                                wv = int(w[0, ky, kx, c]) if depthwise else int(w[c, ky, kx, ic])
                                if thresholds is not None and _skipped_int(
                                        abs(xv), abs(wv), int(thresholds[c // group_size]), mode):
                                    continue
                                total += xv * wv
                                executed[c] += 1
                    acc[n, oy, ox, c] = total
    scaled = ref.multiply_by_quantized_multiplier(acc, multiplier, shift).astype(np.int64)
    output = np.clip(scaled + params.output_offset, params.act_min, params.act_max)
    return output.astype(np.int8), executed


def _loop_fc_int8(x, w, bias, multiplier, shift, input_offset, output_offset, act_min, act_max,
                  thresholds, group_size, mode):
    batches, depth = x.shape
    channels = w.shape[0]
    group_size = group_size or channels
    acc = np.zeros((batches, channels), dtype=np.int64)
    executed = np.zeros(channels, dtype=np.uint64)
    for n in range(batches):
        for c in range(channels):
            total = 0 if bias is None else int(bias[c])
            for d in range(depth):
                xv = int(x[n, d]) + input_offset
                wv = int(w[c, d])
                # Fully connected: the input is the divisor, the weight compared.
                if thresholds is not None and _skipped_int(
                        abs(wv), abs(xv), int(thresholds[c // group_size]), mode):
                    continue
                total += xv * wv
                executed[c] += 1
            acc[n, c] = total
    scaled = ref.multiply_by_quantized_multiplier(acc, multiplier, shift).astype(np.int64)
    return np.clip(scaled + output_offset, act_min, act_max).astype(np.int8), executed


def _random_requant(rng, channels, per_channel=True):
    reals = rng.uniform(0.002, 0.05, size=channels if per_channel else 1)
    multiplier, shift = ref.quantize_multiplier(np.resize(reals, channels))
    return multiplier, shift


@pytest.mark.parametrize("mode", DIVISION_MODES)
@pytest.mark.parametrize("depthwise", [False, True])
def test_conv_matches_per_tap_loops(mode, depthwise):
    rng = np.random.default_rng(11 + depthwise)
    for case in range(3):
        in_c = int(rng.integers(1, 4))
        multiplier_m = int(rng.integers(1, 3)) if depthwise else 1
        channels = in_c * multiplier_m if depthwise else int(rng.integers(2, 5))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        params = ConvParams(stride_h=int(rng.integers(1, 3)), stride_w=int(rng.integers(1, 3)),
                            dilation_h=int(rng.integers(1, 3)), dilation_w=1,
                            padding=["SAME", "VALID"][case % 2], depth_multiplier=multiplier_m,
                            input_offset=int(rng.integers(-127, 129)),
                            output_offset=int(rng.integers(-20, 20)), act_min=-128, act_max=127)
        x = rng.integers(-128, 128, size=(2, 7, 6, in_c)).astype(np.int8)
        w_shape = (1, kh, kw, channels) if depthwise else (channels, kh, kw, in_c)
        w = rng.integers(-127, 128, size=w_shape).astype(np.int8)
        w[rng.random(w_shape) < 0.2] = 0
        x[rng.random(x.shape) < 0.2] = -params.input_offset if abs(params.input_offset) <= 127 else 0
        bias = rng.integers(-5000, 5000, size=channels).astype(np.int32)
        multiplier, shift = _random_requant(rng, channels)
        group_size = int(rng.choice([g for g in range(1, channels + 1) if channels % g == 0]))
        thresholds = rng.integers(-50, 6000, size=channels // group_size).astype(np.int16)
        kernel = ref.depthwise_conv_2d_int8 if depthwise else ref.conv_2d_int8
        result = kernel(x, w, bias, multiplier, shift, params, thresholds, group_size, mode)
        expected, executed = _loop_conv_int8(x, w, bias, multiplier, shift, params, thresholds,
                                             group_size, mode, depthwise)
        assert np.array_equal(result.output, expected)
        assert np.array_equal(result.channel_executed, executed)
        assert result.macs_executed == int(executed.sum())
        dense = kernel(x, w, bias, multiplier, shift, params)
        dense_expected, dense_executed = _loop_conv_int8(
            x, w, bias, multiplier, shift, params, None, None, mode, depthwise)
        assert np.array_equal(dense.output, dense_expected)
        assert np.array_equal(dense.channel_executed, dense_executed)
        assert result.macs_total == dense.macs_total == x.shape[0] * np.prod(
            result.output.shape[1:3]) * channels * kh * kw * (1 if depthwise else in_c)
        assert result.macs_executed < dense.macs_executed


@pytest.mark.parametrize("mode", DIVISION_MODES)
def test_fully_connected_matches_per_tap_loops(mode):
    rng = np.random.default_rng(21)
    for case in range(4):
        batches, depth, channels = int(rng.integers(1, 4)), int(rng.integers(1, 40)), 6
        x = rng.integers(-128, 128, size=(batches, depth)).astype(np.int8)
        w = rng.integers(-128, 128, size=(channels, depth)).astype(np.int8)
        w[rng.random(w.shape) < 0.2] = 0
        input_offset = int(rng.integers(-127, 129))
        bias = None if case == 0 else rng.integers(-9000, 9000, size=channels).astype(np.int32)
        multiplier, shift = _random_requant(rng, channels, per_channel=case % 2 == 0)
        group_size = [1, 2, 3, 6][case]
        thresholds = rng.integers(0, 8000, size=channels // group_size).astype(np.int16)
        args = (x, w, bias, multiplier, shift, input_offset, 3, -100, 90)
        result = ref.fully_connected_int8(*args, thresholds, group_size, mode)
        expected, executed = _loop_fc_int8(*args, thresholds, group_size, mode)
        assert np.array_equal(result.output, expected)
        assert np.array_equal(result.channel_executed, executed)
        assert result.macs_total == batches * depth * channels
        dense = ref.fully_connected_int8(*args)
        dense_expected, _ = _loop_fc_int8(*args, None, None, mode)
        assert np.array_equal(dense.output, dense_expected)
        assert dense.macs_executed == batches * depth * channels


def test_exact_mode_skips_exactly_the_small_products():
    """Brute force: with `exact`, the executed taps are those with |x'*w| > T_q."""
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, size=(1, 6, 6, 3)).astype(np.int8)
    w = rng.integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8)
    params = ConvParams(padding="VALID", input_offset=17, output_offset=0,
                        act_min=-128, act_max=127)
    multiplier, shift = ref.quantize_multiplier(np.full(4, 0.01))
    for t_q in [0, 1, 100, 2000, 32767]:
        result = ref.conv_2d_int8(x, w, None, multiplier, shift, params,
                                  np.array([t_q], dtype=np.int16))
        # All 4x4 output positions x 27 taps x 4 channels, VALID: all in bounds.
        patches = np.stack([x[0, oy:oy + 3, ox:ox + 3, :].astype(np.int64) + 17
                            for oy in range(4) for ox in range(4)])  # [16, 3, 3, 3]
        products = patches[:, None] * w[None].astype(np.int64)  # [16, 4, 3, 3, 3]
        big = np.abs(products) > t_q
        assert result.macs_executed == int(big.sum())
        assert result.channel_executed.tolist() == big.sum(axis=(0, 2, 3, 4)).tolist()


def test_zero_thresholds_give_dense_outputs():
    rng = np.random.default_rng(6)
    x = rng.integers(-128, 128, size=(2, 9, 9, 4)).astype(np.int8)
    x[rng.random(x.shape) < 0.3] = -5  # zero point 5 -> x' = 0
    w = rng.integers(-127, 128, size=(6, 3, 3, 4)).astype(np.int8)
    w[rng.random(w.shape) < 0.3] = 0
    multiplier, shift = _random_requant(rng, 6)
    params = ConvParams(padding="SAME", stride_h=2, stride_w=1, input_offset=5,
                        output_offset=-3, act_min=-128, act_max=127)
    dense = ref.conv_2d_int8(x, w, None, multiplier, shift, params)
    for mode in DIVISION_MODES:
        zero = ref.conv_2d_int8(x, w, None, multiplier, shift, params,
                                np.zeros(3, dtype=np.int16), 2, mode)
        negative = ref.conv_2d_int8(x, w, None, multiplier, shift, params,
                                    np.full(3, -7, dtype=np.int16), 2, mode)
        assert np.array_equal(zero.output, dense.output)
        assert np.array_equal(negative.output, dense.output)
        assert negative.macs_executed == zero.macs_executed < dense.macs_executed
    fc_x = x.reshape(2, -1)
    fc_w = rng.integers(-127, 128, size=(5, fc_x.shape[1])).astype(np.int8)
    m5, s5 = _random_requant(rng, 5)
    dense_fc = ref.fully_connected_int8(fc_x, fc_w, None, m5, s5, 5, 0, -128, 127)
    zero_fc = ref.fully_connected_int8(fc_x, fc_w, None, m5, s5, 5, 0, -128, 127,
                                       np.zeros(1, dtype=np.int16))
    assert np.array_equal(dense_fc.output, zero_fc.output)


# ---------------------------------------------------------------------------
# Float32: same loops in float32, accumulation order ky, kx, ic / d.
# ---------------------------------------------------------------------------

def _skipped_float(compared, divisor, threshold, mode) -> bool:
    if compared == 0 or divisor == 0:
        return True
    threshold = np.float32(max(threshold, np.float32(0)))
    if mode == "exact":
        tau = threshold / divisor
    else:
        tau = np.float32(threshold * np.float32(2.0) ** -np.float32(math.floor(math.log2(divisor))))
    return compared <= tau


def _loop_conv_float(x, w, bias, params, thresholds, group_size, mode, depthwise=False):
    batches, in_h, in_w, in_c, channels, kh, kw, out_h, out_w, pad_h, pad_w = _loop_geometry(
        x, w, params, depthwise)
    group_size = group_size or channels
    output = np.zeros((batches, out_h, out_w, channels), dtype=np.float32)
    executed = np.zeros(channels, dtype=np.uint64)
    for n in range(batches):
        for oy in range(out_h):
            for ox in range(out_w):
                for c in range(channels):
                    acc = np.float32(0)
                    for ky in range(kh):
                        for kx in range(kw):
                            iy = oy * params.stride_h - pad_h + ky * params.dilation_h
                            ix = ox * params.stride_w - pad_w + kx * params.dilation_w
                            if not (0 <= iy < in_h and 0 <= ix < in_w):
                                continue
                            input_channels = ([c // params.depth_multiplier] if depthwise
                                              else range(in_c))
                            for ic in input_channels:
                                xv = x[n, iy, ix, ic]
                                wv = w[0, ky, kx, c] if depthwise else w[c, ky, kx, ic]
                                if thresholds is not None and _skipped_float(
                                        abs(xv), abs(wv), thresholds[c // group_size], mode):
                                    continue
                                acc = np.float32(acc + np.float32(xv * wv))
                                executed[c] += 1
                    if bias is not None:
                        acc = np.float32(acc + bias[c])
                    output[n, oy, ox, c] = min(max(acc, np.float32(params.act_min)),
                                               np.float32(params.act_max))
    return output, executed


@pytest.mark.parametrize("mode", FLOAT_DIVISION_MODES)
@pytest.mark.parametrize("depthwise", [False, True])
def test_float_conv_matches_per_tap_loops(mode, depthwise):
    rng = np.random.default_rng(31 + depthwise)
    in_c, m = 3, (2 if depthwise else 1)
    channels = in_c * m if depthwise else 4
    x = rng.normal(size=(1, 6, 5, in_c)).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = 0
    w_shape = (1, 3, 3, channels) if depthwise else (channels, 3, 3, in_c)
    w = rng.normal(size=w_shape).astype(np.float32)
    bias = rng.normal(size=channels).astype(np.float32)
    params = ConvParams(padding="SAME", stride_h=1, stride_w=2, dilation_h=2, dilation_w=1,
                        depth_multiplier=m, act_min=-1.5, act_max=2.5)
    thresholds = rng.uniform(0, 0.6, size=channels // 2).astype(np.float32)
    kernel = ref.depthwise_conv_2d_float if depthwise else ref.conv_2d_float
    result = kernel(x, w, bias, params, thresholds, 2, mode)
    expected, executed = _loop_conv_float(x, w, bias, params, thresholds, 2, mode, depthwise)
    assert result.output.dtype == np.float32
    assert np.array_equal(result.output, expected)
    assert np.array_equal(result.channel_executed, executed)
    dense = kernel(x, w, bias, params)
    dense_expected, _ = _loop_conv_float(x, w, bias, params, None, None, mode, depthwise)
    assert np.array_equal(dense.output, dense_expected)
    assert result.macs_executed < dense.macs_executed


@pytest.mark.parametrize("mode", FLOAT_DIVISION_MODES)
def test_float_fully_connected_matches_loops(mode):
    rng = np.random.default_rng(41)
    x = rng.normal(size=(3, 50)).astype(np.float32)
    x[:, ::7] = 0
    w = rng.normal(size=(4, 50)).astype(np.float32)
    thresholds = np.array([0.3, 0.05], dtype=np.float32)
    result = ref.fully_connected_float(x, w, None, -10.0, 10.0, thresholds, 2, mode)
    for n in range(3):
        for c in range(4):
            acc = np.float32(0)
            count = 0
            for d in range(50):
                if _skipped_float(abs(w[c, d]), abs(x[n, d]), thresholds[c // 2], mode):
                    continue
                acc = np.float32(acc + np.float32(x[n, d] * w[c, d]))
                count += 1
            assert result.output[n, c] == min(max(acc, np.float32(-10)), np.float32(10))
    dense = ref.fully_connected_float(x, w, None, -np.inf, np.inf)
    assert dense.macs_executed == dense.macs_total == 3 * 4 * 50
    assert result.macs_executed < dense.macs_executed


# ---------------------------------------------------------------------------
# Bad input: a ValueError naming the problem.
# ---------------------------------------------------------------------------

def _small_conv_args():
    x = np.zeros((1, 5, 5, 2), dtype=np.int8)
    w = np.ones((4, 3, 3, 2), dtype=np.int8)
    multiplier, shift = ref.quantize_multiplier(np.full(4, 0.01))
    return x, w, None, multiplier, shift, ConvParams(padding="SAME")


@pytest.mark.parametrize("change, message", [
    (dict(thresholds=np.zeros(1, np.int16), group_size=3), "group_size"),
    (dict(thresholds=np.zeros(3, np.int16), group_size=2), "thresholds"),
    (dict(thresholds=np.zeros(2, np.float32), group_size=2), "thresholds"),
    (dict(thresholds=np.full(2, 40000, np.int32), group_size=2), "thresholds"),
    (dict(division="approx"), "division"),
    (dict(x=np.zeros((1, 5, 5, 2), np.uint8)), "input"),
    (dict(x=np.zeros((5, 5, 2), np.int8)), "input"),
    (dict(x=np.zeros((1, 5, 5, 3), np.int8)), "channels"),
    (dict(w=np.ones((4, 3, 3, 2), np.float32)), "filter"),
    (dict(bias=np.zeros(3, np.int32)), "bias"),
    (dict(bias=np.zeros(4, np.int64)), "bias"),
    (dict(multiplier=np.zeros(4, np.float32)), "multiplier"),
    (dict(shift=np.zeros(2, np.int32)), "shift"),
    (dict(params=ConvParams(padding="FULL")), "padding"),
    (dict(params=ConvParams(stride_h=0)), "stride_h"),
    (dict(params=ConvParams(input_offset=200)), "input_offset"),
    (dict(params=ConvParams(act_min=10, act_max=-10)), "act_min"),
    (dict(params=ConvParams(padding="VALID", dilation_h=3)), "does not fit"),
])
def test_conv_bad_input_raises_value_error(change, message):
    x, w, bias, multiplier, shift, params = _small_conv_args()
    args = dict(x=x, w=w, bias=bias, multiplier=multiplier, shift=shift, params=params)
    args.update(change)
    with pytest.raises(ValueError, match=message):
        ref.conv_2d_int8(**args)


def test_depthwise_and_fc_bad_input_raise_value_error():
    multiplier, shift = ref.quantize_multiplier(np.full(4, 0.01))
    x = np.zeros((1, 5, 5, 2), dtype=np.int8)
    with pytest.raises(ValueError, match="depth_multiplier"):
        ref.depthwise_conv_2d_int8(x, np.ones((1, 3, 3, 4), np.int8), None, multiplier, shift,
                                   ConvParams(depth_multiplier=1))
    with pytest.raises(ValueError, match="filter"):
        ref.depthwise_conv_2d_int8(x, np.ones((2, 3, 3, 2), np.int8), None, multiplier[:2],
                                   shift[:2], ConvParams())
    with pytest.raises(ValueError, match="depth"):
        ref.fully_connected_int8(np.zeros((1, 8), np.int8), np.ones((4, 9), np.int8), None,
                                 multiplier, shift, 0, 0, -128, 127)
    with pytest.raises(ValueError, match="group_size"):
        ref.fully_connected_int8(np.zeros((1, 8), np.int8), np.ones((4, 8), np.int8), None,
                                 multiplier, shift, 0, 0, -128, 127,
                                 np.zeros(1, np.int16), group_size=3)
    with pytest.raises(ValueError, match="thresholds"):
        ref.fully_connected_float(np.zeros((1, 8), np.float32), np.ones((4, 8), np.float32),
                                  None, 0.0, 1.0, np.zeros(1, np.int16))


# ---------------------------------------------------------------------------
# C core (tflm_unit.core.kernels) == NumPy reference, bit for bit.
# ---------------------------------------------------------------------------

from tflm_unit.core import kernels as core  # noqa: E402


def _assert_same_result(c_result, ref_result, what):
    assert c_result.output.dtype == ref_result.output.dtype, what
    assert c_result.output.shape == ref_result.output.shape, what
    assert np.array_equal(c_result.output, ref_result.output, equal_nan=True), what
    assert c_result.macs_total == ref_result.macs_total, what
    assert c_result.macs_executed == ref_result.macs_executed, what
    assert c_result.channel_executed.dtype == np.uint64, what
    assert np.array_equal(c_result.channel_executed, ref_result.channel_executed), what


def _divisors(n):
    return [g for g in range(1, n + 1) if n % g == 0]


def _random_int8_conv_case(rng, depthwise):
    """Random shapes, strides, dilations, padding, quantisation, activation."""
    in_c = int(rng.integers(1, 5))
    depth_multiplier = int(rng.integers(1, 4)) if depthwise else 1
    channels = in_c * depth_multiplier if depthwise else int(rng.integers(1, 9))
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    padding = str(rng.choice(["SAME", "VALID"]))
    dilation_h, dilation_w = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    in_h = int(rng.integers((kh - 1) * dilation_h + 1, 14))
    in_w = int(rng.integers((kw - 1) * dilation_w + 1, 14))
    input_offset = int(rng.choice([128, -127, int(rng.integers(-127, 129))]))
    output_offset = int(rng.integers(-128, 128))
    act_min, act_max = sorted(int(v) for v in rng.integers(-128, 128, size=2))
    if rng.random() < 0.5:
        act_min, act_max = -128, 127
    params = ConvParams(stride_h=int(rng.integers(1, 4)), stride_w=int(rng.integers(1, 4)),
                        dilation_h=dilation_h, dilation_w=dilation_w, padding=padding,
                        depth_multiplier=depth_multiplier, input_offset=input_offset,
                        output_offset=output_offset, act_min=act_min, act_max=act_max)
    x = rng.integers(-128, 128, size=(int(rng.integers(1, 3)), in_h, in_w, in_c)).astype(np.int8)
    if -128 <= -input_offset <= 127:
        x[rng.random(x.shape) < 0.15] = -input_offset  # x' == 0
    w_shape = (1, kh, kw, channels) if depthwise else (channels, kh, kw, in_c)
    w = rng.integers(-128, 128, size=w_shape).astype(np.int8)
    w[rng.random(w_shape) < 0.15] = 0
    bias = None if rng.random() < 0.2 else rng.integers(-20000, 20000, size=channels).astype(np.int32)
    per_channel = rng.random() < 0.5
    reals = rng.uniform(1e-4, 0.02, size=channels if per_channel else 1)
    if rng.random() < 0.1:
        reals = reals * 100  # multipliers >= 1: positive shifts
    multiplier, shift = ref.quantize_multiplier(reals)
    if not per_channel:
        multiplier, shift = int(multiplier[0]), int(shift[0])  # scalar: per tensor
    group_size = int(rng.choice(_divisors(channels)))
    thresholds = _random_int_thresholds(rng, channels // group_size)
    return (x, w, bias, multiplier, shift, params), thresholds, group_size


def _random_int_thresholds(rng, groups):
    """Mostly mid-range T_q (a fraction of taps skipped), sometimes the ends
    of the range: negative (acts as 0), 0, 32767 (skips every tap)."""
    thresholds = rng.integers(-100, 12000, size=groups)
    ends = rng.random(groups) < 0.15
    thresholds[ends] = rng.choice([-32768, 0, 1, 32767], size=int(ends.sum()))
    return thresholds.astype(np.int16)


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "depthwise"])
def test_c_core_equals_reference_int8_conv(depthwise):
    rng = np.random.default_rng(101 + depthwise)
    c_kernel = core.depthwise_conv_2d_int8 if depthwise else core.conv_2d_int8
    ref_kernel = ref.depthwise_conv_2d_int8 if depthwise else ref.conv_2d_int8
    skipped_some = 0
    for case in range(30):
        args, thresholds, group_size = _random_int8_conv_case(rng, depthwise)
        what = f"case {case}: x {args[0].shape} w {args[1].shape} {args[5]} group {group_size}"
        _assert_same_result(c_kernel(*args), ref_kernel(*args), what + " dense")
        for mode in DIVISION_MODES:
            c_result = c_kernel(*args, thresholds, group_size, mode)
            ref_result = ref_kernel(*args, thresholds, group_size, mode)
            _assert_same_result(c_result, ref_result, f"{what} {mode} T={thresholds}")
            skipped_some += ref_result.macs_executed < ref_result.macs_total
        per_layer = thresholds[:1]
        _assert_same_result(c_kernel(*args, per_layer), ref_kernel(*args, per_layer),
                            what + " per-layer")
    assert skipped_some > 100  # the cases really exercise skipping


def test_c_core_equals_reference_int8_fully_connected():
    rng = np.random.default_rng(103)
    for case in range(30):
        batches, depth, channels = (int(rng.integers(1, 4)), int(rng.integers(1, 200)),
                                    int(rng.integers(1, 13)))
        input_offset = int(rng.choice([128, -127, int(rng.integers(-127, 129))]))
        x = rng.integers(-128, 128, size=(batches, depth)).astype(np.int8)
        if -128 <= -input_offset <= 127:
            x[rng.random(x.shape) < 0.15] = -input_offset
        w = rng.integers(-128, 128, size=(channels, depth)).astype(np.int8)
        w[rng.random(w.shape) < 0.15] = 0
        bias = None if case % 5 == 0 else rng.integers(-30000, 30000, size=channels).astype(np.int32)
        per_channel = case % 2 == 0
        multiplier, shift = ref.quantize_multiplier(
            rng.uniform(1e-4, 0.01, size=channels if per_channel else 1))
        if not per_channel:
            multiplier, shift = int(multiplier[0]), int(shift[0])
        act_min, act_max = sorted(int(v) for v in rng.integers(-128, 128, size=2))
        args = (x, w, bias, multiplier, shift, input_offset, int(rng.integers(-128, 128)),
                act_min, act_max)
        group_size = int(rng.choice(_divisors(channels)))
        thresholds = _random_int_thresholds(rng, channels // group_size)
        what = f"case {case}: x {x.shape} w {w.shape} offset {input_offset} group {group_size}"
        _assert_same_result(core.fully_connected_int8(*args), ref.fully_connected_int8(*args),
                            what + " dense")
        for mode in DIVISION_MODES:
            _assert_same_result(core.fully_connected_int8(*args, thresholds, group_size, mode),
                                ref.fully_connected_int8(*args, thresholds, group_size, mode),
                                f"{what} {mode} T={thresholds}")


def _random_float_conv_case(rng, depthwise):
    in_c = int(rng.integers(1, 5))
    depth_multiplier = int(rng.integers(1, 4)) if depthwise else 1
    channels = in_c * depth_multiplier if depthwise else int(rng.integers(1, 9))
    kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    dilation_h, dilation_w = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    in_h = int(rng.integers((kh - 1) * dilation_h + 1, 12))
    in_w = int(rng.integers((kw - 1) * dilation_w + 1, 12))
    act_min, act_max = (-np.inf, np.inf) if rng.random() < 0.5 else (0.0, float(rng.uniform(1, 6)))
    params = ConvParams(stride_h=int(rng.integers(1, 4)), stride_w=int(rng.integers(1, 4)),
                        dilation_h=dilation_h, dilation_w=dilation_w,
                        padding=str(rng.choice(["SAME", "VALID"])),
                        depth_multiplier=depth_multiplier, act_min=act_min, act_max=act_max)
    x = rng.normal(size=(int(rng.integers(1, 3)), in_h, in_w, in_c)).astype(np.float32)
    x[rng.random(x.shape) < 0.15] = 0
    w_shape = (1, kh, kw, channels) if depthwise else (channels, kh, kw, in_c)
    w = (rng.normal(size=w_shape) * rng.uniform(0.01, 2)).astype(np.float32)
    w[rng.random(w_shape) < 0.15] = 0
    bias = None if rng.random() < 0.2 else rng.normal(size=channels).astype(np.float32)
    group_size = int(rng.choice(_divisors(channels)))
    thresholds = rng.uniform(-0.1, 1.5, size=channels // group_size).astype(np.float32)
    return (x, w, bias, params), thresholds, group_size


@pytest.mark.parametrize("depthwise", [False, True], ids=["conv", "depthwise"])
def test_c_core_equals_reference_float_conv(depthwise):
    rng = np.random.default_rng(201 + depthwise)
    c_kernel = core.depthwise_conv_2d_float if depthwise else core.conv_2d_float
    ref_kernel = ref.depthwise_conv_2d_float if depthwise else ref.conv_2d_float
    for case in range(25):
        args, thresholds, group_size = _random_float_conv_case(rng, depthwise)
        what = f"case {case}: x {args[0].shape} w {args[1].shape} {args[3]} group {group_size}"
        _assert_same_result(c_kernel(*args), ref_kernel(*args), what + " dense")
        for mode in FLOAT_DIVISION_MODES:
            _assert_same_result(c_kernel(*args, thresholds, group_size, mode),
                                ref_kernel(*args, thresholds, group_size, mode),
                                f"{what} {mode} T={thresholds}")


def test_c_core_equals_reference_float_fully_connected():
    rng = np.random.default_rng(203)
    for case in range(25):
        batches, depth, channels = (int(rng.integers(1, 4)), int(rng.integers(1, 300)),
                                    int(rng.integers(1, 13)))
        x = (rng.normal(size=(batches, depth)) * rng.uniform(0.01, 3)).astype(np.float32)
        x[rng.random(x.shape) < 0.15] = 0
        w = rng.normal(size=(channels, depth)).astype(np.float32)
        w[rng.random(w.shape) < 0.15] = 0
        bias = None if case % 4 == 0 else rng.normal(size=channels).astype(np.float32)
        act_min, act_max = (-np.inf, np.inf) if case % 2 else (-1.0, 1.0)
        group_size = int(rng.choice(_divisors(channels)))
        thresholds = rng.uniform(-0.1, 1.0, size=channels // group_size).astype(np.float32)
        args = (x, w, bias, act_min, act_max)
        what = f"case {case}: x {x.shape} w {w.shape} group {group_size}"
        _assert_same_result(core.fully_connected_float(*args), ref.fully_connected_float(*args),
                            what + " dense")
        for mode in FLOAT_DIVISION_MODES:
            _assert_same_result(core.fully_connected_float(*args, thresholds, group_size, mode),
                                ref.fully_connected_float(*args, thresholds, group_size, mode),
                                f"{what} {mode} T={thresholds}")


def test_c_core_fixed_point_helpers_equal_reference():
    rng = np.random.default_rng(301)
    reals = np.concatenate([rng.uniform(1e-6, 4.0, size=300), [0.0, 1.0, 0.5, 1 - 2.0 ** -40,
                                                              2.0 ** -40, 2.0 ** -31]])
    multipliers, shifts = ref.quantize_multiplier(reals)
    for real, m, s in zip(reals, multipliers, shifts):
        assert core.quantize_multiplier(real) == (int(m), int(s)), real
    x = rng.integers(-2 ** 22, 2 ** 22, size=300)
    expected = ref.multiply_by_quantized_multiplier(x, multipliers[:300], shifts[:300])
    for value, m, s, e in zip(x, multipliers, shifts, expected):
        assert core.multiply_by_quantized_multiplier(int(value), int(m), int(s)) == int(e)
    for padding in ("SAME", "VALID"):
        for in_size, k, stride, dilation in [(28, 5, 1, 1), (7, 3, 2, 1), (10, 3, 2, 2),
                                             (9, 4, 3, 2), (5, 1, 2, 1)]:
            out = ref.compute_out_size(padding, in_size, k, stride, dilation)
            assert core.compute_out_size(padding, in_size, k, stride, dilation) == out
            assert (core.compute_padding(stride, dilation, in_size, k, out)
                    == ref.compute_padding(stride, dilation, in_size, k, out))


@pytest.mark.parametrize("kernel_name, change", [
    ("conv_2d_int8", dict(thresholds=np.zeros(1, np.int16), group_size=3)),
    ("conv_2d_int8", dict(thresholds=np.zeros(3, np.int16), group_size=2)),
    ("conv_2d_int8", dict(thresholds=np.zeros(2, np.float32), group_size=2)),
    ("conv_2d_int8", dict(division="approx", thresholds=np.zeros(1, np.int16))),
    ("conv_2d_int8", dict(x=np.zeros((1, 5, 5, 2), np.uint8))),
    ("conv_2d_int8", dict(x=np.zeros((1, 5, 5, 2), np.float32))),
    ("conv_2d_int8", dict(x=np.zeros((5, 5, 2), np.int8))),
    ("conv_2d_int8", dict(x=np.zeros((1, 5, 5, 3), np.int8))),
    ("conv_2d_int8", dict(w=np.ones((4, 3, 3, 2), np.float32))),
    ("conv_2d_int8", dict(bias=np.zeros(3, np.int32))),
    ("conv_2d_int8", dict(shift=np.zeros(2, np.int32))),
    ("conv_2d_int8", dict(params=ConvParams(padding="FULL"))),
    ("conv_2d_int8", dict(params=ConvParams(stride_h=0))),
    ("conv_2d_int8", dict(params=ConvParams(padding="VALID", dilation_h=3))),
    ("depthwise_conv_2d_int8", dict(params=ConvParams(depth_multiplier=3))),
    ("depthwise_conv_2d_int8", dict(w=np.ones((2, 3, 3, 4), np.int8))),
])
def test_bad_input_raises_value_error_in_both(kernel_name, change):
    x = np.zeros((1, 5, 5, 2), dtype=np.int8)
    w = np.ones((1, 3, 3, 4), np.int8) if kernel_name.startswith("depthwise") else \
        np.ones((4, 3, 3, 2), dtype=np.int8)
    multiplier, shift = ref.quantize_multiplier(np.full(4, 0.01))
    args = dict(x=x, w=w, bias=None, multiplier=multiplier, shift=shift,
                params=ConvParams(padding="SAME", depth_multiplier=2))
    if kernel_name.startswith("conv"):
        args["params"] = ConvParams(padding="SAME")
    args.update(change)
    for module in (core, ref):
        with pytest.raises(ValueError):
            getattr(module, kernel_name)(**args)


@pytest.mark.parametrize("change", [
    dict(thresholds=np.zeros(1, np.int16), group_size=3),
    dict(thresholds=np.zeros(2, np.int16), group_size=1),
    dict(x=np.zeros((1, 8), np.int16)),
    dict(x=np.zeros((1, 1, 8), np.int8)),
    dict(w=np.ones((4, 9), np.int8)),
    dict(bias=np.zeros(5, np.int32)),
    dict(division="exact-ish", thresholds=np.zeros(1, np.int16)),
])
def test_fully_connected_bad_input_raises_value_error_in_both(change):
    multiplier, shift = ref.quantize_multiplier(np.full(4, 0.01))
    args = dict(x=np.zeros((1, 8), np.int8), w=np.ones((4, 8), np.int8), bias=None,
                multiplier=multiplier, shift=shift, input_offset=0, output_offset=0,
                act_min=-128, act_max=127)
    args.update(change)
    for module in (core, ref):
        with pytest.raises(ValueError):
            module.fully_connected_int8(**args)


# ---------------------------------------------------------------------------
# The dense reference == TFLM's builtin int8 kernels (tflite_micro interpreter).
# ---------------------------------------------------------------------------

def _build_int8_tflite(config, seed):
    """A small conv -> depthwise -> flatten -> dense Keras model with random
    biases, converted to a fully int8 .tflite; every op's output is a model
    output so the interpreter keeps it."""
    import os
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inputs = keras.Input(config["input_shape"], batch_size=1)
    conv = keras.layers.Conv2D(**config["conv"])(inputs)
    depthwise = keras.layers.DepthwiseConv2D(**config["depthwise"])(conv)
    dense = keras.layers.Dense(**config["dense"])(keras.layers.Flatten()(depthwise))
    model = keras.Model(inputs, [conv, depthwise, dense])
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(scale=0.3, size=layer.bias.shape))

    def representative_data():
        for _ in range(16):
            yield [rng.normal(size=(1,) + config["input_shape"]).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_data
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def _activation_range(fused_activation, scale, zero_point):
    """TFLite's quantised clamp for NONE (0), RELU (1), RELU6 (3)."""
    low, high = -128, 127
    if fused_activation in (1, 3):
        low = max(low, zero_point)
    if fused_activation == 3:
        high = min(high, zero_point + int(round(6.0 / scale)))
    assert fused_activation in (0, 1, 3)
    return low, high


def _run_graph_with_reference(model, x, thresholds_for=None):
    """Runs the .tflite graph op by op with the NumPy reference kernels;
    returns every tensor value by index."""
    subgraph = model.subgraphs[0]
    tensors = subgraph.tensors
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]

    def quantization(index):
        q = tensors[index].quantization
        return np.asarray(q.scale, dtype=np.float64), np.asarray(q.zeroPoint, dtype=np.int64)

    def constant(index, dtype):
        data = bytes(model.buffers[tensors[index].buffer].data)
        return np.frombuffer(data, dtype=dtype).reshape(tensors[index].shape)

    values = {subgraph.inputs[0]: x}
    for op in subgraph.operators:
        code = codes[op.opcodeIndex]
        if code == 22:  # RESHAPE (Flatten)
            values[op.outputs[0]] = values[op.inputs[0]].reshape(tensors[op.outputs[0]].shape)
            continue
        input_index, filter_index, bias_index = op.inputs
        output_index = op.outputs[0]
        input_scale, input_zp = quantization(input_index)
        filter_scales, _ = quantization(filter_index)
        output_scale, output_zp = quantization(output_index)
        # TFLite: effective scale in double, s_in * s_w[c] / s_out.
        multiplier, shift = ref.quantize_multiplier(input_scale[0] * filter_scales / output_scale[0])
        weights = constant(filter_index, np.int8)
        bias = None if bias_index < 0 else constant(bias_index, np.int32)
        options = op.builtinOptions
        act_min, act_max = _activation_range(options.fusedActivationFunction,
                                             float(output_scale[0]), int(output_zp[0]))
        channels = weights.shape[3] if code == 4 else weights.shape[0]
        skip = {} if thresholds_for is None else thresholds_for(channels)
        if code in (3, 4):  # CONV_2D, DEPTHWISE_CONV_2D
            params = ConvParams(stride_h=options.strideH, stride_w=options.strideW,
                                dilation_h=options.dilationHFactor,
                                dilation_w=options.dilationWFactor,
                                padding={0: "SAME", 1: "VALID"}[options.padding],
                                depth_multiplier=getattr(options, "depthMultiplier", 1) or 1,
                                input_offset=-int(input_zp[0]), output_offset=int(output_zp[0]),
                                act_min=act_min, act_max=act_max)
            kernel = ref.conv_2d_int8 if code == 3 else ref.depthwise_conv_2d_int8
            result = kernel(values[input_index], weights, bias, multiplier, shift, params, **skip)
        else:
            assert code == 9  # FULLY_CONNECTED
            result = ref.fully_connected_int8(values[input_index], weights, bias, multiplier,
                                              shift, -int(input_zp[0]), int(output_zp[0]),
                                              act_min, act_max, **skip)
        values[output_index] = result.output
    return values


TFLM_CONFIGS = [
    dict(input_shape=(10, 9, 3),
         conv=dict(filters=5, kernel_size=3, strides=(2, 1), padding="same", activation="relu"),
         depthwise=dict(kernel_size=3, depth_multiplier=2, padding="valid", activation="relu6"),
         dense=dict(units=7)),
    dict(input_shape=(11, 12, 2),
         conv=dict(filters=4, kernel_size=(2, 3), padding="valid", dilation_rate=2),
         depthwise=dict(kernel_size=(3, 2), strides=2, padding="same", activation="relu"),
         dense=dict(units=5, activation="relu")),
]


@pytest.mark.parametrize("config_index", range(len(TFLM_CONFIGS)))
def test_dense_reference_equals_tflm_builtin_kernels(config_index):
    """Thresholds None (and all-zero thresholds) give exactly TFLM's outputs."""
    from tflite_micro.python.tflite_micro import runtime
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    flatbuffer = _build_int8_tflite(TFLM_CONFIGS[config_index], seed=config_index)
    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    codes = sorted(max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes)
    assert codes == [3, 4, 9, 22]  # CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, RESHAPE
    interpreter = runtime.Interpreter.from_bytes(flatbuffer)
    rng = np.random.default_rng(config_index)
    input_shape = tuple(model.subgraphs[0].tensors[model.subgraphs[0].inputs[0]].shape)
    for _ in range(3):
        x = rng.integers(-128, 128, size=input_shape).astype(np.int8)
        interpreter.set_input(x, 0)
        interpreter.invoke()
        dense_values = _run_graph_with_reference(model, x)
        zero_values = _run_graph_with_reference(
            model, x, lambda channels: dict(thresholds=np.zeros(1, np.int16), division="shift"))
        for position, tensor_index in enumerate(model.subgraphs[0].outputs):
            tflm_output = interpreter.get_output(position)
            assert np.array_equal(dense_values[tensor_index], tflm_output), tensor_index
            assert np.array_equal(zero_values[tensor_index], tflm_output), tensor_index
