"""Reading ``.tflite`` files through the flatbuffers schema's object API.

One place that turns bytes into a checked :class:`ModelGraph` (tensors with
their quantisation, operators with their decoded options) so that the
runtime, the converter, ``inspect`` and the C exporter all see the model the
same way.  Malformed input raises :class:`ModelFormatError`; models the
runtime cannot execute raise :class:`UnsupportedModelError` later, naming the
op or dtype.  :func:`load_graph` validates the whole graph once (see its
docstring), so that every later stage can index and read it without checks
of its own.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from flatbuffers import flexbuffers

from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from tflm_unit.errors import ModelFormatError, UnsupportedModelError

TFLITE_FILE_IDENTIFIER = b"TFL3"
UNIT_CUSTOM_OPS = ("UNIT_CONV_2D", "UNIT_DEPTHWISE_CONV_2D", "UNIT_FULLY_CONNECTED")
UNIT_METADATA_NAME = "UNIT_METADATA"
#: The ``layout`` option's values per op (DESIGN.md §9 "Zero-cost skipping"):
#: ``compare`` (the filter, a compare per MAC; the default, never written)
#: or the op's zero-cost kernel.  A file that has the option has
#: format_version 2 (a sorted fully connected op written since version 3
#: also carries its layout's arrays, format_version 3); version-1 files carry none.
UNIT_LAYOUTS = {"UNIT_CONV_2D": ("compare", "bucketed"), "UNIT_FULLY_CONNECTED": ("compare", "sorted")}
#: A sorted UNIT_FULLY_CONNECTED of format_version 3 carries its layout as
#: constant inputs after the thresholds: weights (int8) and output indices.
SORTED_WEIGHTS_INPUT = 4
SORTED_INDEX_INPUT = 5
#: The custom-options version of such an op (unit_core.h's
#: UNIT_LAYOUT_TENSORS_FORMAT_VERSION), the newest readers accept.
LAYOUT_TENSORS_FORMAT_VERSION = 3

_TENSOR_DTYPES = {
    schema.TensorType.FLOAT32: np.float32,
    schema.TensorType.INT8: np.int8,
    schema.TensorType.UINT8: np.uint8,
    schema.TensorType.UINT16: np.uint16,
    schema.TensorType.INT16: np.int16,
    schema.TensorType.INT32: np.int32,
    schema.TensorType.INT64: np.int64,
    schema.TensorType.BOOL: np.bool_,
}
_TYPE_NAMES = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
_BUILTIN_NAMES = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def tensor_type_name(tensor_type: int) -> str:
    return _TYPE_NAMES.get(tensor_type, f"type {tensor_type}")


@dataclass
class Tensor:
    """One tensor of the graph: shape, dtype, quantisation and constant data."""

    index: int
    name: str
    shape: tuple
    dtype: Optional[type]
    type_name: str
    scale: np.ndarray  # float32 [] or [C]; empty when not quantised
    zero_point: np.ndarray  # int64 [] or [C]
    quantized_dimension: int
    data: Optional[np.ndarray]  # constant data (weights, biases) or None

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def nbytes(self) -> int:
        itemsize = np.dtype(self.dtype).itemsize if self.dtype is not None else 0
        return int(np.prod(self.shape, dtype=np.int64)) * itemsize

    def scalar_scale(self) -> float:
        if self.scale.size == 0:
            raise UnsupportedModelError(f"tensor '{self.name}' is not quantised")
        return float(self.scale[0])

    def scalar_zero_point(self) -> int:
        return int(self.zero_point[0]) if self.zero_point.size else 0


@dataclass
class Operator:
    """One operator with its decoded options (builtin options object or the
    custom options flexbuffer map)."""

    index: int
    name: str  # builtin name, e.g. "CONV_2D", or the custom code, e.g. "UNIT_CONV_2D"
    is_custom: bool
    inputs: List[int]
    outputs: List[int]
    builtin_options: Any = None
    custom_options: Dict[str, Any] = field(default_factory=dict)

    @property
    def is_unit(self) -> bool:
        return self.is_custom and self.name in UNIT_CUSTOM_OPS


@dataclass
class ModelGraph:
    """The main subgraph of a model, ready to execute or inspect."""

    model: Any  # schema.ModelT, kept for rewriting
    tensors: List[Tensor]
    operators: List[Operator]
    inputs: List[int]
    outputs: List[int]
    metadata: Dict[str, bytes]
    variables: List[int] = field(default_factory=list)  # tensors with is_variable (state kept across runs)

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]


def read_model_bytes(model: Union[bytes, bytearray, str, os.PathLike]) -> bytes:
    """Bytes of a model given as bytes or a path (clear error if missing)."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    path = os.fspath(model)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such model file: {path}")
    with open(path, "rb") as f:
        return f.read()


def unpack_model(data: bytes) -> Any:
    """bytes → schema.ModelT, with a clear error for anything not a TFLite model."""
    if len(data) < 8 or data[4:8] != TFLITE_FILE_IDENTIFIER:
        raise ModelFormatError("not a TFLite flatbuffer (missing the 'TFL3' file identifier)")
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as exc:  # the generated reader raises assorted errors on corrupt input
        raise ModelFormatError(f"corrupt TFLite flatbuffer: {type(exc).__name__}: {exc}") from None
    if not model.subgraphs:
        raise ModelFormatError("the model has no subgraph")
    return model


