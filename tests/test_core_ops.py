"""The C core's non-UnIT int8 ops (tflm_unit.core.ops) against TFLM's reference kernels.

Each case converts a tiny single-op TensorFlow function to a full-integer
int8 .tflite once, then (without reconverting) edits the options and
quantisation parameters in the flatbuffer to cover activations, scales, zero
points and beta.  The model runs in the ``tflite_micro`` interpreter (TFLM's
reference kernels = the oracle) and, op by op, through ``tflm_unit.core.ops``
with the parameters read from the same flatbuffer; outputs must be identical
bit for bit.
"""
from __future__ import annotations

import functools
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
flatbuffers = pytest.importorskip("flatbuffers")
runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
schema = pytest.importorskip("tflite_micro.tensorflow.lite.micro.python.schema_py_generated")

from tflm_unit.core import ops  # noqa: E402
from tflm_unit.errors import KernelArgumentError  # noqa: E402

OP = schema.BuiltinOperator
INT8 = schema.TensorType.INT8
FLOAT32 = schema.TensorType.FLOAT32


# ---------------------------------------------------------------- model helpers


def _convert(fn, shapes, ranges, float_io=False) -> bytes:
    """Full-integer int8 conversion of ``fn`` with a seeded representative set."""
    specs = [tf.TensorSpec(shape, tf.float32) for shape in shapes]
    concrete = tf.function(fn).get_concrete_function(*specs)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    rng = np.random.default_rng(1234)

    def representative():
        for _ in range(16):
            yield [rng.uniform(lo, hi, shape).astype(np.float32) for shape, (lo, hi) in zip(shapes, ranges)]

    converter.representative_dataset = representative
    if not float_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def _mutate(model_bytes: bytes, edit) -> bytes:
    """Unpack with the schema object API, let ``edit(model, subgraph)`` change
    it, pack again."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    edit(model, model.subgraphs[0])
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _op_code(model, op) -> int:
    code = model.operatorCodes[op.opcodeIndex]
    return max(int(code.builtinCode), int(code.deprecatedBuiltinCode))


def _ops_of(model, sg, *codes):
    return [op for op in sg.operators if _op_code(model, op) in codes]


def _set_quant(tensor, scale: float, zero_point: int) -> None:
    tensor.quantization.scale = np.array([scale], dtype=np.float32)
    tensor.quantization.zeroPoint = np.array([zero_point], dtype=np.int64)


def _quant(tensor):
    return float(tensor.quantization.scale[0]), int(tensor.quantization.zeroPoint[0])


def _constant(model, tensor) -> np.ndarray:
    data = model.buffers[tensor.buffer].data
    dtype = {schema.TensorType.INT32: np.int32, INT8: np.int8}[tensor.type]
    return np.frombuffer(bytes(bytearray(data)), dtype=dtype).reshape(tuple(int(d) for d in tensor.shape))


def _oracle(model_bytes: bytes, inputs):
    interpreter = runtime.Interpreter.from_bytes(model_bytes, arena_size=1 << 20)
    for i, x in enumerate(inputs):
        interpreter.set_input(x, i)
    interpreter.invoke()
    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    return [np.array(interpreter.get_output(i)) for i in range(len(model.subgraphs[0].outputs))]


def _run_with_ops(model_bytes: bytes, inputs):
    """Runs the graph op by op through tflm_unit.core.ops."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    sg = model.subgraphs[0]
    values = {int(t): x for t, x in zip(sg.inputs, inputs)}
    for op in sg.operators:
        code = _op_code(model, op)
        tin = [sg.tensors[i] for i in op.inputs]
        tout = sg.tensors[op.outputs[0]]
        x = values.get(int(op.inputs[0]))
        opts = op.builtinOptions
        if code in (OP.MAX_POOL_2D, OP.AVERAGE_POOL_2D):
            scale, zp = _quant(tout)
            run = ops.max_pool_2d if code == OP.MAX_POOL_2D else ops.average_pool_2d
            y = run(x, (opts.filterHeight, opts.filterWidth), (opts.strideH, opts.strideW),
                    ops.PADDINGS[opts.padding], scale, zp, opts.fusedActivationFunction)
        elif code == OP.ADD:
            s1, z1 = _quant(tin[0])
            s2, z2 = _quant(tin[1])
            so, zo = _quant(tout)
            y = ops.add(x, s1, z1, values[int(op.inputs[1])], s2, z2, so, zo, opts.fusedActivationFunction)
        elif code == OP.SOFTMAX:
            y = ops.softmax(x, _quant(tin[0])[0], opts.beta, *_quant(tout))
        elif code == OP.MEAN:
            axes = sorted({int(a) % x.ndim for a in _constant(model, tin[1]).ravel()})
            if x.ndim == 4 and axes == [1, 2]:  # global average pooling
                y = ops.mean_hw(x, *_quant(tin[0]), *_quant(tout), keep_dims=bool(opts.keepDims))
                general = ops.mean(x, axes, *_quant(tin[0]), *_quant(tout), keep_dims=bool(opts.keepDims))
                np.testing.assert_array_equal(general, y)
            else:
                y = ops.mean(x, axes, *_quant(tin[0]), *_quant(tout), keep_dims=bool(opts.keepDims))
        elif code in (OP.PAD, OP.PADV2):
            paddings = _constant(model, tin[1])
            pad_value = int(_constant(model, tin[2])) if code == OP.PADV2 else _quant(tout)[1]
            y = ops.pad(x, paddings, pad_value)
        elif code == OP.CONCATENATION:
            arrays = [values[int(i)] for i in op.inputs]
            y = ops.concatenation(arrays, opts.axis, [_quant(t)[0] for t in tin], [_quant(t)[1] for t in tin],
                                  *_quant(tout))
        elif code == OP.QUANTIZE and tin[0].type == FLOAT32:
            y = ops.quantize(x, *_quant(tout))
        elif code == OP.QUANTIZE:
            y = ops.requantize(x, *_quant(tin[0]), *_quant(tout))
        elif code == OP.DEQUANTIZE:
            y = ops.dequantize(x, *_quant(tin[0]))
        elif code == OP.RESHAPE:
            y = ops.reshape(x, tout.shape)
        else:
            raise AssertionError(f"unexpected op {code} in test model")
        assert tuple(y.shape) == tuple(int(d) for d in tout.shape), (code, y.shape, tout.shape)
        values[int(op.outputs[0])] = y
    return [values[int(t)] for t in sg.outputs]


