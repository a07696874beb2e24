"""Activation and element-wise ops (LOGISTIC, TANH, HARD_SWISH, LEAKY_RELU,
RELU, RELU6, RELU_N1_TO_1, PRELU, MUL, SUB, MINIMUM, MAXIMUM,
SQUARED_DIFFERENCE) through the C core (unit_activation.c) and the host
runtime: one small model per op (activations fused into the layer and as a
separate layer, a squeeze-excite MUL, broadcast MUL / SUB) in tf_keras and
Keras 3, converted by the project's converter at T = 0 — bit-exact against
the same model with builtin ops (``to_builtin``) in ``tflite_micro`` — and
given nonzero thresholds (the MAC layers' C core == the NumPy reference on
the same inputs); float32 exports bit-exact with ``tflite_micro``; the int8
ops on the MSP430 graph runner == the host; bad models are clear errors."""
import numpy as np
import pytest

from tflite_oracle import convert_float, run_tflite_reference, run_tflm

from tflm_unit.core import activation_ops as aops
from tflm_unit.errors import KernelArgumentError, UnsupportedModelError
from tflm_unit.runtime import Interpreter


def _tf():
    import tensorflow as tf

    return tf


def _sigmoid_dense(K, t):  # fused into the Keras layer; TFLite keeps a LOGISTIC op
    return K.layers.Dense(5, activation="sigmoid")(K.layers.Flatten()(K.layers.Conv2D(3, 3)(t)))


def _sigmoid_layer(K, t):
    return K.layers.Activation("sigmoid")(K.layers.Conv2D(4, 3)(t))


def _tanh_dense(K, t):
    return K.layers.Dense(5, activation="tanh")(K.layers.Flatten()(K.layers.Conv2D(3, 3)(t)))


def _tanh_layer(K, t):
    return K.layers.Activation("tanh")(K.layers.Conv2D(4, 3)(t))


def _hard_swish(K, t):
    tf = _tf()
    return K.layers.Lambda(lambda v: v * tf.nn.relu6(v + 3.0) / 6.0)(K.layers.Conv2D(4, 3)(t))


def _leaky_relu(K, t):
    return K.layers.LeakyReLU(0.2)(K.layers.Conv2D(4, 3)(t))


def _relu_layer(K, t):  # on the input: nothing to fuse into
    return K.layers.Conv2D(4, 3)(K.layers.ReLU()(t))


def _relu_fused(K, t):  # fused into the conv (no RELU op)
    return K.layers.Conv2D(4, 3, activation="relu")(t)


def _relu6_layer(K, t):
    return K.layers.Conv2D(4, 3)(K.layers.ReLU(6.0)(t))


def _relu_n1_to_1(K, t):
    tf = _tf()
    return K.layers.Conv2D(4, 3)(K.layers.Lambda(lambda v: tf.clip_by_value(v, -1.0, 1.0))(t))


def _prelu(K, t):
    return K.layers.PReLU(shared_axes=[1, 2])(K.layers.Conv2D(4, 3)(t))


def _squeeze_excite(K, t):  # broadcast MUL [N,H,W,C] * [N,1,1,C]
    c = K.layers.Conv2D(4, 3)(t)
    gate = K.layers.Conv2D(4, 1, activation="sigmoid")(K.layers.GlobalAveragePooling2D(keepdims=True)(c))
    return K.layers.Multiply()([c, gate])


def _mul_const(K, t):  # broadcast MUL with a constant [C] (on the input: not folded into a conv)
    scale = np.array([0.5, -1.5, 2.0], np.float32)
    return K.layers.Conv2D(4, 3)(K.layers.Lambda(lambda v: v * scale)(t))


def _sub(K, t):
    return K.layers.Subtract()([K.layers.Conv2D(4, 3)(t), K.layers.Conv2D(4, 3)(t)])


def _sub_broadcast(K, t):  # [N,H,W,C] - [N,1,1,C]
    c = K.layers.Conv2D(4, 3)(t)
    return K.layers.Lambda(lambda v: v[0] - v[1])([c, K.layers.GlobalAveragePooling2D(keepdims=True)(c)])


def _minimum(K, t):
    return K.layers.Minimum()([K.layers.Conv2D(4, 3)(t), K.layers.Conv2D(4, 3)(t)])