def opcode_name(opcode) -> tuple:
    """(name, is_custom) of a schema OperatorCodeT: the builtin's name, e.g.
    "CONV_2D", or the custom code, e.g. "UNIT_CONV_2D"."""
    code = max(int(opcode.builtinCode or 0), int(opcode.deprecatedBuiltinCode or 0))
    if code == schema.BuiltinOperator.CUSTOM:
        name = opcode.customCode
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        return str(name or ""), True
    return _BUILTIN_NAMES.get(code, f"BUILTIN_{code}"), False


def decode_custom_options(raw, where: str = "custom options") -> Dict[str, Any]:
    """A flexbuffer map of custom options → dict (empty when absent).  The
    flexbuffers reader raises assorted errors (and can recurse) on corrupt
    bytes; all become :class:`ModelFormatError`."""
    if raw is None or len(raw) == 0:
        return {}
    if len(raw) > MAX_OPTIONS_BYTES:
        raise ModelFormatError(f"{where}: {len(raw)} bytes of custom options (at most {MAX_OPTIONS_BYTES})")
    try:
        value = flexbuffers.Loads(bytes(bytearray(raw)))
    except Exception as exc:  # noqa: BLE001  (IndexError, struct.error, RecursionError, ...)
        raise ModelFormatError(f"{where} are not a flexbuffer: {type(exc).__name__}: {exc}") from None
    if not isinstance(value, dict):
        raise ModelFormatError(f"{where} must be a flexbuffer map")
    return value


def _to_str(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


# --------------------------------------------------------------------------- limits and tables

#: Largest tensor (bytes) a model may declare: far above any MCU model, far
#: below what would exhaust the host; bounds every allocation the runtime makes.
MAX_TENSOR_BYTES = 1 << 28
MAX_RANK = 8
MAX_OPTIONS_BYTES = 1 << 16
INT32_MAX = (1 << 31) - 1

#: Bytes per element of every TensorType (INT4/INT2/UINT4 may be packed; see _constant_size_ok).
TYPE_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 15: 4, 16: 2,
              17: 1, 18: 2, 19: 1, 20: 1, 21: 1, 22: 1}
_VARIABLE_SIZE_TYPES = (schema.TensorType.STRING, schema.TensorType.RESOURCE, schema.TensorType.VARIANT)
_PACKED_TYPES = {17: 2, 19: 4, 20: 2}  # values per byte when packed
_INT_RANGES = {np.int8: (-128, 127), np.uint8: (0, 255), np.int16: (-32768, 32767)}

#: builtin op → (BuiltinOptions tag, options class, table required).  Ops whose
#: table is optional get a default table, so later stages never see None.
_OPTION_TABLES = {
    "CONV_2D": (schema.BuiltinOptions.Conv2DOptions, schema.Conv2DOptionsT, True),
    "DEPTHWISE_CONV_2D": (schema.BuiltinOptions.DepthwiseConv2DOptions, schema.DepthwiseConv2DOptionsT, True),
    "FULLY_CONNECTED": (schema.BuiltinOptions.FullyConnectedOptions, schema.FullyConnectedOptionsT, False),
    "MAX_POOL_2D": (schema.BuiltinOptions.Pool2DOptions, schema.Pool2DOptionsT, True),
    "AVERAGE_POOL_2D": (schema.BuiltinOptions.Pool2DOptions, schema.Pool2DOptionsT, True),
    "ADD": (schema.BuiltinOptions.AddOptions, schema.AddOptionsT, False),
    "SOFTMAX": (schema.BuiltinOptions.SoftmaxOptions, schema.SoftmaxOptionsT, False),
    "MEAN": (schema.BuiltinOptions.ReducerOptions, schema.ReducerOptionsT, False),
    "PAD": (schema.BuiltinOptions.PadOptions, schema.PadOptionsT, False),
    "PADV2": (schema.BuiltinOptions.PadV2Options, schema.PadV2OptionsT, False),
    "CONCATENATION": (schema.BuiltinOptions.ConcatenationOptions, schema.ConcatenationOptionsT, True),
    "RESHAPE": (schema.BuiltinOptions.ReshapeOptions, schema.ReshapeOptionsT, False),
    "SQUEEZE": (schema.BuiltinOptions.SqueezeOptions, schema.SqueezeOptionsT, False),
    "EXPAND_DIMS": (schema.BuiltinOptions.ExpandDimsOptions, schema.ExpandDimsOptionsT, False),
    "QUANTIZE": (schema.BuiltinOptions.QuantizeOptions, schema.QuantizeOptionsT, False),
    "MUL": (schema.BuiltinOptions.MulOptions, schema.MulOptionsT, False),
    "SUB": (schema.BuiltinOptions.SubOptions, schema.SubOptionsT, False),
    "LEAKY_RELU": (schema.BuiltinOptions.LeakyReluOptions, schema.LeakyReluOptionsT, False),
}
_OPTION_NAMES = {v: k for k, v in vars(schema.BuiltinOptions).items() if not k.startswith("_")}
#: (min, max) inputs and outputs of the ops whose semantics are checked here.
_ARITY = {"CONV_2D": (2, 3), "DEPTHWISE_CONV_2D": (2, 3), "FULLY_CONNECTED": (2, 3), "MAX_POOL_2D": (1, 1),
          "AVERAGE_POOL_2D": (1, 1), "ADD": (2, 2), "SOFTMAX": (1, 1), "MEAN": (2, 2), "PAD": (2, 2),
          "PADV2": (2, 3), "CONCATENATION": (1, 10), "RESHAPE": (1, 2), "SQUEEZE": (1, 1), "EXPAND_DIMS": (2, 2),
          "QUANTIZE": (1, 1), "DEQUANTIZE": (1, 1), "UNIT_CONV_2D": (4, 4), "UNIT_DEPTHWISE_CONV_2D": (4, 4),
          "UNIT_FULLY_CONNECTED": (4, 4)}