def _random_int8_inputs(model_bytes: bytes, seed: int):
    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    sg = model.subgraphs[0]
    rng = np.random.default_rng(seed)
    shapes = [tuple(int(d) for d in sg.tensors[t].shape) for t in sg.inputs]
    return [rng.integers(-128, 128, size=shape, dtype=np.int8) for shape in shapes]


def _assert_bit_exact(model_bytes: bytes, inputs) -> None:
    expected = _oracle(model_bytes, inputs)
    got = _run_with_ops(model_bytes, inputs)
    assert len(got) == len(expected)
    for e, g in zip(expected, got):
        assert g.dtype == e.dtype and g.shape == e.shape
        if g.dtype == np.float32:
            np.testing.assert_array_equal(g.view(np.int32), e.view(np.int32))
        else:
            mismatches = int(np.count_nonzero(g != e))
            assert mismatches == 0, f"{mismatches} of {g.size} values differ; max |diff| " \
                                    f"{np.abs(g.astype(int) - e.astype(int)).max()}"


# ---------------------------------------------------------------- pooling

POOL_CASES = {
    # name: (input shape, pool size, strides, padding)
    "3x3s2_same": ((1, 7, 7, 3), (3, 3), (2, 2), "SAME"),
    "2x2s2_valid_batch2": ((2, 8, 6, 4), (2, 2), (2, 2), "VALID"),
    "3x2_s1x3_same": ((1, 6, 10, 2), (3, 2), (1, 3), "SAME"),
    "5x5s1_same_odd": ((1, 5, 4, 5), (5, 5), (1, 1), "SAME"),
}


@functools.lru_cache(maxsize=None)
def _pool_model(name: str) -> bytes:
    shape, pool, strides, padding = POOL_CASES[name]
    return _convert(lambda x: (tf.nn.max_pool2d(x, pool, strides, padding),
                               tf.nn.avg_pool2d(x, pool, strides, padding)),
                    [shape], [(-4.0, 6.0)])


