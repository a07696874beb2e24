"""float32 ADD, MAX_POOL_2D, AVERAGE_POOL_2D, MEAN, SOFTMAX, PAD / PADV2 and
CONCATENATION through the host runtime (the C core's unit_ops_float.c; PAD /
CONCATENATION move values with NumPy): small tf_keras models converted to
float32 by TensorFlow's TFLiteConverter (fused activations and softmax beta
set in the flatbuffer where the converter leaves them out), run through
``tflm_unit.runtime.Interpreter`` and both oracles — ``tflite_micro`` and
``tf.lite.Interpreter`` with the BUILTIN_REF resolver — with tolerance 0;
a float squeeze-excite block and a pooled float CNN end to end (also through
``tflm-unit eval``); an unsupported dtype is a one-line error naming op and
dtype."""
import json

import numpy as np
import pytest

from tflite_oracle import convert_float, keras, run_tflite_reference, run_tflm

from tflm_unit.errors import UnsupportedModelError
from tflm_unit.runtime import Interpreter

schema = pytest.importorskip("tflite_micro.tensorflow.lite.micro.python.schema_py_generated")
OP = schema.BuiltinOperator
ACTIVATIONS = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}


def _tf():
    import tensorflow as tf

    return tf


# ------------------------------------------------------------ model bodies (input [N, 6, 6, 3])


def _conv(K, t, channels=4, k=3):
    return K.layers.Conv2D(channels, k)(t)


def _add_same(K, t):
    return K.layers.Add()([_conv(K, t), _conv(K, t)])


def _add_broadcast_const(K, t):  # [N,6,6,3] + [3] on the input: nothing to fold it into
    c = np.array([0.25, -1.5, 3.0], np.float32)
    return _conv(K, K.layers.Lambda(lambda v: v + c)(t))


def _add_broadcast_gap(K, t):  # [N,4,4,4] + [N,1,1,4]
    c = _conv(K, t)
    return K.layers.Add()([c, K.layers.GlobalAveragePooling2D(keepdims=True)(c)])


def _max_pool_valid(K, t):
    return K.layers.MaxPooling2D(2)(t)


def _max_pool_same_stride(K, t):
    return K.layers.MaxPooling2D(3, strides=2, padding="same")(_conv(K, t, k=1))


def _avg_pool_valid(K, t):
    return K.layers.AveragePooling2D(2, strides=1)(t)


def _avg_pool_same_stride(K, t):  # edge windows hold fewer taps
    return K.layers.AveragePooling2D(3, strides=2, padding="same")(_conv(K, t, k=1))


def _mean_hw(K, t):
    return K.layers.GlobalAveragePooling2D()(_conv(K, t))


def _mean_hw_keep(K, t):
    return K.layers.GlobalAveragePooling2D(keepdims=True)(_conv(K, t))


def _mean_w(K, t):
    tf = _tf()
    return K.layers.Lambda(lambda v: tf.reduce_mean(v, axis=2, keepdims=True))(_conv(K, t))


def _mean_channels(K, t):
    tf = _tf()
    return K.layers.Lambda(lambda v: tf.reduce_mean(v, axis=-1))(_conv(K, t))


def _mean_hwc(K, t):
    tf = _tf()
    return K.layers.Lambda(lambda v: tf.reduce_mean(v, axis=[1, 2, 3]))(_conv(K, t))


def _softmax_dense(K, t):
    return K.layers.Dense(7, activation="softmax")(K.layers.Flatten()(_conv(K, t)))


def _softmax_nhwc(K, t):  # over the channels of every pixel
    return K.layers.Softmax()(_conv(K, t, channels=5))


def _pad(K, t):
    return _conv(K, K.layers.ZeroPadding2D(((1, 2), (0, 1)))(t))


def _padv2(K, t):
    tf = _tf()
    return K.layers.Lambda(lambda v: tf.pad(v, [[0, 0], [2, 1], [1, 1], [0, 1]], constant_values=1.5))(
        _conv(K, t))


def _concat_channels(K, t):
    return K.layers.Concatenate()([_conv(K, t), _conv(K, t, channels=2)])


def _concat_rows(K, t):
    return K.layers.Concatenate(axis=1)([_conv(K, t), _conv(K, t), _conv(K, t)])


def _squeeze_excite(K, t):  # GAP -> dense -> sigmoid -> broadcast MUL
    c = _conv(K, t, channels=6)
    gate = K.layers.GlobalAveragePooling2D()(c)
    gate = K.layers.Dense(3, activation="relu")(gate)
    gate = K.layers.Dense(6, activation="sigmoid")(gate)
    return K.layers.Multiply()([c, K.layers.Reshape((1, 1, 6))(gate)])


