"""Typed NumPy API over the C core's activation and element-wise ops
(``custom_ops/core/unit_activation.h``): LOGISTIC, TANH, HARD_SWISH,
LEAKY_RELU, RELU, RELU6, RELU_N1_TO_1, PRELU, MUL, SUB, MINIMUM, MAXIMUM,
SQUARED_DIFFERENCE, int8 and float32, each TFLM's reference arithmetic.

The int8 unary ops depend on the input value alone, so their prepared form
is a 256-entry table (``unary_table``) built by the C kernel itself; the
host runtime and the MSP430 graph only index it.  Bad arguments raise
:class:`tflm_unit.errors.KernelArgumentError`.
"""
from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Tuple

import numpy as np

from tflm_unit import _core
from tflm_unit.core.ops import (  # noqa: F401 (float_activation_range is part of this API)
    _FLOAT32_MAX,
    Activation,
    _activation_index,
    _float_array,
    _int8_array,
    _scale,
    _zero_point,
    float_activation_range,
)
from tflm_unit.errors import KernelArgumentError

#: Unary ops → the C kernel kind (UNIT_UNARY_*); RELU / RELU_N1_TO_1 share one.
UNARY_KINDS = {"LOGISTIC": 0, "TANH": 1, "HARD_SWISH": 2, "LEAKY_RELU": 3, "RELU": 4, "RELU_N1_TO_1": 4,
               "RELU6": 5}
#: Binary ops → UNIT_BINARY_* (PRELU's second input is alpha).
BINARY_KINDS = {"MUL": 0, "SUB": 1, "SQUARED_DIFFERENCE": 2, "MINIMUM": 3, "MAXIMUM": 4, "PRELU": 5}
#: Binary ops that take a fused activation (TFLM's MulOptions / SubOptions).
FUSED_BINARY = ("MUL", "SUB")

# which C prepare function: the order of ext_activation.c's enum
_PREPARE = {"LOGISTIC": 0, "TANH": 1, "HARD_SWISH": 2, "LEAKY_RELU": 3, "RELU": 4, "RELU_N1_TO_1": 4, "RELU6": 4}


def _call(fn, what: str, *args):
    try:
        return fn(*args)
    except (ValueError, TypeError) as err:
        if isinstance(err, KernelArgumentError):
            raise
        raise KernelArgumentError(f"{what}: {err}") from None


def _op(name: str, table: dict, what: str) -> str:
    key = str(name).upper()
    if key not in table:
        raise KernelArgumentError(f"{what} must be one of {sorted(table)}, got {name!r}")
    return key


@dataclass(frozen=True)
class UnaryParams:
    """unit_unary_params_t, as TFLM's Prepare of the op computes it."""

    kind: int
    input_zero_point: int
    output_zero_point: int
    multiplier1: int
    shift1: int
    multiplier2: int
    shift2: int
    radius: int
    negative_alpha: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class BinaryParams:
    """unit_binary_params_t, as TFLM's Prepare of the op computes it."""

    kind: int
    left_shift: int
    input1_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_offset: int
    input2_multiplier: int
    input2_shift: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    output_multiplier2: int
    output_shift2: int
    act_min: int
    act_max: int


# ------------------------------------------------------------------ int8 unary