@pytest.mark.parametrize("activation", [0, 1, 3])  # NONE, RELU, RELU6
@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_pooling_bit_exact(name, activation):
    def edit(model, sg):
        pools = _ops_of(model, sg, OP.MAX_POOL_2D, OP.AVERAGE_POOL_2D)
        assert len(pools) == 2
        for op in pools:
            op.builtinOptions.fusedActivationFunction = activation

    model = _mutate(_pool_model(name), edit)
    _assert_bit_exact(model, _random_int8_inputs(model, seed=activation))


# ---------------------------------------------------------------- add

ADD_SHAPES = {
    "same": ((1, 4, 5, 8), (1, 4, 5, 8)),
    "channel": ((1, 4, 5, 8), (8,)),
    "outer": ((2, 3, 1, 4), (1, 1, 5, 1)),
    "scalar": ((1, 3, 3, 4), ()),
}
# (input1 scale, zp, input2 scale, zp, output scale, zp, activation); None keeps the converter's
ADD_VARIANTS = {
    "converted": None,
    "relu_wide_output": (0.02, -5, 0.05, 10, 0.09, -20, 1),
    "relu6_input1_larger": (0.2, 127, 0.013, -128, 0.05, 3, 3),
    "equal_scales": (0.04, 0, 0.04, 0, 0.04, 0, 0),
}


@functools.lru_cache(maxsize=None)
def _add_model(name: str) -> bytes:
    shape1, shape2 = ADD_SHAPES[name]
    return _convert(lambda a, b: a + b, [shape1, shape2], [(-1.0, 1.0), (-4.0, 3.0)])


@pytest.mark.parametrize("variant", sorted(ADD_VARIANTS))
@pytest.mark.parametrize("name", sorted(ADD_SHAPES))
def test_add_bit_exact(name, variant):
    quant = ADD_VARIANTS[variant]

    def edit(model, sg):
        (op,) = _ops_of(model, sg, OP.ADD)
        if quant is None:
            return
        s1, z1, s2, z2, so, zo, act = quant
        _set_quant(sg.tensors[op.inputs[0]], s1, z1)
        _set_quant(sg.tensors[op.inputs[1]], s2, z2)
        _set_quant(sg.tensors[op.outputs[0]], so, zo)
        op.builtinOptions.fusedActivationFunction = act

    model = _mutate(_add_model(name), edit)
    _assert_bit_exact(model, _random_int8_inputs(model, seed=7))


# ---------------------------------------------------------------- softmax

SOFTMAX_SHAPES = {"rows": (256, 10), "nhwc": (1, 3, 3, 7), "wide": (2, 100)}
# (input scale or None = converter's, beta)
SOFTMAX_VARIANTS = {
    "converted": (None, 1.0),
    "fine_scale": (0.005, 1.0),
    "coarse_scale": (0.4, 1.0),
    "beta_half": (0.1, 0.5),
    "beta_two": (0.05, 2.0),
}


@functools.lru_cache(maxsize=None)
def _softmax_model(name: str) -> bytes:
    return _convert(tf.nn.softmax, [SOFTMAX_SHAPES[name]], [(-6.0, 6.0)])


@pytest.mark.parametrize("variant", sorted(SOFTMAX_VARIANTS))
@pytest.mark.parametrize("name", sorted(SOFTMAX_SHAPES))
def test_softmax_bit_exact(name, variant):
    scale, beta = SOFTMAX_VARIANTS[variant]

    def edit(model, sg):
        (op,) = _ops_of(model, sg, OP.SOFTMAX)
        op.builtinOptions.beta = beta
        if scale is not None:
            _set_quant(sg.tensors[op.inputs[0]], scale, 0)

    model = _mutate(_softmax_model(name), edit)
    inputs = _random_int8_inputs(model, seed=3)
    # rows where one value dominates and rows of equal values, too
    inputs[0].reshape(-1, inputs[0].shape[-1])[0, :] = -128
    inputs[0].reshape(-1, inputs[0].shape[-1])[0, 0] = 127
    inputs[0].reshape(-1, inputs[0].shape[-1])[1, :] = 5
    _assert_bit_exact(model, inputs)


# ---------------------------------------------------------------- mean

