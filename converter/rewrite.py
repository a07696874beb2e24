"""Schema-level edits of a ``.tflite``: builtin MAC ops ⇄ UNIT_* custom ops.

Everything goes through the flatbuffers schema's object API (``ModelT``) and
``flatbuffers.flexbuffers``; :func:`tflm_unit.runtime.model.pack_model`
writes the result with 16-byte aligned buffers.  See DESIGN.md section 5 for
the contract the TFLM adapters and the host runtime read.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from flatbuffers import flexbuffers

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
from tflm_unit.converter.errors import ConversionError
from tflm_unit.runtime.model import (
    LAYOUT_TENSORS_FORMAT_VERSION,
    SORTED_INDEX_INPUT,
    SORTED_WEIGHTS_INPUT,
    UNIT_CUSTOM_OPS,
    UNIT_LAYOUTS,
    ModelGraph,
    Operator,
    UnsupportedModelError,
    _to_str,
    decode_custom_options,
    load_graph,
    pack_model,
    unpack_model,
)

FORMAT_VERSION = 1
#: The custom-options version of an op with a ``layout`` option (unit_core.h's
#: UNIT_LAYOUT_FORMAT_VERSION): readers that predate layouts refuse it.  A
#: bucketed conv has it (its lists are built per call).
LAYOUT_FORMAT_VERSION = 2
#: A sorted UNIT_FULLY_CONNECTED has LAYOUT_TENSORS_FORMAT_VERSION (3, from
#: tflm_unit.runtime.model): the file carries the layout as constant inputs
#: SORTED_WEIGHTS_INPUT / SORTED_INDEX_INPUT, so firmware reads it from
#: flash instead of building it in RAM.
#: Layouts of UNIT_FULLY_CONNECTED (DESIGN.md §9): ``compare`` (the filter, a
#: compare per MAC) or ``sorted`` (per input and group, descending |w|); of
#: UNIT_CONV_2D: ``compare`` or ``bucketed`` (inputs bucketed by |x'| per call).
FC_LAYOUTS = UNIT_LAYOUTS["UNIT_FULLY_CONNECTED"]
CONV_LAYOUTS = UNIT_LAYOUTS["UNIT_CONV_2D"]
#: Every value of the option, and ``fast``: each op's zero-cost layout.
LAYOUT_CHOICES = ("compare", "sorted", "bucketed", "fast")
#: Keys of the custom options map that are not builtin options.
UNIT_OPTION_KEYS = ("division", "group_size", "format_version", "layout")
UNIT_NAME_OF = {"CONV_2D": "UNIT_CONV_2D", "DEPTHWISE_CONV_2D": "UNIT_DEPTHWISE_CONV_2D",
                "FULLY_CONNECTED": "UNIT_FULLY_CONNECTED"}
BUILTIN_NAME_OF = {unit: base for base, unit in UNIT_NAME_OF.items()}
assert set(BUILTIN_NAME_OF) == set(UNIT_CUSTOM_OPS)

#: builtin name → (BuiltinOptions union tag, options object class)
_OPTIONS = {
    "CONV_2D": (schema.BuiltinOptions.Conv2DOptions, schema.Conv2DOptionsT),
    "DEPTHWISE_CONV_2D": (schema.BuiltinOptions.DepthwiseConv2DOptions, schema.DepthwiseConv2DOptionsT),
    "FULLY_CONNECTED": (schema.BuiltinOptions.FullyConnectedOptions, schema.FullyConnectedOptionsT),
}
#: Operator versions TFLite gives int8 per-channel models; used by to_builtin
#: when the metadata does not record the original version.
DEFAULT_BUILTIN_VERSIONS = {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 4}


def snake_case(field_name: str) -> str:
    """Object-API field name → the schema's name: ``dilationWFactor`` → ``dilation_w_factor``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", field_name).lower()