def _maximum(K, t):
    return K.layers.Maximum()([K.layers.Conv2D(4, 3)(t), K.layers.Conv2D(4, 3)(t)])


def _squared_difference(K, t):
    tf = _tf()
    return K.layers.Lambda(lambda v: tf.math.squared_difference(v[0], v[1]))(
        [K.layers.Conv2D(4, 3)(t), K.layers.Conv2D(4, 3)(t)])


#: name -> (body, ops the int8 model must contain, float32 export runs in the runtime)
CASES = {
    "sigmoid_dense": (_sigmoid_dense, {"LOGISTIC", "FULLY_CONNECTED"}, True),
    "sigmoid_layer": (_sigmoid_layer, {"LOGISTIC"}, True),
    "tanh_dense": (_tanh_dense, {"TANH", "FULLY_CONNECTED"}, True),
    "tanh_layer": (_tanh_layer, {"TANH"}, True),
    "hard_swish": (_hard_swish, {"HARD_SWISH"}, True),
    "leaky_relu": (_leaky_relu, {"LEAKY_RELU"}, True),
    "relu_layer": (_relu_layer, {"RELU"}, True),
    "relu_fused": (_relu_fused, {"CONV_2D"}, True),
    "relu6_layer": (_relu6_layer, {"RELU6"}, True),
    "relu_n1_to_1": (_relu_n1_to_1, {"RELU_N1_TO_1"}, True),
    "prelu": (_prelu, {"PRELU"}, True),
    "squeeze_excite": (_squeeze_excite, {"MUL", "LOGISTIC", "MEAN"}, False),
    "mul_const": (_mul_const, {"MUL"}, True),
    "sub": (_sub, {"SUB"}, True),
    "sub_broadcast": (_sub_broadcast, {"SUB", "MEAN"}, False),
    "minimum": (_minimum, {"MINIMUM"}, True),
    "maximum": (_maximum, {"MAXIMUM"}, True),
    "squared_difference": (_squared_difference, {"SQUARED_DIFFERENCE"}, True),
}
#: TFLM has no RELU_N1_TO_1 kernel: TFLite's reference kernels are the oracle there.
_TFLITE_ORACLE = {"RELU_N1_TO_1"}
FLAVOURS = ("tf_keras", "keras")
MATRIX = [(name, flavour) for flavour in FLAVOURS for name in sorted(CASES)]
#: The T > 0 check, on models whose MAC layers differ (FC, conv, 1x1 conv, several convs).
KERAS3_CASES = ("sigmoid_dense", "hard_swish", "leaky_relu", "prelu", "squeeze_excite", "sub_broadcast")