MEAN_SHAPES = {  # name: (shape, axes, keep_dims)
    "hw_5x6": ((1, 5, 6, 8), [1, 2], False),
    "hw_4x4_keep_batch2": ((2, 4, 4, 3), [1, 2], True),
    "hw_7x3": ((1, 7, 3, 16), [1, 2], False),
    "time_3d": ((2, 9, 6), [1], False),
    "last_axis_keep": ((1, 4, 5, 6), [-1], True),
    "outer_axes_3d": ((3, 4, 5), [0, 2], False),
}
# (input scale, zp, output scale, zp) or None = converter's
MEAN_VARIANTS = {
    "converted": None,
    "same_quant": (0.05, 3, 0.05, 3),
    "output_finer": (0.1, -10, 0.01, 0),
    "output_coarser": (0.02, 20, 0.3, -100),
}


@functools.lru_cache(maxsize=None)
def _mean_model(name: str) -> bytes:
    shape, axes, keep = MEAN_SHAPES[name]
    return _convert(lambda x: tf.reduce_mean(x, axis=axes, keepdims=keep), [shape], [(-3.0, 5.0)])


@pytest.mark.parametrize("variant", sorted(MEAN_VARIANTS))
@pytest.mark.parametrize("name", sorted(MEAN_SHAPES))
def test_mean_bit_exact(name, variant):
    quant = MEAN_VARIANTS[variant]

    def edit(model, sg):
        (op,) = _ops_of(model, sg, OP.MEAN)
        if quant is not None:
            _set_quant(sg.tensors[op.inputs[0]], quant[0], quant[1])
            _set_quant(sg.tensors[op.outputs[0]], quant[2], quant[3])

    model = _mutate(_mean_model(name), edit)
    _assert_bit_exact(model, _random_int8_inputs(model, seed=11))


# ---------------------------------------------------------------- pad

PAD_CASES = {
    "nhwc_pad": ((1, 3, 4, 2), [[0, 0], [1, 2], [0, 1], [0, 0]], None),
    "nhwc_padv2": ((1, 3, 4, 2), [[0, 0], [2, 0], [1, 1], [0, 0]], 1.5),
    "2d_pad": ((3, 5), [[1, 0], [2, 3]], None),
    "channels_padv2": ((1, 2, 2, 3), [[0, 0], [0, 0], [0, 0], [1, 4]], -2.0),
}


@functools.lru_cache(maxsize=None)
def _pad_model(name: str) -> bytes:
    shape, paddings, constant = PAD_CASES[name]
    if constant is None:
        return _convert(lambda x: tf.pad(x, paddings), [shape], [(-3.0, 5.0)])
    return _convert(lambda x: tf.pad(x, paddings, constant_values=constant), [shape], [(-3.0, 5.0)])


@pytest.mark.parametrize("zero_point", [None, 77, -128])
@pytest.mark.parametrize("name", sorted(PAD_CASES))
def test_pad_bit_exact(name, zero_point):
    def edit(model, sg):
        (op,) = _ops_of(model, sg, OP.PAD, OP.PADV2)
        if zero_point is not None:  # PAD pads with the output zero point
            for index in list(op.inputs[:1]) + list(op.inputs[2:]) + list(op.outputs):
                _set_quant(sg.tensors[index], _quant(sg.tensors[index])[0], zero_point)

    model = _mutate(_pad_model(name), edit)
    _assert_bit_exact(model, _random_int8_inputs(model, seed=5))


# ---------------------------------------------------------------- concatenation

CONCAT_CASES = {
    "channels": ([(1, 3, 4, 2), (1, 3, 4, 5)], -1),
    "rows_three_inputs": ([(1, 2, 4, 3), (1, 3, 4, 3), (1, 1, 4, 3)], 1),
    "batch_2d": ([(2, 6), (3, 6)], 0),
}


@functools.lru_cache(maxsize=None)
def _concat_model(name: str) -> bytes:
    shapes, axis = CONCAT_CASES[name]
    return _convert(lambda *xs: tf.concat(list(xs), axis=axis), shapes, [(-3.0, 5.0)] * len(shapes))


@pytest.mark.parametrize("name", sorted(CONCAT_CASES))
def test_concatenation_bit_exact(name):
    model = _concat_model(name)
    _assert_bit_exact(model, _random_int8_inputs(model, seed=9))


# ---------------------------------------------------------------- quantize / dequantize


@functools.lru_cache(maxsize=None)
def _float_io_model() -> bytes:
    """QUANTIZE (float32 -> int8) -> MAX_POOL_2D -> DEQUANTIZE."""
    return _convert(lambda x: tf.nn.max_pool2d(x, 1, 1, "VALID"), [(1, 16, 16, 4)], [(-3.0, 5.0)], float_io=True)


