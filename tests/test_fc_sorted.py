"""The sorted FULLY_CONNECTED layout (DESIGN.md §9 "Zero-cost skipping"):
the C kernel on the sorted layout against today's compare-per-MAC C kernel and
the NumPy reference, bit for bit and MAC for MAC, over a matrix of shapes,
group sizes, division modes and thresholds."""
from __future__ import annotations

import numpy as np
import pytest

from tflm_unit.core import kernels as k
from tflm_unit.errors import KernelArgumentError
from tflm_unit.unit import reference as ref
from tflm_unit.unit.division import DIVISION_MODES


def _requant(rng, channels):
    return ref.quantize_multiplier(rng.uniform(0.002, 0.05, size=channels))


# (batches, input_depth, output_depth, group_size); 300 outputs use uint16 indices.
SHAPES = [(1, 1, 1, None), (2, 17, 6, 1), (3, 40, 6, 2), (1, 256, 10, None), (2, 33, 12, 4),
          (1, 9, 300, None), (1, 7, 300, 100)]


@pytest.mark.parametrize("mode", DIVISION_MODES)
@pytest.mark.parametrize("shape", SHAPES)
def test_sorted_matches_compare_kernel_and_reference(mode, shape):
    batches, depth, channels, group_size = shape
    rng = np.random.default_rng(depth * 1000 + channels)
    groups = 1 if group_size is None else channels // group_size
    w = rng.integers(-128, 128, size=(channels, depth)).astype(np.int8)
    w[rng.random(w.shape) < 0.25] = 0
    w.flat[0] = -128
    layout = k.fc_sorted_layout(w, group_size)
    assert layout.index.dtype == (np.uint8 if channels <= 256 else np.uint16)
    assert layout.weights.size == depth * (channels + groups)
    input_offset = int(rng.integers(-127, 129))
    bias = rng.integers(-9000, 9000, size=channels).astype(np.int32)
    multiplier, shift = _requant(rng, channels)
    for t_max in (0, 50, 800, 6000, 32767):
        x = rng.integers(-128, 128, size=(batches, depth)).astype(np.int8)
        x[rng.random(x.shape) < 0.2] = -input_offset if -128 <= -input_offset <= 127 else 0
        thresholds = rng.integers(0, t_max + 1, size=groups).astype(np.int16)
        args = (bias, multiplier, shift, input_offset, 3, -100, 90)
        compare = k.fully_connected_int8(x, w, *args, thresholds=thresholds, group_size=group_size,
                                         division=mode)
        sorted_ = k.fully_connected_sorted_int8(x, layout, *args, thresholds=thresholds,
                                                group_size=group_size, division=mode)
        numpy = ref.fully_connected_int8(x, w, *args, thresholds, group_size, mode)
        assert np.array_equal(sorted_.output, compare.output)
        assert np.array_equal(sorted_.output, numpy.output)
        assert sorted_.macs_total == compare.macs_total == numpy.macs_total
        assert sorted_.macs_executed == compare.macs_executed == numpy.macs_executed
        assert np.array_equal(sorted_.channel_executed, compare.channel_executed)


def test_without_thresholds_is_dense():
    rng = np.random.default_rng(3)
    w = rng.integers(-127, 128, size=(10, 64)).astype(np.int8)
    w[rng.random(w.shape) < 0.3] = 0
    x = rng.integers(-128, 128, size=(2, 64)).astype(np.int8)
    multiplier, shift = _requant(rng, 10)
    dense = k.fully_connected_int8(x, w, None, multiplier, shift, 5, -2)
    sorted_ = k.fully_connected_sorted_int8(x, k.fc_sorted_layout(w), None, multiplier, shift, 5, -2)
    assert np.array_equal(dense.output, sorted_.output)
    nonzero_products = int(((x.astype(np.int32) + 5 != 0)[:, None, :] & (w != 0)[None]).sum())
    assert sorted_.macs_executed == nonzero_products < dense.macs_executed