def _keras(flavour):
    if flavour == "tf_keras":
        import tf_keras

        return tf_keras
    import keras

    return keras


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(12)
    return rng.uniform(-1, 1, (24, 6, 6, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def built(data):
    """(flavour, name) -> (keras model, UnIT model at T = 0), converted once."""
    from tflm_unit.converter import convert

    out = {}
    for flavour in FLAVOURS:
        K = _keras(flavour)
        K.utils.set_random_seed(3)
        for name, (body, _, _) in CASES.items():
            if (name, flavour) not in MATRIX:
                continue
            inp = K.layers.Input((6, 6, 3))
            model = K.Model(inp, body(K, inp))
            out[flavour, name] = (model, convert(model, data[:8], thresholds=0.0))
    return out


def _oracle(model_bytes, xq, ops):
    return (run_tflite_reference if ops & _TFLITE_ORACLE else run_tflm)(model_bytes, xq)


def _ops(model_bytes):
    return {op.name for op in Interpreter(model_bytes).graph.operators}


@pytest.mark.parametrize("name,flavour", MATRIX)
def test_t0_bit_exact_with_builtin_model_in_tflm(built, data, name, flavour):
    from tflm_unit.converter import to_builtin

    _, unit0 = built[flavour, name]
    builtin = to_builtin(unit0)
    ops = _ops(builtin)
    assert CASES[name][1] <= ops, ops
    interp = Interpreter(unit0)
    xq = interp.quantize_input(data[:6])
    expected = _oracle(builtin, xq, ops)
    for model_bytes in (unit0, builtin):
        got = Interpreter(model_bytes).run(xq).outputs
        for g, w in zip(got, expected):
            assert g.dtype == w.dtype == np.int8
            np.testing.assert_array_equal(g, w)


def _mac_reference_check(interp: Interpreter, xq: np.ndarray) -> int:
    """Re-run every MAC layer of a run through the NumPy reference (same
    inputs, thresholds, division); returns the layers compared."""
    from tflm_unit.core import kernels
    from tflm_unit.runtime.interpreter import requantization_params
    from tflm_unit.unit import reference

    values = {interp.graph.inputs[0]: xq}
    interp.run_from(values)
    g = interp.graph
    compared = 0
    for op in interp.mac_layers():
        inp, filt, out = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
        bias = g.tensor(op.inputs[2]).data if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        skip = interp.skip_setting(op.index)
        kw = {} if skip is None else dict(thresholds=skip.thresholds, group_size=skip.group_size,
                                          division=skip.division)
        channels = int(out.shape[-1])
        multiplier, shift = requantization_params(op, inp, filt, out, channels)
        base = interp._base_name(op)
        x = values[op.inputs[0]]
        if base == "FULLY_CONNECTED":
            o = op.custom_options if op.is_unit else {}
            act = int(o.get("fused_activation_function", 0)) if op.is_unit else \
                int(op.builtin_options.fusedActivationFunction)
            lo, hi = kernels.activation_range_int8(act, out.scalar_scale(), out.scalar_zero_point())
            want = reference.fully_connected_int8(x.reshape(-1, filt.shape[1]), filt.data, bias, multiplier, shift,
                                                  -inp.scalar_zero_point(), out.scalar_zero_point(), lo, hi, **kw)
        else:
            o = interp._conv_options(op)
            lo, hi = kernels.activation_range_int8(o["activation"], out.scalar_scale(), out.scalar_zero_point())
            depthwise = base == "DEPTHWISE_CONV_2D"
            params = kernels.ConvParams(o["stride_h"], o["stride_w"], o["dilation_h"], o["dilation_w"],
                                        kernels.PADDINGS[o["padding"]],
                                        channels // int(inp.shape[-1]) if depthwise else 1,
                                        -inp.scalar_zero_point(), out.scalar_zero_point(), lo, hi)
            fn = reference.depthwise_conv_2d_int8 if depthwise else reference.conv_2d_int8
            want = fn(x, filt.data, bias, multiplier, shift, params, **kw)
        np.testing.assert_array_equal(values[op.outputs[0]].reshape(want.output.shape), want.output)
        compared += 1
    return compared


@pytest.mark.parametrize("name,flavour", [(n, "tf_keras") for n in ("tanh_dense", "relu_n1_to_1", "mul_const",
                                                                     "sub", "squared_difference", "maximum")]
                         + [(n, "keras") for n in KERAS3_CASES])
def test_nonzero_thresholds_mac_layers_equal_numpy_reference(built, data, name, flavour):
    from tflm_unit.converter import apply_thresholds

    _, unit0 = built[flavour, name]
    unit = Interpreter(apply_thresholds(unit0, 0.05))
    dense = Interpreter(unit0)
    xq = dense.quantize_input(data[:6])
    assert unit.run(xq).macs_executed < dense.run(xq).macs_executed
    assert _mac_reference_check(unit, xq) == len(unit.mac_layers()) > 0


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c[2]))
def test_float32_bit_exact_with_tflm(built, data, name):
    model, _ = built["tf_keras", name]
    model_bytes = convert_float(model)
    ops = _ops(model_bytes)
    got = Interpreter(model_bytes).run(data[:6]).outputs
    for g, w in zip(got, _oracle(model_bytes, data[:6], ops)):
        assert g.dtype == w.dtype == np.float32
        np.testing.assert_array_equal(g, w)