def _pooled_cnn(K, t):  # conv, max pool, residual ADD, average pool, pad, concat, dense, softmax
    c = K.layers.Conv2D(8, 3, padding="same", activation="relu")(t)
    c = K.layers.MaxPooling2D(2)(c)
    r = K.layers.Conv2D(8, 3, padding="same")(c)
    c = K.layers.ReLU()(K.layers.Add()([c, r]))
    c = K.layers.ZeroPadding2D(1)(c)
    c = K.layers.AveragePooling2D(2)(c)
    c = K.layers.Concatenate()([c, K.layers.Conv2D(2, 1)(c)])
    g = K.layers.GlobalAveragePooling2D()(c)
    return K.layers.Dense(3, activation="softmax")(g)


#: name -> (body, builtin ops the float model must contain)
CASES = {
    "add_same": (_add_same, {"ADD"}),
    "add_broadcast_const": (_add_broadcast_const, {"ADD"}),
    "add_broadcast_gap": (_add_broadcast_gap, {"ADD", "MEAN"}),
    "max_pool_valid": (_max_pool_valid, {"MAX_POOL_2D"}),
    "max_pool_same_stride": (_max_pool_same_stride, {"MAX_POOL_2D"}),
    "avg_pool_valid": (_avg_pool_valid, {"AVERAGE_POOL_2D"}),
    "avg_pool_same_stride": (_avg_pool_same_stride, {"AVERAGE_POOL_2D"}),
    "mean_hw": (_mean_hw, {"MEAN"}),
    "mean_hw_keep": (_mean_hw_keep, {"MEAN"}),
    "mean_w": (_mean_w, {"MEAN"}),
    "mean_channels": (_mean_channels, {"MEAN"}),
    "mean_hwc": (_mean_hwc, {"MEAN"}),
    "softmax_dense": (_softmax_dense, {"SOFTMAX"}),
    "softmax_nhwc": (_softmax_nhwc, {"SOFTMAX"}),
    "pad": (_pad, {"PAD"}),
    "padv2": (_padv2, {"PADV2"}),
    "concat_channels": (_concat_channels, {"CONCATENATION"}),
    "concat_rows": (_concat_rows, {"CONCATENATION"}),
    "squeeze_excite": (_squeeze_excite, {"MEAN", "FULLY_CONNECTED", "LOGISTIC", "MUL"}),
    "pooled_cnn": (_pooled_cnn, {"MAX_POOL_2D", "AVERAGE_POOL_2D", "ADD", "PAD", "CONCATENATION", "MEAN",
                                 "SOFTMAX"}),
}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, (10, 6, 6, 3)).astype(np.float32)
    x[0] = 0.0  # equal values: ties in max pool and softmax
    x[1, :, :, 0] = -1e30  # large magnitudes
    return x


@pytest.fixture(scope="module")
def models():
    """name -> float32 .tflite bytes, converted once."""
    K = keras()
    K.utils.set_random_seed(11)
    out = {}
    for name, (body, _) in CASES.items():
        inp = K.layers.Input((6, 6, 3))
        out[name] = convert_float(K.Model(inp, body(K, inp)))
    return out


def _op_code(model_t, op) -> int:
    code = model_t.operatorCodes[op.opcodeIndex]
    return max(int(code.builtinCode), int(code.deprecatedBuiltinCode))


def _edit(model_bytes: bytes, code: int, **fields) -> bytes:
    """Set builtin option fields on every op of `code` (the oracles run the
    edited bytes too)."""
    from tflm_unit.runtime.model import pack_model, unpack_model

    model_t = unpack_model(model_bytes)
    hits = [op for op in model_t.subgraphs[0].operators if _op_code(model_t, op) == code]
    assert hits, f"no op {code} in the model"
    for op in hits:
        for key, value in fields.items():
            setattr(op.builtinOptions, key, value)
    return pack_model(model_t)



def _ops(model_bytes):
    return {op.name for op in Interpreter(model_bytes).graph.operators}


def _assert_bit_exact(model_bytes, x):
    got = Interpreter(model_bytes).run(x).outputs[0]
    assert got.dtype == np.float32
    tflm = run_tflm(model_bytes, x)[0]
    ref = run_tflite_reference(model_bytes, x)[0]
    assert tflm.shape == ref.shape == got.shape
    np.testing.assert_array_equal(got, tflm)  # tolerance 0 (NaN == NaN position-wise)
    np.testing.assert_array_equal(got, ref)
    return got


# ------------------------------------------------------------ pool / add


POOL_ADD = sorted(n for n in CASES if n.startswith(("add_", "max_pool", "avg_pool")))


@pytest.mark.parametrize("name", POOL_ADD)
def test_pool_and_add_bit_exact(models, data, name):
    assert CASES[name][1] <= _ops(models[name])
    _assert_bit_exact(models[name], data)


@pytest.mark.parametrize("activation", ["RELU", "RELU6", "RELU_N1_TO_1"])
@pytest.mark.parametrize("name,code", [("add_same", OP.ADD), ("add_broadcast_gap", OP.ADD),
                                       ("max_pool_same_stride", OP.MAX_POOL_2D),
                                       ("avg_pool_same_stride", OP.AVERAGE_POOL_2D)])
