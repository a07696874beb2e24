"""Reading ``.tflite`` files through the flatbuffers schema's object API.

One place that turns bytes into a checked :class:`ModelGraph` (tensors with
their quantisation, operators with their decoded options) so that the
runtime, the converter, ``inspect`` and the C exporter all see the model the
same way.  Malformed input raises :class:`ModelFormatError`; models the
runtime cannot execute raise :class:`UnsupportedModelError` later, naming the
op or dtype.
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




_TENSOR_DTYPES = {
    schema.TensorType.FLOAT32: np.float32,
    schema.TensorType.INT8: np.int8,
    schema.TensorType.UINT8: np.uint8,
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
        return str(name), True
    return _BUILTIN_NAMES.get(code, f"BUILTIN_{code}"), False


def decode_custom_options(raw) -> Dict[str, Any]:
    """A flexbuffer map of custom options → dict (empty when absent)."""
    if raw is None or len(raw) == 0:
        return {}
    try:
        value = flexbuffers.Loads(bytes(bytearray(raw)))
    except Exception as exc:
        raise ModelFormatError(f"custom options are not a flexbuffer: {exc}") from None
    if not isinstance(value, dict):
        raise ModelFormatError("custom options must be a flexbuffer map")
    return value


def _to_str(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def load_graph(model: Union[bytes, bytearray, str, os.PathLike]) -> ModelGraph:
    """Parse a model (bytes or path) into a :class:`ModelGraph` of subgraph 0."""
    data = read_model_bytes(model)
    model_t = unpack_model(data)
    if len(model_t.subgraphs) != 1:
        raise UnsupportedModelError(f"models with {len(model_t.subgraphs)} subgraphs are not supported (control flow)")
    sub = model_t.subgraphs[0]
    buffers = model_t.buffers or []
    tensors: List[Tensor] = []
    for i, t in enumerate(sub.tensors or []):
        dtype = _TENSOR_DTYPES.get(t.type)
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
        q = t.quantization
        scale = np.asarray(q.scale if q is not None and q.scale is not None else [], dtype=np.float32)
        zp = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], dtype=np.int64)
        data_arr = None
        if 0 < t.buffer < len(buffers):
            raw = buffers[t.buffer].data
            if raw is not None and len(raw) > 0:
                if dtype is None:
                    raise UnsupportedModelError(f"constant tensor '{_to_str(t.name)}' has unsupported type "
                                                f"{tensor_type_name(t.type)}")
                arr = np.frombuffer(bytes(bytearray(raw)), dtype=dtype)
                expected = int(np.prod(shape, dtype=np.int64))
                if arr.size != expected:
                    raise ModelFormatError(f"tensor '{_to_str(t.name)}' has {arr.size} values for shape {shape}")
                data_arr = arr.reshape(shape)
        tensors.append(Tensor(i, _to_str(t.name), shape, dtype, tensor_type_name(t.type), scale, zp,
                              int(q.quantizedDimension) if q is not None else 0, data_arr))
    opcodes = model_t.operatorCodes or []
    operators: List[Operator] = []
    for i, op in enumerate(sub.operators or []):
        if not 0 <= op.opcodeIndex < len(opcodes):
            raise ModelFormatError(f"operator {i} refers to opcode {op.opcodeIndex}, which does not exist")
        name, is_custom = opcode_name(opcodes[op.opcodeIndex])
        inputs = [int(x) for x in (op.inputs if op.inputs is not None else [])]
        outputs = [int(x) for x in (op.outputs if op.outputs is not None else [])]
        for idx in inputs + outputs:
            if idx >= len(tensors) or idx < -1:
                raise ModelFormatError(f"operator {i} ({name}) refers to tensor {idx}, which does not exist")
        custom = decode_custom_options(op.customOptions) if is_custom else {}
        operators.append(Operator(i, name, is_custom, inputs, outputs, op.builtinOptions, custom))
    metadata: Dict[str, bytes] = {}
    for m in model_t.metadata or []:
        if 0 <= m.buffer < len(buffers) and buffers[m.buffer].data is not None:
            metadata[_to_str(m.name)] = bytes(bytearray(buffers[m.buffer].data))
    return ModelGraph(model_t, tensors, operators, [int(x) for x in sub.inputs], [int(x) for x in sub.outputs],
                      metadata)


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
