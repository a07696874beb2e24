"""The UnIT kernels (conv, depthwise conv, fully connected) give the same
int8 outputs on the simulated MSP430 as the host build of the C core, bit
for bit: dense, and UnIT in every division mode (T = 0 included), in both
multiplier builds."""
from __future__ import annotations

import numpy as np
import pytest

from tflm_unit.core.kernels import DIVISION_MODES, ConvParams, quantize_multiplier
from tflm_unit.msp430 import toolchain_available

pytestmark = pytest.mark.skipif(
    not toolchain_available(),
    reason="MSP430 toolchain absent: apt-get install -y clang-16 lld-16 llvm-16 mspdebug msp430mcu")


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """One object cache for this module's builds, so the core compiles once."""
    return tmp_path_factory.mktemp("msp430_objects")


def requant(rng, channels: int):
    multipliers, shifts = zip(*(quantize_multiplier(float(v))
                                for v in rng.uniform(0.0004, 0.004, channels)))
    return np.array(multipliers, np.int32), np.array(shifts, np.int32)


def median_product(x: np.ndarray, w: np.ndarray, input_offset: int) -> int:
    """A threshold that skips roughly half of the non-zero products."""
    xs = x.astype(np.int32).reshape(-1)[:64] + input_offset
    ws = w.astype(np.int32).reshape(-1)[:64]
    return int(np.median(np.abs(np.outer(xs, ws))))