def unary_prepare(op: str, input_scale: float, input_zero_point: int, output_scale: float = 1.0,
                  output_zero_point: int = 0, alpha: float = 0.0) -> UnaryParams:
    """Integer parameters of an int8 unary op.  LOGISTIC needs output zero
    point -128 (TFLM); TANH ignores the output quantisation (its kernel
    writes scale 1/128, zero point 0); RELU6 clamps the raw input (TFLM)."""
    key = _op(op, UNARY_KINDS, "op")
    s_in = _scale(input_scale, "input_scale")
    z_in = _zero_point(input_zero_point, "input_zero_point")
    s_out = _scale(output_scale, "output_scale") if key not in ("TANH", "RELU6") else 1.0
    z_out = _zero_point(output_zero_point, "output_zero_point")
    a = float(alpha)
    if not np.isfinite(a) or abs(a) > _FLOAT32_MAX:
        raise KernelArgumentError(f"alpha must be a finite float32, got {alpha!r}")
    activation = {"RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}.get(key, 0)
    values = _call(_core.unary_prepare, f"{key.lower()}_prepare", _PREPARE[key], s_in, z_in, s_out, z_out, a,
                   activation)
    return UnaryParams(*values)


def unary_table(params: UnaryParams) -> np.ndarray:
    """The op's output for each int8 input: table[v + 128] (int8, 256)."""
    raw = _call(_core.unary_table, "unary_table", astuple(params))
    return np.frombuffer(raw, dtype=np.int8).copy()


def unary_int8(x: np.ndarray, params: UnaryParams) -> np.ndarray:
    """The C kernel element by element (same values as the table)."""
    x = _int8_array(x, "x")
    out = np.empty_like(x)
    _call(_core.unary_int8, "unary_int8", astuple(params), x.reshape(-1), out.reshape(-1))
    return out


def lut_int8(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """out = table[x + 128] through the C core (what the MSP430 graph runs)."""
    x = _int8_array(x, "x")
    table = _int8_array(table, "table", 1)
    if table.size != 256:
        raise KernelArgumentError(f"table must hold 256 int8 values, got {table.size}")
    out = np.empty_like(x)
    _call(_core.lut_int8, "lut_int8", table, x.reshape(-1), out.reshape(-1))
    return out


# ------------------------------------------------------------------ float unary


def unary_float(op: str, x: np.ndarray, alpha: float = 0.0) -> np.ndarray:
    """float32 LOGISTIC / TANH / HARD_SWISH / LEAKY_RELU / RELU / RELU6 /
    RELU_N1_TO_1 with TFLM's reference expressions."""
    key = _op(op, UNARY_KINDS, "op")
    x = _float_array(x, "x")
    lo, hi = {"RELU": (0.0, np.inf), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}.get(key, (0.0, 0.0))
    kind = 4 if key in ("RELU", "RELU6", "RELU_N1_TO_1") else UNARY_KINDS[key]
    out = np.empty_like(x)
    _call(_core.unary_float, f"{key.lower()}_float", kind, float(alpha), lo, hi, x.reshape(-1), out.reshape(-1))
    return out


# ------------------------------------------------------------------ binary


def binary_prepare(op: str, input1_scale: float, input1_zero_point: int, input2_scale: float,
                   input2_zero_point: int, output_scale: float, output_zero_point: int,
                   activation: Activation = "NONE") -> BinaryParams:
    """Integer parameters of an int8 binary op (PRELU: input2 is alpha).
    MINIMUM / MAXIMUM compare raw values and need no scales."""
    key = _op(op, BINARY_KINDS, "op")
    raw = key in ("MINIMUM", "MAXIMUM")
    scales = [1.0, 1.0, 1.0] if raw else [_scale(v, n) for v, n in ((input1_scale, "input1_scale"),
                                                                   (input2_scale, "input2_scale"),
                                                                   (output_scale, "output_scale"))]
    act = _activation_index(activation)
    if act and key not in FUSED_BINARY:
        raise KernelArgumentError(f"{key} takes no fused activation, got {activation!r}")
    values = _call(_core.binary_prepare, f"{key.lower()}_prepare", BINARY_KINDS[key], scales[0],
                   _zero_point(input1_zero_point, "input1_zero_point"), scales[1],
                   _zero_point(input2_zero_point, "input2_zero_point"), scales[2],
                   _zero_point(output_zero_point, "output_zero_point"), act)
    return BinaryParams(*values)


def broadcast_dims(a: Tuple[int, ...], b: Tuple[int, ...]):
    """(dims1, dims2, dims_out, out_shape): both shapes left-padded with 1 to
    the output rank (1..6), as the C kernels take them."""
    if len(a) > 6 or len(b) > 6:
        raise KernelArgumentError(f"at most 6 dims are supported, got {a} and {b}")
    try:
        out_shape = tuple(np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        raise KernelArgumentError(f"shapes {tuple(a)} and {tuple(b)} do not broadcast") from None
    rank = max(len(out_shape), 1)
    pad = lambda s: (1,) * (rank - len(s)) + tuple(s)  # noqa: E731
    return pad(a), pad(b), pad(out_shape), out_shape


def binary_int8(x1: np.ndarray, x2: np.ndarray, params: BinaryParams) -> np.ndarray:
    """The int8 binary op with NumPy broadcasting (up to 6 dims)."""
    x1, x2 = _int8_array(x1, "x1"), _int8_array(x2, "x2")
    d1, d2, do, shape = broadcast_dims(x1.shape, x2.shape)
    out = np.empty(shape, dtype=np.int8)
    _call(_core.binary_int8, "binary_int8", astuple(params), d1, x1.reshape(-1), d2, x2.reshape(-1), do,
          out.reshape(-1))
    return out


def binary_float(op: str, x1: np.ndarray, x2: np.ndarray, activation: Activation = "NONE") -> np.ndarray:
    """The float32 binary op with NumPy broadcasting; MUL / SUB clamp to the
    fused activation's range."""
    key = _op(op, BINARY_KINDS, "op")
    x1, x2 = _float_array(x1, "x1"), _float_array(x2, "x2")
    if _activation_index(activation) and key not in FUSED_BINARY:
        raise KernelArgumentError(f"{key} takes no fused activation, got {activation!r}")
    lo, hi = float_activation_range(activation)
    d1, d2, do, shape = broadcast_dims(x1.shape, x2.shape)
    out = np.empty(shape, dtype=np.float32)
    _call(_core.binary_float, f"{key.lower()}_float", BINARY_KINDS[key], lo, hi, d1, x1.reshape(-1), d2,
          x2.reshape(-1), do, out.reshape(-1))
    return out
