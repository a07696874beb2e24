"""Host-runtime preparers of the layout / geometry ops and TRANSPOSE_CONV.

Each preparer checks the op against what TFLM's kernel accepts (dtype,
constant index tensors, options), resolves its parameters once, and returns
a step that runs the C core (``tflm_unit.core.layout_ops``) on the batch.
The runtime executes a whole batch at once while TFLM runs one sample, so
ops that would mix samples (a slice, split or transpose touching the batch
axis) are refused; SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND fold the block into
the batch the same way for any batch size and round-trip exactly.
"""
from __future__ import annotations

import types
from typing import Dict, List, Optional

import numpy as np

from tflm_unit.core import kernels
from tflm_unit.core import layout_ops as lops
from tflm_unit.runtime.interpreter import (
    Interpreter,
    LayerStats,
    _fused_activation,
    register_op,
    requantization_params,
)
from tflm_unit.runtime.model import Operator, Tensor, UnsupportedModelError

_DTYPES = (np.int8, np.float32)


def _fail(op: Operator, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(f"operator {op.index} ({op.name}): {why}")


def _tensor(interp: Interpreter, op: Operator, position: int, role: str) -> Tensor:
    if len(op.inputs) <= position or op.inputs[position] < 0:
        raise _fail(op, f"has no {role} input")
    return interp.graph.tensor(op.inputs[position])


def _const(interp: Interpreter, op: Operator, position: int, role: str) -> np.ndarray:
    t = _tensor(interp, op, position, role)
    if t.data is None:
        raise _fail(op, f"the {role} tensor '{t.name}' must be constant (TFLM requires it)")
    return t.data


def _check_data(op: Operator, inp: Tensor, outs: List[Tensor]) -> None:
    if inp.dtype not in _DTYPES:
        raise _fail(op, f"dtype {inp.type_name} of '{inp.name}' is not supported (int8, float32)")
    for out in outs:
        if out.dtype != inp.dtype:
            raise _fail(op, f"output '{out.name}' is {out.type_name}, the input {inp.type_name}")


def _value(interp: Interpreter, values: Dict[int, np.ndarray], index: int) -> np.ndarray:
    t = interp.graph.tensor(index)
    return t.data if t.data is not None else values[index]


def _options(op: Operator):
    if op.builtin_options is None:
        raise _fail(op, "has no builtin options")
    return op.builtin_options


# ------------------------------------------------------------ STRIDED_SLICE


def _prepare_strided_slice(interp: Interpreter, op: Operator):
    inp = _tensor(interp, op, 0, "input")
    out = interp.graph.tensor(op.outputs[0])
    _check_data(op, inp, [out])
    o = _options(op)
    for field, label in (("ellipsisMask", "ellipsis_mask"), ("newAxisMask", "new_axis_mask")):
        if int(getattr(o, field)):
            raise _fail(op, f"option {label}={int(getattr(o, field))} is not supported (TFLM's kernel ignores it)")
    if bool(getattr(o, "offset", False)):
        raise _fail(op, "option offset=True is not supported (TFLM's kernel ignores it)")
    begin = _const(interp, op, 1, "begin").reshape(-1)
    end = _const(interp, op, 2, "end").reshape(-1)
    strides = _const(interp, op, 3, "strides").reshape(-1)
    begin_mask, end_mask, shrink = int(o.beginMask), int(o.endMask), int(o.shrinkAxisMask)
    rank = len(inp.shape)
    if not 1 <= rank <= lops.MAX_SLICE_DIMS or not begin.size == end.size == strides.size == rank:
        raise _fail(op, f"needs begin/end/strides of {rank} entries for a 1..{lops.MAX_SLICE_DIMS}-D input")
    if np.any(strides == 0):
        raise _fail(op, "option strides holds 0")
    (start, stop, stride), shape = lops.strided_slice_prepare(inp.shape, begin, end, strides, begin_mask,
                                                              end_mask, shrink)
    if tuple(shape) != tuple(out.shape):
        raise _fail(op, f"the slice has shape {shape}, the output tensor {out.shape}")
    if inp.data is not None:  # constant input: fold once
        folded = lops.strided_slice(inp.data, begin, end, strides, begin_mask, end_mask, shrink)

        def const_step(values):
            values[op.outputs[0]] = folded

        return const_step
    # batched: axis 0 must keep every sample (TFLM runs one at a time)
    if (start[0], stop[0], stride[0]) != (0, inp.shape[0], 1) or shrink & 1:
        raise _fail(op, f"slicing the batch axis (begin {begin[0]}, end {end[0]}, stride {strides[0]}, "
                        f"shrink_axis_mask {shrink}) is not supported")

    def step(values):
        x = values[op.inputs[0]]
        values[op.outputs[0]] = lops.strided_slice(x, begin, end, strides, begin_mask | 1, end_mask | 1, shrink)

    return step


# ------------------------------------------------------------ SPLIT / SPLIT_V


def _prepare_split(interp: Interpreter, op: Operator):
    v = op.name == "SPLIT_V"
    inp = _tensor(interp, op, 0 if v else 1, "input")
    axis_data = _const(interp, op, 2 if v else 0, "axis").reshape(-1)
    outs = [interp.graph.tensor(i) for i in op.outputs]
    _check_data(op, inp, outs)
    if axis_data.size != 1:
        raise _fail(op, "the axis tensor must hold one value")
    axis = int(axis_data[0])
    rank = len(inp.shape)
    if not -rank <= axis < rank:
        raise _fail(op, f"axis {axis} is out of range for a {rank}-D input")
    axis %= rank
    if axis == 0:
        raise _fail(op, "splitting the batch axis is not supported")
    sizes = [int(t.shape[axis]) if len(t.shape) == rank else -1 for t in outs]
    if min(sizes) <= 0 or sum(sizes) != inp.shape[axis]:
        raise _fail(op, f"output sizes {sizes} along axis {axis} do not add up to {inp.shape[axis]}")
    if not v:
        n = int(_options(op).numSplits)
        if n != len(outs) or len(set(sizes)) != 1:
            raise _fail(op, f"option num_splits={n} does not match {len(outs)} equal outputs")

    def step(values):
        pieces = lops.split(values[inp.index] if inp.data is None else inp.data, axis, sizes)
        for index, piece in zip(op.outputs, pieces):
            values[index] = piece

    return step


# ------------------------------------------------------------ TRANSPOSE


def _prepare_transpose(interp: Interpreter, op: Operator):
    inp = _tensor(interp, op, 0, "input")
    out = interp.graph.tensor(op.outputs[0])
    _check_data(op, inp, [out])
    perm = [int(p) for p in _const(interp, op, 1, "perm").reshape(-1)]
    if sorted(perm) != list(range(len(inp.shape))) or len(perm) > lops.MAX_TRANSPOSE_DIMS:
        raise _fail(op, f"perm {perm} is not a permutation of a 1..{lops.MAX_TRANSPOSE_DIMS}-D input's dims")
    if perm[0] != 0:
        raise _fail(op, f"perm {perm} moves the batch axis, which is not supported")

    def step(values):
        values[op.outputs[0]] = lops.transpose(_value(interp, values, op.inputs[0]), perm)

    return step


# ------------------------------------------------------------ RESIZE_*


def _prepare_resize(interp: Interpreter, op: Operator):
    inp = _tensor(interp, op, 0, "input")
    out = interp.graph.tensor(op.outputs[0])
    _check_data(op, inp, [out])
    if len(inp.shape) != 4:
        raise _fail(op, f"the input must be 4-D NHWC, got {inp.shape}")
    size = _const(interp, op, 1, "size").reshape(-1)
    if size.size != 2 or tuple(int(s) for s in size) != tuple(out.shape[1:3]):
        raise _fail(op, f"size {size.tolist()} does not match the output {out.shape}")
    o = _options(op)
    align, half = bool(o.alignCorners), bool(o.halfPixelCenters)
    if align and half:
        raise _fail(op, "options align_corners and half_pixel_centers are both set (TFLM refuses it)")
    hw = (int(size[0]), int(size[1]))
    fn = lops.resize_bilinear if op.name == "RESIZE_BILINEAR" else lops.resize_nearest_neighbor

    def step(values):
        values[op.outputs[0]] = fn(values[op.inputs[0]], hw, align, half)

    return step


# ------------------------------------------------------------ SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND


def _prepare_space_batch(interp: Interpreter, op: Operator):
    to_batch = op.name == "SPACE_TO_BATCH_ND"
    inp = _tensor(interp, op, 0, "input")
    out = interp.graph.tensor(op.outputs[0])
    _check_data(op, inp, [out])
    if len(inp.shape) not in (3, 4):
        raise _fail(op, f"the input must be 3-D or 4-D, got {inp.shape}")
    block = [int(b) for b in _const(interp, op, 1, "block_shape").reshape(-1)]
    pads = [int(p) for p in _const(interp, op, 2, "paddings" if to_batch else "crops").reshape(-1)]
    if len(block) != len(inp.shape) - 2 or len(pads) != 2 * len(block):
        raise _fail(op, f"block_shape {block} / {'paddings' if to_batch else 'crops'} {pads} do not fit a "
                        f"{len(inp.shape)}-D input")
    # Padding is the output zero point (0.0 for float32), as in TFLite.
    # TFLM's kernel pads with params.output_offset, which its Prepare never
    # sets: it reads uninitialised arena memory (0x69 bytes were seen in the
    # tflite_micro package), so no runtime can match it there; where nothing
    # is padded the outputs are bit-identical.
    pad_byte = out.scalar_zero_point() & 0xFF if inp.dtype == np.int8 else 0

    def step(values):
        x = values[op.inputs[0]]
        if to_batch:
            y = lops.space_to_batch_nd(x, block, pads, pad_byte)
        else:
            y = lops.batch_to_space_nd(x, block, pads)
        values[op.outputs[0]] = y

    return step


# ------------------------------------------------------------ TRANSPOSE_CONV


def _prepare_transpose_conv(interp: Interpreter, op: Operator):
    g = interp.graph
    shape_data = _const(interp, op, 0, "output_shape").reshape(-1)
    filt = _tensor(interp, op, 1, "filter")
    inp = _tensor(interp, op, 2, "input")
    bias: Optional[Tensor] = g.tensor(op.inputs[3]) if len(op.inputs) > 3 and op.inputs[3] >= 0 else None
    out = g.tensor(op.outputs[0])
    _check_data(op, inp, [out])
    float_model = inp.dtype == np.float32
    if filt.dtype != inp.dtype or filt.data is None:
        raise _fail(op, f"the filter must be a constant {inp.type_name} tensor (got {filt.type_name})")
    if bias is not None:
        want = np.float32 if float_model else np.int32
        if bias.dtype != want or bias.data is None:
            raise _fail(op, f"the bias must be a constant {np.dtype(want).name} tensor (got {bias.type_name})")
    if len(inp.shape) != 4 or len(filt.shape) != 4 or len(out.shape) != 4:
        raise _fail(op, "input, filter and output must be 4-D")
    if shape_data.size != 4 or tuple(int(s) for s in shape_data[1:]) != tuple(out.shape[1:]):
        raise _fail(op, f"output_shape {shape_data.tolist()} does not match the output tensor {out.shape}")
    if filt.shape[3] != inp.shape[3] or filt.shape[0] != out.shape[3]:
        raise _fail(op, f"filter {filt.shape} does not fit input {inp.shape} and output {out.shape}")
    o = _options(op)
    if int(o.padding) not in (0, 1):
        raise _fail(op, f"option padding={int(o.padding)} is not supported")
    padding = kernels.PADDINGS[int(o.padding)]
    activation = _fused_activation(op, int(getattr(o, "fusedActivationFunction", 0)))
    strides = (int(o.strideH), int(o.strideW))
    out_hw = (int(out.shape[1]), int(out.shape[2]))
    channels = int(out.shape[3])
    filter_data = np.ascontiguousarray(filt.data)
    bias_data = None if bias is None else bias.data.reshape(-1)
    if float_model:
        lo, hi = {0: (-np.inf, np.inf), 1: (0.0, np.inf), 2: (-1.0, 1.0), 3: (0.0, 6.0)}[activation]

        def run(x):
            return lops.transpose_conv_float(x, filter_data, bias_data, out_hw, strides, padding, lo, hi)
    else:
        if filt.quantized_dimension != 0 and filt.scale.size > 1:
            raise _fail(op, f"filter quantized along dim {filt.quantized_dimension}, expected 0")
        multiplier, shift = requantization_params(op, inp, filt, out, channels)
        act_min, act_max = kernels.activation_range_int8(activation, out.scalar_scale(), out.scalar_zero_point())
        in_offset, out_offset = -inp.scalar_zero_point(), out.scalar_zero_point()

        def run(x):
            return lops.transpose_conv_int8(x, filter_data, bias_data, multiplier, shift, out_hw, strides, padding,
                                            in_offset, out_offset, act_min, act_max)

    def step(values) -> LayerStats:
        result = run(values[op.inputs[2]])
        values[op.outputs[0]] = result.output
        return LayerStats(op.index, op.name, out.name, result.macs_total, result.macs_executed,
                          result.channel_executed)

    return step


LAYOUT_PREPARERS = {"STRIDED_SLICE": _prepare_strided_slice, "SPLIT": _prepare_split, "SPLIT_V": _prepare_split,
                    "TRANSPOSE": _prepare_transpose, "RESIZE_NEAREST_NEIGHBOR": _prepare_resize,
                    "RESIZE_BILINEAR": _prepare_resize, "SPACE_TO_BATCH_ND": _prepare_space_batch,
                    "BATCH_TO_SPACE_ND": _prepare_space_batch, "TRANSPOSE_CONV": _prepare_transpose_conv}
for _name, _preparer in LAYOUT_PREPARERS.items():
    register_op(_name, _preparer)


def check_layout_op(graph, op: Operator, name: str) -> None:
    """Run the host runtime's checks of layout op ``name`` (dtypes, options, constant index
    tensors, the batch axis) on a graph alone, so that export-c refuses what the runtime refuses,
    in the same words. These preparers read nothing of the interpreter but its graph."""
    LAYOUT_PREPARERS[name](types.SimpleNamespace(graph=graph), op)