def make_cases():
    from tflm_unit.msp430.harness import KernelCase
    rng = np.random.default_rng(2026)
    cases = []
    # conv: 7x7x3 input, 4 filters 3x3, SAME, stride 2 (padding and stride paths),
    # per-channel requant, 2 threshold groups.
    x = rng.integers(-128, 128, (1, 7, 7, 3), dtype=np.int8)
    w = rng.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8)
    w[w % 5 == 0] = 0  # some zero weights (skipped outright)
    conv = ConvParams(stride_h=2, stride_w=2, padding="SAME", input_offset=7, output_offset=-5,
                      act_min=-128, act_max=127)
    # depthwise: 6x6x2 input, depth multiplier 2, 3x3, VALID, ReLU-like clamp.
    xd = rng.integers(-128, 128, (1, 6, 6, 2), dtype=np.int8)
    wd = rng.integers(-127, 128, (1, 3, 3, 4), dtype=np.int8)
    depthwise = ConvParams(padding="VALID", depth_multiplier=2, input_offset=128,
                           output_offset=-128, act_min=-128, act_max=127)
    # fully connected: 2 batches of 40 inputs (many at the zero point), 6 outputs, 3 groups.
    xf = rng.integers(-128, 128, (2, 40), dtype=np.int8)
    xf[:, ::3] = -128
    wf = rng.integers(-127, 128, (6, 40), dtype=np.int8)
    dense_params = ConvParams(input_offset=128, output_offset=3, act_min=-100, act_max=127)

    # conv with a negative input offset (zero point 100): the skip range
    # [-tau - offset, tau - offset] clips at +127 instead of -128.
    xn = rng.integers(-128, 128, (1, 6, 5, 2), dtype=np.int8)
    wn = rng.integers(-127, 128, (2, 2, 2, 2), dtype=np.int8)
    conv_negative = ConvParams(padding="VALID", input_offset=-100, output_offset=0,
                               act_min=-128, act_max=127)
    # conv, dilation 2 with SAME padding (windows clipped differently at each border
    # row and column); 5x5 SAME with strides (1, 2) in row blocks (minimum scratch);
    # a 1-channel VALID conv (the paper net's first layer) in row blocks.
    xdl = rng.integers(-128, 128, (1, 9, 8, 3), dtype=np.int8)
    wdl = rng.integers(-127, 128, (3, 3, 3, 3), dtype=np.int8)
    dilated = ConvParams(padding="SAME", dilation_h=2, dilation_w=2, input_offset=128,
                         output_offset=-128, act_min=-128, act_max=127)
    xs5 = rng.integers(-128, 128, (1, 7, 9, 2), dtype=np.int8)
    ws5 = rng.integers(-127, 128, (2, 5, 5, 2), dtype=np.int8)
    strided = ConvParams(padding="SAME", stride_h=1, stride_w=2, input_offset=3, output_offset=4,
                         act_min=-128, act_max=127)
    x1 = rng.integers(-128, 128, (1, 10, 9, 1), dtype=np.int8)
    w1 = rng.integers(-127, 128, (3, 5, 5, 1), dtype=np.int8)
    valid1 = ConvParams(padding="VALID", input_offset=128, output_offset=-128, act_min=-128, act_max=127)
    # kernel rows longer than the dense walk's unrolled run (3 x 12 = 36 taps > 32)
    xl = rng.integers(-128, 128, (1, 4, 5, 12), dtype=np.int8)
    wl = rng.integers(-127, 128, (2, 2, 3, 12), dtype=np.int8)
    long_rows = ConvParams(padding="SAME", input_offset=128, output_offset=-128, act_min=-128, act_max=127)
    layers = [("conv_2d", x, w, conv, 2, False), ("conv_2d", xl, wl, long_rows, 1, False), ("depthwise_conv_2d", xd, wd, depthwise, 1, False),
              ("fully_connected", xf, wf, dense_params, 2, False),
              ("conv_2d", xn, wn, conv_negative, 1, False), ("conv_2d", xdl, wdl, dilated, 3, False),
              ("conv_2d", xs5, ws5, strided, 1, True), ("conv_2d", x1, w1, valid1, 1, True)]
    for op, xs, ws, params, group_size, min_scratch in layers:
        channels = ws.shape[3] if op == "depthwise_conv_2d" else ws.shape[0]
        multiplier, shift = requant(rng, channels)
        bias = rng.integers(-3000, 3000, channels).astype(np.int32)
        t = median_product(xs, ws, params.input_offset)
        groups = channels // group_size
        cases.append(KernelCase(op, xs, ws, bias, multiplier, shift, params, name=f"{op} dense",
                                min_scratch=min_scratch))
        cases.append(KernelCase(op, xs, ws, bias, multiplier, shift, params,
                                np.zeros(groups, np.int16), group_size, "exact", f"{op} T=0",
                                min_scratch=min_scratch))
        for mode in DIVISION_MODES:
            thresholds = np.array([t // (g + 1) for g in range(groups)], np.int16)
            cases.append(KernelCase(op, xs, ws, bias, multiplier, shift, params, thresholds,
                                    group_size, mode, f"{op} T={thresholds.tolist()} {mode}",
                                    min_scratch=min_scratch))
            if op == "fully_connected":  # the sorted layout (DESIGN.md §9), same thresholds
                cases.append(KernelCase(op, xs, ws, bias, multiplier, shift, params, thresholds,
                                        group_size, mode, f"{op} sorted T={thresholds.tolist()} {mode}",
                                        layout="sorted"))
            if op == "conv_2d" and (ws is w or min_scratch and ws is ws5):
                # the bucketed-input kernel (DESIGN.md §9), whole image and row blocks
                cases.append(KernelCase(op, xs, ws, bias, multiplier, shift, params, thresholds,
                                        group_size, mode, f"{op} bucketed T={thresholds.tolist()} {mode}",
                                        layout="bucketed", min_scratch=min_scratch))
        if op == "fully_connected":
            cases.append(KernelCase(op, xs, ws, bias, multiplier, shift, params, name=f"{op} sorted dense",
                                    layout="sorted"))
    return cases


@pytest.fixture(scope="module")
def cases():
    return make_cases()


@pytest.mark.parametrize("portable_c", [False, True], ids=["port-assembly", "portable-c"])
@pytest.mark.parametrize("multiplier", ["hardware", "software"])
def test_kernels_bit_exact_with_host(cases, multiplier, portable_c, tmp_path, objects):
    """Both MSP430 builds of the hot loops: the port's assembly (default)
    and the core's portable C (UNIT_PORTABLE_C)."""
    from tflm_unit.msp430.harness import run_kernel_cases
    runs = run_kernel_cases(cases, tmp_path, multiplier, object_dir=objects,
                            defines={"UNIT_PORTABLE_C": "1"} if portable_c else None)
    assert len(runs) == len(cases)
    skipped_somewhere = False
    for run in runs:
        host = run.case.run_on_host()
        assert run.status == 0, f"{run.case.name}: unit_status_t {run.status}"
        assert run.output.shape == host.output.shape
        np.testing.assert_array_equal(run.output, host.output, err_msg=run.case.name)
        assert run.cycles > 0
        skipped_somewhere |= host.macs_executed < host.macs_total // 2
    # The thresholds must really exercise skipping, or the test proves little.
    assert skipped_somewhere


def test_host_core_equals_numpy_reference(cases):
    """The other side of the chain: the host C core == the NumPy reference
    (tflm_unit.unit.reference) on every case of the matrix."""
    from tflm_unit.unit import reference as ref
    for case in cases:
        host = case.run_on_host()
        p = case.params
        if case.op == "fully_connected":
            thresholds, group_size = case.thresholds, case.group_size
            if case.layout == "sorted" and thresholds is None:
                # the sorted layout has no dense walk: without thresholds it runs at T = 0
                thresholds, group_size = np.zeros(1, np.int16), case.filter.shape[0]
            expected = ref.fully_connected_int8(
                case.input, case.filter, case.bias, case.multiplier, case.shift, p.input_offset,
                p.output_offset, int(p.act_min), int(p.act_max), thresholds, group_size,
                case.division)
        else:
            kernel = ref.conv_2d_int8 if case.op == "conv_2d" else ref.depthwise_conv_2d_int8
            expected = kernel(case.input, case.filter, case.bias, case.multiplier, case.shift, p,
                              case.thresholds, case.group_size, case.division)
        np.testing.assert_array_equal(host.output, expected.output, err_msg=case.name)
        assert host.macs_executed == expected.macs_executed, case.name


def test_threshold_zero_equals_dense_on_the_mcu(cases, tmp_path, objects):
    """T = 0 skips only zero products, which cannot change the result."""
    from tflm_unit.msp430.harness import run_kernel_cases
    pairs = [(c, d) for c, d in zip(cases, cases[1:]) if d.name.endswith("T=0")]
    runs = run_kernel_cases([case for pair in pairs for case in pair], tmp_path, "hardware",
                            object_dir=objects)
    for dense, zero in zip(runs[::2], runs[1::2]):
        np.testing.assert_array_equal(dense.output, zero.output, err_msg=zero.case.name)


def test_unit_skipping_saves_cycles(tmp_path, objects):
    """With most products under the threshold, the UnIT conv must take fewer
    cycles than the dense one on the same data (software multiply, where a
    skipped MAC saves the most)."""
    from tflm_unit.msp430.harness import KernelCase, run_kernel_cases
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, (1, 6, 6, 8), dtype=np.int8)
    w = rng.integers(-127, 128, (2, 3, 3, 8), dtype=np.int8)
    params = ConvParams(padding="VALID", input_offset=0, output_offset=0)
    multiplier, shift = requant(rng, 2)
    dense = KernelCase("conv_2d", x, w, None, multiplier, shift, params, name="dense")
    sparse = KernelCase("conv_2d", x, w, None, multiplier, shift, params,
                        np.array([20000], np.int16), None, "shift", name="UnIT")
    dense_run, unit_run = run_kernel_cases([dense, sparse], tmp_path, "software",
                                           object_dir=objects)
    assert sparse.run_on_host().macs_executed < dense.run_on_host().macs_total // 4
    assert unit_run.cycles < dense_run.cycles


@pytest.mark.parametrize("multiplier", ["hardware", "software"])
def test_requantisation_edges_bit_exact_with_host(multiplier, tmp_path, objects):
    """The MSP430 requantisation (fast path: accumulator fits int16, shift in
    [-15, -1]; otherwise the general one) against the host on accumulators
    around the int16 limits, rounding ties (multiplier 2^30 = 0.5) and
    shifts on both sides of the fast path's range: a 1x1 conv with weight 1
    makes each accumulator the input plus the channel's bias."""
    from tflm_unit.msp430.harness import KernelCase, run_kernel_cases
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16, 1)
    biases = [0, 32767 - 127, -32768 + 128, 32767, -32768, 40000, -40000, 12345, -12345, 1 << 20]
    shifts = [-1, -8, -9, -15, -16, 0, 1, -3, -12, -20]
    multipliers = [1 << 30, 1 << 30, 1518500250, 1 << 30, 2147483647, 1 << 30, 1431655765,
                   1 << 30, 1073741825, 1 << 30]
    channels = len(biases)
    w = np.ones((channels, 1, 1, 1), np.int8)
    params = ConvParams(padding="VALID", input_offset=0, output_offset=-3, act_min=-128, act_max=127)
    case = KernelCase("conv_2d", x, w, np.array(biases, np.int32), np.array(multipliers, np.int32),
                      np.array(shifts, np.int32), params, name="requant edges")
    run, = run_kernel_cases([case], tmp_path, multiplier, object_dir=objects)
    host = case.run_on_host()
    assert run.status == 0
    np.testing.assert_array_equal(run.output, host.output)
    # the outputs must not all be clamped, or the test proves little
    assert len(np.unique(host.output)) > 50