def test_layout_order():
    w = np.array([[3, -7], [-128, 0], [5, 7], [-3, 1]], dtype=np.int8)
    layout = k.fc_sorted_layout(w, 2)
    assert layout.weights.tolist() == [-128, 3, 0, 5, -3, 0, -7, 0, 0, 7, 1, 0]
    assert layout.index.tolist() == [1, 0, 0, 2, 3, 2, 0, 0, 0, 2, 3, 2]
    assert layout.nbytes == 24


def test_refusals():
    rng = np.random.default_rng(4)
    w = rng.integers(-127, 128, size=(6, 8)).astype(np.int8)
    x = rng.integers(-128, 128, size=(1, 8)).astype(np.int8)
    multiplier, shift = _requant(rng, 6)
    layout = k.fc_sorted_layout(w, 2)
    t = np.array([5, 6, 7], dtype=np.int16)
    with pytest.raises(KernelArgumentError, match="groups of 3"):
        k.fully_connected_sorted_int8(x, layout, None, multiplier, shift, 0, 0,
                                      thresholds=np.array([1, 2], dtype=np.int16), group_size=3)
    with pytest.raises(KernelArgumentError, match="does not divide"):
        k.fc_sorted_layout(w, 4)
    bad = k.FcSortedLayout(layout.weights.copy(), layout.index.copy(), 2, 8, 6)
    bad.index[0] = 5  # output 5 inside group 0's segment
    with pytest.raises(KernelArgumentError, match="UNIT_ERR_SHAPE"):
        k.fully_connected_sorted_int8(x, bad, None, multiplier, shift, 0, 0, thresholds=t, group_size=2)
    short = k.FcSortedLayout(layout.weights[:-1], layout.index, 2, 8, 6)
    with pytest.raises(KernelArgumentError, match="weights|filter"):
        k.fully_connected_sorted_int8(x, short, None, multiplier, shift, 0, 0, thresholds=t, group_size=2)


# ------------------------------------------------------------------ the layout as a model property


@pytest.fixture(scope="module")
def paper_unit():
    """The paper's net (one epoch on 300 digits) as UnIT with per-group FC thresholds, and test inputs."""
    tf_keras = pytest.importorskip("tf_keras")
    from tflm_unit.converter import apply_thresholds, convert
    from tflm_unit.datasets import load_default_digits
    from tflm_unit.models import unit_paper_cnn
    from tflm_unit.runtime import Interpreter

    data = load_default_digits()
    tf_keras.utils.set_random_seed(3)
    model = unit_paper_cnn(keras_module=tf_keras)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train[:300, ..., None], data.y_train[:300], epochs=1, batch_size=32, verbose=0)
    unit = convert(model, data.x_train[:64, ..., None])
    unit = apply_thresholds(unit, {"conv1": 0.004, "conv2": 0.006, "fc": [0.004, 0.01]}, "shift",
                            group_size={"fc": 5})
    return unit, Interpreter(unit).quantize_input(data.x_test[:16, ..., None])


def _fc_op(model: bytes):
    from tflm_unit.runtime.model import load_graph

    return next(op for op in load_graph(model).operators if op.name == "UNIT_FULLY_CONNECTED")


def _as_format_version_2(model: bytes) -> bytes:
    """A sorted model as format_version 2 wrote it: the layout option, no layout tensors."""
    from flatbuffers import flexbuffers

    from tflm_unit.converter.rewrite import remove_unused
    from tflm_unit.runtime.model import load_graph, pack_model

    graph = load_graph(model)
    for op in graph.operators:
        if op.custom_options.get("layout") == "sorted":
            op_t = graph.model.subgraphs[0].operators[op.index]
            builder = flexbuffers.Builder()
            with builder.Map():
                for key, value in dict(op.custom_options, format_version=2).items():
                    builder.Key(key)
                    builder.String(value) if isinstance(value, str) else builder.Bool(value) \
                        if isinstance(value, bool) else builder.Int(int(value))
            op_t.customOptions = np.frombuffer(bytes(builder.Finish()), dtype=np.uint8)
            op_t.inputs = np.asarray(op.inputs[:4], dtype=np.int32)
    remove_unused(graph.model)
    return pack_model(graph.model)


