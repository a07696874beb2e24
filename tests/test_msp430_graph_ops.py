"""The MSP430 graph runner runs the layout ops (STRIDED_SLICE, SPLIT, SPLIT_V,
TRANSPOSE, RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR, SPACE_TO_BATCH_ND,
BATCH_TO_SPACE_ND), int8 TRANSPOSE_CONV and binary ops with a constant FIRST
input through the C core's own kernels: one small tf_keras model per op
(the builders of test_runtime_layout_ops), converted to int8 by
TFLiteConverter, run on the simulated MSP430 == the host runtime
(tflm_unit.runtime.Interpreter) bit for bit; each op kind's code is linked
only into firmware whose model uses it; an op the static graph still lacks
is a clear error naming op and dtype."""
from __future__ import annotations

import numpy as np
import pytest

from tflite_oracle import convert_int8, keras

import test_runtime_layout_ops as layout_models

from tflm_unit.msp430 import BuildOptions, build_graph_firmware, run_graph_firmware, toolchain_available
from tflm_unit.runtime import Interpreter

needs_toolchain = pytest.mark.skipif(
    not toolchain_available(),
    reason="MSP430 toolchain absent: apt-get install -y clang-16 lld-16 llvm-16 mspdebug msp430mcu")


def _one_output(body):
    """The static graph has one output: pieces of a split are added back."""
    def built(K, t):
        y = body(K, t)
        return K.layers.Add()(y) if isinstance(y, list) else y
    return built


def _const_first_sub(K, t):  # SUB(constant, x): the constant is the op's first input
    scale = np.array([0.25, -0.5, 0.75], np.float32)
    return K.layers.Conv2D(2, 1)(K.layers.Lambda(lambda v: scale - v)(t))


def _mul_const(K, t):  # MUL(x, constant) broadcast over H, W; _const_first swaps the inputs
    scale = np.array([0.5, -1.5, 2.0], np.float32)
    return K.layers.Conv2D(2, 1)(K.layers.Lambda(lambda v: v * scale)(t))


def _const_first(model: bytes, op_name: str) -> bytes:
    """TFLiteConverter puts a commutative op's constant second: swap the
    inputs of `op_name` in the flatbuffer (the same model, constant first)."""
    from tflm_unit.runtime.model import load_graph, pack_model, unpack_model

    index = next(op.index for op in load_graph(model).operators if op.name == op_name)
    model_t = unpack_model(model)
    op = model_t.subgraphs[0].operators[index]
    op.inputs = op.inputs[::-1].copy()
    return pack_model(model_t)


#: name -> (body, the op it exercises).  Tiny inputs: the simulator runs one instruction at a time.
CASES = {
    "strided_slice": (layout_models._strided_slice, "STRIDED_SLICE"),
    "shrink_slice": (layout_models._shrink_slice, "STRIDED_SLICE"),
    "split": (_one_output(layout_models._split), "SPLIT"),
    "split_v": (_one_output(layout_models._split_v), "SPLIT_V"),
    "transpose": (layout_models._transpose, "TRANSPOSE"),
    "upsample_nearest": (layout_models._upsample_nearest, "RESIZE_NEAREST_NEIGHBOR"),
    "resize_nearest_align_corners": (layout_models._resize_nearest_align_corners, "RESIZE_NEAREST_NEIGHBOR"),
    "upsample_bilinear": (layout_models._upsample_bilinear, "RESIZE_BILINEAR"),
    "resize_half_pixel": (layout_models._resize_half_pixel, "RESIZE_BILINEAR"),
    "resize_align_corners": (layout_models._resize_align_corners, "RESIZE_BILINEAR"),
    "dilated_depthwise": (layout_models._dilated_depthwise, "SPACE_TO_BATCH_ND"),  # + BATCH_TO_SPACE_ND
    "dilated_same": (layout_models._dilated, "SPACE_TO_BATCH_ND"),  # padded with the zero point
    "transpose_conv": (layout_models._tconv, "TRANSPOSE_CONV"),  # on a 4x4 input (see _SHAPES)
    "transpose_conv_valid": (layout_models._tconv_valid, "TRANSPOSE_CONV"),
    "const_first_sub": (_const_first_sub, "SUB"),
    "const_first_mul": (_mul_const, "MUL"),
}


