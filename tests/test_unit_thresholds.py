"""Quantisation of real UnIT thresholds to the int16 per-group T_q."""
import numpy as np
import pytest

from tflm_unit.unit.thresholds import T_Q_MAX, dequantize_thresholds, quantize_thresholds


def test_per_layer_threshold_with_per_tensor_scale():
    t_q = quantize_thresholds(0.5, input_scale=0.02, weight_scales=0.01, group_size=None)
    assert t_q.dtype == np.int16
    assert t_q.tolist() == [2500]  # 0.5 / (0.02 * 0.01)


def test_rounding_is_to_nearest_half_away_from_zero():
    # Scale product 1/8 is exact in binary, so T * 8 is exact too.
    t_real = np.array([0.0, 0.0624, 0.0625, 0.0626, 0.1875, 1.3125])
    t_q = quantize_thresholds(t_real, input_scale=0.5, weight_scales=0.25, group_size=1)
    assert t_q.tolist() == [0, 0, 1, 1, 2, 11]  # 0, .4992, .5, .5008, 1.5, 10.5


def test_saturates_to_int16_range_and_zero():
    t_q = quantize_thresholds([1e9, -3.0, 32767.4, 32767.6], input_scale=1.0,
                              weight_scales=1.0, group_size=1)
    assert t_q.tolist() == [T_Q_MAX, 0, 32767, 32767]


def test_per_group_mean_of_channel_scales():
    weight_scales = np.array([0.01, 0.03, 0.002, 0.006, 0.5, 1.5])
    t_q = quantize_thresholds(1.0, input_scale=0.1, weight_scales=weight_scales, group_size=2)
    group_means = weight_scales.reshape(3, 2).mean(axis=1)  # 0.02, 0.004, 1.0
    assert t_q.tolist() == [round(1.0 / (0.1 * m)) for m in group_means] == [500, 2500, 10]


def test_per_group_real_thresholds_and_per_channel_groups():
    weight_scales = np.array([0.01, 0.02, 0.04, 0.08])
    t_q = quantize_thresholds([0.1, 0.2, 0.4, 0.8], 1.0, weight_scales, group_size=1)
    assert t_q.tolist() == [10, 10, 10, 10]
    t_layer = quantize_thresholds(0.15, 1.0, weight_scales, group_size=None)
    assert t_layer.tolist() == [round(0.15 / weight_scales.mean())]


def test_scalar_scale_needs_group_count():
    assert quantize_thresholds(1.0, 1.0, 0.5, group_size=2, num_channels=6).tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="num_channels"):
        quantize_thresholds(1.0, 1.0, 0.5, group_size=2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(t_real=1.0, input_scale=0.0, weight_scales=1.0, group_size=None), "input_scale"),
    (dict(t_real=1.0, input_scale=1.0, weight_scales=[1.0, -1.0], group_size=1), "weight_scales"),
    (dict(t_real=1.0, input_scale=1.0, weight_scales=[1.0, 1.0, 1.0], group_size=2), "divide"),
    (dict(t_real=[1.0, 2.0], input_scale=1.0, weight_scales=[1.0] * 6, group_size=2), "groups"),
    (dict(t_real=np.nan, input_scale=1.0, weight_scales=1.0, group_size=None), "finite"),
    (dict(t_real=1.0, input_scale=1.0, weight_scales=[1.0, 1.0], group_size=0), "group_size"),
])
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        quantize_thresholds(**kwargs)


def test_round_trip():
    rng = np.random.default_rng(7)
    weight_scales = rng.uniform(0.001, 0.05, size=12)
    input_scale = 0.037
    t_real = rng.uniform(0.0, 2.0, size=3)
    t_q = quantize_thresholds(t_real, input_scale, weight_scales, group_size=4)
    back = dequantize_thresholds(t_q, input_scale, weight_scales, group_size=4)
    steps = input_scale * weight_scales.reshape(3, 4).mean(axis=1)
    assert np.all(t_q < T_Q_MAX)  # no saturation in this sample
    assert np.all(np.abs(back - t_real) <= steps / 2 + 1e-12)
    # Integer thresholds survive dequantise -> quantise unchanged.
    integers = np.array([0, 1, 12345], dtype=np.int16)
    real = dequantize_thresholds(integers, input_scale, weight_scales, group_size=4)
    assert np.array_equal(quantize_thresholds(real, input_scale, weight_scales, 4), integers)


def test_dequantize_rejects_float_input():
    with pytest.raises(ValueError, match="t_q"):
        dequantize_thresholds(np.array([1.5]), 1.0, 1.0, None)