def test_layout_option_round_trip(paper_unit):
    """format_version 3: the sorted layout is two constant op inputs, exactly
    the arrays the C core builds from the filter (which stays)."""
    from tflm_unit.converter.rewrite import set_layouts
    from tflm_unit.runtime.model import load_graph

    unit, _ = paper_unit
    assert "layout" not in _fc_op(unit).custom_options and _fc_op(unit).custom_options["format_version"] == 1
    sorted_model = set_layouts(unit, "sorted")
    fc = _fc_op(sorted_model)
    options = fc.custom_options
    assert options["layout"] == "sorted" and options["format_version"] == 3
    assert options["group_size"] == 5 and options["division"] == "shift"
    graph = load_graph(sorted_model)
    assert len(fc.inputs) == 6
    filt, weights, index = (graph.tensor(fc.inputs[i]) for i in (1, 4, 5))
    built = k.fc_sorted_layout(filt.data, 5)
    assert weights.dtype == np.int8 and index.dtype == np.uint8
    assert weights.shape == index.shape == (256, 2, 6)  # inputs, groups, group size + sentinel
    np.testing.assert_array_equal(weights.data.reshape(-1), built.weights)
    np.testing.assert_array_equal(index.data.reshape(-1), built.index)
    np.testing.assert_array_equal(filt.data, graph_filter(unit))
    assert set_layouts(sorted_model, "sorted") == sorted_model  # idempotent: tensors reused
    back_model = set_layouts(sorted_model, "compare")
    back = _fc_op(back_model)
    assert "layout" not in back.custom_options and back.custom_options["format_version"] == 1
    assert len(back.inputs) == 4 and len(back_model) == len(unit)  # the layout tensors are gone
    # a format_version-2 file set to sorted again gets its tensors
    assert _fc_op(set_layouts(_as_format_version_2(sorted_model), "sorted")).custom_options["format_version"] == 3


def graph_filter(model: bytes) -> np.ndarray:
    from tflm_unit.runtime.model import load_graph

    return load_graph(model).tensor(_fc_op(model).inputs[1]).data


def test_runtime_sorted_layout_is_bit_exact(paper_unit):
    from tflm_unit.converter import apply_thresholds
    from tflm_unit.converter.rewrite import set_layouts
    from tflm_unit.runtime import Interpreter

    unit, xq = paper_unit
    sorted_model = set_layouts(unit, "sorted")
    compare, sorted_ = Interpreter(unit).run(xq), Interpreter(sorted_model).run(xq)
    np.testing.assert_array_equal(compare.outputs[0], sorted_.outputs[0])
    fc_compare, fc_sorted = compare.layers[-2], sorted_.layers[-2]
    assert fc_sorted.output_name == fc_compare.output_name
    assert 0 < fc_sorted.macs_executed == fc_compare.macs_executed < fc_sorted.macs_total
    # New thresholds keep the layout (and a new group size gets its own arrays).
    again = apply_thresholds(sorted_model, {"fc": [0.002, 0.003]}, "shift", group_size={"fc": 5})
    assert _fc_op(again).custom_options["layout"] == "sorted"
    np.testing.assert_array_equal(Interpreter(again).run(xq).outputs[0],
                                  Interpreter(set_layouts(again, "compare")).run(xq).outputs[0])
    regrouped = apply_thresholds(sorted_model, {"fc": [0.002] * 5}, "shift", group_size={"fc": 2})
    fc = _fc_op(regrouped)
    assert fc.custom_options["group_size"] == 2 and fc.custom_options["format_version"] == 3
    from tflm_unit.runtime.model import load_graph

    assert load_graph(regrouped).tensor(fc.inputs[4]).shape == (256, 5, 3)
    np.testing.assert_array_equal(Interpreter(regrouped).run(xq).outputs[0],
                                  Interpreter(set_layouts(regrouped, "compare")).run(xq).outputs[0])


