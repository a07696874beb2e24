"""Resources of a converted ``.tflite``: per-op MACs, flash and TFLM's planned peak RAM."""

from __future__ import annotations

import os
from typing import Sequence, Union

import numpy as np

from tflm_unit.resources.memory_plan import align_up, peak_live_step, plan_greedy_memory
from tflm_unit.resources.report import LayerResources, ResourceReport


# Bytes per element of each TensorType (FLOAT32=0, FLOAT16=1, INT32=2, UINT8=3, INT64=4, BOOL=6,
# INT16=7, COMPLEX64=8, INT8=9, FLOAT64=10, COMPLEX128=11, UINT64=12, RESOURCE/VARIANT (unused),
# UINT32=15, UINT16=16, INT4=17 counted as one byte as TFLM unpacks it, BFLOAT16=18).
_TFLITE_TYPE_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16,
                      12: 8, 13: 4, 14: 2, 15: 4, 16: 2, 17: 1, 18: 2}


def _op_name(model_t, op) -> str:
    from tflm_unit.runtime.model import opcode_name

    return opcode_name(model_t.operatorCodes[op.opcodeIndex])[0]


def reference_kernel_scratch_bytes(op: str, input_type: int, output_elements: int, input_rank: int,
                                   second_input_elements: int) -> list[int]:
    """Scratch buffers (bytes) TFLM's reference kernels request from the arena for one op.

    MEAN/SUM on int8/int16 inputs keep an int32 sum per output element plus, like REDUCE_MAX,
    one int per input dimension and per reduced axis (what the ``tflite-micro`` interpreter
    allocates, checked in the tests). Conv, depthwise, fully connected, pooling, add and the
    other ops used here need none with the reference kernels (optimised kernel libraries such as
    CMSIS-NN request more).
    """
    quantised = input_type in (9, 7)  # INT8, INT16
    if op in ("MEAN", "SUM") and quantised:
        return [4 * output_elements, 4 * input_rank, 4 * second_input_elements]
    if op == "REDUCE_MAX":
        return [4 * input_rank, 4 * second_input_elements]
    return []