def builtin_options_dict(base: str, options: Any) -> Dict[str, Any]:
    """The builtin options of a CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED
    as {schema field name: int or bool} (every field, defaults included)."""
    if options is None:
        options = _OPTIONS[base][1]()
    result: Dict[str, Any] = {}
    for field_name, value in vars(options).items():
        if value is None:
            continue  # an absent sub-table (e.g. FullyConnectedOptions.quant_spec)
        if isinstance(value, (bool, np.bool_)):
            result[snake_case(field_name)] = bool(value)
        elif isinstance(value, (int, np.integer)):
            result[snake_case(field_name)] = int(value)
        else:
            raise UnsupportedModelError(f"{base} option '{snake_case(field_name)}' ({type(value).__name__}) "
                                        f"cannot be carried by a UnIT op")
    return result


def builtin_options_object(base: str, values: Dict[str, Any]) -> Any:
    """{schema field name: value} → the options object of the builtin op (unknown keys ignored)."""
    options = _OPTIONS[base][1]()
    for field_name, default in vars(options).items():
        key = snake_case(field_name)
        if key in values:
            value = values[key]
            setattr(options, field_name, bool(value) if isinstance(default, bool) else int(value))
    return options


def encode_custom_options(builtin_options: Dict[str, Any], division: str, group_size: int,
                          layout: Optional[str] = None) -> bytes:
    """The flexbuffer map of a UNIT_* op: every builtin option + division,
    group_size, format_version, and ``layout`` when it is not the default
    ``compare`` (then format_version is LAYOUT_FORMAT_VERSION, for ``sorted``
    LAYOUT_TENSORS_FORMAT_VERSION: write its tensors with
    :func:`set_sorted_layout_tensors`)."""
    if layout is not None and layout not in FC_LAYOUTS + CONV_LAYOUTS:
        raise ConversionError(f"layout {layout!r}: expected one of {FC_LAYOUTS + CONV_LAYOUTS[1:]}")
    written = layout not in (None, "compare")  # a zero-cost layout: the option, version 2 or 3
    builder = flexbuffers.Builder()
    with builder.Map():
        for key, value in builtin_options.items():
            builder.Key(key)
            if isinstance(value, bool):
                builder.Bool(value)
            else:
                builder.Int(int(value))
        builder.Key("division")
        builder.String(str(division))
        builder.Key("group_size")
        builder.Int(int(group_size))
        if written:
            builder.Key("layout")
            builder.String(layout)
        builder.Key("format_version")
        builder.Int(LAYOUT_TENSORS_FORMAT_VERSION if layout == "sorted" else
                    LAYOUT_FORMAT_VERSION if written else FORMAT_VERSION)
    return bytes(builder.Finish())


@dataclass
class UnitSetting:
    """What one MAC op becomes: thresholds (int16 T_q, or float32 T for a
    float model) in groups of ``group_size`` output channels."""

    op_index: int
    thresholds: np.ndarray
    group_size: int
    division: str
    name: str  # used to name the thresholds tensor