@pytest.mark.parametrize("division", DIVISION_MODES)
def test_file_layout_matches_built_layout_and_compare(paper_unit, division):
    """The layout read from a format_version-3 file gives what the layout
    built for a version-2 file and the compare kernel give, bit for bit and
    MAC for MAC, at every threshold and division mode."""
    from tflm_unit.converter import apply_thresholds
    from tflm_unit.converter.rewrite import set_layouts
    from tflm_unit.runtime import Interpreter

    unit, xq = paper_unit
    for scale in (0.0, 0.002, 0.01, 0.05, 1.0):
        model = apply_thresholds(unit, {"fc": [scale, 2 * scale]}, division, group_size={"fc": 5})
        v3 = set_layouts(model, "sorted")
        v2 = _as_format_version_2(v3)
        assert _fc_op(v2).custom_options["format_version"] == 2 and len(_fc_op(v2).inputs) == 4
        runs = [Interpreter(m).run(xq) for m in (model, v2, v3)]
        for run in runs[1:]:
            np.testing.assert_array_equal(run.outputs[0], runs[0].outputs[0])
            assert [layer.macs_executed for layer in run.layers] == [layer.macs_executed for layer in runs[0].layers]
            np.testing.assert_array_equal(run.layers[-2].channel_executed, runs[0].layers[-2].channel_executed)


def _corrupt(model: bytes, position: int, change) -> bytes:
    """The model with the FC op's input ``position`` tensor changed by ``change(tensor_t, data)``."""
    from tflm_unit.runtime.model import load_graph, pack_model

    graph = load_graph(model)
    model_t = graph.model
    tensor_t = model_t.subgraphs[0].tensors[_fc_op(model).inputs[position]]
    buffer = model_t.buffers[tensor_t.buffer]
    data = np.array(buffer.data, dtype=np.uint8)
    change(tensor_t, data)
    buffer.data = data
    return pack_model(model_t)


def test_corrupt_layout_tensors_are_refused(paper_unit, tmp_path):
    """A layout tensor with a wrong dtype or shape, an index out of its
    group, or contents that are not the filter's layout: a clear error
    naming the op and tensor, before any kernel reads it."""
    from tflm_unit.converter.rewrite import set_layouts
    from tflm_unit.errors import ModelFormatError, TflmUnitError
    from tflm_unit.runtime import Interpreter
    from tflm_unit.runtime.model import load_graph

    unit, _ = paper_unit
    model = set_layouts(unit, "sorted")
    fc = _fc_op(model)
    where = rf"operator {fc.index} \(UNIT_FULLY_CONNECTED\)"
    index_name = load_graph(model).tensor(fc.inputs[5]).name

    def bad_index(tensor_t, data):
        data[0] = 7  # group 0 holds outputs 0..4
    with pytest.raises(ModelFormatError, match=where + rf".*'{index_name}' holds output 7 at entry 0, outside its "
                                                       r"group \[0, 5\)"):
        Interpreter(_corrupt(model, 5, bad_index))

    def out_of_range(tensor_t, data):
        data[7] = 200  # beyond the 10 outputs
    with pytest.raises(ModelFormatError, match="holds output 200"):
        Interpreter(_corrupt(model, 5, out_of_range))
    from tflm_unit.converter import export_c

    with pytest.raises(ModelFormatError, match="holds output 200"):  # the MSP430 graph's reader too
        export_c(_corrupt(model, 5, out_of_range), tmp_path, name="model")

    def wrong_shape(tensor_t, data):
        tensor_t.shape = np.asarray([256, 12], dtype=np.int32)
    with pytest.raises(ModelFormatError, match=where + r".*layout weights tensor .* must be a constant int8 tensor "
                                                       r"of shape \[256, 2, 6\].*got constant INT8 \[256, 12\]"):
        Interpreter(_corrupt(model, 4, wrong_shape))

    def wrong_dtype(tensor_t, data):
        tensor_t.type = 9  # INT8 instead of UINT8
    with pytest.raises(ModelFormatError, match="layout index tensor .* must be a constant uint8 tensor"):
        Interpreter(_corrupt(model, 5, wrong_dtype))

    def wrong_weight(tensor_t, data):
        data[0] = (int(data[0]) ^ 1) & 0xFF  # not the filter's weight (still descending)
    with pytest.raises(ModelFormatError, match=where + r".*are not the sorted layout of the filter"):
        Interpreter(_corrupt(model, 4, wrong_weight))

    def unsorted(tensor_t, data):
        data[0], data[1] = data[1], data[0]
    with pytest.raises(TflmUnitError, match="not the sorted layout"):
        Interpreter(_corrupt(model, 4, unsorted))

    graph = load_graph(model)
    graph.model.subgraphs[0].operators[fc.index].inputs = np.asarray(fc.inputs[:4], dtype=np.int32)
    from tflm_unit.runtime.model import pack_model

    with pytest.raises(ModelFormatError, match=r"has 4 inputs, expected 6..6 \(format_version 3\)"):
        Interpreter(pack_model(graph.model))


