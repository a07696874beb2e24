"""The bucketed-input CONV_2D kernel (custom_ops/core/unit_conv_bucketed.c,
DESIGN.md §9 "Zero-cost skipping") through the host binding: the outputs and
executed-MAC counts of the compare-per-MAC kernel for random geometries,
every division mode and thresholds from 0 to beyond every product; its
scratch rule; the `layout` option of UNIT_CONV_2D (converter, runtime, export-c)."""
import numpy as np
import pytest

from tflm_unit.core import kernels
from tflm_unit.core.kernels import DIVISION_MODES, PADDINGS, ConvParams
from tflm_unit.errors import KernelArgumentError


def _case(rng):
    kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    dh, dw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    h = int(rng.integers((kh - 1) * dh + 1, 14))
    w = int(rng.integers((kw - 1) * dw + 1, 14))
    c, co = int(rng.integers(1, 5)), int(rng.integers(1, 7))
    params = ConvParams(int(rng.integers(1, 4)), int(rng.integers(1, 4)), dh, dw, PADDINGS[int(rng.integers(0, 2))],
                        input_offset=int(rng.integers(-127, 129)), output_offset=int(rng.integers(-128, 128)))
    x = rng.integers(-128, 128, (int(rng.integers(1, 3)), h, w, c)).astype(np.int8)
    x[rng.random(x.shape) < 0.4] = np.int8(-params.input_offset if params.input_offset < 128 else -128)
    wt = rng.integers(-128, 128, (co, kh, kw, c)).astype(np.int8)
    wt[rng.random(wt.shape) < 0.2] = 0
    bias = rng.integers(-20000, 20000, co).astype(np.int32)
    return x, wt, bias, params, co


