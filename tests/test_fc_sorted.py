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