def test_fused_activations_bit_exact(models, data, name, code, activation):
    model = _edit(models[name], code, fusedActivationFunction=ACTIVATIONS[activation])
    plain = Interpreter(models[name]).run(data).outputs[0]
    got = _assert_bit_exact(model, data)
    lo, hi = {"RELU": (0, np.inf), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}[activation]
    assert got.min() >= lo and got.max() <= hi
    assert not np.array_equal(got, plain)  # the clamp did something


# ------------------------------------------------------------ mean / softmax / pad / concatenation


OTHER = sorted(n for n in CASES if n.startswith(("mean_", "softmax_", "pad", "concat_")))


@pytest.mark.parametrize("name", OTHER)
def test_mean_softmax_pad_concatenation_bit_exact(models, data, name):
    assert CASES[name][1] <= _ops(models[name])
    _assert_bit_exact(models[name], data)


@pytest.mark.parametrize("beta", [0.5, 2.75])
@pytest.mark.parametrize("name", ["softmax_dense", "softmax_nhwc"])
def test_softmax_beta_bit_exact(models, data, name, beta):
    got = _assert_bit_exact(_edit(models[name], OP.SOFTMAX, beta=beta), data[2:])
    assert not np.array_equal(got, Interpreter(models[name]).run(data[2:]).outputs[0])


def test_padv2_fills_the_constant(models, data):
    interp = Interpreter(models["padv2"])
    (pad_op,) = [op for op in interp.graph.operators if op.name == "PADV2"]
    values = {interp.graph.inputs[0]: data[:2]}
    interp.run_from(values)
    padded = values[pad_op.outputs[0]]
    assert padded.shape == (2, 7, 6, 5)
    assert (padded[:, :2] == np.float32(1.5)).all() and (padded[..., -1] == np.float32(1.5)).all()


# ------------------------------------------------------------ end to end


@pytest.mark.parametrize("name", ["squeeze_excite", "pooled_cnn"])
def test_float_models_end_to_end_bit_exact(models, data, name):
    assert CASES[name][1] <= _ops(models[name]), _ops(models[name])
    got = _assert_bit_exact(models[name], data)
    assert np.isfinite(got[2:]).all()


def test_cli_eval_runs_a_pooled_float_model(models, tmp_path, capsys):
    from tflm_unit.cli import main

    path = tmp_path / "pooled_float.tflite"
    path.write_bytes(models["pooled_cnn"])
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (12, 6, 6, 3)).astype(np.float32)
    y = rng.integers(0, 3, 12)
    np.savez(tmp_path / "data.npz", x_test=x, y_test=y)
    assert main(["eval", str(path), "--data", str(tmp_path / "data.npz"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    expected = run_tflm(models["pooled_cnn"], x)[0]  # float data passes unchanged into a float model
    assert result["accuracy"] == pytest.approx(float(np.mean(np.argmax(expected, axis=-1) == y)))


# ------------------------------------------------------------ errors


def test_unsupported_dtype_is_one_line_naming_op_and_dtype(models):
    """A pool / add / mean / softmax / pad / concatenation whose tensors mix
    dtypes (or are neither int8 nor float32) is refused at load."""
    from tflm_unit.runtime.model import pack_model, unpack_model

    for name, code, op_name in (("max_pool_valid", OP.MAX_POOL_2D, "MAX_POOL_2D"), ("add_same", OP.ADD, "ADD"),
                                ("mean_hw", OP.MEAN, "MEAN"), ("softmax_dense", OP.SOFTMAX, "SOFTMAX"),
                                ("pad", OP.PAD, "PAD"), ("concat_channels", OP.CONCATENATION, "CONCATENATION")):
        model_t = unpack_model(models[name])
        sg = model_t.subgraphs[0]
        (op,) = [o for o in sg.operators if _op_code(model_t, o) == code]
        sg.tensors[op.outputs[0]].type = schema.TensorType.INT16
        with pytest.raises(UnsupportedModelError) as err:
            Interpreter(pack_model(model_t))
        message = str(err.value)
        assert "\n" not in message and op_name in message and "INT16" in message, message


@pytest.mark.parametrize("name", ["pooled_cnn", "concat_channels", "avg_pool_same_stride", "max_pool_same_stride"])
def test_overflowing_inputs_clamp_as_tflm(models, data, name):
    """Inputs at -FLT_MAX overflow the conv sums and the average-pool sums to
    inf; TFLM clamps them to its float activation range (+-FLT_MAX for NONE),
    and so must the runtime (its convs once gave inf here)."""
    x = data.copy()
    x[2, :3, :3] = -np.finfo(np.float32).max
    x[3, 2:, 2:, 1:] = np.finfo(np.float32).max
    got = _assert_bit_exact(models[name], x)
    assert not np.isinf(got).any()