def sorted_fc_layout_bytes(op_name: str, custom_options, filter_shape: Sequence[int]) -> int:
    """Bytes of the sorted layout of a UNIT_FULLY_CONNECTED whose custom options say
    ``layout: sorted`` (0 otherwise): input_depth * (outputs + groups) entries of one int8
    weight and a uint8 (<= 256 outputs) or uint16 output index each.  A format_version-3 file
    holds exactly these bytes as the op's two layout tensors (next to the filter); an older one
    holds none, and the TFLM adapter builds them in RAM."""
    from tflm_unit.runtime.model import decode_custom_options

    if op_name != "UNIT_FULLY_CONNECTED" or len(filter_shape) != 2:
        return 0
    options = decode_custom_options(custom_options, f"{op_name} custom options")
    if options.get("layout") != "sorted":
        return 0
    outputs, depth = int(filter_shape[0]), int(filter_shape[1])
    group = int(options.get("group_size", outputs))
    if group <= 0 or outputs % group:
        return 0
    return depth * (outputs + outputs // group) * (1 + (1 if outputs <= 256 else 2))


def unit_kernel_scratch_bytes(op_name: str, options: dict, input_shape: Sequence[int], filter_shape: Sequence[int],
                              output_shape: Sequence[int], minimum: bool = False) -> int:
    """Scratch (bytes) the C core's kernel of a MAC op needs, for the kernel
    its ``layout`` option selects (DESIGN.md §9): the core's
    unit_*_scratch_bytes rules.  ``op_name`` is the UNIT_* (skipping) or
    builtin (dense, as export-c's static graph runs it) name; ``options`` the
    UNIT op's custom options (layout, group_size, conv geometry).  Conv /
    depthwise: int32 accumulators for the whole image (``minimum``: one
    output row, the least a row-block walk needs) plus, when skipping, the
    quotients of one channel; a ``bucketed`` conv also the per-row lists of
    the input rows a block reads; fully connected: the groups' quotients, or
    the sorted layout's int32 accumulators.  0 for other ops, and for a
    geometry the bucketed kernel cannot take."""
    from tflm_unit.core import kernels

    skipping = op_name.startswith("UNIT_")
    base = op_name[len("UNIT_"):] if skipping else op_name
    if base not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") or not output_shape:
        return 0
    if base != "FULLY_CONNECTED" and not len(input_shape) == len(filter_shape) == len(output_shape) == 4:
        return 0  # not a conv the kernels take (the runtime refuses it)
    layout = options.get("layout", "compare") if skipping else "compare"
    channels = int(output_shape[-1])
    group = int(options.get("group_size") or channels) if skipping else channels
    if base == "FULLY_CONNECTED":
        kind = "FULLY_CONNECTED_SORTED" if layout == "sorted" else "FULLY_CONNECTED"
        return kernels.scratch_bytes(kind, filter_shape, (1, channels), skipping, group)
    if layout == "bucketed":
        params = kernels.ConvParams(int(options["stride_h"]), int(options["stride_w"]),
                                    int(options.get("dilation_h_factor", 1)), int(options.get("dilation_w_factor", 1)),
                                    kernels.PADDINGS[int(options["padding"])])
        return kernels.conv_bucketed_scratch_bytes(input_shape, filter_shape, output_shape, params, True, group,
                                                   minimum=minimum)
    return kernels.scratch_bytes(base, filter_shape, output_shape, skipping, group, minimum=minimum)


def tflite_resources(model: Union[bytes, bytearray, str, os.PathLike]) -> ResourceReport:
    """MACs per op, flash (constant tensor bytes) and TFLM-planned peak RAM of a ``.tflite``.

    Understands CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and their UnIT custom versions
    (``UNIT_*``) for MACs; every op's constant inputs count towards flash (each buffer once),
    so a sorted fully connected op of format_version 3 counts its filter and its layout
    tensors; one of an older version counts the filter, and its layout as ``layout_ram_bytes``
    (the persistent arena buffer the TFLM adapter builds it in).
    Only the first subgraph is planned (models with control flow are not supported).
    """
    from tflm_unit.errors import KernelArgumentError
    from tflm_unit.runtime.model import (LAYOUT_TENSORS_FORMAT_VERSION, UNIT_CUSTOM_OPS, ModelFormatError,
                                         _to_str, _unit_options, check_model_structure, decode_custom_options,
                                         read_model_bytes, unpack_model)

    if not isinstance(model, (bytes, bytearray, memoryview, str, os.PathLike)):
        raise TypeError(f"tflite_resources expects .tflite bytes or a file path, got {type(model).__name__}")
    model_t = unpack_model(read_model_bytes(model))  # ModelFormatError (a ValueError) if not a model
    check_model_structure(model_t)  # every index below is in range
    graph = model_t.subgraphs[0]
    tensors = graph.tensors

    def shape(index: int) -> list[int]:  # an absent shape is a scalar's
        return [int(d) for d in tensors[index].shape] if tensors[index].shape is not None else []

    def tensor_bytes(index: int) -> int:
        tensor = tensors[index]
        elements = int(np.prod(shape(index), dtype=object))
        return elements * _TFLITE_TYPE_BYTES.get(int(tensor.type), 4)

    def constant_bytes(index: int) -> int:
        buffers = model_t.buffers or []
        buffer = buffers[tensors[index].buffer] if tensors[index].buffer < len(buffers) else None
        if buffer is None:
            return 0
        if buffer.data is not None and len(buffer.data):
            return len(buffer.data)
        return int(getattr(buffer, "size", 0) or 0)

    layers: list[LayerResources] = []
    seen_buffers: set[int] = set()
    operators = graph.operators or []
    for op_index, op in enumerate(operators):
        name = _op_name(model_t, op)
        inputs = [i for i in (op.inputs if op.inputs is not None else []) if i >= 0]
        outputs = [i for i in (op.outputs if op.outputs is not None else []) if i >= 0]
        macs = 0
        base = name[len("UNIT_"):] if name.startswith("UNIT_") else name
        if base in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and len(inputs) >= 2 and outputs:
            out_shape, filter_shape = shape(outputs[0]), shape(inputs[1])
            if len(filter_shape) != (2 if base == "FULLY_CONNECTED" else 4):
                raise ModelFormatError(f"operator {op_index} ({name}): filter shape {filter_shape} has the wrong "
                                       f"rank")
            if base == "CONV_2D":  # filter [Co, kh, kw, Ci]
                macs = int(np.prod(out_shape, dtype=object)) * int(np.prod(filter_shape[1:], dtype=object))
            elif base == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, C]
                macs = int(np.prod(out_shape, dtype=object)) * filter_shape[1] * filter_shape[2]
            else:  # filter [out, in]
                macs = int(np.prod(out_shape, dtype=object)) * filter_shape[1]
        flash = 0
        for index in inputs:
            size = constant_bytes(index)
            if size and tensors[index].buffer not in seen_buffers:
                seen_buffers.add(tensors[index].buffer)
                flash += size
        layout = sorted_fc_layout_bytes(name, op.customOptions, [int(d) for d in tensors[inputs[1]].shape]) \
            if name == "UNIT_FULLY_CONNECTED" and len(inputs) >= 2 else 0
        layout_ram = 0
        scratch = (0, 0)
        if name in UNIT_CUSTOM_OPS and len(inputs) >= 2 and outputs:
            where = f"operator {op_index} ({name})"
            options = _unit_options(where, name, decode_custom_options(op.customOptions, f"{where} custom options"))
            # format_version 3: the layout is constant tensors (in flash above);
            # older files carry the option only, and the TFLM adapter builds the
            # layout into a persistent arena buffer
            if layout and int(options["format_version"]) < LAYOUT_TENSORS_FORMAT_VERSION:
                layout_ram = layout
            shapes = [[max(1, d) for d in shape(i)] for i in (inputs[0], inputs[1], outputs[0])]
            try:
                scratch = tuple(unit_kernel_scratch_bytes(name, options, *shapes, minimum=m) for m in (False, True))
            except (KernelArgumentError, OverflowError, IndexError, KeyError) as exc:
                raise ModelFormatError(f"{where}: shapes {shapes} the UnIT kernels cannot take ({exc})") from None
        tensor_name = _to_str(tensors[outputs[0]].name) if outputs else ""
        layers.append(LayerResources(name=f"{op_index}:{tensor_name}", op=name, macs=macs, flash_bytes=flash,
                                     layout_bytes=layout, layout_ram_bytes=layout_ram, scratch_bytes=scratch[0],
                                     min_scratch_bytes=scratch[1]))

    # Lifetimes exactly as TFLM's allocation-info builder marks them.
    first = {}
    last = {}
    graph_inputs = list(graph.inputs if graph.inputs is not None else [])
    graph_outputs = list(graph.outputs if graph.outputs is not None else [])
    for index in graph_inputs + graph_outputs:
        first[index] = 0
        last[index] = 0
    for step, op in enumerate(operators, start=1):
        for index in (op.outputs if op.outputs is not None else []):
            if index < 0:
                continue
            first[index] = step
            last[index] = step
        for index in (op.inputs if op.inputs is not None else []):
            if index >= 0:
                last[index] = step
    for index in graph_outputs:
        last[index] = len(operators)

    buffers, names = [], []
    for index in sorted(first):
        tensor = tensors[index]
        if constant_bytes(index) or tensor.isVariable:
            continue
        size = tensor_bytes(index)
        if size == 0:
            continue
        buffers.append((align_up(size), first[index], last[index]))
        tensor_name = _to_str(tensor.name)
        names.append(tensor_name)
    # Scratch buffers that TFLM's reference kernels request, planned after the tensors.
    for step, op in enumerate(operators, start=1):
        outputs = [i for i in (op.outputs if op.outputs is not None else []) if i >= 0]
        inputs = [i for i in (op.inputs if op.inputs is not None else []) if i >= 0]
        if not outputs or not inputs:
            continue
        for size in reference_kernel_scratch_bytes(
                _op_name(model_t, op), int(tensors[inputs[0]].type),
                int(np.prod(shape(outputs[0]), dtype=object)), len(shape(inputs[0])),
                int(np.prod(shape(inputs[1]), dtype=object)) if len(inputs) > 1 else 0):
            buffers.append((align_up(size), step, step))
            names.append(f"scratch:{step}")
    _, arena = plan_greedy_memory(buffers)
    peak_step, alive = peak_live_step(buffers)
    return ResourceReport(layers=layers, macs=sum(layer.macs for layer in layers),
                          flash_bytes=sum(layer.flash_bytes for layer in layers),
                          peak_ram_bytes=arena, peak_step=peak_step,
                          peak_tensors=[names[i] for i in alive],
                          unit_scratch_bytes=max((layer.scratch_bytes for layer in layers), default=0),
                          layout_ram_bytes=sum(layer.layout_ram_bytes for layer in layers))
