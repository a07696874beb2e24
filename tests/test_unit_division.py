"""UnIT division approximations: the NumPy mirror (tflm_unit.unit.division)
and the C core (tflm_unit.core.kernels.divide), exhaustively over the integer
domain t in [0, 32767] x d in [1, 255]."""
import numpy as np
import pytest

from tflm_unit.unit import division
from tflm_unit.unit.division import DIVISION_MODES, FLOAT_DIVISION_MODES, divide, divide_float

T_ALL = np.arange(0, 32768, dtype=np.int64)[:, None]
D_ALL = np.arange(1, 256, dtype=np.int64)[None, :]
# floor(log2 d) from Python's own bit_length, independent of all three algorithms.
LOG2_D = np.array([int(d).bit_length() - 1 for d in range(1, 256)], dtype=np.int64)[None, :]


@pytest.fixture(scope="module")
def python_quotients():
    return {mode: divide(T_ALL, D_ALL, mode).astype(np.int64) for mode in DIVISION_MODES}


def test_exact_is_floor_division(python_quotients):
    assert np.array_equal(python_quotients["exact"], T_ALL // D_ALL)


@pytest.mark.parametrize("mode", ["shift", "tree", "clz"])
def test_power_of_two_modes_shift_by_floor_log2(python_quotients, mode):
    assert np.array_equal(python_quotients[mode], T_ALL >> LOG2_D)


def test_power_of_two_modes_equal_each_other(python_quotients):
    assert np.array_equal(python_quotients["shift"], python_quotients["tree"])
    assert np.array_equal(python_quotients["shift"], python_quotients["clz"])


@pytest.mark.parametrize("exponent_function", [
    division.shift_exponent, division.tree_exponent, division.clz_exponent])
def test_each_exponent_algorithm_is_floor_log2(exponent_function):
    assert np.array_equal(exponent_function(np.arange(1, 256)), LOG2_D[0])


def test_count_leading_zeros_8bit():
    expected = [8] + [8 - int(d).bit_length() for d in range(1, 256)]
    assert division.count_leading_zeros_8bit(np.arange(256)).tolist() == expected


def test_tree_table_is_t_shifted():
    table = division.shift_table([0, 1, 255, 32767])
    assert table.shape == (4, 8)
    assert table[3].tolist() == [32767 >> e for e in range(8)]
    assert table[2].tolist() == [255, 127, 63, 31, 15, 7, 3, 1]


def test_power_of_two_quotient_bounds(python_quotients):
    exact = python_quotients["exact"]
    approx = python_quotients["shift"]
    assert np.all(exact <= approx)
    assert np.all(approx <= 2 * exact + 1)
    # approx < 2 t / d for t > 0, i.e. approx * d < 2 t.
    positive = np.broadcast_to(T_ALL > 0, approx.shape)
    assert np.all((approx * D_ALL < 2 * T_ALL)[positive])
    assert np.all(approx[0] == 0)


def test_literal_bound_approx_below_2_exact_plus_1_is_false(python_quotients):
    # t = 2, d = 3: exact = 0, approx = 2 >> 1 = 1 = 2*exact + 1, so the
    # strict "approx < 2*exact + 1" fails there (integer floors).
    assert int(divide(2, 3, "exact")) == 0
    assert int(divide(2, 3, "shift")) == 1
    exact = python_quotients["exact"]
    approx = python_quotients["shift"]
    equal = approx == 2 * exact + 1
    assert equal[2, 3 - 1]
    assert equal.sum() > 1000  # not an isolated corner case


def test_divide_broadcasts_and_returns_int16():
    result = divide(np.array([[100], [7]]), np.array([1, 3, 200]), "tree")
    assert result.dtype == np.int16
    assert result.tolist() == [[100, 50, 0], [7, 3, 0]]


@pytest.mark.parametrize("t, d, message", [
    (-1, 1, "threshold"), (32768, 1, "threshold"), (5, 0, "divisor"), (5, 256, "divisor"),
    (5.0, 1, "threshold"), (5, 1.5, "divisor")])
def test_divide_rejects_out_of_domain(t, d, message):
    with pytest.raises(ValueError, match=message):
        divide(t, d, "exact")


def test_divide_rejects_unknown_mode():
    with pytest.raises(ValueError, match="division mode"):
        divide(1, 1, "fast")
    with pytest.raises(ValueError, match="division mode"):
        divide_float(1.0, 1.0, "clz")


def _float_sample(seed=1234, count=20000):
    rng = np.random.default_rng(seed)
    t = (rng.random(count) * 10.0 ** rng.integers(-6, 3, count)).astype(np.float32)
    d = (rng.random(count) * 10.0 ** rng.integers(-4, 2, count)).astype(np.float32)
    d[d == 0] = np.float32(1.0)
    d[:16] = 2.0 ** np.arange(-8, 8)  # exact powers of two: both modes agree
    return t, d


def test_float_exact_is_float32_division():
    t, d = _float_sample()
    assert np.array_equal(divide_float(t, d, "exact"), t / d)


def test_float_bitmask_scales_by_floor_log2():
    t, d = _float_sample()
    exponent = np.floor(np.log2(d.astype(np.float64)))
    expected = (t.astype(np.float64) * 2.0 ** -exponent).astype(np.float32)
    result = divide_float(t, d, "bitmask")
    assert result.dtype == np.float32
    assert np.array_equal(result, expected)
    # Over-estimates the true quotient by less than 2x.
    true_quotient = t.astype(np.float64) / d.astype(np.float64)
    assert np.all(result >= true_quotient * (1 - 1e-6))
    assert np.all(result <= 2 * true_quotient * (1 + 1e-6))
    assert np.array_equal(result[:16], divide_float(t[:16], d[:16], "exact"))


@pytest.mark.parametrize("d", [0.0, -1.0, np.inf, np.nan])
def test_float_divide_rejects_bad_divisor(d):
    with pytest.raises(ValueError, match="divisor"):
        divide_float(1.0, d, "exact")


# ---------------------------------------------------------------------------
# The C core (custom_ops/core via tflm_unit.core.kernels) == the Python mirror.
# ---------------------------------------------------------------------------

from tflm_unit.core import kernels as core  # noqa: E402


@pytest.mark.parametrize("mode", DIVISION_MODES)
def test_c_core_equals_python_mirror_exhaustively(python_quotients, mode):
    c_quotients = core.divide(np.broadcast_to(T_ALL, (32768, 255)),
                              np.broadcast_to(D_ALL, (32768, 255)), mode)
    assert c_quotients.shape == (32768, 255)
    mismatches = np.argwhere(c_quotients.astype(np.int64) != python_quotients[mode])
    assert mismatches.size == 0, f"{mode}: first mismatch at (t, d-1) = {mismatches[:5].tolist()}"


@pytest.mark.parametrize("mode", FLOAT_DIVISION_MODES)
def test_c_core_float_division_equals_python_mirror(mode):
    t, d = _float_sample(seed=99)
    assert np.array_equal(core.divide_float(t, d, mode), divide_float(t, d, mode))


def test_c_core_rejects_what_the_mirror_rejects():
    for module in (core, division):
        with pytest.raises(ValueError):
            module.divide(np.array([1]), np.array([0]), "exact")
        with pytest.raises(ValueError):
            module.divide(np.array([32768]), np.array([1]), "exact")
        with pytest.raises(ValueError):
            module.divide(np.array([1]), np.array([1]), "fast")


@pytest.mark.parametrize("mode", FLOAT_DIVISION_MODES)
def test_c_core_float_division_edge_values(mode):
    # Subnormal and tiny divisors, quotients that overflow to +inf, T = 0.
    tiny = np.finfo(np.float32).tiny
    t = np.array([1.0, 1.0, 1.0, 3e38, 1.0, 1.0, 0.0, 0.0], dtype=np.float32)
    d = np.array([1e-40, 1e-45, 1e-30, 0.5, 3e38, tiny, 1e-45, 7.0], dtype=np.float32)
    python_result = divide_float(t, d, mode)
    assert np.isinf(python_result[:2]).all() and python_result[6] == 0
    assert np.array_equal(core.divide_float(t, d, mode), python_result)