def test_bad_layouts_are_refused(paper_unit):
    from tflm_unit.converter.errors import ConversionError
    from tflm_unit.converter.rewrite import set_layouts
    from tflm_unit.errors import ModelFormatError
    from tflm_unit.runtime.model import _unit_options

    unit, _ = paper_unit
    with pytest.raises(ConversionError, match="layout 'diagonal'"):
        set_layouts(unit, "diagonal")
    with pytest.raises(ConversionError, match=r"operator 0 \(UNIT_CONV_2D\): layout 'sorted'"):
        set_layouts(unit, {0: "sorted"})
    base = {"fused_activation_function": 0, "group_size": 10, "division": "shift"}
    with pytest.raises(ModelFormatError, match="needs format_version 2"):
        _unit_options("op 5", "UNIT_FULLY_CONNECTED", dict(base, layout="sorted", format_version=1))
    with pytest.raises(ModelFormatError, match="format_version 3 is for a UNIT_FULLY_CONNECTED with layout 'sorted'"):
        _unit_options("op 5", "UNIT_FULLY_CONNECTED", dict(base, format_version=3))
    with pytest.raises(ModelFormatError, match=r"'rows': expected one of \('compare', 'sorted'\)"):
        _unit_options("op 5", "UNIT_FULLY_CONNECTED", dict(base, layout="rows", format_version=2))
    assert _unit_options("op 5", "UNIT_FULLY_CONNECTED", dict(base, layout="sorted",
                                                              format_version=2))["layout"] == "sorted"


@pytest.mark.parametrize("version", (2, 3))
def test_export_c_writes_the_layout_instead_of_the_filter(paper_unit, tmp_path, version):
    from tflm_unit.converter import export_c
    from tflm_unit.converter.rewrite import set_layouts

    unit, _ = paper_unit
    model = set_layouts(unit, "sorted")
    export_c(model if version == 3 else _as_format_version_2(model), tmp_path, name="model")
    text = (tmp_path / "model_graph.c").read_text()
    fc = _fc_op(unit)
    label = f"op{fc.index}"
    assert f"model_{label}_sorted_weights[3072]" in text  # 256 inputs x (10 outputs + 2 groups)
    assert f"model_{label}_sorted_index[3072]" in text and "const uint8_t" in text
    assert f"model_{label}_filter[" not in text
    assert "unit_sorted_weights" not in text.replace(f"model_{label}_sorted_weights", "")  # not also as a tensor


