"""The bucketed-input CONV_2D kernel (custom_ops/core/unit_conv_bucketed.c,
DESIGN.md §9 "Zero-cost skipping") through the host binding: the outputs and
executed-MAC counts of the compare-per-MAC kernel for random geometries,
every division mode and thresholds from 0 to beyond every product; its
scratch rule; export-c's conv_layout switch."""
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


def test_export_c_conv_layout_switch():
    tf_keras = pytest.importorskip("tf_keras")
    from tflm_unit.converter import apply_thresholds, convert
    from tflm_unit.converter.export_c import graph_sources
    from tflm_unit.errors import ConversionError

    tf_keras.utils.set_random_seed(5)
    model = tf_keras.Sequential([tf_keras.layers.Input((9, 9, 2)),
                                 tf_keras.layers.Conv2D(3, 3, activation="relu", name="c1"),
                                 tf_keras.layers.DepthwiseConv2D(3, name="d1")])
    x = np.random.default_rng(0).uniform(0, 1, (8, 9, 9, 2)).astype(np.float32)
    unit = apply_thresholds(convert(model, x), 0.01, "shift")
    compare_files, compare = graph_sources(unit, "m")
    bucketed_files, bucketed = graph_sources(unit, "m", conv_layout="bucketed")
    assert not compare["bucketed_conv"] and bucketed["bucketed_conv"]
    assert bucketed_files["m_graph.c"].count(".bucketed = 1") == 1  # the conv, not the depthwise
    assert compare_files["m_graph.c"].count(".bucketed = 1") == 0
    assert bucketed["scratch_bytes"] > compare["scratch_bytes"]
    with pytest.raises(ConversionError, match="conv_layout"):
        graph_sources(unit, "m", conv_layout="sorted")