#: Activation / element-wise ops (tflm_unit.runtime.activation_ops): same-shape and broadcasting ones.
_UNARY_OPS = ("LOGISTIC", "TANH", "HARD_SWISH", "LEAKY_RELU", "RELU", "RELU6", "RELU_N1_TO_1")
_BROADCAST_OPS = ("MUL", "SUB", "SQUARED_DIFFERENCE", "MINIMUM", "MAXIMUM", "PRELU")
_ARITY.update({name: (1, 1) for name in _UNARY_OPS})
_ARITY.update({name: (2, 2) for name in _BROADCAST_OPS})
#: ActivationFunctionType values the schema defines (TANH / SIGN_BIT are valid but not run here).
KNOWN_ACTIVATIONS = (0, 1, 2, 3, 4, 5)

#: UNIT_* custom options: key → default (None: required).  Ints must fit int32.
_UNIT_CONV_OPTIONS = {"padding": None, "stride_h": None, "stride_w": None, "dilation_h_factor": 1,
                      "dilation_w_factor": 1, "fused_activation_function": 0}
_UNIT_OPTIONS = {
    "UNIT_CONV_2D": _UNIT_CONV_OPTIONS,
    "UNIT_DEPTHWISE_CONV_2D": dict(_UNIT_CONV_OPTIONS, depth_multiplier=0),
    "UNIT_FULLY_CONNECTED": {"fused_activation_function": 0, "weights_format": 0, "keep_num_dims": False},
}
_UNIT_COMMON_OPTIONS = {"division": "exact", "group_size": None, "format_version": 1}


def _fail(where: str, why: str) -> ModelFormatError:
    return ModelFormatError(f"{where}: {why}")


def _op_where(index: int, name: str) -> str:
    return f"operator {index} ({name})"


# --------------------------------------------------------------------------- tensors


def _int_vector(values, where: str, field_name: str) -> List[int]:
    if values is None:
        return []
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError, OverflowError):
        raise _fail(where, f"{field_name} is not a vector of integers") from None


def _checked_shape(t: Any, where: str) -> tuple:
    shape = tuple(_int_vector(t.shape, where, "shape"))
    if len(shape) > MAX_RANK:
        raise UnsupportedModelError(f"{where}: rank {len(shape)} (at most {MAX_RANK} is supported)")
    if any(d < 0 for d in shape):
        raise _fail(where, f"negative dimension in shape {shape}")
    return shape


def _buffer_bytes(model_t: Any, data: bytes, index: int, where: str) -> Optional[bytes]:
    """The bytes of buffer ``index`` (inside the flatbuffer, or after it for
    models over 2 GB: offset/size), or None when it holds none."""
    buffers = model_t.buffers or []
    if not 0 <= index < len(buffers):
        raise _fail(where, f"buffer {index} does not exist ({len(buffers)} buffers)")
    buffer = buffers[index]
    if buffer is None:
        return None
    if buffer.data is not None and len(buffer.data) > 0:
        return bytes(bytearray(buffer.data))
    offset, size = int(buffer.offset or 0), int(buffer.size or 0)
    if offset > 1:
        if size < 0 or offset + size > len(data):
            raise _fail(where, f"buffer {index} points at bytes {offset}..{offset + size}, past the end of the "
                               f"{len(data)}-byte file")
        return data[offset : offset + size] if size else None
    return None