def test_resources_and_inspect_count_the_layout(paper_unit):
    from tflm_unit.cli import text_inspect
    from tflm_unit.converter.report import inspect_model
    from tflm_unit.converter.rewrite import set_layouts
    from tflm_unit.resources import tflite_resources

    from tflm_unit.runtime.model import load_graph

    unit, _ = paper_unit
    sorted_model = set_layouts(unit, "sorted")
    old_file = _as_format_version_2(sorted_model)
    before, after, old = tflite_resources(unit), tflite_resources(sorted_model), tflite_resources(old_file)
    layout_bytes = 256 * (10 + 2) * 2  # weights + uint8 indices, 2 groups of 5
    for resources in (after, old):
        fc_layers = [layer for layer in resources.layers if layer.op == "UNIT_FULLY_CONNECTED"]
        assert [layer.layout_bytes for layer in fc_layers] == [layout_bytes]
    # version 3: flash is what the file holds, the filter plus the two layout tensors; no layout RAM
    graph = load_graph(sorted_model)
    fc_op = _fc_op(sorted_model)
    in_file = sum(graph.tensor(fc_op.inputs[i]).nbytes for i in (4, 5))
    assert in_file == layout_bytes
    assert after.flash_bytes - before.flash_bytes == layout_bytes
    assert after.layout_ram_bytes == 0
    assert len(sorted_model) - len(unit) >= layout_bytes
    # version 2: the file holds only the filter; the TFLM adapter builds the layout in its arena
    assert old.flash_bytes == before.flash_bytes and old.layout_ram_bytes == layout_bytes
    assert after.peak_ram_bytes == before.peak_ram_bytes == old.peak_ram_bytes
    report = inspect_model(sorted_model)
    fc = next(op for op in report["ops"] if op["op"] == "UNIT_FULLY_CONNECTED")
    assert fc["layout"] == "sorted" and fc["layout_bytes"] == layout_bytes and fc["layout_ram_bytes"] == 0
    assert report["layout_ram_bytes"] == 0
    assert f"layout sorted ({layout_bytes} bytes in flash) scratch" in text_inspect(report)
    old_report = inspect_model(old_file)
    assert old_report["layout_ram_bytes"] == layout_bytes
    assert f"layout sorted ({layout_bytes} bytes built in RAM) scratch" in text_inspect(old_report)
    assert f"sorted layouts built in RAM {layout_bytes} bytes" in text_inspect(old_report)
    # the sorted kernel's scratch (int32 accumulators), as export-c's static graph reserves it
    from tflm_unit.converter.export_c import graph_sources
    from tflm_unit.core import kernels

    fc_layer = next(layer for layer in after.layers if layer.op == "UNIT_FULLY_CONNECTED")
    assert fc_layer.scratch_bytes == kernels.scratch_bytes("FULLY_CONNECTED_SORTED", (10, 256), (1, 10), True, 5) > 0
    for model, resources in ((unit, before), (sorted_model, after)):
        assert resources.unit_scratch_bytes == graph_sources(model, "m")[1]["scratch_bytes"]


def test_converter_and_cli_set_the_layout(paper_unit, tmp_path):
    from tflm_unit.cli import main
    from tflm_unit.converter import apply_thresholds
    from tflm_unit.runtime import Interpreter

    unit, xq = paper_unit
    sorted_model = apply_thresholds(unit, None, layout="sorted")
    assert _fc_op(sorted_model).custom_options["layout"] == "sorted"
    np.testing.assert_array_equal(Interpreter(sorted_model).run(xq).outputs[0], Interpreter(unit).run(xq).outputs[0])
    source, out = tmp_path / "unit.tflite", tmp_path / "sorted.tflite"
    source.write_bytes(unit)
    assert main(["convert", str(source), "--out", str(out), "--fc-layout", "sorted"]) == 0
    assert _fc_op(out.read_bytes()).custom_options["layout"] == "sorted"
    assert main(["inspect", str(out)]) == 0


