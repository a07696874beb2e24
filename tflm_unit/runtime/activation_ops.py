"""Host-runtime preparers of the activation and element-wise ops: LOGISTIC,
TANH, HARD_SWISH, LEAKY_RELU, RELU, RELU6, RELU_N1_TO_1 (unary) and MUL,
SUB, SQUARED_DIFFERENCE, MINIMUM, MAXIMUM, PRELU (binary, broadcasting),
int8 and float32.

Each preparer checks the op once at load (dtypes, quantisation, options,
the output shape against the broadcast of the inputs) and resolves its
parameters as TFLM's Prepare does.  An int8 unary op becomes its 256-entry
table (built by the C kernel, ``tflm_unit.core.activation_ops``), so a step
is one table lookup over the batch; the MSP430 graph indexes the same table.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from tflm_unit.core import activation_ops as aops
from tflm_unit.errors import KernelArgumentError
from tflm_unit.runtime.interpreter import Interpreter, _fused_activation, register_op
from tflm_unit.runtime.model import Operator, Tensor, UnsupportedModelError

_DTYPES = (np.int8, np.float32)
UNARY_OPS = ("LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU", "RELU", "RELU6", "RELU_N1_TO_1")
BINARY_OPS = ("MUL", "SUB", "SQUARED_DIFFERENCE", "MINIMUM", "MAXIMUM", "PRELU")
# int8 value v sits at table[v + 128]; indexing by the uint8 view needs this order
_UINT8_ORDER = np.arange(256, dtype=np.uint8).view(np.int8).astype(np.int16) + 128


def _fail(op: Operator, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(f"operator {op.index} ({op.name}): {why}")


def _io(interp: Interpreter, op: Operator, n_inputs: int) -> Tuple[List[Tensor], Tensor]:
    if len(op.inputs) != n_inputs or len(op.outputs) != 1 or min(op.inputs) < 0:
        raise _fail(op, f"needs {n_inputs} input(s) and 1 output, has {len(op.inputs)} and {len(op.outputs)}")
    g = interp.graph
    inputs = [g.tensor(i) for i in op.inputs]
    out = g.tensor(op.outputs[0])
    if inputs[0].dtype not in _DTYPES:
        raise _fail(op, f"dtype {inputs[0].type_name} of '{inputs[0].name}' is not supported (int8, float32)")
    for t in inputs[1:] + [out]:
        if t.dtype != inputs[0].dtype:
            raise _fail(op, f"tensor '{t.name}' is {t.type_name}, the input {inputs[0].type_name} (TFLM needs one type)")
    if inputs[0].dtype == np.int8:
        for t in inputs + [out]:
            if t.scale.size == 0:
                raise _fail(op, f"int8 tensor '{t.name}' is not quantised")
            if t.scale.size > 1:
                raise _fail(op, f"int8 tensor '{t.name}' is quantised per channel; the op needs per-tensor")
    return inputs, out


def _prepared(op: Operator, fn, *args):
    """A core prepare call; its refusal is the model's problem."""
    try:
        return fn(*args)
    except KernelArgumentError as err:
        raise _fail(op, f"cannot be prepared as TFLM would: {err}") from None


def _option(op: Operator, field: str, default):
    o = op.builtin_options
    return default if o is None else getattr(o, field, default)


# ------------------------------------------------------------ unary


def _prepare_unary(interp: Interpreter, op: Operator):
    (inp,), out = _io(interp, op, 1)
    if tuple(out.shape) != tuple(inp.shape):
        raise _fail(op, f"output shape {out.shape} differs from the input's {inp.shape}")
    alpha = float(_option(op, "alpha", 0.0)) if op.name == "LEAKY_RELU" else 0.0
    src = op.inputs[0]
    if inp.dtype == np.float32:
        def step(values):
            values[op.outputs[0]] = aops.unary_float(op.name, values[src], alpha)

        return step
    table = int8_unary_table(op, inp, out)
    by_uint8 = table[_UINT8_ORDER]

    def int8_step(values):
        x = values[src]
        values[op.outputs[0]] = by_uint8[x.view(np.uint8)]

    return int8_step


def int8_unary_table(op: Operator, inp: Tensor, out: Tensor) -> np.ndarray:
    """The 256-entry int8 table of a unary op (table[v + 128]), prepared as
    TFLM's Prepare does; the runtime and the MSP430 exporter share it."""
    alpha = float(_option(op, "alpha", 0.0)) if op.name == "LEAKY_RELU" else 0.0
    s_in, z_in = inp.scalar_scale(), inp.scalar_zero_point()
    s_out, z_out = out.scalar_scale(), out.scalar_zero_point()
    if op.name == "LOGISTIC" and z_out != -128:
        raise _fail(op, f"output zero point {z_out}: TFLM's int8 LOGISTIC needs -128 (scale 1/256)")
    return aops.unary_table(_prepared(op, aops.unary_prepare, op.name, s_in, z_in, s_out, z_out, alpha))


def int8_binary_params(op: Operator, a: Tensor, b: Tensor, out: Tensor) -> aops.BinaryParams:
    """unit_binary_params_t of an int8 binary op (runtime and MSP430 export)."""
    activation = 0
    if op.name in aops.FUSED_BINARY:
        activation = _fused_activation(op, int(_option(op, "fusedActivationFunction", 0)))
    return _prepared(op, aops.binary_prepare, op.name, a.scalar_scale(), a.scalar_zero_point(), b.scalar_scale(),
                     b.scalar_zero_point(), out.scalar_scale(), out.scalar_zero_point(), activation)


# ------------------------------------------------------------ binary


def _prepare_binary(interp: Interpreter, op: Operator):
    (a, b), out = _io(interp, op, 2)
    try:
        computed = tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise _fail(op, f"input shapes {a.shape} and {b.shape} do not broadcast") from None
    if computed != tuple(out.shape):
        raise _fail(op, f"output shape {out.shape}, but the inputs broadcast to {computed}")
    if len(computed) > 6:
        raise _fail(op, f"rank {len(computed)} is above the 6 dims the kernels broadcast")
    activation = 0
    if op.name in aops.FUSED_BINARY:
        activation = _fused_activation(op, int(_option(op, "fusedActivationFunction", 0)))
    consts: Dict[int, np.ndarray] = {t.index: t.data for t in (a, b) if t.data is not None}
    i1, i2 = op.inputs

    def operands(values):
        return consts.get(i1, values.get(i1)), consts.get(i2, values.get(i2))

    if a.dtype == np.float32:
        def step(values):
            x1, x2 = operands(values)
            values[op.outputs[0]] = aops.binary_float(op.name, x1, x2, activation)

        return step
    params = int8_binary_params(op, a, b, out)

    def int8_step(values):
        x1, x2 = operands(values)
        values[op.outputs[0]] = aops.binary_int8(x1, x2, params)

    return int8_step


for _name in UNARY_OPS:
    register_op(_name, _prepare_unary)
for _name in BINARY_OPS:
    register_op(_name, _prepare_binary)
