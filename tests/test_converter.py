"""Converter: Keras (tf_keras and Keras 3) → int8 UnIT .tflite, checked
against TFLM's reference kernels (the `tflite_micro` interpreter)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tflite_oracle import convert_float, keras, run_tflm

from flatbuffers import flexbuffers

from tflm_unit.converter import (
    ConversionError,
    ModelFormatError,
    apply_thresholds,
    convert,
    int8_model,
    read_unit_config,
    to_builtin,
)
from tflm_unit.converter.convert import keras_layer_names
from tflm_unit.errors import DataError, OptionError
from tflm_unit.runtime import Interpreter, load_graph
from tflm_unit.unit.thresholds import quantize_thresholds

UNIT_KEYS = {"division", "group_size", "format_version"}


def _paper_net(K):
    """The UnIT paper's MNIST net: 2 conv (5×5, 6 and 16 filters) + 2 max-pool + 1 linear."""
    inp = K.Input((28, 28, 1))
    x = K.layers.Conv2D(6, 5, activation="relu", name="conv1")(inp)
    x = K.layers.MaxPooling2D(2, name="pool1")(x)
    x = K.layers.Conv2D(16, 5, activation="relu", name="conv2")(x)
    x = K.layers.MaxPooling2D(2, name="pool2")(x)
    x = K.layers.Flatten(name="flat")(x)
    x = K.layers.Dense(10, name="fc")(x)
    return K.Model(inp, x, name="paper")


def _ds_cnn(K):
    inp = K.Input((16, 16, 1))
    x = K.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="stem")(inp)
    x = K.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw1")(x)
    x = K.layers.BatchNormalization(name="bn1")(x)
    x = K.layers.ReLU(name="relu1")(x)
    x = K.layers.Conv2D(12, 1, activation="relu", name="pw1")(x)
    x = K.layers.DepthwiseConv2D(3, strides=2, padding="valid", name="dw2")(x)
    x = K.layers.GlobalAveragePooling2D(name="gap")(x)
    x = K.layers.Dense(4, activation="softmax", name="head")(x)
    return K.Model(inp, x, name="dscnn")


def _resnet(K):
    inp = K.Input((12, 12, 3))
    x = K.layers.Conv2D(8, 3, padding="same", activation="relu", name="c0")(inp)
    y = K.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(x)
    y = K.layers.Conv2D(8, 3, padding="same", name="c2")(y)
    x = K.layers.ReLU(name="relu")(K.layers.Add(name="add")([x, y]))
    x = K.layers.AveragePooling2D(2, name="avg")(x)
    x = K.layers.Flatten(name="flat")(x)
    x = K.layers.Dense(5, name="logits")(x)
    return K.Model(inp, x, name="resnet")


BUILDERS = {"paper": _paper_net, "dscnn": _ds_cnn, "resnet": _resnet}
MAC_LAYERS = {"paper": ["conv1", "conv2", "fc"], "dscnn": ["stem", "dw1", "pw1", "dw2", "head"],
              "resnet": ["c0", "c1", "c2", "logits"]}


def _keras_module(flavour: str):
    if flavour == "tf_keras":
        return keras()
    import keras as keras3

    return keras3


def _data(model, n: int = 24, seed: int = 0) -> np.ndarray:
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    return np.random.default_rng(seed).random((n,) + shape, dtype=np.float32)


_CACHE: dict = {}


def _converted(flavour: str, name: str):
    """(keras model, float data, builtin int8 bytes, UnIT bytes at T = 0), built once."""
    key = (flavour, name)
    if key not in _CACHE:
        K = _keras_module(flavour)
        K.utils.set_random_seed(1)
        model = BUILDERS[name](K)
        x = _data(model)
        base = int8_model(model, x)
        unit = apply_thresholds(base, 0.0, layer_names=keras_layer_names(model))
        _CACHE[key] = (model, x, base, unit)
    return _CACHE[key]


CASES = [(flavour, name) for flavour in ("tf_keras", "keras3") for name in BUILDERS]