class _ScaledCycles:
    """A cycle model pricing each layout at a fixed multiple of the executed MACs."""

    def __init__(self, factors):
        self.factors = factors

    def layer_cycles(self, work):
        return self.factors[work.layout] * work.macs_executed + 1000.0


def test_auto_layout_picks_the_fewer_modelled_cycles(paper_unit):
    """layout "auto" (DESIGN.md §9): per conv / FC op the layout with the
    fewer modelled cycles for the MACs its thresholds execute; compare on a
    tie; a user option forces either."""
    from tflm_unit.converter import apply_thresholds, auto_layouts, choose_layouts
    from tflm_unit.converter.layouts import layout_cycles
    from tflm_unit.errors import ConversionError
    from tflm_unit.msp430.cycle_model import load_cycle_model
    from tflm_unit.runtime import Interpreter
    from tflm_unit.runtime.model import UNIT_LAYOUTS, load_graph

    unit, xq = paper_unit
    kinds = {op.index: op.name for op in load_graph(unit).operators if op.name in UNIT_LAYOUTS}
    assert sorted(kinds.values()) == ["UNIT_CONV_2D", "UNIT_CONV_2D", "UNIT_FULLY_CONNECTED"]
    fast = {index: UNIT_LAYOUTS[name][1] for index, name in kinds.items()}
    assert choose_layouts(unit, xq, cycle_model=_ScaledCycles({"compare": 2, "sorted": 1, "bucketed": 1})) == fast
    compare = {index: "compare" for index in kinds}
    assert choose_layouts(unit, xq, cycle_model=_ScaledCycles({"compare": 1, "sorted": 2, "bucketed": 2})) == compare
    assert choose_layouts(unit, xq, cycle_model=_ScaledCycles({"compare": 1, "sorted": 1, "bucketed": 1})) == compare
    mixed = _ScaledCycles({"compare": 1, "sorted": 0.5, "bucketed": 3})
    assert choose_layouts(unit, xq, cycle_model=mixed) == {index: "sorted" if name == "UNIT_FULLY_CONNECTED"
                                                           else "compare" for index, name in kinds.items()}
    # The shipped MSP430 model: the argmin of its figures for this layer's executed MACs.
    fc_index = next(index for index, name in kinds.items() if name == "UNIT_FULLY_CONNECTED")
    fc_stats = next(layer for layer in Interpreter(unit).run(xq).layers if layer.op_index == fc_index)
    for multiplier in ("hardware", "software"):
        cycles, chosen = layout_cycles(unit, xq, multiplier), choose_layouts(unit, xq, multiplier)
        assert set(cycles) == set(kinds)
        for index, costs in cycles.items():
            assert set(costs) == set(UNIT_LAYOUTS[kinds[index]])
            assert chosen[index] == min(costs, key=costs.get)
        sorted_fc = load_cycle_model(multiplier).ops["FULLY_CONNECTED/sorted"]
        executed, total = fc_stats.macs_executed / len(xq), fc_stats.macs_total / len(xq)
        assert cycles[fc_index]["sorted"] == pytest.approx(
            sorted_fc.mac * executed + sorted_fc.skip * (total - executed) + sorted_fc.division["shift"] * 256 * 2
            + sorted_fc.output * 10)
    chosen = choose_layouts(unit, xq)
    model = auto_layouts(unit, xq)
    assert {op.index: op.custom_options.get("layout", "compare") for op in load_graph(model).operators
            if op.index in kinds} == chosen
    assert apply_thresholds(unit, None, layout="auto", layout_data=xq) == model
    np.testing.assert_array_equal(Interpreter(model).run(xq).outputs[0], Interpreter(unit).run(xq).outputs[0])
    with pytest.raises(ConversionError, match="layout 'auto' needs data"):
        apply_thresholds(unit, None, layout="auto")
    # the user forces either layout
    for forced, want in (("fast", fast), ("compare", compare)):
        model = apply_thresholds(unit, None, layout=forced)
        assert {op.index: op.custom_options.get("layout", "compare") for op in load_graph(model).operators
                if op.index in kinds} == want


