"""The division approximations of UnIT, mirrored in NumPy.

A UnIT kernel needs the quotient T_q / d (d = |w| for convolutions, |x'| for
fully connected layers) to decide whether to skip a MAC.  MCUs without a
hardware divider cannot afford an exact division there, so the user picks one
of four integer modes (DESIGN.md section 3):

* ``exact`` -- floor(T_q / d);
* ``shift`` -- T_q >> floor(log2 d), the exponent found by shifting d right
  until it is 1 (cheap on 8/16-bit cores without a barrel shifter);
* ``tree``  -- the same value, the exponent found by a fixed binary search
  over power-of-two pivots, then looked up in a table of T_q >> e;
* ``clz``   -- the same value, the exponent from a count of leading zeros.

The three power-of-two modes give the same value; each is implemented here
the way its name says so that the tests really check three algorithms
against the C core.  Float models use ``exact`` (T / d in float32) or
``bitmask`` (T * 2^-e with e = floor(log2 d) from the IEEE-754 exponent).

This is an independent second implementation (the test oracle), written
from the specification, not from the C code.
"""
from __future__ import annotations

from typing import Union

import numpy as np

DIVISION_MODES: tuple = ("exact", "shift", "tree", "clz")
FLOAT_DIVISION_MODES: tuple = ("exact", "bitmask")

T_Q_MAX = 32767  # largest integer threshold (int16)
DIVISOR_MAX = 255  # largest |x'| (int8 input minus its zero point)

ArrayLike = Union[int, float, np.ndarray, list]


def _as_integer_array(values: ArrayLike, name: str, low: int, high: int) -> np.ndarray:
    """Checks that `values` are integers in [low, high]; returns them as int64."""
    array = np.asarray(values)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    array = array.astype(np.int64)
    if array.size and (array.min() < low or array.max() > high):
        raise ValueError(
            f"{name} must lie in [{low}, {high}], got values in "
            f"[{array.min()}, {array.max()}]")
    return array


def shift_exponent(d: ArrayLike) -> np.ndarray:
    """floor(log2 d) by shifting d right until it is 1 (the ``shift`` mode).

    Vectorised: every element shifts at most 7 times (d <= 255); elements
    that already reached 1 stop counting.
    """
    remaining = _as_integer_array(d, "divisor", 1, DIVISOR_MAX).copy()
    exponent = np.zeros_like(remaining)
    for _ in range(7):
        still_above_one = remaining > 1
        remaining = np.where(still_above_one, remaining >> 1, remaining)
        exponent += still_above_one
    return exponent


def tree_exponent(d: ArrayLike) -> np.ndarray:
    """floor(log2 d) by a fixed binary search over power-of-two pivots.

    Three compares for any d in [1, 255]: first against 16, then 4 or 64,
    then 2, 8, 32 or 128 -- the decision tree a branchy core runs.
    """
    d = _as_integer_array(d, "divisor", 1, DIVISOR_MAX)
    return np.where(
        d >= 16,
        np.where(d >= 64,
                 np.where(d >= 128, 7, 6),
                 np.where(d >= 32, 5, 4)),
        np.where(d >= 4,
                 np.where(d >= 8, 3, 2),
                 np.where(d >= 2, 1, 0)),
    ).astype(np.int64)


def count_leading_zeros_8bit(d: ArrayLike) -> np.ndarray:
    """Leading zero bits of d as an 8-bit value (8 for d == 0).

    Scans from the top bit down and stops counting at the first set bit, as
    a CLZ instruction would answer for the byte.
    """
    d = _as_integer_array(d, "divisor", 0, DIVISOR_MAX)
    zeros = np.zeros_like(d)
    still_leading = np.ones(d.shape, dtype=bool)
    for bit in range(7, -1, -1):
        still_leading &= ((d >> bit) & 1) == 0
        zeros += still_leading
    return zeros


def clz_exponent(d: ArrayLike) -> np.ndarray:
    """floor(log2 d) = 7 - clz8(d), i.e. the bit length of d minus one."""
    d = _as_integer_array(d, "divisor", 1, DIVISOR_MAX)
    return 7 - count_leading_zeros_8bit(d)


def shift_table(t_q: ArrayLike) -> np.ndarray:
    """The ``tree`` mode's table: table[..., e] = t_q >> e for e = 0..7."""
    t_q = _as_integer_array(t_q, "threshold", 0, T_Q_MAX)
    exponents = np.arange(8, dtype=np.int64)
    return (t_q[..., None] >> exponents).astype(np.int16)


def divide(t_q: ArrayLike, d: ArrayLike, mode: str) -> np.ndarray:
    """T_q / d with the given integer division mode, element-wise.

    t_q must lie in [0, 32767] and d in [1, 255]; the arrays broadcast.
    Returns int16 values (a 0-d array for scalar inputs).
    """
    if mode not in DIVISION_MODES:
        raise ValueError(f"unknown division mode {mode!r}; expected one of {DIVISION_MODES}")
    t_q = _as_integer_array(t_q, "threshold", 0, T_Q_MAX)
    d = _as_integer_array(d, "divisor", 1, DIVISOR_MAX)
    if mode == "exact":
        quotient = t_q // d
    elif mode == "shift":
        quotient = t_q >> shift_exponent(d)
    elif mode == "tree":
        shape = np.broadcast_shapes(t_q.shape, d.shape)
        table = np.broadcast_to(shift_table(t_q), shape + (8,))  # a view, no copy
        exponent = np.broadcast_to(tree_exponent(d), shape)
        quotient = np.take_along_axis(table, exponent[..., None], axis=-1)[..., 0]
    else:  # clz
        quotient = t_q >> clz_exponent(d)
    return np.asarray(quotient, dtype=np.int16)


def divide_float(t: ArrayLike, d: ArrayLike, mode: str) -> np.ndarray:
    """T / d in float32 with the given float division mode, element-wise.

    ``exact`` is the float32 division T / d; ``bitmask`` is T * 2^-e with
    e = floor(log2 d) read from the IEEE-754 exponent of d (np.frexp gives
    d = m * 2^k with m in [0.5, 1), so e = k - 1).  d must be finite and > 0
    (kernels skip d == 0 without dividing); t must be finite.
    """
    if mode not in FLOAT_DIVISION_MODES:
        raise ValueError(
            f"unknown float division mode {mode!r}; expected one of {FLOAT_DIVISION_MODES}")
    t = np.asarray(t, dtype=np.float32)
    d = np.asarray(d, dtype=np.float32)
    if not np.all(np.isfinite(t)):
        raise ValueError("threshold must be finite")
    if not np.all(np.isfinite(d)) or np.any(d <= 0):
        raise ValueError("divisor must be finite and > 0")
    t, d = np.broadcast_arrays(t, d)
    # A quotient beyond float32 is +inf, as in C: "skip every such tap".
    with np.errstate(over="ignore"):
        if mode == "exact":
            return np.asarray(t / d, dtype=np.float32)
        _, k = np.frexp(d)
        exponent = k.astype(np.int32) - 1
        return np.asarray(np.ldexp(t, -exponent), dtype=np.float32)