@pytest.mark.parametrize("flavour,name", CASES)
def test_unit_at_zero_is_bit_identical_to_tflm_builtin(flavour, name):
    model, x, base, unit = _converted(flavour, name)
    graph = load_graph(unit)
    assert {op.name for op in graph.operators} & {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"} == set()
    assert [op["layer"] for op in read_unit_config(unit)["ops"]] == MAC_LAYERS[name]
    assert any(op.is_unit for op in graph.operators)
    xq = Interpreter(base).quantize_input(x)
    expected = run_tflm(base, xq)[0]
    result = Interpreter(unit).run(xq)
    np.testing.assert_array_equal(result.outputs[0], expected)
    # to_builtin(convert(...)) runs in stock TFLM and equals the original.
    builtin = to_builtin(unit)
    assert not any(op.is_custom for op in load_graph(builtin).operators)
    np.testing.assert_array_equal(run_tflm(builtin, xq)[0], expected)


def test_convert_from_keras_equals_convert_from_its_int8_model(tmp_path):
    model, x, base, unit = _converted("tf_keras", "paper")
    out = tmp_path / "m.tflite"
    direct = convert(model, x, out_path=out)
    assert out.read_bytes() == direct
    xq = Interpreter(base).quantize_input(x)
    np.testing.assert_array_equal(Interpreter(direct).run(xq).outputs[0], run_tflm(base, xq)[0])
    layers = [op["layer"] for op in read_unit_config(direct)["ops"]]
    assert layers == ["conv1", "conv2", "fc"]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@pytest.mark.parametrize("name", ["paper", "dscnn"])
def test_custom_options_decode_to_exactly_the_builtin_options(name):
    _, _, base, unit = _converted("tf_keras", name)
    base_graph, unit_graph = load_graph(base), load_graph(unit)
    checked = 0
    for before, after in zip(base_graph.operators, unit_graph.operators):
        if before.name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        assert after.name == "UNIT_" + before.name
        raw = unit_graph.model.subgraphs[0].operators[after.index].customOptions
        decoded = flexbuffers.Loads(bytes(bytearray(raw)))
        expected = {_snake(k): v for k, v in vars(before.builtin_options).items() if v is not None}
        assert {k: v for k, v in decoded.items() if k not in UNIT_KEYS} == expected
        assert decoded["division"] == "shift" and decoded["format_version"] == 1
        channels = unit_graph.tensor(after.outputs[0]).shape[-1]
        assert decoded["group_size"] == channels
        thresholds = unit_graph.tensor(after.inputs[3])
        assert thresholds.dtype == np.int16 and thresholds.shape == (1,)
        assert after.inputs[:3] == before.inputs[:3] or len(after.inputs) == 4
        checked += 1
    assert checked >= 3


def test_tensorflow_verifier_loads_the_model_and_names_the_custom_op():
    from tflm_unit.converter.quantize import import_tensorflow

    tf = import_tensorflow()
    _, _, _, unit = _converted("tf_keras", "paper")
    interpreter = tf.lite.Interpreter(model_content=unit)  # the flatbuffer verifier runs here
    with pytest.raises(RuntimeError, match="UNIT_CONV_2D"):
        interpreter.allocate_tensors()
    with pytest.raises(ValueError):
        tf.lite.Interpreter(model_content=unit[: len(unit) // 2])


def test_thresholds_are_quantised_per_op_and_replaced_in_place():
    _, x, base, unit = _converted("tf_keras", "paper")
    graph = load_graph(unit)
    first = apply_thresholds(unit, {"conv1": 0.02, "fc": [0.05]}, division="exact")
    again = apply_thresholds(first, {"conv1": 0.03, "conv2": 0.01}, division="tree", group_size={"conv2": 4})
    g1, g2 = load_graph(first), load_graph(again)
    assert len(g1.tensors) == len(g2.tensors) == len(graph.tensors)
    assert len(g1.model.buffers) == len(g2.model.buffers) == len(graph.model.buffers)
    assert len(g2.model.operatorCodes) == len(graph.model.operatorCodes)
    config = read_unit_config(again)
    ops = {op["layer"]: op for op in config["ops"]}
    assert config["division"] == "tree"
    assert ops["conv1"]["thresholds_real"] == [0.03]
    assert ops["fc"]["thresholds_real"] == [0.05]  # kept from the first run
    assert ops["conv2"]["group_size"] == 4 and ops["conv2"]["thresholds_real"] == [0.01] * 4
    for op in g2.operators:
        if not op.is_unit:
            continue
        record = next(r for r in config["ops"] if r["op_index"] == op.index)
        inp, filt = g2.tensor(op.inputs[0]), g2.tensor(op.inputs[1])
        expected = quantize_thresholds(record["thresholds_real"], inp.scalar_scale(), filt.scale,
                                       record["group_size"])
        np.testing.assert_array_equal(g2.tensor(op.inputs[3]).data, expected)
        assert record["thresholds_int"] == expected.tolist()
        assert op.custom_options["division"] == "tree"
    assert ops["conv1"]["thresholds_int"][0] > 0
    result = Interpreter(again).run(Interpreter(base).quantize_input(x))
    assert 0 < result.macs_executed < result.macs_total


def test_metadata_round_trip_and_keras3_layer_names():
    _, _, _, unit = _converted("keras3", "paper")
    calibration = {"dataset": "digits", "accuracy": 0.97, "mac_reduction": 0.4, "budget": {"max_drop": 0.01}}
    resources = {"before": {"macs": 100}, "after": {"macs": 80}}
    written = apply_thresholds(unit, {"conv2": [0.01]}, calibration=calibration, resources=resources)
    config = read_unit_config(written)
    assert config["calibration"] == calibration and config["resources"] == resources
    assert config["package"] == "tflm-unit" and config["format_version"] == 1
    assert [op["layer"] for op in config["ops"]] == ["conv1", "conv2", "fc"]  # Keras 3 scopes 'conv1_1' matched
    assert config["macs_total"] == sum(op["macs"] for op in config["ops"]) == \
        24 * 24 * 6 * 25 + 8 * 8 * 16 * 25 * 6 + 256 * 10
    # What was written is what is read: the raw JSON equals the dict.
    import json

    raw = load_graph(written).metadata["UNIT_METADATA"]
    assert json.loads(raw.decode("utf-8")) == config
    # Re-running without calibration keeps it; by op index works too.
    rerun = apply_thresholds(written, {2: 0.02})  # op 2 is conv2
    assert read_unit_config(rerun)["calibration"] == calibration
    assert read_unit_config(rerun)["ops"][1]["thresholds_real"] == [0.02]


def test_float_model_is_rejected_unless_allowed():
    K = keras()
    K.utils.set_random_seed(2)
    model = K.Sequential([K.Input((6, 6, 2)), K.layers.Conv2D(3, 3, name="c"), K.layers.Flatten(),
                          K.layers.Dense(2, name="d")])
    float_bytes = convert_float(model)
    with pytest.raises(ConversionError, match="float32, not full-integer int8"):
        convert(float_bytes)
    unit = convert(float_bytes, thresholds=0.0, allow_float=True)
    graph = load_graph(unit)
    t = graph.tensor(graph.operators[0].inputs[3])
    assert t.dtype == np.float32 and graph.operators[0].custom_options["division"] == "bitmask"
    x = np.random.default_rng(0).random((3, 6, 6, 2), dtype=np.float32)
    assert Interpreter(unit).run(x).outputs[0].shape == (3, 2)


def test_bad_inputs_give_clear_errors(tmp_path):
    model, x, base, unit = _converted("tf_keras", "paper")
    with pytest.raises(ModelFormatError, match="not a TFLite flatbuffer"):
        convert(b"definitely not a model")
    with pytest.raises(ModelFormatError):
        convert(base[:40] + bytes(10))  # truncated
    with pytest.raises(DataError, match=r"samples have shape \(27, 27\).*expects \(28, 28, 1\)"):
        convert(model, np.zeros((4, 27, 27), np.float32))
    with pytest.raises(DataError, match=r"channels first"):  # NCHW is not reshaped into NHWC
        convert(model, np.zeros((4, 1, 28, 28), np.float32))
    with pytest.raises(DataError, match="784 input values are NaN"):
        convert(model, np.full((1, 28, 28), np.nan, np.float32))
    with pytest.raises(OptionError, match="num_calibration_samples must be a positive integer"):
        convert(model, x, num_calibration_samples=0)
    with pytest.raises(ConversionError, match="no MAC layer named 'nope'"):
        convert(base, thresholds={"nope": 0.1})
    with pytest.raises(ConversionError, match="group size 4 does not divide the 6 output channels"):
        convert(base, group_size=4)
    with pytest.raises(ConversionError, match="thresholds must be >= 0"):
        convert(base, thresholds=-1.0)
    with pytest.raises(ConversionError, match="unknown division"):
        convert(base, division="fast")
    with pytest.raises(ConversionError, match="representative data is required"):
        convert(model)
    out = tmp_path / "never.tflite"
    with pytest.raises(ConversionError):
        convert(base, thresholds={"nope": 0.1}, out_path=out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_unsupported_layer_is_named():
    K = keras()
    model = K.Sequential([K.Input((5, 3)), K.layers.LSTM(4, name="lstm"), K.layers.Dense(2, name="d")])
    with pytest.raises(ConversionError) as info:
        convert(model, np.random.default_rng(0).random((8, 5, 3), dtype=np.float32))
    message = str(info.value)
    assert "\n" not in message
    assert "LSTM" in message and "not supported" in message  # names the op the runtime lacks


def test_keras3_saved_model_with_dynamic_batch_loses_its_shape_ops(tmp_path):
    """A Keras 3 SavedModel exported with a dynamic batch computes Flatten's
    target shape at run time (SHAPE → STRIDED_SLICE → PACK); the converter
    folds it into a constant, and the result still equals TFLM on the original."""
    import keras as keras3

    keras3.utils.set_random_seed(5)
    model = keras3.Sequential([keras3.Input((8, 8, 1)), keras3.layers.Conv2D(3, 3, name="conv"),
                               keras3.layers.Flatten(name="flat"), keras3.layers.Dense(4, name="dense")])
    model.export(str(tmp_path / "sm"), verbose=False)
    x = np.random.default_rng(1).random((6, 8, 8, 1), dtype=np.float32)
    base = int8_model(str(tmp_path / "sm"), x)
    assert "SHAPE" in [op.name for op in load_graph(base).operators]
    unit = convert(base)
    assert [op.name for op in load_graph(unit).operators] == ["UNIT_CONV_2D", "RESHAPE", "UNIT_FULLY_CONNECTED"]
    xq = Interpreter(unit).quantize_input(x)
    np.testing.assert_array_equal(Interpreter(unit).run(xq).outputs[0], run_tflm(base, xq)[0])
    np.testing.assert_array_equal(run_tflm(to_builtin(unit), xq)[0], run_tflm(base, xq)[0])


def test_per_tensor_quantised_model():
    """Per-tensor weight scales: T_q uses the one scale for every group."""
    from tflite_oracle import convert_int8

    K = keras()
    K.utils.set_random_seed(6)
    model = K.Sequential([K.Input((8, 8, 2)), K.layers.Conv2D(4, 3, activation="relu", name="conv"),
                          K.layers.Flatten(), K.layers.Dense(3, name="dense")])
    x = np.random.default_rng(2).random((8, 8, 8, 2), dtype=np.float32)
    base = convert_int8(model, x, per_channel=False)
    zero = convert(base)
    xq = Interpreter(zero).quantize_input(x)
    np.testing.assert_array_equal(Interpreter(zero).run(xq).outputs[0], run_tflm(base, xq)[0])
    unit = convert(base, thresholds={"conv": [0.01, 0.02]}, group_size={"conv": 2})
    graph = load_graph(unit)
    op = graph.operators[0]
    inp, filt = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
    assert filt.scale.size == 1
    expected = [round(t / (inp.scalar_scale() * float(filt.scale[0]))) for t in (0.01, 0.02)]
    assert graph.tensor(op.inputs[3]).data.tolist() == expected


@pytest.mark.parametrize("flavour", ["tf_keras", "keras3"])
def test_default_layer_names_are_unique_and_address_thresholds(flavour):
    """Keras' own default names (conv2d, conv2d_1, ...): Keras 3 traces them
    under scopes 'conv2d_1' and 'conv2d_1_2', so names come from the weights,
    not the scopes; every label is the Keras layer's name, once."""
    K = _keras_module(flavour)
    K.utils.set_random_seed(6)
    model = K.Sequential([K.Input((10, 10, 1)), K.layers.Conv2D(4, 3), K.layers.Conv2D(4, 3),
                          K.layers.DepthwiseConv2D(3), K.layers.Flatten(), K.layers.Dense(5), K.layers.Dense(3)])
    expected = [layer.name for layer in model.layers if not isinstance(layer, K.layers.Flatten)]
    x = np.random.default_rng(0).random((16, 10, 10, 1), dtype=np.float32)
    unit = convert(model, x, thresholds={expected[1]: 0.05, expected[4]: 0.02})
    config = read_unit_config(unit)
    assert [op["layer"] for op in config["ops"]] == expected
    t = {op["layer"]: op["thresholds_real"] for op in config["ops"]}
    assert t == {expected[0]: [0.0], expected[1]: [0.05], expected[2]: [0.0], expected[3]: [0.0],
                 expected[4]: [0.02]}
    # The second conv's filter is the Keras layer's kernel (matched by weights, not by position alone).
    graph = load_graph(unit)
    second = graph.operators[config["ops"][1]["op_index"]]
    filt = graph.tensor(second.inputs[1])
    real = filt.data.astype(np.float64) * filt.scale.reshape(-1, 1, 1, 1)
    np.testing.assert_allclose(real, model.layers[1].get_weights()[0].transpose(3, 0, 1, 2),
                               atol=float(filt.scale.max()))
    # Op indices address the same layers; re-running keeps the names.
    again = apply_thresholds(unit, {config["ops"][1]["op_index"]: 0.0, str(config["ops"][0]["op_index"]): 0.1})
    assert [op["layer"] for op in read_unit_config(again)["ops"]] == expected
    assert read_unit_config(again)["ops"][0]["thresholds_real"] == [0.1]
    with pytest.raises(ConversionError, match="no MAC layer named 'conv9'"):
        apply_thresholds(unit, {"conv9": 0.1})
