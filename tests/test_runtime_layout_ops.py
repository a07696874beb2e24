"""Layout / geometry ops and TRANSPOSE_CONV in tflm_unit.runtime (through the
C core's unit_layout.c / unit_transpose_conv.c) give TFLM's outputs bit for
bit: small tf_keras models converted by TFLiteConverter to int8 and float32,
run in `tflite_micro` (the oracle) and in the runtime; then through the
project's converter at T = 0 (== to_builtin in TFLM) and T > 0; a
dynamic-batch builtin .tflite loads directly; bad options are clear errors."""
import numpy as np
import pytest

from tflite_oracle import convert_float, convert_int8, keras, run_tflm

from tflm_unit.core import layout_ops
from tflm_unit.errors import KernelArgumentError, UnsupportedModelError
from tflm_unit.runtime import Interpreter


def _tf():
    import tensorflow as tf

    return tf


def _model(body, shape=(8, 8, 3)):
    K = keras()
    inp = K.layers.Input(shape)
    return K.Model(inp, body(K, inp))


def _tconv(K, t):
    y = K.layers.Conv2DTranspose(5, 3, strides=2, padding="same")(t)
    return K.layers.Conv2D(4, 3, padding="same")(y)


def _tconv_valid(K, t):
    return K.layers.Conv2DTranspose(3, 2, strides=(2, 1), padding="valid", use_bias=False)(t)


def _dilated(K, t):  # older exports wrap a dilated conv in SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND
    return K.layers.Conv2D(4, 3, dilation_rate=2, padding="same")(t)


def _dilated_depthwise(K, t):
    return K.layers.DepthwiseConv2D(3, dilation_rate=2, padding="valid")(t)


def _upsample_nearest(K, t):
    return K.layers.UpSampling2D(2)(K.layers.Conv2D(4, 3)(t))


def _upsample_bilinear(K, t):
    return K.layers.UpSampling2D(2, interpolation="bilinear")(K.layers.Conv2D(4, 3)(t))


def _resize_align_corners(K, t):
    tf = _tf()
    return K.layers.Lambda(lambda v: tf.compat.v1.image.resize_bilinear(v, (11, 13), align_corners=True))(t)


def _resize_nearest_align_corners(K, t):
    tf = _tf()
    return K.layers.Lambda(lambda v: tf.compat.v1.image.resize_nearest_neighbor(v, (11, 13), align_corners=True))(t)


def _resize_half_pixel(K, t):  # tf.image.resize: half_pixel_centers, here downsampling one axis
    tf = _tf()
    return K.layers.Lambda(lambda v: tf.image.resize(v, (5, 13), method="bilinear"))(t)


def _strided_slice(K, t):
    return K.layers.Conv2D(2, 1)(K.layers.Lambda(lambda v: v[:, 1:7:2, ::-1, :2])(t))


def _shrink_slice(K, t):
    return K.layers.Conv1D(3, 1)(K.layers.Lambda(lambda v: v[:, 2, 1:-1, :], output_shape=(6, 3))(t))


def _split(K, t):
    tf = _tf()
    return [K.layers.Conv2D(2, 1)(p) for p in K.layers.Lambda(lambda v: tf.split(v, 2, axis=1))(t)]


def _split_v(K, t):
    tf = _tf()
    return [K.layers.Conv2D(2, 1)(p) for p in K.layers.Lambda(lambda v: tf.split(v, [1, 2], axis=3))(t)]


def _transpose(K, t):
    return K.layers.Conv2D(2, 1)(K.layers.Permute((2, 1, 3))(t))