def test_tables_equal_the_kernel_and_tflm_rules():
    """The exported table is the kernel's output for every int8 value; the
    int8 LOGISTIC / TANH saturate where TFLM's input radius says so."""
    x = np.arange(-128, 128, dtype=np.int8)
    for op, args in (("LOGISTIC", (0.1, 3, 1 / 256, -128)), ("TANH", (0.05, -7)),
                     ("HARD_SWISH", (0.04, 10, 0.03, -20)), ("LEAKY_RELU", (0.02, 0, 0.01, 5, -0.3)),
                     ("RELU", (0.02, -5, 0.01, -128)), ("RELU6", (0.05, 0)), ("RELU_N1_TO_1", (0.02, 1, 0.01, 0))):
        params = aops.unary_prepare(op, *args)
        table = aops.unary_table(params)
        np.testing.assert_array_equal(table, aops.unary_int8(x, params))
        np.testing.assert_array_equal(aops.lut_int8(x, table), table)
    logistic = aops.unary_table(aops.unary_prepare("LOGISTIC", 0.1, 0, 1 / 256, -128))
    assert logistic[0] == -128 and logistic[-1] == 127 and logistic[128] == 0  # 0.5 -> 128 - 128
    relu6 = aops.unary_table(aops.unary_prepare("RELU6", 0.05, 0))
    assert relu6.min() == 0 and relu6.max() == 120  # [zero point, round(6 / 0.05)] of the input
    # LEAKY_RELU with a negative alpha mirrors the negative side (TFLM's |alpha| multiplier)
    neg = aops.unary_table(aops.unary_prepare("LEAKY_RELU", 0.02, 0, 0.02, 0, -0.5))
    assert neg[128 - 100] == 50 and neg[128 + 100] == 100


def test_bad_arguments_are_kernel_argument_errors():
    with pytest.raises(KernelArgumentError, match="LOGISTIC|zero point|OFFSET"):
        aops.unary_prepare("LOGISTIC", 0.1, 0, 1 / 256, 0)
    with pytest.raises(KernelArgumentError, match="op must be one of"):
        aops.unary_prepare("GELU", 0.1, 0)
    with pytest.raises(KernelArgumentError, match="do not broadcast"):
        aops.binary_float("MUL", np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32))
    with pytest.raises(KernelArgumentError, match="fused activation"):
        aops.binary_prepare("MAXIMUM", 1, 0, 1, 0, 1, 0, "RELU")
    with pytest.raises(KernelArgumentError, match="UNIT_ERR_REQUANT"):
        aops.unary_prepare("HARD_SWISH", 1.0, 0, 1e-5, 0)  # output multiplier above one
    with pytest.raises(KernelArgumentError, match="float32"):
        aops.unary_float("TANH", np.zeros(3, np.float64))


def test_unsupported_ops_and_options_name_op_dtype_and_option(built):
    """An op outside the set names itself and its dtype; a fused activation
    the kernels lack names the option; a float model with int8 LOGISTIC
    rules is refused with the zero point."""
    from tflm_unit.converter import to_builtin
    from tflm_unit.runtime.model import pack_model, unpack_model

    model_t = unpack_model(to_builtin(built["tf_keras", "sub"][1]))
    for op in model_t.subgraphs[0].operators:
        if op.builtinOptions is not None and hasattr(op.builtinOptions, "fusedActivationFunction") \
                and type(op.builtinOptions).__name__ == "SubOptionsT":
            op.builtinOptions.fusedActivationFunction = 4  # TANH
    with pytest.raises(UnsupportedModelError, match=r"SUB.*fused activation 4"):
        Interpreter(pack_model(model_t))
    tf = _tf()
    K = _keras("tf_keras")
    inp = K.layers.Input((4,))
    other = K.Model(inp, K.layers.Lambda(lambda v: tf.math.abs(v))(inp))
    with pytest.raises(UnsupportedModelError, match=r"ABS \(FLOAT32\) is not supported"):
        Interpreter(convert_float(other))
    model_t = unpack_model(to_builtin(built["tf_keras", "sigmoid_layer"][1]))
    sub = model_t.subgraphs[0]
    for op in sub.operators:
        code = model_t.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) == 14:  # LOGISTIC
            sub.tensors[op.outputs[0]].quantization.zeroPoint = np.array([0])
    with pytest.raises(UnsupportedModelError, match=r"LOGISTIC.*zero point 0"):
        Interpreter(pack_model(model_t))