def _ties(scale: float, zero_point: int, count: int) -> np.ndarray:
    """Float inputs on and around rounding ties of x / scale, plus saturation."""
    k = np.arange(count // 4, dtype=np.float32) - count // 8 - zero_point
    on_tie = ((k + np.float32(0.5)) * np.float32(scale)).astype(np.float32)
    near = np.nextafter(on_tie, np.float32(np.inf)).astype(np.float32)
    rng = np.random.default_rng(2)
    wide = rng.uniform(-8.0, 9.0, count - 2 * on_tie.size - 4).astype(np.float32)
    # saturating values stay within int32 after / scale: beyond that TFLM's
    # float -> int32 cast is undefined (x86 gives INT32_MIN, Arm saturates)
    special = np.array([0.0, -0.0, 1000.0, -1000.0], dtype=np.float32)
    return np.concatenate([on_tie, near, wide, special]).astype(np.float32)


@pytest.mark.parametrize("quant", [None, (0.01, -7), (0.3, 100)])
def test_quantize_dequantize_float_bit_exact(quant):
    def edit(model, sg):
        (q,) = _ops_of(model, sg, OP.QUANTIZE)
        if quant is not None:  # every int8 tensor shares the pool's quantisation
            for t in sg.tensors:
                if t.type == INT8:
                    _set_quant(t, *quant)

    model = _mutate(_float_io_model(), edit)
    sg = schema.ModelT.InitFromPackedBuf(bytearray(model), 0).subgraphs[0]
    scale, zp = _quant(sg.tensors[sg.operators[0].outputs[0]])
    x = _ties(scale, zp, 16 * 16 * 4).reshape(1, 16, 16, 4)
    _assert_bit_exact(model, [x])


@pytest.mark.parametrize("input_quant", [(0.0123, 5), (0.5, -128), (1e-4, 127), "same_scale_new_zp"])
def test_requantize_int8_bit_exact(input_quant):
    """The float-IO model with its input retyped to int8: QUANTIZE becomes the
    int8 -> int8 requantisation TFLM runs between differently scaled tensors."""

    def edit(model, sg):
        (q,) = _ops_of(model, sg, OP.QUANTIZE)
        tin, tout = sg.tensors[q.inputs[0]], sg.tensors[q.outputs[0]]
        tin.type = INT8
        tin.quantization = schema.QuantizationParametersT()
        if input_quant == "same_scale_new_zp":
            _set_quant(tin, _quant(tout)[0], _quant(tout)[1] - 40)
        else:
            _set_quant(tin, *input_quant)

    model = _mutate(_float_io_model(), edit)
    x = np.arange(-128, 128, dtype=np.int16).astype(np.int8)
    x = np.tile(x, 4).reshape(1, 16, 16, 4)
    _assert_bit_exact(model, [x])


# ---------------------------------------------------------------- reshape and errors


def test_quantize_saturates_huge_and_nan_values():
    """Where TFLM's cast is undefined (|x / scale| >= 2^31, NaN) the core
    saturates like Arm's VCVT: +huge -> 127, -huge -> -128, NaN -> zero point."""
    x = np.array([1e30, -1e30, np.inf, -np.inf, np.nan, 3e9], dtype=np.float32)
    np.testing.assert_array_equal(ops.quantize(x, 0.5, 3), [127, -128, 127, -128, 3, 127])


def test_reshape_keeps_bytes():
    x = np.arange(-12, 12, dtype=np.int8).reshape(2, 3, 4)
    y = ops.reshape(x, (4, -1))
    assert y.shape == (4, 6) and y.tobytes() == x.tobytes()
    y[0, 0] = 99
    assert x[0, 0, 0] == -12  # a copy, not a view
    with pytest.raises(ValueError, match="cannot reshape"):
        ops.reshape(x, (5, 5))


def test_bad_arguments_raise_clear_errors():
    x = np.zeros((1, 4, 4, 2), dtype=np.int8)
    with pytest.raises(KernelArgumentError, match="int8"):
        ops.max_pool_2d(x.astype(np.float32), 2)
    with pytest.raises(ValueError, match="4 dims"):
        ops.average_pool_2d(x[0], 2)
    with pytest.raises(ValueError, match="padding"):
        ops.max_pool_2d(x, 2, padding="FULL")
    with pytest.raises(ValueError, match="activation"):
        ops.max_pool_2d(x, 2, activation="TANH")
    with pytest.raises(ValueError, match="pool"):
        ops.max_pool_2d(x, 5, padding="VALID")  # window larger than the input
    with pytest.raises(ValueError, match="broadcast"):
        ops.add(x, 0.1, 0, np.zeros((3,), np.int8), 0.1, 0, 0.1, 0)
    with pytest.raises(ValueError, match="zero_point"):
        ops.add(x, 0.1, 300, x, 0.1, 0, 0.1, 0)
    with pytest.raises(ValueError, match="scale"):
        ops.add(x, -0.1, 0, x, 0.1, 0, 0.1, 0)
    with pytest.raises(ValueError, match="multiplier"):
        ops.add(x, 1.0, 0, x, 1.0, 0, 1e-9, 0)  # output multiplier >= 1
    with pytest.raises(ValueError, match="1/256"):
        ops.softmax(x, 0.1, output_scale=0.1)
    with pytest.raises(ValueError, match="too small"):
        ops.softmax(x, 1e-12)
    with pytest.raises(ValueError, match="requantize"):
        ops.concatenation([x, x], -1, [0.1, 0.2], [0, 0], 0.1, 0)
    with pytest.raises(ValueError, match="off axis"):
        ops.concatenation([x, x[:, :2]], -1)
    with pytest.raises(ValueError, match="1..10"):
        ops.concatenation([x] * 11, 0)
    with pytest.raises(ValueError, match=">= 0"):
        ops.pad(x, [[0, 0], [-1, 0], [0, 0], [0, 0]], 0)
    with pytest.raises(ValueError, match="pairs"):
        ops.pad(x, [[0, 0], [1, 1]], 0)
    with pytest.raises(KernelArgumentError, match="float32"):
        ops.quantize(np.zeros(3, np.float64), 0.1, 0)
    with pytest.raises(ValueError, match="too large"):
        ops.requantize(x, 1.0, 0, 1e-9, 0)
    with pytest.raises(ValueError, match="empty"):
        ops.dequantize(np.zeros((0,), np.int8), 0.1, 0)


def test_c_core_rejects_short_buffers():
    """The raw bindings check buffer sizes against the shapes they are given."""
    from tflm_unit import _core

    params, out_shape = _core.pool_prepare_int8(1, 2, 2, 2, 2, (1, 4, 4, 2), 0, 0.1, 0)
    short = np.zeros(8, np.int8)
    with pytest.raises(ValueError, match="input"):
        _core.max_pool_2d_int8(params, (1, 4, 4, 2), short, out_shape, np.zeros(8, np.int8))
    with pytest.raises(ValueError, match="output"):
        _core.softmax_int8((1 << 30, 1, -100), 2, 4, np.zeros(8, np.int8), np.zeros(3, np.int8))


# ---------------------------------------------------------------- the same C on a 16-bit MSP430


def _c_int8_array(name: str, values: np.ndarray, const: bool) -> str:
    body = ", ".join(str(int(v)) for v in values.ravel())
    return f"{'const ' if const else ''}int8_t {name}[{values.size}] = {{{body}}};\n"


def _c_int32_init(values) -> str:
    return "{" + ", ".join(f"{int(v)}L" for v in values) + "}"


def test_int8_ops_bit_exact_on_msp430_simulator(tmp_path):
    """The integer kernels, built for the 16-bit-int MSP430 and run in the
    simulator with parameters prepared on the host, give the host's bytes."""
    from dataclasses import astuple

    msp430 = pytest.importorskip("tflm_unit.msp430")
    if not msp430.toolchain_available():
        pytest.skip("MSP430 toolchain absent (clang-16, lld-16, mspdebug)")
    rng = np.random.default_rng(21)
    x = rng.integers(-128, 128, (1, 7, 6, 5), dtype=np.int8)
    bias = rng.integers(-128, 128, (5,), dtype=np.int8)
    logits = rng.integers(-128, 128, (4, 10), dtype=np.int8)
    scale, zp = 0.05, -9

    pool, pool_shape = ops.pool_prepare(x.shape, 3, 2, "SAME", scale, zp, "RELU6")
    add = ops.add_prepare(scale, zp, 0.02, 4, 0.06, -3, "RELU")
    soft = ops.softmax_prepare(0.08, 1.0)
    mean = ops.mean_prepare(scale, zp, 0.01, 5, 7 * 6)
    requant = ops.requantize_prepare(scale, zp, 0.004, 20)
    expected = {
        "max_out": ops.max_pool_2d(x, 3, 2, "SAME", scale, zp, "RELU6"),
        "avg_out": ops.average_pool_2d(x, 3, 2, "SAME", scale, zp, "RELU6"),
        "add_out": ops.add(x, scale, zp, bias, 0.02, 4, 0.06, -3, "RELU"),
        "soft_out": ops.softmax(logits, 0.08, 1.0),
        "mean_out": ops.mean_hw(x, scale, zp, 0.01, 5),
        "pad_out": ops.pad(x, [[0, 0], [1, 2], [0, 1], [2, 0]], zp),
        "cat_out": ops.concatenation([x, x[:, :, :2]], 2),
        "req_out": ops.requantize(x, scale, zp, 0.004, 20),
    }
    n, h, w, c = x.shape
    ph, pw = pool_shape[1], pool_shape[2]
    source = ['#include "unit_ops.h"\n#include "unit_msp430.h"\n', _c_int8_array("x", x, True), _c_int8_array("bias", bias, True),
              _c_int8_array("logits", logits, True)]
    source += [f"int8_t {name}[{value.size}];\n" for name, value in expected.items()]
    source.append(f"""
int main(void) {{
  static const unit_shape_t in_shape = {{{n}, {h}, {w}, {c}}};
  static const unit_shape_t pool_shape = {{{n}, {ph}, {pw}, {c}}};
  static const unit_pool_params_t pool = {_c_int32_init(astuple(pool))};
  static const unit_add_params_t add = {_c_int32_init(astuple(add))};
  static const unit_softmax_params_t soft = {_c_int32_init(astuple(soft))};
  static const unit_mean_params_t mean = {_c_int32_init(astuple(mean))};
  static const unit_requantize_params_t requant = {_c_int32_init(astuple(requant))};
  static const int32_t x_dims[4] = {{{n}L, {h}L, {w}L, {c}L}};
  static const int32_t bias_dims[4] = {{1L, 1L, 1L, {c}L}};
  static const int32_t before[4] = {{0L, 1L, 0L, 2L}}, after[4] = {{0L, 2L, 1L, 0L}};
  static const int32_t cat_dims[8] = {{{n}L, {h}L, {w}L, {c}L, {n}L, {h}L, 2L, {c}L}};
  static const int8_t x_first_two_columns[{n * h * 2 * c}] = {{{", ".join(str(int(v)) for v in x[:, :, :2].ravel())}}};
  const int8_t *cat_inputs[2];
  int status = 0;
  cat_inputs[0] = x;
  cat_inputs[1] = x_first_two_columns;
  unit_msp430_checkpoint(0);
  status |= unit_max_pool_2d_int8(&pool, &in_shape, x, &pool_shape, max_out);
  unit_msp430_checkpoint(1);
  status |= unit_average_pool_2d_int8(&pool, &in_shape, x, &pool_shape, avg_out);
  unit_msp430_checkpoint(2);
  status |= unit_add_int8(&add, 4, x_dims, x, bias_dims, bias, x_dims, add_out);
  unit_msp430_checkpoint(3);
  status |= unit_softmax_int8(&soft, 4, 10, logits, soft_out);
  unit_msp430_checkpoint(4);
  status |= unit_mean_hw_int8(&mean, &in_shape, x, mean_out);
  unit_msp430_checkpoint(5);
  status |= unit_pad_int8(4, x_dims, x, before, after, (int8_t)({zp}), pad_out);
  unit_msp430_checkpoint(6);
  status |= unit_concatenation_int8(2, cat_inputs, 4, cat_dims, 2, cat_out);
  unit_msp430_checkpoint(7);
  status |= unit_requantize_int8(&requant, {x.size}L, x, req_out);
  unit_msp430_checkpoint(8);
  return status;
}}
""")
    program_c = tmp_path / "ops_program.c"
    program_c.write_text("".join(source))
    program = msp430.build_program([program_c], tmp_path / "build", name="ops")
    result = msp430.run_program(program, reads=list(expected))
    assert result.exit_code == 0
    for name, value in expected.items():
        got = np.frombuffer(result.memory[name], dtype=np.int8).reshape(value.shape)
        np.testing.assert_array_equal(got, value, err_msg=name)
