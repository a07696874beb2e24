"""float32 ADD, MAX_POOL_2D, AVERAGE_POOL_2D, MEAN, SOFTMAX, PAD / PADV2 and
CONCATENATION in the host runtime: small tf_keras models converted to float32
by TFLiteConverter, each equal bit for bit (tolerance 0) to TFLM's
interpreter (``tflite_micro``) and to TensorFlow Lite's reference kernels
(``BUILTIN_REF``) on the same inputs."""
import numpy as np
import pytest

from tflite_oracle import convert_float, keras, run_tflm

from tflm_unit.core import activation_ops as aops
from tflm_unit.errors import KernelArgumentError, UnsupportedModelError
from tflm_unit.runtime import Interpreter, load_graph


def _tf():
    import tensorflow as tf

    return tf


def _add_relu6(K, t):  # two branches added, RELU6 fused into the ADD
    a, b = K.layers.Conv2D(4, 3, padding="same")(t), K.layers.Conv2D(4, 1)(t)
    return K.layers.ReLU(6.0)(K.layers.Add()([a, b]))


def _add_relu(K, t):
    return K.layers.ReLU()(K.layers.Add()([K.layers.Conv2D(3, 1)(t), t]))


def _add_broadcast(K, t):  # [N,H,W,C] + [N,1,1,C]
    return K.layers.Add()([t, K.layers.GlobalAveragePooling2D(keepdims=True)(t)])


def _add_const(K, t):
    return K.layers.Lambda(lambda v: v + np.array([0.25, -1.0, 3.0], np.float32))(t)


def _max_pool_valid(K, t):
    return K.layers.MaxPooling2D(2)(t)


def _max_pool_same(K, t):  # padded windows: only in-bounds taps
    return K.layers.MaxPooling2D(3, strides=2, padding="same")(t)


def _avg_pool_valid(K, t):
    return K.layers.AveragePooling2D((2, 3), strides=(1, 2))(t)


def _avg_pool_same(K, t):  # edge windows average fewer taps
    return K.layers.AveragePooling2D(3, strides=2, padding="same")(t)


def _pool_relu6(K, t):  # activation fused into the pool by the converter
    return K.layers.ReLU(6.0)(K.layers.MaxPooling2D(2)(t))


def _mean_hw(K, t):
    return K.layers.GlobalAveragePooling2D()(t)


def _mean_channels(K, t):  # another axis, keep_dims
    tf = _tf()
    return K.layers.Lambda(lambda v: tf.reduce_mean(v, axis=[3], keepdims=True))(t)


def _mean_w(K, t):
    tf = _tf()
    return K.layers.Lambda(lambda v: tf.reduce_mean(v, axis=[2]))(t)


def _softmax(K, t):
    return K.layers.Softmax()(K.layers.Dense(7)(K.layers.Flatten()(t)))


def _softmax_beta(K, t):
    tf = _tf()
    return K.layers.Lambda(lambda v: tf.nn.softmax(v * 2.5))(K.layers.Dense(5)(K.layers.Flatten()(t)))


def _pad(K, t):
    return K.layers.ZeroPadding2D(((1, 2), (0, 1)))(t)


def _padv2(K, t):
    tf = _tf()
    return K.layers.Lambda(lambda v: tf.pad(v, [[0, 0], [1, 1], [2, 0], [0, 0]], constant_values=-0.75))(t)


def _concat(K, t):
    return K.layers.Concatenate()([K.layers.Conv2D(2, 1)(t), t, K.layers.Conv2D(1, 3, padding="same")(t)])


def _squeeze_excite(K, t):  # GAP -> dense -> sigmoid -> MUL, the float block users bring
    x = K.layers.Conv2D(6, 3, padding="same", activation="relu")(t)
    s = K.layers.Dense(6, activation="sigmoid")(K.layers.Dense(3, activation="relu")(
        K.layers.GlobalAveragePooling2D()(x)))
    return K.layers.Multiply()([x, K.layers.Reshape((1, 1, 6))(s)])


def _pooled_cnn(K, t):  # conv / pool / conv / pool / dense / softmax end to end
    x = K.layers.MaxPooling2D(2)(K.layers.Conv2D(4, 3, activation="relu", padding="same")(t))
    x = K.layers.AveragePooling2D(2)(K.layers.Conv2D(6, 3, activation="relu", padding="same")(x))
    return K.layers.Softmax()(K.layers.Dense(10)(K.layers.Flatten()(x)))