def _all_int8_ops(K):
    """One small model holding every int8 op of this module (for one MSP430 build)."""
    tf = _tf()
    x = K.layers.Input((6, 6, 3))
    c = K.layers.LeakyReLU(0.2)(K.layers.Conv2D(4, 3)(K.layers.ReLU()(x)))
    h = K.layers.Lambda(lambda v: v * tf.nn.relu6(v + 3.0) / 6.0)(
        K.layers.Conv2D(4, 1)(K.layers.Activation("tanh")(c)))
    p = K.layers.PReLU(shared_axes=[1, 2])(K.layers.Conv2D(4, 1)(h))
    gate = K.layers.Conv2D(4, 1, activation="sigmoid")(K.layers.GlobalAveragePooling2D(keepdims=True)(p))
    se = K.layers.Multiply()([p, gate])
    s = K.layers.Subtract()([se, K.layers.Conv2D(4, 1)(p)])
    mx = K.layers.Lambda(lambda v: tf.clip_by_value(v, -1.0, 1.0))(K.layers.Maximum()([s, K.layers.Conv2D(4, 1)(se)]))
    mn = K.layers.Minimum()([mx, K.layers.Conv2D(4, 1)(s)])
    sq = K.layers.Lambda(lambda v: tf.math.squared_difference(v[0], v[1]))([mn, K.layers.Conv2D(4, 1)(mx)])
    y = K.layers.Dense(3)(K.layers.Flatten()(K.layers.ReLU(6.0)(sq)))
    return K.Model(x, y)


@pytest.fixture(scope="module")
def all_ops_unit(data):
    """The every-int8-op model converted, at a nonzero threshold."""
    from tflm_unit.converter import apply_thresholds, convert

    K = _keras("tf_keras")
    K.utils.set_random_seed(5)
    unit = apply_thresholds(convert(_all_int8_ops(K), data[:8], thresholds=0.0), 0.02)
    ops = _ops(unit)
    assert {"RELU", "LEAKY_RELU", "TANH", "HARD_SWISH", "PRELU", "LOGISTIC", "MUL", "SUB", "MAXIMUM",
            "RELU_N1_TO_1", "MINIMUM", "SQUARED_DIFFERENCE", "RELU6"} <= ops, ops
    return unit


def test_static_graph_on_the_host_equals_the_runtime(all_ops_unit, data, tmp_path):
    """export_c's static graph (tables, binary parameters, constant alphas)
    compiled for the host with the C core == the host runtime."""
    from test_converter_export_c import _run_graph

    interp = Interpreter(all_ops_unit)
    xq = interp.quantize_input(data[:4])
    np.testing.assert_array_equal(_run_graph(tmp_path, all_ops_unit, xq),
                                  interp.run(xq).outputs[0].reshape(len(xq), -1))


def test_msp430_graph_runs_the_int8_ops_like_the_host(all_ops_unit, data, tmp_path):
    """The same static graph on the simulated MSP430 == the host runtime."""
    from tflm_unit.msp430 import BuildOptions, build_graph_firmware, run_graph_firmware, toolchain_available

    if not toolchain_available():
        pytest.skip("MSP430 toolchain absent: apt-get install -y clang-16 lld-16 llvm-16 mspdebug msp430mcu")
    interp = Interpreter(all_ops_unit)
    xq = interp.quantize_input(data[:2])
    host = interp.run(xq).outputs[0]
    firmware = build_graph_firmware(all_ops_unit, tmp_path / "fw", BuildOptions())
    assert not firmware.program.warnings
    for i in range(len(xq)):
        run = run_graph_firmware(firmware, xq[i])
        np.testing.assert_array_equal(run.output, host[i].reshape(-1))


def test_load_checks_arity_and_output_shapes(built):
    """load_graph validates the new ops like the others: a broadcast output
    shape that the inputs do not produce, or a unary op changing its shape,
    is a ModelFormatError naming the op."""
    from tflm_unit.converter import to_builtin
    from tflm_unit.runtime.model import ModelFormatError, load_graph, pack_model, unpack_model

    for case, code, want in (("sub_broadcast", 41, "SUB"), ("tanh_layer", 28, "TANH")):
        model_t = unpack_model(to_builtin(built["tf_keras", case][1]))
        sub = model_t.subgraphs[0]
        for op in sub.operators:
            c = model_t.operatorCodes[op.opcodeIndex]
            if max(c.builtinCode, c.deprecatedBuiltinCode) == code:
                shape = np.array(sub.tensors[op.outputs[0]].shape)
                shape[1] += 1
                sub.tensors[op.outputs[0]].shape = shape.astype(np.int32)
        with pytest.raises(ModelFormatError, match=rf"\({want}\): output shape declared"):
            load_graph(pack_model(model_t))
