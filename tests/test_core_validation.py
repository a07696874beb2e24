"""Argument validation of the C-core binding (issue 13): every bad call is a
KernelArgumentError naming the argument, raised before the C code runs, and a
status the C core returns (when the Python checks are bypassed) is the same
error carrying the status name.  Never a crash, never a wrapped value."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from tflm_unit import _core
from tflm_unit.core import kernels, ops
from tflm_unit.core.kernels import ConvParams
from tflm_unit.errors import KernelArgumentError

RNG = np.random.default_rng(13)
X = RNG.integers(-128, 128, size=(1, 8, 8, 3), dtype=np.int8)
W = RNG.integers(-127, 128, size=(4, 3, 3, 3), dtype=np.int8)
MULT, SHIFT = kernels.quantize_multiplier(0.004)


def conv(**overrides):
    args = dict(x=X, w=W, bias=np.arange(4, dtype=np.int32), multiplier=MULT, shift=SHIFT,
                params=ConvParams(input_offset=3, output_offset=-2))
    args.update(overrides)
    return kernels.conv_2d_int8(args.pop("x"), args.pop("w"), args.pop("bias"), args.pop("multiplier"),
                                args.pop("shift"), args.pop("params"), **args)


def test_valid_call_still_runs():
    assert conv().output.shape == (1, 6, 6, 4)


@pytest.mark.parametrize("dilation", [2**31 - 1, 2**40])
def test_huge_dilation_is_refused_not_overflowed(dilation):
    with pytest.raises(KernelArgumentError, match="dilation"):
        conv(params=ConvParams(dilation_h=dilation))
    if dilation < 2**31:  # the geometry query itself: no output row fits
        assert kernels.compute_out_size("VALID", 8, 3, 1, dilation) == 0


def test_huge_stride_is_refused_or_harmless():
    with pytest.raises(KernelArgumentError, match="stride"):
        conv(params=ConvParams(stride_w=2**40))
    # SAME with one output column: the stride is never applied
    out = conv(params=ConvParams(padding="SAME", stride_w=2**31 - 1)).output
    assert out.shape == (1, 8, 1, 4)


@pytest.mark.parametrize("shift", [100, 31, -32, -2**31])
def test_shift_outside_tflm_range(shift):
    with pytest.raises(KernelArgumentError, match="shift"):
        conv(shift=shift)


def test_negative_multiplier():
    with pytest.raises(KernelArgumentError, match="multiplier"):
        conv(multiplier=[MULT, -1, MULT, MULT])


@pytest.mark.parametrize("act", [(5, 4), (-129, 127), (0, 128)])
def test_activation_clamp(act):
    with pytest.raises(KernelArgumentError, match="act_m"):
        conv(params=ConvParams(act_min=act[0], act_max=act[1]))


@pytest.mark.parametrize("offsets", [(-128, 0), (129, 0), (0, 128), (0, -129)])
def test_offsets(offsets):
    with pytest.raises(KernelArgumentError, match="offset"):
        conv(params=ConvParams(input_offset=offsets[0], output_offset=offsets[1]))


@pytest.mark.parametrize("bias", [np.full(4, 1e12), np.full(4, 0.5), np.full(4, np.nan),
                                  np.array([2**31, 0, 0, 0], dtype=np.int64)])
def test_bias_that_would_wrap_or_truncate(bias):
    with pytest.raises(KernelArgumentError, match="bias"):
        conv(bias=bias)


def test_integral_float_bias_is_accepted():
    ref = conv(bias=np.arange(4, dtype=np.int32)).output
    np.testing.assert_array_equal(conv(bias=np.arange(4, dtype=np.float64)).output, ref)


def test_group_and_division():
    with pytest.raises(KernelArgumentError, match="group_size"):
        conv(thresholds=[1, 2, 3], group_size=3)
    with pytest.raises(KernelArgumentError, match="division"):
        conv(thresholds=[1], division="fast")


def test_fully_connected_checks():
    x = RNG.integers(-128, 128, size=(2, 5), dtype=np.int8)
    w = RNG.integers(-127, 128, size=(3, 5), dtype=np.int8)
    with pytest.raises(KernelArgumentError, match="act_min"):
        kernels.fully_connected_int8(x, w, None, MULT, SHIFT, 0, 0, act_min=10, act_max=-10)
    with pytest.raises(KernelArgumentError, match="shift"):
        kernels.fully_connected_int8(x, w, None, MULT, 40, 0, 0)
    with pytest.raises(KernelArgumentError, match="act_min"):
        kernels.fully_connected_float(x.astype(np.float32), w.astype(np.float32), None,
                                      act_min=float("nan"))


def test_scratch_queries_refuse_invalid_shapes():
    with pytest.raises(KernelArgumentError, match="output_shape"):
        kernels.scratch_bytes("CONV_2D", (4, 3, 3, 3), (1, -6, 6, 4), skipping=False)
    assert kernels.scratch_bytes("CONV_2D", (4, 3, 3, 3), (1, 6, 6, 4), skipping=False) == 6 * 6 * 4
    # the C query itself returns 0 (not a wrapped size_t) for negative / overflowing shapes
    assert _core.scratch_bytes(0, (4, 3, 3, 3), (1, -6, 6, 4), False, 1) == 0
    assert _core.scratch_bytes(1, (1, 3, 3, 4), (1, 2**31 - 1, 2**31 - 1, 4), True, 1) == 0
    assert _core.scratch_bytes(2, (1, 1, 1, 1), (1, 1, 1, -3), True, 1) == 0


def test_core_status_becomes_kernel_argument_error():
    """Bypassing the Python checks, the C core refuses with a named status."""
    out = np.empty((1, 6, 6, 4), dtype=np.int8)
    params = (1, 1, 1, 1, 0, 0, 1, 0, 0, -128, 127)
    mult = np.full(4, MULT, dtype=np.int32)
    bad_shift = np.array([0, 100, 0, 0], dtype=np.int32)
    with pytest.raises(KernelArgumentError, match="UNIT_ERR_REQUANT") as err:
        _core.conv_2d_int8(X, X.shape, W, W.shape, None, mult, bad_shift, params, out, out.shape,
                           None, 0, 0, None)
    assert err.value.status_name == "UNIT_ERR_REQUANT" and err.value.status == 7
    with pytest.raises(KernelArgumentError, match="UNIT_ERR_ACTIVATION"):
        _core.conv_2d_int8(X, X.shape, W, W.shape, None, mult, np.zeros(4, np.int32),
                           params[:9] + (10, -10), out, out.shape, None, 0, 0, None)
    with pytest.raises(KernelArgumentError, match="UNIT_ERR_SHAPE"):  # output taller than VALID gives
        big = np.empty((1, 8, 6, 4), dtype=np.int8)
        _core.conv_2d_int8(X, X.shape, W, W.shape, None, mult, np.zeros(4, np.int32), params, big,
                           big.shape, None, 0, 0, None)
    with pytest.raises(KernelArgumentError, match="buffer 'output'"):
        _core.conv_2d_int8(X, X.shape, W, W.shape, None, mult, np.zeros(4, np.int32), params,
                           out[:, :1], out.shape, None, 0, 0, None)


def test_fixed_point_helpers():
    with pytest.raises(KernelArgumentError, match="shift"):
        kernels.multiply_by_quantized_multiplier(5, 1 << 30, 31)
    with pytest.raises(KernelArgumentError, match="multiplier"):
        kernels.multiply_by_quantized_multiplier(5, -1, 0)
    with pytest.raises(KernelArgumentError):
        kernels.quantize_multiplier(float("inf"))
    with pytest.raises(KernelArgumentError):
        kernels.activation_range_int8(3, 0.1, 300)
    assert kernels.activation_range_int8(3, 1e-40, -5) == (-5, 127)  # 6 / scale overflows float


def test_ops_checks():
    x = RNG.integers(-128, 128, size=(1, 6, 6, 2), dtype=np.int8)
    with pytest.raises(KernelArgumentError, match="strides"):
        ops.max_pool_2d(x, 2, strides=2**40)
    with pytest.raises(KernelArgumentError, match="scale"):
        ops.max_pool_2d(x, 2, scale=1e300)  # inf as float32
    with pytest.raises(KernelArgumentError, match="zero_point"):
        ops.quantize(np.zeros(3, np.float32), 0.1, float("nan"))
    with pytest.raises(KernelArgumentError, match="int8"):
        ops.softmax(x.astype(np.int16), 0.1)


def test_kernels_on_threads_match_serial():
    """The binding releases the GIL around kernel calls; concurrent calls on
    distinct buffers give the serial results."""
    inputs = [RNG.integers(-128, 128, size=(2, 10, 10, 3), dtype=np.int8) for _ in range(8)]
    expected = [conv(x=x).output for x in inputs]
    results: list = [None] * len(inputs)

    def work(i: int) -> None:
        results[i] = conv(x=inputs[i], thresholds=[40], division="shift").output
        results[i] = (results[i], conv(x=inputs[i]).output)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, x in enumerate(inputs):
        np.testing.assert_array_equal(results[i][1], expected[i])
        np.testing.assert_array_equal(results[i][0], conv(x=x, thresholds=[40], division="shift").output)


def test_sanitizer_replay_of_a_fixed_seed_corpus(tmp_path):
    """benchmarks/fuzz_kernels.py's corpus replayed by the ASan/UBSan build of
    the core: valid calls give the NumPy reference's output, mutated ones a
    non-zero status, no sanitizer report."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    if shutil.which("make") is None or shutil.which("cc") is None:
        pytest.skip("needs make and a C compiler")
    root = Path(__file__).resolve().parents[1]
    report = tmp_path / "counts.json"
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "fuzz_kernels.py"), "--count", "400",
                           "--seed", "2026", "--out", str(tmp_path / "calls.txt"), "--run", "--json",
                           str(report)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json
    counts = json.loads(report.read_text())
    assert counts["sanitizer_reports"] == 0
    assert "0 wrong statuses, 0 wrong outputs" in counts["replay"]
    assert counts["invalid"] > 100 and counts["valid"] > 100