CASES = {
    "transpose_conv": (_tconv, {"TRANSPOSE_CONV", "CONV_2D"}),
    "transpose_conv_valid": (_tconv_valid, {"TRANSPOSE_CONV"}),
    "dilated_depthwise": (_dilated_depthwise, {"SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", "DEPTHWISE_CONV_2D"}),
    "upsample_nearest": (_upsample_nearest, {"RESIZE_NEAREST_NEIGHBOR"}),
    "upsample_bilinear": (_upsample_bilinear, {"RESIZE_BILINEAR"}),
    "resize_align_corners": (_resize_align_corners, {"RESIZE_BILINEAR"}),
    "resize_nearest_align_corners": (_resize_nearest_align_corners, {"RESIZE_NEAREST_NEIGHBOR"}),
    "resize_half_pixel": (_resize_half_pixel, {"RESIZE_BILINEAR"}),
    "strided_slice": (_strided_slice, {"STRIDED_SLICE"}),
    "shrink_slice": (_shrink_slice, {"STRIDED_SLICE"}),
    "split": (_split, {"SPLIT"}),
    "split_v": (_split_v, {"SPLIT_V"}),
    "transpose": (_transpose, {"TRANSPOSE"}),
}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(12)
    return rng.uniform(-1, 1, (24, 8, 8, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def built(data):
    """name -> (keras model, int8 bytes, float bytes), converted once."""
    out = {}
    for name, (body, _) in CASES.items():
        model = _model(body)
        int8, float32 = convert_int8(model, data), convert_float(model)
        if name.startswith("dilated"):
            int8, float32 = _consistent_batch(int8), _consistent_batch(float32)
        out[name] = (model, int8, float32)
    return out


def _consistent_batch(model_bytes):
    """The converter exports a dilated conv under a dynamic batch as
    SPACE_TO_BATCH_ND + conv + BATCH_TO_SPACE_ND with every static batch dim
    set to 1, although the block multiplies the batch; TFLM takes the static
    shapes at their word (and then computes one block phase only), TFLite
    resizes them.  Give the tensors between the two their real batch so the
    oracle computes the op (a model exported with that batch looks so)."""
    from tflm_unit.runtime.model import load_graph, pack_model

    graph = load_graph(model_bytes)
    sub = graph.model.subgraphs[0]
    batch = {i: 1 for i in graph.inputs}
    for op in graph.operators:
        known = [batch[i] for i in op.inputs if i in batch]
        b = known[0] if known else 1
        if op.name in ("SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"):
            block = int(np.prod(graph.tensor(op.inputs[1]).data))
            b = b * block if op.name == "SPACE_TO_BATCH_ND" else b // block
        for t in op.outputs:
            batch[t] = b
            shape = np.array(sub.tensors[t].shape)
            if shape.size:
                shape[0] = b
                sub.tensors[t].shape = shape.astype(np.int32)
    return pack_model(graph.model)


def _assert_same_as_tflm(model_bytes, x):
    interp = Interpreter(model_bytes)
    xq = interp.quantize_input(x)
    expected = run_tflm(model_bytes, xq)
    result = interp.run(xq)
    assert len(result.outputs) == len(expected)
    for got, want in zip(result.outputs, expected):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    return interp, result


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("kind", ["int8", "float32"])
def test_bit_exact_with_tflm(built, data, name, kind):
    model_bytes = built[name][1] if kind == "int8" else built[name][2]
    interp, result = _assert_same_as_tflm(model_bytes, data[:8])
    assert CASES[name][1] <= {op.name for op in interp.graph.operators}
    if name.startswith("transpose_conv"):
        # TRANSPOSE_CONV reports its MACs like CONV_2D
        layer = next(layer for layer in result.layers if layer.op_name == "TRANSPOSE_CONV")
        op = next(op for op in interp.graph.operators if op.name == "TRANSPOSE_CONV")
        filt = interp.graph.tensor(op.inputs[1]).shape
        inp = interp.graph.tensor(op.inputs[2]).shape
        assert layer.macs_total == 8 * inp[1] * inp[2] * inp[3] * filt[0] * filt[1] * filt[2]
        assert 0 < layer.macs_executed <= layer.macs_total


@pytest.mark.parametrize("name", ["transpose_conv", "dilated_depthwise", "upsample_bilinear", "strided_slice", "split_v",
                                  "transpose"])
def test_through_converter(built, data, name):
    from tflm_unit.converter import convert, to_builtin

    model = built[name][0]
    unit0 = convert(model, data, thresholds=0.0)
    builtin = to_builtin(unit0)
    interp = Interpreter(unit0)
    xq = interp.quantize_input(data[:8])
    expected = run_tflm(builtin, xq)
    dense = interp.run(xq)
    for got, want in zip(dense.outputs, expected):
        np.testing.assert_array_equal(got, want)
    unit = Interpreter(convert(model, data, thresholds=0.05)).run(xq)
    assert unit.macs_executed < dense.macs_executed
    assert unit.macs_total == dense.macs_total


@pytest.mark.parametrize("kind", ["int8", "float32"])
def test_padded_space_to_batch_equals_dilated_conv(data, kind):
    """SAME-padded dilated conv under a dynamic batch (SPACE_TO_BATCH_ND pads
    with the zero point) == the same conv exported with batch 1, where the
    converter keeps CONV_2D with its dilation, in TFLM.  (TFLM's own
    SPACE_TO_BATCH_ND pads with uninitialised memory: not an oracle.)"""
    K = keras()
    conv = K.layers.Conv2D(4, 3, dilation_rate=2, padding="same")
    dynamic_in = K.layers.Input((8, 8, 3))
    dynamic = K.Model(dynamic_in, conv(dynamic_in))
    fixed_in = K.layers.Input((8, 8, 3), batch_size=1)
    fixed = K.Model(fixed_in, conv(fixed_in))
    convert = convert_int8 if kind == "int8" else (lambda m, _: convert_float(m))
    dynamic_bytes, fixed_bytes = convert(dynamic, data), convert(fixed, data)
    interp = Interpreter(_consistent_batch(dynamic_bytes))
    assert {"SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"} <= {op.name for op in interp.graph.operators}
    assert "SPACE_TO_BATCH_ND" not in {op.name for op in Interpreter(fixed_bytes).graph.operators}
    xq = interp.quantize_input(data[:8])
    np.testing.assert_array_equal(interp.run(xq).outputs[0], run_tflm(fixed_bytes, xq)[0])
    # the runtime runs the unpatched dynamic-batch export the same way
    np.testing.assert_array_equal(Interpreter(dynamic_bytes).run(xq).outputs[0], run_tflm(fixed_bytes, xq)[0])


def test_dynamic_batch_builtin_model_loads_directly(data):
    """SHAPE / STRIDED_SLICE / PACK computing a RESHAPE's (and a
    Conv2DTranspose's) shape are folded at load time."""
    tf = _tf()
    K = keras()
    inp = K.layers.Input((8, 8, 3))
    y = K.layers.Conv2DTranspose(2, 3, strides=2, padding="same")(inp)
    y = K.layers.Lambda(lambda v: tf.reshape(v, [tf.shape(v)[0], 16 * 16 * 2]))(y)
    model = K.Model(inp, K.layers.Dense(4)(y))
    for model_bytes in (convert_int8(model, data), convert_float(model)):
        from tflm_unit.runtime.model import load_graph

        raw_ops = {op.name for op in load_graph(model_bytes).operators}
        assert {"SHAPE", "PACK"} <= raw_ops
        interp, _ = _assert_same_as_tflm(model_bytes, data[:4])
        assert not {"SHAPE", "PACK"} & {op.name for op in interp.graph.operators}


def test_unsupported_options_name_op_and_option(built):
    from tflm_unit.runtime.model import pack_model, unpack_model

    model_t = unpack_model(built["strided_slice"][1])
    sub = model_t.subgraphs[0]
    codes = model_t.operatorCodes
    for op in sub.operators:
        code = max(codes[op.opcodeIndex].builtinCode, codes[op.opcodeIndex].deprecatedBuiltinCode)
        if code == 45:  # STRIDED_SLICE
            op.builtinOptions.ellipsisMask = 2
    with pytest.raises(UnsupportedModelError, match=r"STRIDED_SLICE.*ellipsis_mask"):
        Interpreter(pack_model(model_t))


def test_batch_axis_and_dtype_errors():
    x = np.zeros((1, 2, 3, 4), np.int8)
    with pytest.raises(KernelArgumentError, match="perm"):
        layout_ops.transpose(x, [0, 1, 1, 3])
    with pytest.raises(KernelArgumentError, match="sizes"):
        layout_ops.split(x, 3, [1, 2])
    with pytest.raises(KernelArgumentError, match="align_corners"):
        layout_ops.resize_bilinear(x, (4, 4), align_corners=True, half_pixel_centers=True)
    with pytest.raises(KernelArgumentError, match="dtype"):
        layout_ops.resize_bilinear(x.astype(np.int16), (4, 4))
    with pytest.raises(KernelArgumentError, match="strides"):
        layout_ops.strided_slice(x, [0] * 4, [1] * 4, [1, 0, 1, 1])


def test_core_matches_numpy_slicing_and_bilinear_rounding():
    """Data movement == NumPy's; the int8 bilinear kernel rounds negative
    halves away from zero (TFLM without TFLITE_SINGLE_ROUNDING)."""
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (2, 5, 6, 3)).astype(np.int8)
    np.testing.assert_array_equal(layout_ops.strided_slice(x, [0, 4, -1, 0], [2, 0, -7, 3], [1, -2, -2, 1]),
                                  x[0:2, 4:0:-2, -1:-7:-2, 0:3])
    np.testing.assert_array_equal(layout_ops.transpose(x, [0, 3, 1, 2]), x.transpose(0, 3, 1, 2))
    s = layout_ops.space_to_batch_nd(x, [2, 3], [[1, 0], [0, 0]], pad_value=7)
    np.testing.assert_array_equal(layout_ops.batch_to_space_nd(s, [2, 3], [[1, 0], [0, 0]]), x)
    # 1x2 -> 1x4 upsampling, half-pixel: the border columns clamp to one
    # input column, the inner ones weigh the two 768 / 256 and 256 / 768
    y = layout_ops.resize_bilinear(np.array([[[[-1], [-2]]]], np.int8), (1, 4), half_pixel_centers=True)
    np.testing.assert_array_equal(y.reshape(-1), [-1, -1, -2, -2])  # -1, -1.25, -1.75, -2
    z = layout_ops.resize_bilinear(np.array([[[[-1], [0]]]], np.int8), (1, 2), align_corners=True)
    np.testing.assert_array_equal(z.reshape(-1), [-1, 0])
    half = layout_ops.resize_bilinear(np.array([[[[-1], [0]]]], np.int8), (1, 3), align_corners=True)
    np.testing.assert_array_equal(half.reshape(-1), [-1, -1, 0])  # -0.5 rounds away from zero