@pytest.mark.parametrize("division", DIVISION_MODES)
def test_bucketed_equals_compare_kernel(division):
    rng = np.random.default_rng(16)
    for _ in range(150):
        x, wt, bias, params, co = _case(rng)
        group = int(rng.choice([g for g in (1, 2, 3, co) if co % g == 0]))
        t = rng.integers(0, int(rng.choice([300, 3000, 32767])), co // group).astype(np.int16)
        t[rng.random(t.shape) < 0.2] = 0
        ref = kernels.conv_2d_int8(x, wt, bias, 1 << 30, -8, params, t, group, division)
        got = kernels.conv_2d_int8(x, wt, bias, 1 << 30, -8, params, t, group, division, layout="bucketed")
        np.testing.assert_array_equal(got.output, ref.output)
        assert got.macs_executed == ref.macs_executed and got.macs_total == ref.macs_total
        np.testing.assert_array_equal(got.channel_executed, ref.channel_executed)
        assert 0 <= ref.macs_executed <= ref.macs_total


def test_bucketed_without_thresholds_is_the_dense_kernel():
    x, wt, bias, params, _ = _case(np.random.default_rng(3))
    ref = kernels.conv_2d_int8(x, wt, bias, 1 << 30, -8, params)
    got = kernels.conv_2d_int8(x, wt, bias, 1 << 30, -8, params, layout="bucketed")
    np.testing.assert_array_equal(got.output, ref.output)
    assert got.macs_executed == ref.macs_executed and got.macs_total == ref.macs_total


def test_layout_and_scratch_rule():
    x, wt, bias, params, _ = _case(np.random.default_rng(4))
    with pytest.raises(KernelArgumentError, match="layout"):
        kernels.conv_2d_int8(x, wt, bias, 1 << 30, -8, params, layout="sorted")
    net = ((1, 12, 12, 6), (16, 5, 5, 6), (1, 8, 8, 16))
    whole = kernels.conv_bucketed_scratch_bytes(*net, ConvParams(), True)
    least = kernels.conv_bucketed_scratch_bytes(*net, ConvParams(), True, minimum=True)
    assert 0 < least < whole
    # more than the compare kernel's (the lists), and the dense rule without thresholds
    assert whole > kernels.scratch_bytes("CONV_2D", net[1], net[2], True)
    assert kernels.conv_bucketed_scratch_bytes(*net, ConvParams(), False) == \
        kernels.scratch_bytes("CONV_2D", net[1], net[2], False)
    # input columns that do not fit a byte: the kernel does not take the geometry
    wide = ((1, 1, 300, 1), (1, 1, 3, 1), (1, 1, 298, 1))
    assert kernels.conv_bucketed_scratch_bytes(*wide, ConvParams(), True) == 0


@pytest.fixture(scope="module")
def conv_net():
    """(UnIT model, int8 samples): a 3x3 conv then a depthwise, thresholds that skip."""
    tf_keras = pytest.importorskip("tf_keras")
    from tflm_unit.converter import apply_thresholds, convert
    from tflm_unit.runtime import Interpreter

    tf_keras.utils.set_random_seed(5)
    model = tf_keras.Sequential([tf_keras.layers.Input((9, 9, 2)),
                                 tf_keras.layers.Conv2D(3, 3, activation="relu", name="c1"),
                                 tf_keras.layers.DepthwiseConv2D(3, name="d1")])
    x = np.random.default_rng(0).uniform(0, 1, (8, 9, 9, 2)).astype(np.float32)
    unit = apply_thresholds(convert(model, x), 0.01, "shift")
    return unit, Interpreter(unit).quantize_input(x)


def _options(model: bytes, name: str):
    from tflm_unit.runtime.model import load_graph

    return next(op for op in load_graph(model).operators if op.name == name).custom_options


@pytest.mark.parametrize("fast_path", ["1", "0"])
def test_bucketed_layout_round_trips_and_runs_identically(conv_net, monkeypatch, fast_path):
    """The `layout` option of UNIT_CONV_2D (DESIGN.md §9): written with
    format_version 2, read back, kept by apply_thresholds, removed by
    `compare`; the host runtime gives the same outputs and MAC counts (its
    fast path, and the C core's bucketed kernel without it)."""
    from tflm_unit.converter import apply_thresholds
    from tflm_unit.converter.rewrite import set_layouts
    from tflm_unit.runtime import Interpreter

    monkeypatch.setenv("TFLM_UNIT_FAST", fast_path)
    unit, xq = conv_net
    assert "layout" not in _options(unit, "UNIT_CONV_2D") and _options(unit, "UNIT_CONV_2D")["format_version"] == 1
    bucketed = set_layouts(unit, "bucketed")
    conv = _options(bucketed, "UNIT_CONV_2D")
    assert conv["layout"] == "bucketed" and conv["format_version"] == 2 and conv["division"] == "shift"
    assert "layout" not in _options(bucketed, "UNIT_DEPTHWISE_CONV_2D")  # no zero-cost depthwise layout
    assert set_layouts(unit, "fast") == bucketed  # no FC: `fast` is the bucketed conv
    ref, got = Interpreter(unit).run(xq), Interpreter(bucketed).run(xq)
    np.testing.assert_array_equal(got.outputs[0], ref.outputs[0])
    for a, b in zip(ref.layers, got.layers):
        assert (a.macs_total, a.macs_executed) == (b.macs_total, b.macs_executed)
        np.testing.assert_array_equal(a.channel_executed, b.channel_executed)
    assert 0 < ref.layers[0].macs_executed < ref.layers[0].macs_total
    again = apply_thresholds(bucketed, 0.03, "tree")
    assert _options(again, "UNIT_CONV_2D")["layout"] == "bucketed"
    np.testing.assert_array_equal(Interpreter(again).run(xq).outputs[0],
                                  Interpreter(set_layouts(again, "compare")).run(xq).outputs[0])
    back = _options(set_layouts(bucketed, "compare"), "UNIT_CONV_2D")
    assert "layout" not in back and back["format_version"] == 1


def test_wrong_layouts_are_refused(conv_net):
    from tflm_unit.converter.rewrite import set_layouts
    from tflm_unit.errors import ConversionError, ModelFormatError
    from tflm_unit.runtime.model import _unit_options

    unit, _ = conv_net
    with pytest.raises(ConversionError, match="operator 1 is not a UNIT_CONV_2D or UNIT_FULLY_CONNECTED op"):
        set_layouts(unit, {1: "bucketed"})  # the depthwise
    with pytest.raises(ConversionError, match=r"operator 0 \(UNIT_CONV_2D\): layout 'sorted', expected one of"):
        set_layouts(unit, {0: "sorted"})
    with pytest.raises(ConversionError, match="layout 'rows'"):
        set_layouts(unit, "rows")
    base = {"padding": 1, "stride_h": 1, "stride_w": 1, "group_size": 3, "division": "shift", "format_version": 2}
    with pytest.raises(ModelFormatError, match="UNIT_DEPTHWISE_CONV_2D has no layouts"):
        _unit_options("op 1", "UNIT_DEPTHWISE_CONV_2D", dict(base, layout="bucketed"))
    with pytest.raises(ModelFormatError, match=r"'sorted': expected one of \('compare', 'bucketed'\)"):
        _unit_options("op 0", "UNIT_CONV_2D", dict(base, layout="sorted"))
    with pytest.raises(ModelFormatError, match="needs format_version 2"):
        _unit_options("op 0", "UNIT_CONV_2D", dict(base, layout="bucketed", format_version=1))


def test_bucketed_layout_refused_where_the_kernel_cannot_take_the_rows():
    """Rows wider than the bucketed kernel's byte column indices: set_layouts
    refuses, and so does the runtime for a file that has the option anyway."""
    tf_keras = pytest.importorskip("tf_keras")
    from tflm_unit.converter import apply_thresholds, convert
    from tflm_unit.converter.rewrite import encode_custom_options, set_layouts, UNIT_OPTION_KEYS
    from tflm_unit.errors import ConversionError, UnsupportedModelError
    from tflm_unit.runtime import Interpreter
    from tflm_unit.runtime.model import load_graph, pack_model

    tf_keras.utils.set_random_seed(1)
    model = tf_keras.Sequential([tf_keras.layers.Input((1, 300, 1)), tf_keras.layers.Conv2D(2, (1, 3), name="c")])
    x = np.random.default_rng(0).uniform(0, 1, (4, 1, 300, 1)).astype(np.float32)
    unit = apply_thresholds(convert(model, x), 0.01, "shift")
    with pytest.raises(ConversionError, match="bucketed layout cannot take input rows of width 300"):
        set_layouts(unit, "bucketed")
    graph = load_graph(unit)
    op = next(op for op in graph.operators if op.name == "UNIT_CONV_2D")
    options = {k: v for k, v in op.custom_options.items() if k not in UNIT_OPTION_KEYS}
    graph.model.subgraphs[0].operators[op.index].customOptions = np.frombuffer(
        encode_custom_options(options, "shift", int(op.custom_options["group_size"]), "bucketed"), np.uint8)
    with pytest.raises(UnsupportedModelError, match="bucketed layout cannot take"):
        Interpreter(pack_model(graph.model))


def test_export_c_takes_the_conv_layout_from_the_model(conv_net):
    from tflm_unit.converter.export_c import graph_sources
    from tflm_unit.converter.rewrite import set_layouts

    unit, _ = conv_net
    compare_files, compare = graph_sources(unit, "m")
    bucketed_files, bucketed = graph_sources(set_layouts(unit, "bucketed"), "m")
    assert not compare["bucketed_conv"] and bucketed["bucketed_conv"]
    assert bucketed_files["m_graph.c"].count(".bucketed = 1") == 1  # the conv, not the depthwise
    assert compare_files["m_graph.c"].count(".bucketed = 1") == 0
    assert bucketed["scratch_bytes"] > compare["scratch_bytes"]


def test_resource_model_counts_the_layouts_scratch(conv_net):
    """The bucketed conv adds RAM (its per-row lists), no flash: the resource
    model's per-op scratch is the C core's rule for the kernel of each op's
    layout, and its largest is what export-c's static graph reserves."""
    from tflm_unit.cli import text_inspect
    from tflm_unit.converter.export_c import graph_sources
    from tflm_unit.converter.report import inspect_model
    from tflm_unit.converter.rewrite import set_layouts
    from tflm_unit.resources import tflite_resources
    from tflm_unit.runtime.model import load_graph

    unit, _ = conv_net
    bucketed = set_layouts(unit, "bucketed")
    graph = load_graph(bucketed)
    conv = next(op for op in graph.operators if op.name == "UNIT_CONV_2D")
    shapes = [graph.tensor(i).shape for i in (conv.inputs[0], conv.inputs[1], conv.outputs[0])]
    o = conv.custom_options
    geometry = ConvParams(o["stride_h"], o["stride_w"], o["dilation_h_factor"], o["dilation_w_factor"],
                          PADDINGS[o["padding"]])
    group = o["group_size"]
    before, after = tflite_resources(unit), tflite_resources(bucketed)
    conv_before, conv_after = before.layers[conv.index], after.layers[conv.index]
    assert conv_before.scratch_bytes == kernels.scratch_bytes("CONV_2D", shapes[1], shapes[2], True, group)
    assert conv_before.min_scratch_bytes == kernels.scratch_bytes("CONV_2D", shapes[1], shapes[2], True, group,
                                                                  minimum=True)
    assert conv_after.scratch_bytes == kernels.conv_bucketed_scratch_bytes(*shapes, geometry, True, group)
    assert conv_after.min_scratch_bytes == kernels.conv_bucketed_scratch_bytes(*shapes, geometry, True, group,
                                                                               minimum=True)
    assert conv_after.scratch_bytes > conv_before.scratch_bytes > 0
    assert 0 < conv_after.min_scratch_bytes < conv_after.scratch_bytes
    assert (after.flash_bytes, after.peak_ram_bytes) == (before.flash_bytes, before.peak_ram_bytes)
    assert after.layers[1].scratch_bytes == before.layers[1].scratch_bytes > 0  # the depthwise: unchanged
    for model, report in ((unit, before), (bucketed, after)):
        assert report.unit_scratch_bytes == graph_sources(model, "m")[1]["scratch_bytes"]
    text = text_inspect(inspect_model(bucketed))
    assert f"layout bucketed scratch {conv_after.scratch_bytes} bytes" in text
    assert f"UnIT kernel scratch {after.unit_scratch_bytes} bytes" in text