def _constant_size_ok(n_bytes: int, elements: int, tensor_type: int) -> bool:
    if tensor_type in _PACKED_TYPES:
        per = _PACKED_TYPES[tensor_type]
        return n_bytes in (elements, -(-elements // per))
    return n_bytes == elements * TYPE_BYTES[tensor_type]


def _read_tensor(model_t: Any, data: bytes, i: int, t: Any) -> Tensor:
    name = _to_str(t.name)
    where = f"tensor {i} '{name}'"
    tensor_type = int(t.type)
    if tensor_type not in TYPE_BYTES and tensor_type not in _VARIABLE_SIZE_TYPES:
        raise _fail(where, f"unknown tensor type {tensor_type}")
    dtype = _TENSOR_DTYPES.get(tensor_type)
    shape = _checked_shape(t, where)
    elements = int(np.prod(shape, dtype=object)) if shape else 1
    if tensor_type in TYPE_BYTES and elements * TYPE_BYTES[tensor_type] > MAX_TENSOR_BYTES:
        raise UnsupportedModelError(f"{where}: shape {shape} of {tensor_type_name(tensor_type)} is "
                                    f"{elements * TYPE_BYTES[tensor_type]} bytes (at most {MAX_TENSOR_BYTES})")
    scale, zp, qdim = _read_quantization(t.quantization, shape, dtype, where)
    data_arr = None
    raw = _buffer_bytes(model_t, data, int(t.buffer), where) if int(t.buffer) != 0 else None
    if raw is not None:
        if tensor_type in _VARIABLE_SIZE_TYPES:
            raise UnsupportedModelError(f"{where}: constant of type {tensor_type_name(tensor_type)}")
        if not _constant_size_ok(len(raw), elements, tensor_type):
            raise _fail(where, f"its buffer holds {len(raw)} bytes, shape {shape} of "
                               f"{tensor_type_name(tensor_type)} needs {elements * TYPE_BYTES[tensor_type]}")
        if dtype is not None:  # other types: size checked, data not decoded (no stage reads them)
            data_arr = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype, copy=False)
            data_arr = data_arr.reshape(shape)
            if data_arr.dtype.kind == "f" and not np.all(np.isfinite(data_arr)):
                raise _fail(where, "constant holds NaN or infinite values")
    return Tensor(i, name, shape, dtype, tensor_type_name(tensor_type), scale, zp, qdim, data_arr)


def _read_quantization(q: Any, shape: tuple, dtype: Optional[type], where: str):
    empty = (np.zeros(0, np.float32), np.zeros(0, np.int64), 0)
    if q is None:
        return empty
    try:
        scale = np.asarray(q.scale if q.scale is not None else [], dtype=np.float64).reshape(-1)
        zp = np.asarray(q.zeroPoint if q.zeroPoint is not None else [], dtype=np.int64).reshape(-1)
    except (TypeError, ValueError, OverflowError):
        raise _fail(where, "quantization scale / zero_point are not numeric vectors") from None
    qdim = int(q.quantizedDimension or 0)
    if scale.size == 0 and zp.size == 0:
        return empty[0], empty[1], qdim
    if zp.size not in (0, scale.size):
        raise _fail(where, f"{scale.size} quantization scales but {zp.size} zero points")
    if not np.all(np.isfinite(scale)) or np.any(scale < 0):
        raise _fail(where, f"quantization scales must be finite and >= 0, got {scale[:4].tolist()}...")
    if dtype in (np.int8, np.uint8, np.int16) and np.any(scale <= 0):
        raise _fail(where, "quantization scale 0 on a quantised tensor")
    if np.any(np.abs(scale) > np.finfo(np.float32).max):
        raise _fail(where, "quantization scale overflows float32")
    if dtype in _INT_RANGES and zp.size:
        lo, hi = _INT_RANGES[dtype]
        if zp.min() < lo or zp.max() > hi:
            raise _fail(where, f"zero point {int(zp.min()) if zp.min() < lo else int(zp.max())} is outside "
                               f"the {np.dtype(dtype).name} range")
    if scale.size > 1:
        if not 0 <= qdim < len(shape):
            raise _fail(where, f"quantized_dimension {qdim} out of range for shape {shape}")
        if shape[qdim] != scale.size:
            raise _fail(where, f"{scale.size} per-channel scales for dimension {qdim} of shape {shape}")
    if zp.size == 0:
        zp = np.zeros(scale.size, np.int64)
    return scale.astype(np.float32), zp, qdim


# --------------------------------------------------------------------------- operators


def _check_int_option(where: str, key: str, value: Any, lo: int, hi: int = INT32_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _fail(where, f"option '{key}' must be an integer, got {type(value).__name__}")
    if not lo <= int(value) <= hi:
        raise _fail(where, f"option '{key}' = {int(value)} is outside [{lo}, {hi}]")
    return int(value)


def _unit_options(where: str, name: str, options: Dict[str, Any]) -> Dict[str, Any]:
    """Check a UNIT_* op's custom options map (DESIGN.md §5) and fill in the
    defaults, so every later stage reads complete, typed options."""
    result: Dict[str, Any] = {}
    spec = dict(_UNIT_OPTIONS[name], **_UNIT_COMMON_OPTIONS)
    for key, value in options.items():
        if not isinstance(key, str):
            raise _fail(where, "custom option keys must be strings")
        if key in ("division", "layout"):
            if not isinstance(value, str):
                raise _fail(where, f"option '{key}' must be a string, got {type(value).__name__}")
            result[key] = value
        elif isinstance(value, (bool, np.bool_)):
            result[key] = bool(value)
        elif isinstance(value, (int, np.integer)):
            result[key] = _check_int_option(where, key, value, -INT32_MAX - 1)
        elif key in spec:
            raise _fail(where, f"option '{key}' must be an integer, got {type(value).__name__}")
        # other keys: carried by newer writers, ignored here
    for key, default in spec.items():
        if key not in result:
            if default is None and key != "group_size":
                raise _fail(where, f"custom options lack '{key}'")
            if default is not None:
                result[key] = default
    for key in ("stride_h", "stride_w", "dilation_h_factor", "dilation_w_factor"):
        if key in result:
            _check_int_option(where, key, result[key], 1)
    if "padding" in result:
        _check_int_option(where, "padding", result["padding"], 0, 1)
    _check_int_option(where, "fused_activation_function", result["fused_activation_function"], 0, 5)
    # enum fields of the builtin table (int8 in the schema): to_builtin writes them back there
    if "weights_format" in result:
        _check_int_option(where, "weights_format", result["weights_format"], 0, 1)
    if "quantized_bias_type" in result:
        _check_int_option(where, "quantized_bias_type", result["quantized_bias_type"], 0, max(TYPE_BYTES))
    _check_int_option(where, "format_version", result["format_version"], 1)
    if "layout" in result:
        if name not in UNIT_LAYOUTS:
            raise _fail(where, f"option 'layout' = {result['layout']!r}: {name} has no layouts (only "
                               + ", ".join(f"{op} {'/'.join(v)}" for op, v in UNIT_LAYOUTS.items()) + ")")
        if result["layout"] not in UNIT_LAYOUTS[name]:
            raise _fail(where, f"option 'layout' = {result['layout']!r}: expected one of {UNIT_LAYOUTS[name]}")
        if result["format_version"] < 2:
            raise _fail(where, "option 'layout' needs format_version 2")
    if result["format_version"] >= LAYOUT_TENSORS_FORMAT_VERSION and result.get("layout") != "sorted":
        raise _fail(where, f"format_version {result['format_version']} is for a UNIT_FULLY_CONNECTED with layout "
                           f"'sorted' (its layout tensors), got layout {result.get('layout', 'compare')!r}")
    if "group_size" in result:
        _check_int_option(where, "group_size", result["group_size"], 1)
    return result


def _builtin_options(where: str, name: str, op: Any) -> Any:
    """The op's options table, checked against the op (a table of another op
    is a corrupt file); a default table where the schema makes it optional."""
    options = op.builtinOptions
    tag = int(op.builtinOptionsType or 0)
    if tag != schema.BuiltinOptions.NONE and options is None:
        raise _fail(where, f"options type {tag} has no table")
    if name not in _OPTION_TABLES:
        return options
    expected_tag, cls, required = _OPTION_TABLES[name]
    if options is None:
        if required:
            raise _fail(where, f"has no {_OPTION_NAMES[expected_tag]} table")
        options = cls()
        if name == "SOFTMAX":
            options.beta = 1.0
        return options
    if not isinstance(options, cls):
        raise _fail(where, f"carries {_OPTION_NAMES.get(tag, tag)}, expected {_OPTION_NAMES[expected_tag]}")
    activation = getattr(options, "fusedActivationFunction", 0)
    if activation not in KNOWN_ACTIVATIONS:
        raise _fail(where, f"unknown fused activation {activation}")
    for key in ("strideH", "strideW", "dilationHFactor", "dilationWFactor", "filterHeight", "filterWidth"):
        if hasattr(options, key) and not 1 <= int(getattr(options, key)) <= INT32_MAX:
            raise _fail(where, f"option {key} = {getattr(options, key)} must be >= 1")
    if hasattr(options, "padding") and int(options.padding) not in (0, 1):
        raise _fail(where, f"unknown padding {options.padding}")
    if name == "SOFTMAX" and not (np.isfinite(options.beta) and options.beta > 0):
        raise _fail(where, f"beta {options.beta} must be positive and finite")
    return options


def _conv_out_size(where: str, padding: int, size: int, kernel: int, stride: int, dilation: int) -> tuple:
    """(out, pad) of one spatial dimension as TFLite computes them, in exact
    integers; the values must fit the kernel core's int32 arithmetic."""
    effective = (kernel - 1) * dilation + 1
    if padding == 0:  # SAME
        out = (size + stride - 1) // stride
    else:  # VALID
        out = (size + stride - effective) // stride
    if out <= 0:
        raise _fail(where, f"filter extent {effective} does not fit input size {size}")
    reach = (out - 1) * stride + effective
    if reach > INT32_MAX or effective > INT32_MAX:
        raise UnsupportedModelError(f"{where}: stride {stride} / dilation {dilation} overflow the int32 geometry")
    pad = max(reach - size, 0) // 2 if padding == 0 else 0
    return out, pad


def _check_same(where: str, what: str, declared: tuple, computed: tuple) -> None:
    if tuple(declared) != tuple(computed):
        raise _fail(where, f"{what} declared {tuple(declared)}, but the op computes {tuple(computed)}")


def _const_ints(graph: "ModelGraph", op: Operator, position: int, what: str) -> Optional[np.ndarray]:
    t = graph.tensors[op.inputs[position]] if op.inputs[position] >= 0 else None
    if t is None:
        raise _fail(_op_where(op.index, op.name), f"has no {what} input")
    if t.data is None:
        return None
    if t.data.dtype.kind not in "iu":
        raise _fail(_op_where(op.index, op.name), f"{what} must be integers, got {t.type_name}")
    return t.data.astype(np.int64)


def _check_op_semantics(graph: "ModelGraph", op: Operator) -> None:
    """Output shapes equal to what the op computes from its inputs and
    options, for the ops the runtime executes (others are left to the stage
    that meets them)."""
    where = _op_where(op.index, op.name)
    base = op.name[len("UNIT_"):] if op.is_unit else op.name
    if base not in _ARITY or (op.is_custom and not op.is_unit):
        return
    lo, hi = _ARITY[op.name]
    if op.is_unit and int(op.custom_options.get("format_version", 1)) >= LAYOUT_TENSORS_FORMAT_VERSION:
        lo = hi = SORTED_INDEX_INPUT + 1  # + the sorted layout's weights and index
    if not lo <= len(op.inputs) <= hi:
        raise _fail(where, f"has {len(op.inputs)} inputs, expected {lo}..{hi}"
                    + (f" (format_version {op.custom_options['format_version']})" if op.is_unit else ""))
    if len(op.outputs) != 1:
        raise _fail(where, f"has {len(op.outputs)} outputs, expected 1")
    optional = {2} if base in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "PADV2") else set()
    if base == "RESHAPE":
        optional = {1}
    for k, idx in enumerate(op.inputs):
        if idx < 0 and k not in optional:
            raise _fail(where, f"input {k} is missing")
    t = graph.tensors
    out = t[op.outputs[0]]
    inp = t[op.inputs[0]]
    for tensor in [out] + [t[i] for i in op.inputs if i >= 0 and t[i].data is None]:
        if 0 in tensor.shape:
            raise _fail(where, f"tensor '{tensor.name}' has an empty dimension {tensor.shape}")
    opts = op.builtin_options
    if base in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        filt = t[op.inputs[1]]
        if len(inp.shape) != 4 or len(filt.shape) != 4 or len(out.shape) != 4:
            raise _fail(where, f"input {inp.shape}, filter {filt.shape} and output {out.shape} must be 4-D")
        if op.is_unit:
            o = op.custom_options
            padding, sh, sw = o["padding"], o["stride_h"], o["stride_w"]
            dh, dw = o["dilation_h_factor"], o["dilation_w_factor"]
        else:
            padding, sh, sw = int(opts.padding), int(opts.strideH), int(opts.strideW)
            dh, dw = int(opts.dilationHFactor), int(opts.dilationWFactor)
        oh, _ = _conv_out_size(where, padding, inp.shape[1], filt.shape[1], sh, dh)
        ow, _ = _conv_out_size(where, padding, inp.shape[2], filt.shape[2], sw, dw)
        if base == "CONV_2D":
            channels = filt.shape[0]
            if filt.shape[3] != inp.shape[3]:
                if filt.shape[3] and inp.shape[3] % filt.shape[3] == 0:
                    raise UnsupportedModelError(f"{where}: grouped convolution (filter depth {filt.shape[3]}, "
                                                f"input depth {inp.shape[3]}) is not supported")
                raise _fail(where, f"filter depth {filt.shape[3]} does not match input depth {inp.shape[3]}")
        else:
            channels = filt.shape[3]
            if filt.shape[0] != 1 or channels % inp.shape[3]:
                raise _fail(where, f"depthwise filter {filt.shape} does not fit input depth {inp.shape[3]}")
        _check_same(where, "output shape", out.shape, (inp.shape[0], oh, ow, channels))
        _check_bias(graph, op, where, channels)
    elif base == "FULLY_CONNECTED":
        filt = t[op.inputs[1]]
        if len(filt.shape) != 2:
            raise _fail(where, f"filter must be 2-D, got {filt.shape}")
        units, depth = filt.shape
        size = int(np.prod(inp.shape, dtype=object)) if inp.shape else 1
        if depth == 0 or size % depth:
            raise _fail(where, f"input {inp.shape} does not split into rows of the filter depth {depth}")
        keep = bool(op.custom_options["keep_num_dims"]) if op.is_unit else bool(opts.keepNumDims)
        computed = tuple(inp.shape[:-1]) + (units,) if keep else (size // depth, units)
        if keep and (not inp.shape or inp.shape[-1] != depth):
            raise _fail(where, f"keep_num_dims needs the input's last dimension {inp.shape} to be {depth}")
        if not keep and len(out.shape) != 2:  # TFLite writes [rows, units]; accept any shape of that size
            computed_size = (size // depth) * units
            if out.shape and out.shape[-1] == units and int(np.prod(out.shape, dtype=object)) == computed_size:
                computed = out.shape
        _check_same(where, "output shape", out.shape, computed)
        _check_bias(graph, op, where, units)
    elif base in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        if len(inp.shape) != 4:
            raise _fail(where, f"input must be 4-D, got {inp.shape}")
        oh, _ = _conv_out_size(where, int(opts.padding), inp.shape[1], int(opts.filterHeight), int(opts.strideH), 1)
        ow, _ = _conv_out_size(where, int(opts.padding), inp.shape[2], int(opts.filterWidth), int(opts.strideW), 1)
        _check_same(where, "output shape", out.shape, (inp.shape[0], oh, ow, inp.shape[3]))
    elif base in ("ADD",) + _BROADCAST_OPS:
        a, b = t[op.inputs[0]].shape, t[op.inputs[1]].shape
        try:
            computed = tuple(np.broadcast_shapes(a, b))
        except ValueError:
            raise _fail(where, f"input shapes {a} and {b} do not broadcast") from None
        _check_same(where, "output shape", out.shape, computed)
    elif base in ("SOFTMAX", "QUANTIZE", "DEQUANTIZE") + _UNARY_OPS:
        _check_same(where, "output shape", out.shape, inp.shape)
    elif base == "MEAN":
        axes = _const_ints(graph, op, 1, "axes")
        if axes is None:
            return
        rank = len(inp.shape)
        if rank == 0 or axes.size == 0 or np.any(axes < -rank) or np.any(axes >= rank):
            raise _fail(where, f"axes {axes.tolist()} out of range for input shape {inp.shape}")
        reduced = {int(a) % rank for a in axes.reshape(-1)}
        if bool(opts.keepDims):
            computed = tuple(1 if k in reduced else d for k, d in enumerate(inp.shape))
        else:
            computed = tuple(d for k, d in enumerate(inp.shape) if k not in reduced)
        _check_same(where, "output shape", out.shape, computed)
    elif base in ("PAD", "PADV2"):
        paddings = _const_ints(graph, op, 1, "paddings")
        if paddings is None:
            return
        if paddings.size != 2 * len(inp.shape) or np.any(paddings < 0):
            raise _fail(where, f"paddings {paddings.reshape(-1).tolist()[:12]} do not fit input {inp.shape}")
        p = paddings.reshape(-1, 2)
        _check_same(where, "output shape", out.shape,
                    tuple(int(d + p[k, 0] + p[k, 1]) for k, d in enumerate(inp.shape)))
        if base == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0 and t[op.inputs[2]].data is not None \
                and t[op.inputs[2]].data.size != 1:
            raise _fail(where, "the constant value must be a single value")
    elif base == "CONCATENATION":
        shapes = [t[i].shape for i in op.inputs]
        rank = len(shapes[0])
        axis = int(opts.axis)
        if rank == 0 or not -rank <= axis < rank or any(len(s) != rank for s in shapes):
            raise _fail(where, f"axis {axis} / input shapes {shapes} are inconsistent")
        axis %= rank
        if any(s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:] for s in shapes):
            raise _fail(where, f"input shapes {shapes} differ off axis {axis}")
        computed = shapes[0][:axis] + (sum(s[axis] for s in shapes),) + shapes[0][axis + 1:]
        _check_same(where, "output shape", out.shape, computed)
    elif base in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"):
        n_in = int(np.prod(inp.shape, dtype=object)) if inp.shape else 1
        n_out = int(np.prod(out.shape, dtype=object)) if out.shape else 1
        if n_in != n_out:
            raise _fail(where, f"output shape {out.shape} has {n_out} elements, input {inp.shape} has {n_in}")


def _check_bias(graph: "ModelGraph", op: Operator, where: str, channels: int) -> None:
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        bias = graph.tensors[op.inputs[2]]
        size = int(np.prod(bias.shape, dtype=object)) if bias.shape else 1
        if size != channels:
            raise _fail(where, f"bias '{bias.name}' has {size} values for {channels} output channels")
    if op.is_unit:
        thresholds = graph.tensors[op.inputs[3]]
        if thresholds.data is None:
            raise _fail(where, "the thresholds input must be a constant tensor")
        group = op.custom_options.setdefault("group_size", channels)  # absent: one group per layer
        if channels % group or thresholds.data.size != channels // group:
            raise _fail(where, f"{thresholds.data.size} thresholds do not match {channels} output channels "
                               f"in groups of {group}")


def _check_dataflow(graph: "ModelGraph") -> None:
    """Every tensor an op reads exists when it runs (a graph input, a
    constant, a variable or an earlier op's output); no tensor is written twice."""
    available = set(graph.inputs) | {t.index for t in graph.tensors if t.data is not None}
    available |= set(graph.variables)
    written: set = set()
    for op in graph.operators:
        where = _op_where(op.index, op.name)
        for k, idx in enumerate(op.inputs):
            if idx >= 0 and idx not in available:
                raise _fail(where, f"reads tensor {idx} ('{graph.tensors[idx].name}') before any op writes it")
        for idx in op.outputs:
            if idx < 0:
                raise _fail(where, "has a missing (-1) output")
            if idx in written or idx in graph.inputs or graph.tensors[idx].data is not None:
                raise _fail(where, f"writes tensor {idx} ('{graph.tensors[idx].name}'), which is a graph input, "
                                   f"a constant or another op's output")
            written.add(idx)
            available.add(idx)
    for idx in graph.outputs:
        if idx not in written and idx not in graph.inputs:
            if idx in available:  # a constant or variable: no op computes it, the runtime has no value for it
                raise UnsupportedModelError(f"output tensor {idx} ('{graph.tensors[idx].name}') is a constant "
                                            f"or variable, not computed by any op")
            raise _fail("the model", f"output tensor {idx} is never written")


def check_model_structure(model_t: Any) -> None:
    """Index checks every reader of the raw object API relies on (subgraph
    0): tensor, buffer and opcode indices in range, shapes non-negative.
    ``tflite_resources`` reads raw models through this; load_graph does more."""
    sub = model_t.subgraphs[0]
    tensors = sub.tensors or []
    buffers = model_t.buffers or []
    for i, t in enumerate(tensors):
        where = f"tensor {i} '{_to_str(t.name)}'"
        _checked_shape(t, where)
        if not 0 <= int(t.buffer) < max(len(buffers), 1):
            raise _fail(where, f"buffer {t.buffer} does not exist ({len(buffers)} buffers)")
    codes = model_t.operatorCodes or []
    for i, op in enumerate(sub.operators or []):
        if not 0 <= op.opcodeIndex < len(codes):
            raise ModelFormatError(f"operator {i} refers to opcode {op.opcodeIndex}, which does not exist")
        for field_name in ("inputs", "outputs", "intermediates"):
            for idx in _int_vector(getattr(op, field_name), f"operator {i}", field_name):
                if not -1 <= idx < len(tensors):
                    raise ModelFormatError(f"operator {i} refers to tensor {idx}, which does not exist")
    for field_name in ("inputs", "outputs"):
        indices = _int_vector(getattr(sub, field_name), "the subgraph", field_name)
        if not len(indices):
            raise ModelFormatError(f"the subgraph declares no {field_name}")
        for idx in indices:
            if not 0 <= idx < len(tensors):
                raise ModelFormatError(f"subgraph {field_name} refer to tensor {idx}, which does not exist")
    for m in model_t.metadata or []:
        if not 0 <= int(m.buffer) < len(buffers):
            raise ModelFormatError(f"metadata '{_to_str(m.name)}' refers to buffer {m.buffer}, which does not exist")
    for b in _int_vector(model_t.metadataBuffer, "the model", "metadata_buffer"):
        if not 0 <= b < len(buffers):
            raise ModelFormatError(f"metadata_buffer refers to buffer {b}, which does not exist")
    for signature in model_t.signatureDefs or []:
        for tensor_map in list(signature.inputs or []) + list(signature.outputs or []):
            if not 0 <= int(tensor_map.tensorIndex) < len(tensors):
                raise ModelFormatError(f"signature '{_to_str(signature.signatureKey)}' refers to tensor "
                                       f"{tensor_map.tensorIndex}, which does not exist")


def load_graph(model: Union[bytes, bytearray, str, os.PathLike]) -> ModelGraph:
    """Parse and validate a model (bytes or path) into a :class:`ModelGraph`
    of subgraph 0.  Validation happens here, once: sizes against the bytes
    present (before any allocation), indices, op arity, option tables,
    fused activations, UNIT_* options and output shapes against what each
    op the runtime knows computes.  Later stages trust the graph."""
    data = read_model_bytes(model)
    model_t = unpack_model(data)
    if len(model_t.subgraphs) != 1:
        raise UnsupportedModelError(f"models with {len(model_t.subgraphs)} subgraphs are not supported (control flow)")
    check_model_structure(model_t)
    sub = model_t.subgraphs[0]
    tensors = [_read_tensor(model_t, data, i, t) for i, t in enumerate(sub.tensors or [])]
    opcodes = model_t.operatorCodes or []
    operators: List[Operator] = []
    for i, op in enumerate(sub.operators or []):
        name, is_custom = opcode_name(opcodes[op.opcodeIndex])
        where = _op_where(i, name)
        inputs = _int_vector(op.inputs, where, "inputs")
        outputs = _int_vector(op.outputs, where, "outputs")
        if is_custom:
            custom = decode_custom_options(op.customOptions, f"{where}: custom options")
            if name in UNIT_CUSTOM_OPS:
                custom = _unit_options(where, name, custom)
            options = None
        else:
            custom = {}
            options = _builtin_options(where, name, op)
        operators.append(Operator(i, name, is_custom, inputs, outputs, options, custom))
    metadata: Dict[str, bytes] = {}
    for m in model_t.metadata or []:
        raw = _buffer_bytes(model_t, data, int(m.buffer), f"metadata '{_to_str(m.name)}'")
        if raw is not None:
            metadata[_to_str(m.name)] = raw
    graph = ModelGraph(model_t, tensors, operators, _int_vector(sub.inputs, "the subgraph", "inputs"),
                       _int_vector(sub.outputs, "the subgraph", "outputs"), metadata,
                       [t.index for t, raw in zip(tensors, sub.tensors or []) if raw.isVariable])
    _check_dataflow(graph)
    for op in operators:
        _check_op_semantics(graph, op)
    return graph


def quantization_of(tensor: Tensor) -> Sequence:
    """(scale, zero_point) of a per-tensor quantised tensor."""
    return tensor.scalar_scale(), tensor.scalar_zero_point()


BUFFER_ALIGNMENT = 16  # the schema's force_align for Buffer.data; TFLM reads weights in place


class _AlignedBufferT(schema.BufferT):
    """BufferT whose data vector is written 16-byte aligned (the generated
    Pack aligns only to the element size, 1 byte)."""

    def Pack(self, builder):
        data = None
        if self.data is not None and len(self.data) > 0:
            raw = np.ascontiguousarray(np.asarray(self.data), dtype=np.uint8).tobytes()
            builder.StartVector(1, len(raw), BUFFER_ALIGNMENT)
            builder.head = builder.head - len(raw)
            builder.Bytes[builder.head : builder.head + len(raw)] = raw
            data = builder.EndVector()
        schema.BufferStart(builder)
        if data is not None:
            schema.BufferAddData(builder, data)
        schema.BufferAddOffset(builder, self.offset)
        schema.BufferAddSize(builder, self.size)
        return schema.BufferEnd(builder)


def pack_model(model_t: Any) -> bytes:
    """schema.ModelT → .tflite bytes with the 'TFL3' identifier and every
    constant buffer 16-byte aligned, as TFLM expects."""
    import flatbuffers

    for buffer in model_t.buffers or []:
        buffer.__class__ = _AlignedBufferT  # same fields, aligned Pack
    builder = flatbuffers.Builder(1024)
    root = model_t.Pack(builder)
    builder.Finish(root, file_identifier=TFLITE_FILE_IDENTIFIER)
    return bytes(builder.Output())