def _opcode_index(model_t: Any, builtin_code: int, custom_code: Optional[str], version: int) -> int:
    """Index of a matching OperatorCode, appended when missing."""
    codes = model_t.operatorCodes if model_t.operatorCodes is not None else []
    for i, code in enumerate(codes):
        existing = max(int(code.builtinCode or 0), int(code.deprecatedBuiltinCode or 0))
        name = _to_str(code.customCode) if code.customCode is not None else None
        if existing == builtin_code and (name or None) == custom_code and (
                custom_code is not None or int(code.version) == version):
            return i
    code = schema.OperatorCodeT()
    code.builtinCode = builtin_code
    code.deprecatedBuiltinCode = min(builtin_code, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
    code.customCode = custom_code
    code.version = version
    codes.append(code)
    model_t.operatorCodes = codes
    return len(codes) - 1


def _as_index_array(values: Sequence[int]) -> np.ndarray:
    return np.asarray(list(values), dtype=np.int32)


def _set_thresholds_tensor(model_t: Any, op: Any, setting: UnitSetting) -> None:
    """Write the thresholds as op input 3 (the tensor and buffer of a UnIT
    op being re-converted reused)."""
    data = np.ascontiguousarray(setting.thresholds).reshape(-1)
    tensor_type = schema.TensorType.FLOAT32 if data.dtype == np.float32 else schema.TensorType.INT16
    _constant_tensor(model_t, op, 3, f"{setting.name}/unit_thresholds", tensor_type, data)


def _constant_tensor(model_t: Any, op: Any, position: int, name: str, tensor_type: int, data: np.ndarray) -> None:
    """Write ``data`` as the constant op input ``position``: reuse the
    tensor and buffer already there, else append a new tensor + buffer."""
    sub = model_t.subgraphs[0]
    inputs = [int(i) for i in op.inputs]
    if len(inputs) > position and inputs[position] >= 0:
        tensor = sub.tensors[inputs[position]]
        buffer = model_t.buffers[tensor.buffer]
    else:
        tensor = schema.TensorT()
        buffer = schema.BufferT()
        model_t.buffers.append(buffer)
        tensor.buffer = len(model_t.buffers) - 1
        sub.tensors.append(tensor)
        inputs = (inputs + [-1] * position)[:position] + [len(sub.tensors) - 1]
    tensor.name = name
    tensor.type = tensor_type
    tensor.shape = _as_index_array(data.shape)
    tensor.shapeSignature = None
    tensor.quantization = None
    buffer.data = np.frombuffer(data.astype(data.dtype.newbyteorder("<")).tobytes(), dtype=np.uint8)
    buffer.offset = 0
    buffer.size = 0
    op.inputs = _as_index_array(inputs)


def set_sorted_layout_tensors(model_t: Any, graph: ModelGraph, op_index: int, group_size: int,
                              layout: Optional[str]) -> None:
    """Give op ``op_index`` the inputs its layout needs: for ``sorted``, the
    filter's sorted layout (built by the C core, unit_fc_sorted_build) in
    groups of ``group_size`` as constant inputs SORTED_WEIGHTS_INPUT (int8)
    and SORTED_INDEX_INPUT (uint8 for <= 256 outputs, else uint16), each
    [input_depth, groups, group_size + 1], the arrays the kernel walks as
    they are; for any other layout, only input, filter, bias, thresholds
    (the caller's remove_unused drops an old layout's tensors)."""
    from tflm_unit.core import kernels

    op_t = model_t.subgraphs[0].operators[op_index]
    if layout != "sorted":
        op_t.inputs = _as_index_array([int(i) for i in op_t.inputs][:SORTED_WEIGHTS_INPUT])
        return
    filt = graph.tensor(graph.operators[op_index].inputs[1])
    built = kernels.fc_sorted_layout(np.ascontiguousarray(filt.data), group_size)
    shape = (built.input_depth, built.output_depth // built.group_size, built.group_size + 1)
    index_type = schema.TensorType.UINT8 if built.index.dtype == np.uint8 else schema.TensorType.UINT16
    _constant_tensor(model_t, op_t, SORTED_WEIGHTS_INPUT, f"{filt.name}/unit_sorted_weights",
                     schema.TensorType.INT8, built.weights.reshape(shape))
    _constant_tensor(model_t, op_t, SORTED_INDEX_INPUT, f"{filt.name}/unit_sorted_index", index_type,
                     built.index.reshape(shape))


def make_unit_op(model_t: Any, graph: ModelGraph, setting: UnitSetting) -> None:
    """Turn op ``setting.op_index`` (builtin or already UNIT_*) into its UNIT_* custom op."""
    op_t = model_t.subgraphs[0].operators[setting.op_index]
    op = graph.operators[setting.op_index]
    if op.is_unit:
        base = BUILTIN_NAME_OF[op.name]
        options = {k: v for k, v in op.custom_options.items() if k not in UNIT_OPTION_KEYS}
    elif op.name in UNIT_NAME_OF:
        base = op.name
        options = builtin_options_dict(base, op.builtin_options)
    else:
        raise ConversionError(f"operator {op.index} ({op.name}) is not a MAC op")
    op_t.opcodeIndex = _opcode_index(model_t, schema.BuiltinOperator.CUSTOM, UNIT_NAME_OF[base], 1)
    op_t.builtinOptionsType = schema.BuiltinOptions.NONE
    op_t.builtinOptions = None
    layout = op.custom_options.get("layout") if op.is_unit else None
    op_t.customOptions = np.frombuffer(encode_custom_options(options, setting.division, setting.group_size,
                                                             layout), dtype=np.uint8)
    op_t.customOptionsFormat = schema.CustomOptionsFormat.FLEXBUFFERS
    _set_thresholds_tensor(model_t, op_t, setting)
    set_sorted_layout_tensors(model_t, graph, setting.op_index, setting.group_size, layout)


def make_builtin_op(model_t: Any, op: Operator, version: int) -> None:
    """Turn a UNIT_* op back into its builtin op (thresholds input dropped)."""
    base = BUILTIN_NAME_OF[op.name]
    tag, _ = _OPTIONS[base]
    op_t = model_t.subgraphs[0].operators[op.index]
    op_t.opcodeIndex = _opcode_index(model_t, getattr(schema.BuiltinOperator, base), None, version)
    op_t.builtinOptionsType = tag
    op_t.builtinOptions = builtin_options_object(base, op.custom_options)
    op_t.customOptions = None
    op_t.customOptionsFormat = schema.CustomOptionsFormat.FLEXBUFFERS
    op_t.inputs = _as_index_array([int(i) for i in op_t.inputs][:3])


def remove_unused(model_t: Any) -> None:
    """Drop tensors, buffers and operator codes nothing refers to any more
    (e.g. thresholds after to_builtin, builtin codes after the rewrite), and
    renumber every reference, so repeated conversions do not grow the file."""
    sub = model_t.subgraphs[0]
    operators = sub.operators or []
    used = set(int(i) for i in list(sub.inputs) + list(sub.outputs))
    for op in operators:
        for field in (op.inputs, op.outputs, op.intermediates):
            if field is not None:
                used.update(int(i) for i in field if int(i) >= 0)
    for signature in model_t.signatureDefs or []:
        for tensor_map in list(signature.inputs or []) + list(signature.outputs or []):
            used.add(int(tensor_map.tensorIndex))
    tensor_map_index = {old: new for new, old in enumerate(sorted(used))}

    def remap(values):
        return None if values is None else _as_index_array(
            [tensor_map_index[int(i)] if int(i) >= 0 else -1 for i in values])

    sub.tensors = [sub.tensors[old] for old in sorted(used)]
    sub.inputs, sub.outputs = remap(sub.inputs), remap(sub.outputs)
    for op in operators:
        op.inputs, op.outputs, op.intermediates = remap(op.inputs), remap(op.outputs), remap(op.intermediates)
    for signature in model_t.signatureDefs or []:
        for tensor_map in list(signature.inputs or []) + list(signature.outputs or []):
            tensor_map.tensorIndex = tensor_map_index[int(tensor_map.tensorIndex)]

    used_buffers = {0} | {int(t.buffer) for t in sub.tensors}
    used_buffers |= {int(m.buffer) for m in model_t.metadata or []}
    used_buffers |= {int(b) for b in (model_t.metadataBuffer if model_t.metadataBuffer is not None else [])}
    buffer_map = {old: new for new, old in enumerate(sorted(used_buffers))}
    model_t.buffers = [model_t.buffers[old] for old in sorted(used_buffers)]
    for tensor in sub.tensors:
        tensor.buffer = buffer_map[int(tensor.buffer)]
    for entry in model_t.metadata or []:
        entry.buffer = buffer_map[int(entry.buffer)]
    if model_t.metadataBuffer is not None:
        model_t.metadataBuffer = _as_index_array([buffer_map[int(b)] for b in model_t.metadataBuffer])

    used_codes = sorted({int(op.opcodeIndex) for op in operators})
    code_map = {old: new for new, old in enumerate(used_codes)}
    model_t.operatorCodes = [model_t.operatorCodes[old] for old in used_codes]
    for op in operators:
        op.opcodeIndex = code_map[int(op.opcodeIndex)]


def _remove_dead_ops(model_t: Any) -> None:
    """Drop operators none of whose outputs is read (repeatedly)."""
    sub = model_t.subgraphs[0]
    while True:
        read = {int(t) for op in sub.operators for t in op.inputs if int(t) >= 0} | {int(t) for t in sub.outputs}
        alive = [op for op in sub.operators if any(int(t) in read for t in op.outputs)]
        if len(alive) == len(sub.operators):
            return
        sub.operators = alive


def fold_dynamic_reshapes(tflite: bytes) -> bytes:
    """Give every RESHAPE (and TRANSPOSE_CONV) whose target shape is computed
    at run time (Keras 3's Flatten under a dynamic batch: SHAPE →
    STRIDED_SLICE → PACK) its static output shape as a constant, and drop the
    ops that computed it.
    TFLM runs batch 1 from the static shapes anyway; MCU runtimes then need
    no shape arithmetic.  Returns the bytes unchanged when there is none."""
    graph = load_graph(tflite)
    # the shape input: RESHAPE's second, TRANSPOSE_CONV's first (tf_keras'
    # Conv2DTranspose computes its output_shape the same way)
    shape_input = {"RESHAPE": 1, "TRANSPOSE_CONV": 0}
    dynamic = [op for op in graph.operators if op.name in shape_input and len(op.inputs) > shape_input[op.name]
               and op.inputs[shape_input[op.name]] >= 0
               and not graph.tensor(op.inputs[shape_input[op.name]]).is_constant
               and all(d > 0 for d in graph.tensor(op.outputs[0]).shape)]
    if not dynamic:
        return tflite
    model_t = graph.model
    sub = model_t.subgraphs[0]
    for op in dynamic:
        shape = np.asarray(graph.tensor(op.outputs[0]).shape, dtype="<i4")
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(shape.tobytes(), dtype=np.uint8)
        model_t.buffers.append(buffer)
        tensor = schema.TensorT()
        tensor.name = f"{graph.tensor(op.outputs[0]).name}/static_shape"
        tensor.type = schema.TensorType.INT32
        tensor.shape = _as_index_array([shape.size])
        tensor.buffer = len(model_t.buffers) - 1
        sub.tensors.append(tensor)
        op_t = sub.operators[op.index]
        inputs = [int(i) for i in op_t.inputs]
        inputs[shape_input[op.name]] = len(sub.tensors) - 1
        op_t.inputs = _as_index_array(inputs if op.name == "TRANSPOSE_CONV" else inputs[:2])
    _remove_dead_ops(model_t)
    remove_unused(model_t)
    return pack_model(model_t)


def set_metadata(model_t: Any, name: str, data: bytes) -> None:
    """Add or replace the model metadata entry ``name`` (its buffer reused)."""
    entries = model_t.metadata if model_t.metadata is not None else []
    raw = np.frombuffer(bytes(data), dtype=np.uint8)
    for entry in entries:
        entry_name = _to_str(entry.name)
        if entry_name == name:
            model_t.buffers[entry.buffer].data = raw
            return
    buffer = schema.BufferT()
    buffer.data = raw
    model_t.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model_t.buffers) - 1
    entries.append(entry)
    model_t.metadata = entries


def to_builtin(unit_tflite: bytes, versions: Optional[Dict[int, int]] = None) -> bytes:
    """A UnIT ``.tflite`` with its UNIT_* ops turned back into the builtin
    ops (thresholds kept only in the metadata), for a stock TFLM/TFLite.

    ``versions`` maps op index → builtin op version (the converter records
    the originals in the metadata; defaults otherwise)."""
    from tflm_unit.converter.metadata import read_unit_config

    data = bytes(unit_tflite)
    graph = load_graph(data)
    if versions is None:
        config = read_unit_config(data) or {}
        versions = {int(op["op_index"]): int(op["builtin_version"]) for op in config.get("ops", [])
                    if "builtin_version" in op}
    for index, version in versions.items():
        if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or not 1 <= version < (1 << 31):
            raise ConversionError(f"operator {index}: builtin version {version!r} must be an integer in [1, 2^31)")
    model_t = graph.model
    for op in graph.operators:
        if op.is_unit:
            base = BUILTIN_NAME_OF[op.name]
            make_builtin_op(model_t, op, versions.get(op.index, DEFAULT_BUILTIN_VERSIONS[base]))
    remove_unused(model_t)
    return pack_model(model_t)


def set_layouts(unit_tflite: bytes, layout: Union[str, Dict[int, str]]) -> bytes:
    """The same UnIT ``.tflite`` with the ``layout`` option (DESIGN.md §9)
    of its UNIT_CONV_2D / UNIT_FULLY_CONNECTED ops set: {op index: layout},
    or one value for every op whose kind has it (``compare`` for both,
    ``sorted`` for the fully connected ops, ``bucketed`` for the convs,
    ``fast`` each op's zero-cost layout).  ``bucketed`` gets
    format_version LAYOUT_FORMAT_VERSION; ``sorted`` gets
    LAYOUT_TENSORS_FORMAT_VERSION and the layout's arrays as constant inputs
    (:func:`set_sorted_layout_tensors`; the filter stays, for the compare
    kernels and every other tool); ``compare`` removes the option and those
    inputs (version 1, the file any reader takes).  Outputs and MAC counts
    do not change (the kernels are bit-exact).  An op whose kernel cannot take its geometry or dtype
    is refused (:func:`tflm_unit.runtime.interpreter.layout_problem`)."""
    from tflm_unit.runtime.interpreter import layout_problem

    data = bytes(unit_tflite)
    graph = load_graph(data)
    laid_out = [op for op in graph.operators if op.name in UNIT_LAYOUTS]
    if isinstance(layout, str):
        if layout == "auto":
            raise ConversionError("layout 'auto' needs data to price the layouts: use "
                                  "tflm_unit.converter.layouts.auto_layouts(model, x) or convert(..., layout='auto')")
        if layout not in LAYOUT_CHOICES:
            raise ConversionError(f"layout {layout!r}: expected one of {LAYOUT_CHOICES}")
        wanted = {op.index: UNIT_LAYOUTS[op.name][1] if layout == "fast" else layout
                  for op in laid_out if layout in UNIT_LAYOUTS[op.name] + ("fast",)}
    else:
        wanted = dict(layout)
    kinds = " or ".join(UNIT_LAYOUTS)
    for index, value in wanted.items():
        known = isinstance(index, (int, np.integer)) and not isinstance(index, bool)
        op = graph.operators[int(index)] if known and 0 <= index < len(graph.operators) else None
        if op is None or op.name not in UNIT_LAYOUTS:
            raise ConversionError(f"operator {index} is not a {kinds} op (the ops that have layouts)")
        if value not in UNIT_LAYOUTS[op.name]:
            raise ConversionError(f"operator {index} ({op.name}): layout {value!r}, expected one of "
                                  f"{UNIT_LAYOUTS[op.name]}")
        problem = layout_problem(graph, op, value)
        if problem is not None:
            raise ConversionError(f"operator {index} ({op.name}): {problem}")
    model_t = graph.model
    for index, value in wanted.items():
        o = graph.operators[int(index)].custom_options
        options = {k: v for k, v in o.items() if k not in UNIT_OPTION_KEYS}
        encoded = encode_custom_options(options, o.get("division", "exact"), int(o["group_size"]), value)
        model_t.subgraphs[0].operators[int(index)].customOptions = np.frombuffer(encoded, dtype=np.uint8)
        set_sorted_layout_tensors(model_t, graph, int(index), int(o["group_size"]), value)
    remove_unused(model_t)
    return pack_model(model_t)


__all__ = ["FORMAT_VERSION", "LAYOUT_FORMAT_VERSION", "LAYOUT_TENSORS_FORMAT_VERSION", "set_sorted_layout_tensors",
           "FC_LAYOUTS", "CONV_LAYOUTS", "LAYOUT_CHOICES", "set_layouts", "UNIT_NAME_OF", "BUILTIN_NAME_OF", "UnitSetting", "builtin_options_dict",
           "builtin_options_object", "encode_custom_options", "decode_custom_options", "make_unit_op",
           "make_builtin_op", "remove_unused", "set_metadata", "to_builtin", "unpack_model"]
