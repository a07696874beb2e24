"""At threshold 0 (and without thresholds) the C core reproduces TFLM's
reference kernels bit for bit: single-op models over a matrix of shapes,
strides, paddings, dilations, depth multipliers, activations and per-tensor /
per-channel quantisation, converted with TensorFlow's TFLiteConverter and run
in the `tflite_micro` interpreter."""
import numpy as np
import pytest

from tflite_oracle import convert_float, convert_int8, keras, run_tflm, with_dilation

from tflm_unit.runtime import Interpreter

RNG_SEED = 1234


def _check_bit_exact(model_bytes: bytes, x: np.ndarray, zero_thresholds: bool = True):
    interp = Interpreter(model_bytes)
    xq = interp.quantize_input(x)
    expected = run_tflm(model_bytes, xq)
    dense = interp.run(xq)
    for got, want in zip(dense.outputs, expected):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    if zero_thresholds:
        # The same model with UnIT skipping at T = 0 in every MAC layer.
        for op in interp.mac_layers():
            channels = interp.graph.tensor(op.outputs[0]).shape[-1]
            interp.set_skip(op.index, np.zeros(channels, np.int16), group_size=1, division="shift")
        unit = interp.run(xq)
        for got, want in zip(unit.outputs, expected):
            np.testing.assert_array_equal(got, want)
        assert unit.macs_executed <= dense.macs_executed
    return dense


def _conv_model(K, input_shape, layer):
    return K.Sequential([K.layers.Input(input_shape), layer])


CONV_CASES = [
    # (input HWC, filters, kernel, strides, padding, dilation, activation)
    ((9, 9, 3), 4, 3, 1, "same", 1, None),
    ((9, 9, 3), 4, 3, 2, "same", 1, "relu"),
    ((10, 8, 2), 5, (3, 2), (2, 1), "valid", 1, "relu6"),
    ((11, 11, 1), 6, 5, 1, "valid", 1, "relu"),
    ((12, 12, 4), 3, 3, 1, "valid", 2, None),  # dilation set in the flatbuffer
    ((13, 11, 2), 4, 3, 2, "valid", 3, "relu"),
    ((7, 9, 3), 8, 1, 1, "valid", 1, "relu"),
    ((8, 8, 2), 4, 3, 3, "same", 1, None),
]


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("case", CONV_CASES, ids=[f"conv{i}" for i in range(len(CONV_CASES))])
def test_conv2d_matches_tflm(case, per_channel):
    K = keras()
    shape, filters, kernel, strides, padding, dilation, act = case
    rng = np.random.default_rng(RNG_SEED)
    layer = K.layers.Conv2D(filters, kernel, strides=strides, padding=padding, activation=act,
                            bias_initializer=K.initializers.RandomNormal(stddev=0.2, seed=1))
    model = _conv_model(K, shape, layer)
    x = rng.normal(size=(6,) + shape).astype(np.float32)
    model_bytes = convert_int8(model, x, per_channel=per_channel)
    if dilation > 1:
        model_bytes = with_dilation(model_bytes, dilation)
    _check_bit_exact(model_bytes, x)


DW_CASES = [
    ((9, 9, 3), 3, 1, 1, "same", 1, "relu"),
    ((9, 9, 2), 3, 2, 2, "same", 1, None),
    ((10, 10, 4), (3, 5), 3, 1, "valid", 1, "relu6"),
    ((12, 12, 2), 3, 1, 1, "valid", 2, None),  # dilation set in the flatbuffer
]


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("case", DW_CASES, ids=[f"dw{i}" for i in range(len(DW_CASES))])
def test_depthwise_matches_tflm(case, per_channel):
    K = keras()
    shape, kernel, multiplier, strides, padding, dilation, act = case
    rng = np.random.default_rng(RNG_SEED)
    layer = K.layers.DepthwiseConv2D(kernel, strides=strides, padding=padding, depth_multiplier=multiplier,
                                     activation=act,
                                     bias_initializer=K.initializers.RandomNormal(stddev=0.2, seed=2))
    model = _conv_model(K, shape, layer)
    x = rng.normal(size=(6,) + shape).astype(np.float32)
    model_bytes = convert_int8(model, x, per_channel=per_channel)
    if dilation > 1:
        model_bytes = with_dilation(model_bytes, dilation)
    _check_bit_exact(model_bytes, x)


@pytest.mark.parametrize("units,act,use_bias", [(10, None, True), (7, "relu", True), (16, "relu6", False)])
def test_fully_connected_matches_tflm(units, act, use_bias):
    K = keras()
    rng = np.random.default_rng(RNG_SEED)
    model = K.Sequential([K.layers.Input((5, 5, 3)), K.layers.Flatten(),
                          K.layers.Dense(units, activation=act, use_bias=use_bias,
                                         bias_initializer=K.initializers.RandomNormal(stddev=0.3, seed=3))])
    x = rng.normal(size=(8, 5, 5, 3)).astype(np.float32)
    result = _check_bit_exact(convert_int8(model, x), x)
    assert result.layers[0].macs_total == 8 * 75 * units


def test_float_model_matches_tflm():
    """float32 conv / depthwise / dense through the float kernels."""
    K = keras()
    rng = np.random.default_rng(RNG_SEED)
    model = K.Sequential([K.layers.Input((10, 10, 2)), K.layers.Conv2D(4, 3, padding="same", activation="relu"),
                          K.layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, activation="relu6"),
                          K.layers.Flatten(), K.layers.Dense(6)])
    x = rng.normal(size=(5, 10, 10, 2)).astype(np.float32)
    model_bytes = convert_float(model)
    interp = Interpreter(model_bytes)
    expected = run_tflm(model_bytes, x)[0]
    np.testing.assert_array_equal(interp.run(x).outputs[0], expected)
    for op in interp.mac_layers():
        channels = interp.graph.tensor(op.outputs[0]).shape[-1]
        interp.set_skip(op.index, np.zeros(1, np.float32), group_size=channels, division="bitmask")
    np.testing.assert_array_equal(interp.run(x).outputs[0], expected)