#: Input shapes other than the builders' 8x8x3: the 16x16x5 int32 accumulators of the upsampling
#: transposed conv (5 KiB) leave no room in the FR5994's 8 KiB RAM beside the arena.
_SHAPES = {"transpose_conv": (4, 4, 3)}


#: The C core kernel each new op kind calls: linked into a firmware only when its model has the op.
_KERNELS = {"STRIDED_SLICE": "unit_strided_slice", "SPLIT": "unit_split", "SPLIT_V": "unit_split",
            "TRANSPOSE": "unit_transpose", "RESIZE_NEAREST_NEIGHBOR": "unit_resize_nearest",
            "RESIZE_BILINEAR": "unit_resize_bilinear_int8", "SPACE_TO_BATCH_ND": "unit_space_to_batch_nd",
            "BATCH_TO_SPACE_ND": "unit_batch_to_space_nd", "TRANSPOSE_CONV": "unit_transpose_conv_int8",
            "SUB": "unit_binary_int8", "MUL": "unit_binary_int8"}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(12)
    return rng.uniform(-1, 1, (16, 8, 8, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """One object cache for the module, so the core compiles once."""
    return tmp_path_factory.mktemp("msp430_graph_ops_objects")


def _int8_model(name, data) -> bytes:
    keras().utils.set_random_seed(4)
    shape = _SHAPES.get(name, data.shape[1:])
    model = convert_int8(layout_models._model(CASES[name][0], shape), _data_for(name, data))
    return _const_first(model, "MUL") if name == "const_first_mul" else model


def _data_for(name, data):
    h, w, c = _SHAPES.get(name, data.shape[1:])
    return data[:, :h, :w, :c]


def _graph_ops(model: bytes):
    """(op name, input tensors) of each op of the loaded graph."""
    graph = Interpreter(model).graph
    return [(op.name, [graph.tensor(i) for i in op.inputs if i >= 0]) for op in graph.operators]


@needs_toolchain
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_on_the_msp430_equals_the_host_runtime(name, data, tmp_path, objects):
    model = _int8_model(name, data)
    ops = _graph_ops(model)
    wanted = CASES[name][1]
    assert wanted in [op for op, _ in ops], ops
    if name.startswith("const_first"):  # the constant really is the FIRST input
        op_inputs = next(inputs for op, inputs in ops if op == wanted)
        assert op_inputs[0].data is not None and op_inputs[1].data is None
    interp = Interpreter(model)
    xq = interp.quantize_input(_data_for(name, data)[:1])
    host = np.asarray(interp.run(xq).outputs[0], np.int8).reshape(-1)
    firmware = build_graph_firmware(model, tmp_path, BuildOptions(), objects)
    assert not firmware.program.warnings
    used = {op for op, _ in ops}
    for symbol in set(_KERNELS.values()):  # UNIT_GRAPH_WITH_<KIND>=0 for the kinds the model lacks
        wanted_here = any(_KERNELS[op] == symbol for op in used if op in _KERNELS)
        assert (symbol in firmware.program.elf.symbols) == wanted_here, symbol
    run = run_graph_firmware(firmware, xq[0])
    np.testing.assert_array_equal(run.output, host)
    assert len(run.op_cycles) == len(firmware.ops) and all(c > 0 for c in run.op_cycles)


def test_an_op_the_static_graph_lacks_names_op_and_dtype(data, tmp_path):
    """CONCATENATION runs on the host but not in the static graph: the MSP430
    build refuses it before compiling, naming the op and its dtype."""
    from tflm_unit.errors import ConversionError

    def concat(K, t):
        return K.layers.Conv2D(2, 1)(K.layers.Concatenate()([K.layers.Conv2D(2, 1)(t), t]))

    model = convert_int8(layout_models._model(concat), data)
    Interpreter(model)  # the host runtime runs it
    with pytest.raises(ConversionError, match=r"\(CONCATENATION\) with INT8 inputs is not supported by the static graph"):
        build_graph_firmware(model, tmp_path)
    assert not (tmp_path / "model.elf").exists()