def test_cli_layout_auto(paper_unit, tmp_path):
    from tflm_unit.cli import main
    from tflm_unit.converter import choose_layouts
    from tflm_unit.runtime.model import load_graph

    from tflm_unit.datasets import load_default_digits

    unit, _ = paper_unit
    source, out, data = tmp_path / "unit.tflite", tmp_path / "auto.tflite", tmp_path / "data.npz"
    source.write_bytes(unit)
    digits = load_default_digits()
    x = digits.x_test[:16, ..., None]
    np.savez(data, x_train=x, y_train=digits.y_test[:16])
    assert main(["convert", str(source), "--out", str(out), "--layout", "auto"]) == 2  # no data to price them
    assert not out.exists()
    assert main(["convert", str(source), "--out", str(out), "--layout", "auto", "--calib-data", str(data),
                 "--threshold", "0.006"]) == 0
    model = out.read_bytes()
    layouts = {op.index: op.custom_options.get("layout", "compare") for op in load_graph(model).operators
               if op.name in ("UNIT_CONV_2D", "UNIT_FULLY_CONNECTED")}
    assert layouts == choose_layouts(model, x)  # priced on the data, with the model's thresholds


def test_wide_layer_layout_tensors_have_uint16_indices():
    """Past 256 outputs the index tensor is uint16; file, built and compare
    layouts agree, and the resource model counts the file's bytes."""
    tf_keras = pytest.importorskip("tf_keras")
    from tflm_unit.converter import apply_thresholds, convert
    from tflm_unit.converter.rewrite import set_layouts
    from tflm_unit.resources import tflite_resources
    from tflm_unit.runtime import Interpreter
    from tflm_unit.runtime.model import load_graph

    tf_keras.utils.set_random_seed(5)
    model = tf_keras.Sequential([tf_keras.layers.Input((24,)), tf_keras.layers.Dense(300, activation="relu"),
                                 tf_keras.layers.Dense(10)])
    x = np.random.default_rng(5).normal(0, 1, (64, 24)).astype(np.float32)
    base = convert(model, x, thresholds=0.0, division="shift")
    unit = apply_thresholds(base, 0.02, "shift", {0: 150, 1: 5})
    v3 = set_layouts(unit, "sorted")
    graph = load_graph(v3)
    wide = graph.operators[0]
    weights, index = graph.tensor(wide.inputs[4]), graph.tensor(wide.inputs[5])
    assert weights.dtype == np.int8 and index.dtype == np.uint16
    assert weights.shape == index.shape == (24, 2, 151)
    xq = Interpreter(unit).quantize_input(x)
    runs = [Interpreter(m).run(xq) for m in (unit, _as_format_version_2(v3), v3)]
    for run in runs[1:]:
        np.testing.assert_array_equal(run.outputs[0], runs[0].outputs[0])
        assert [layer.macs_executed for layer in run.layers] == [layer.macs_executed for layer in runs[0].layers]
    layout_bytes = 24 * 302 * (1 + 2) + 300 * 12 * (1 + 1)
    assert tflite_resources(v3).flash_bytes - tflite_resources(unit).flash_bytes == layout_bytes
    assert tflite_resources(_as_format_version_2(v3)).layout_ram_bytes == layout_bytes


def test_python_and_c_agree_on_the_layout_tensors_version():
    """The readers' version constant (tflm_unit.runtime.model) is the C core's
    UNIT_LAYOUT_TENSORS_FORMAT_VERSION, which the TFLM adapter checks."""
    from tflm_unit.runtime.model import LAYOUT_TENSORS_FORMAT_VERSION

    assert LAYOUT_TENSORS_FORMAT_VERSION == k._core.LAYOUT_TENSORS_FORMAT_VERSION == 3