#: name -> (body, ops the float32 model must contain)
CASES = {
    "add_relu6": (_add_relu6, {"ADD"}),
    "add_relu": (_add_relu, {"ADD"}),
    "add_broadcast": (_add_broadcast, {"ADD", "MEAN"}),
    "add_const": (_add_const, {"ADD"}),
    "max_pool_valid": (_max_pool_valid, {"MAX_POOL_2D"}),
    "max_pool_same": (_max_pool_same, {"MAX_POOL_2D"}),
    "avg_pool_valid": (_avg_pool_valid, {"AVERAGE_POOL_2D"}),
    "avg_pool_same": (_avg_pool_same, {"AVERAGE_POOL_2D"}),
    "pool_relu6": (_pool_relu6, {"MAX_POOL_2D"}),
    "mean_hw": (_mean_hw, {"MEAN"}),
    "mean_channels": (_mean_channels, {"MEAN"}),
    "mean_w": (_mean_w, {"MEAN"}),
    "softmax": (_softmax, {"SOFTMAX"}),
    "softmax_beta": (_softmax_beta, {"SOFTMAX"}),
    "pad": (_pad, {"PAD"}),
    "padv2": (_padv2, {"PADV2"}),
    "concat": (_concat, {"CONCATENATION"}),
    "squeeze_excite": (_squeeze_excite, {"MEAN", "LOGISTIC", "MUL"}),
    "pooled_cnn": (_pooled_cnn, {"MAX_POOL_2D", "AVERAGE_POOL_2D", "SOFTMAX"}),
}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(31)
    x = rng.normal(0, 2, (8, 8, 8, 3)).astype(np.float32)
    x[0, :2, :2] = -np.float32(np.finfo(np.float32).max)  # extremes through the pools and clamps
    x[1, 3, 3] = 0.0
    return x


@pytest.fixture(scope="module")
def built():
    K = keras()
    K.utils.set_random_seed(3)
    models = {}
    for name, (body, _) in CASES.items():
        inp = K.layers.Input((8, 8, 3))
        models[name] = convert_float(K.Model(inp, body(K, inp)))
    return models


def _builtin_ref(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """TensorFlow Lite's reference kernels, one sample at a time."""
    tf = _tf()
    interp = tf.lite.Interpreter(model_content=model_bytes,
                                 experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    outs = []
    for i in range(len(x)):
        interp.set_tensor(inp, x[i:i + 1])
        interp.invoke()
        outs.append(interp.get_tensor(out).copy())
    return np.concatenate(outs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_op_bit_exact_with_tflm_and_tflite_reference(built, data, name):
    model_bytes = built[name]
    ops = {op.name for op in load_graph(model_bytes).operators}
    assert CASES[name][1] <= ops, ops  # the model really holds the op under test
    got = Interpreter(model_bytes).run(data).outputs[0]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, run_tflm(model_bytes, data)[0])
    np.testing.assert_array_equal(got, _builtin_ref(model_bytes, data))


def test_float32_mixed_dtypes_and_bad_arguments_are_refused():
    """An int8 tensor in a float ADD names op, tensor and dtype; the float
    kernels refuse bad arguments with the project's error."""
    from tflm_unit.runtime.model import pack_model, unpack_model

    K = keras()
    a, b = K.layers.Input((4,)), K.layers.Input((4,))
    model_t = unpack_model(convert_float(K.Model([a, b], K.layers.Add()([a, b]))))
    sub = model_t.subgraphs[0]
    sub.tensors[sub.operators[0].inputs[1]].type = 9  # INT8
    with pytest.raises(UnsupportedModelError, match=r"ADD.*is INT8, expected float32"):
        Interpreter(pack_model(model_t))
    with pytest.raises(KernelArgumentError, match="float32"):
        aops.softmax_float(np.zeros((2, 3), np.float64))
    with pytest.raises(KernelArgumentError, match="takes no fused activation"):
        aops.binary_float("MAXIMUM", np.zeros(3, np.float32), np.zeros(3, np.float32), "RELU")
