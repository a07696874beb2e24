"""Mutation fuzzing of every entry point that reads a ``.tflite`` (issue 13).

Seeds are generated here, at run time, never committed: small tf_keras models
(conv / depthwise / fully connected / pooling / mean / add / pad /
concatenation / reshape / softmax, int8 with and without float I/O, float32)
converted with TensorFlow's ``TFLiteConverter`` and the project's converter
(builtin and ``UNIT_*`` ops).  They are cached in a temp directory.

Each fuzz input is one seed mutated either as raw bytes (bit flips,
interesting integers, splices, truncation) or through the flatbuffers schema
object API (tensor shapes, types, buffers, quantisation, op indices,
opcodes, builtin options, ``custom_options``, metadata, subgraph I/O), then
fed in a worker subprocess (``RLIMIT_AS`` memory cap, per-input timeout, a
fresh worker after every crash or timeout) to: ``load_graph``, an
``Interpreter`` plus one inference, ``read_unit_config``, ``to_builtin``,
``apply_thresholds``, ``inspect_model``, ``export_c`` and
``tflite_resources``.

Outcome of an entry point: ``ok``, ``project:<Class>`` (a tflm_unit error:
the wanted answer to bad input), ``escape:<Type>`` (any other exception),
``wrong_answer`` (an output whose shape / dtype contradicts the declared
one, or a non-finite float output from finite inputs), and per input
``crash`` (the worker died), ``timeout``, ``memory`` (MemoryError or the
memory cap).  Every escape, crash, timeout, memory blow-up or wrong answer
is saved as a reproducer (``.tflite`` + ``.json``) under ``--out``.

    python benchmarks/fuzz.py --count 100000 --seed 1 --jobs 1 --out /tmp/fuzz
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import random
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

SEED_VERSION = "1"  # bump when the seed models change (the cache key)
ENTRY_POINTS = ("load_graph", "inference", "read_unit_config", "to_builtin", "apply_thresholds", "inspect_model",
                "export_c", "tflite_resources")
BAD_OUTCOMES = ("escape", "crash", "timeout", "memory", "wrong_answer", "harness_error")
DEFAULT_MEMORY_MB = 2048
DEFAULT_TIMEOUT = 30.0


# =============================================================================== seeds


def _seed_models() -> Dict[str, bytes]:
    """Build and convert the seed models (TensorFlow needed; ~30 s)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from tflm_unit.converter.quantize import import_tensorflow

    tf = import_tensorflow()
    import tf_keras as K

    from tflm_unit.converter import apply_thresholds, convert, int8_model

    rng = np.random.default_rng(0)
    L = K.layers

    def data(shape, n=24):
        return rng.uniform(0, 1, size=(n,) + tuple(shape)).astype(np.float32)

    def cnn():
        inp = K.Input((12, 12, 1))
        x = L.Conv2D(4, 3, activation="relu")(inp)
        x = L.MaxPooling2D(2)(x)
        x = L.Conv2D(6, 3, padding="same", strides=2, activation="relu6")(x)
        x = L.Flatten()(x)
        x = L.Dense(5, activation="softmax")(x)
        return K.Model(inp, x), (12, 12, 1)

    def dscnn():
        inp = K.Input((10, 10, 2))
        x = L.Conv2D(4, 3, padding="same", activation="relu")(inp)
        x = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu")(x)
        x = L.Conv2D(4, 1, activation="relu")(x)
        x = L.DepthwiseConv2D(3, dilation_rate=2)(x)
        x = L.GlobalAveragePooling2D()(x)
        x = L.Dense(3)(x)
        return K.Model(inp, x), (10, 10, 2)

    def resnet():
        inp = K.Input((8, 8, 3))
        x = L.Conv2D(4, 3, padding="same", activation="relu")(inp)
        y = L.Conv2D(4, 3, padding="same")(x)
        x = L.ReLU()(L.Add()([x, y]))
        x = L.AveragePooling2D(2)(x)
        x = L.ZeroPadding2D(1)(x)
        x = L.Concatenate()([x, x])
        x = L.Reshape((-1,))(x)
        x = L.Dense(4)(x)
        return K.Model(inp, x), (8, 8, 3)

    def mlp():
        inp = K.Input((16,))
        x = L.Dense(8, activation="relu")(inp)
        x = L.Dense(4)(x)
        return K.Model(inp, x), (16,)

    def fconv():  # float models run conv / depthwise / FC / reshape only
        inp = K.Input((8, 8, 2))
        x = L.Conv2D(3, 3, activation="relu")(inp)
        x = L.DepthwiseConv2D(3, padding="same")(x)
        x = L.Flatten()(x)
        x = L.Dense(4)(x)
        return K.Model(inp, x), (8, 8, 2)

    seeds: Dict[str, bytes] = {}
    for name, build in (("cnn", cnn), ("dscnn", dscnn), ("resnet", resnet), ("mlp", mlp), ("fconv", fconv)):
        model, shape = build()
        x = data(shape)
        builtin = int8_model(model, x)
        seeds[f"{name}_int8"] = builtin
        seeds[f"{name}_unit"] = convert(model, x, thresholds=0.02, division="shift", num_calibration_samples=24)
        if name in ("fconv", "mlp"):
            converter = tf.lite.TFLiteConverter.from_keras_model(model)
            seeds[f"{name}_float"] = converter.convert()
            seeds[f"{name}_float_unit"] = apply_thresholds(seeds[f"{name}_float"], 0.01, allow_float=True)
            converter = tf.lite.TFLiteConverter.from_keras_model(model)
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([x[i : i + 1]] for i in range(len(x)))
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            seeds[f"{name}_int8_float_io"] = converter.convert()  # QUANTIZE / DEQUANTIZE at the edges
    return seeds


def seed_models(cache_dir: Optional[str] = None) -> Dict[str, bytes]:
    """The seeds, from the cache when present (generated and cached otherwise)."""
    cache_dir = cache_dir or os.path.join(tempfile.gettempdir(), f"tflm_unit_fuzz_seeds_v{SEED_VERSION}")
    index = os.path.join(cache_dir, "index.json")
    if os.path.isfile(index):
        with open(index) as f:
            names = json.load(f)
        seeds = {}
        for name in names:
            with open(os.path.join(cache_dir, name + ".tflite"), "rb") as f:
                seeds[name] = f.read()
        return seeds
    seeds = _seed_models()
    os.makedirs(cache_dir, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(cache_dir, name + ".tflite"), "wb") as f:
            f.write(data)
    tmp = index + ".tmp"
    with open(tmp, "w") as f:
        json.dump(sorted(seeds), f)
    os.replace(tmp, index)
    return seeds


# =============================================================================== mutations

_INTERESTING_INTS = [0, 1, -1, 2, 3, 7, 8, 16, 127, 128, 255, 256, -128, -129, 32767, -32768, 65535, 1 << 16,
                     (1 << 31) - 1, -(1 << 31), 1 << 24, 100000, 1 << 30]
_INTERESTING_FLOATS = [0.0, -0.0, -1.0, 1e-45, 1e-30, 1e30, 3.4e38, float("inf"), float("-inf"), float("nan"),
                       1.0, 0.5, 1e-8]


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """Raw-byte mutations: flips, interesting bytes / ints, splices, truncation."""
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        kind = rng.randrange(7)
        pos = rng.randrange(len(buf)) if buf else 0
        if kind == 0 and buf:
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind == 1 and buf:
            buf[pos] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif kind == 2 and len(buf) >= 4:
            pos = rng.randrange(0, len(buf) - 3) & ~3
            value = rng.choice(_INTERESTING_INTS)
            buf[pos : pos + 4] = struct.pack("<i", value if -(1 << 31) <= value < (1 << 31) else -1)
        elif kind == 3 and buf:
            n = rng.randrange(1, 64)
            del buf[pos : pos + n]
        elif kind == 4 and buf:
            n = rng.randrange(1, 64)
            src = rng.randrange(len(buf))
            buf[pos:pos] = buf[src : src + n]
        elif kind == 5 and len(buf) > 8:
            del buf[rng.randrange(8, len(buf)):]
        elif kind == 6 and len(buf) >= 4:
            pos = rng.randrange(0, len(buf) - 3) & ~3
            buf[pos : pos + 4] = struct.pack("<f", rng.choice(_INTERESTING_FLOATS))
    return bytes(buf)


def _deep_json(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


def _flexbuffer_map(values: Dict[str, Any]) -> bytes:
    from flatbuffers import flexbuffers

    builder = flexbuffers.Builder()
    with builder.Map():
        for key, value in values.items():
            builder.Key(key)
            if isinstance(value, bool):
                builder.Bool(value)
            elif isinstance(value, int):
                builder.Int(value)
            elif isinstance(value, float):
                builder.Float(value)
            elif isinstance(value, str):
                builder.String(value)
            elif isinstance(value, list):
                with builder.Vector():
                    for v in value:
                        builder.Int(int(v))
            else:
                builder.Null()
    return bytes(builder.Finish())


def _random_value(rng: random.Random, like: Any) -> Any:
    choice = rng.randrange(6)
    if choice == 0:
        return rng.choice(_INTERESTING_INTS + [1 << 40, -(1 << 40)])
    if choice == 1:
        return rng.choice(_INTERESTING_FLOATS)
    if choice == 2:
        return rng.choice(("exact", "shift", "tree", "clz", "bitmask", "", "x" * 40, "\u00e9"))
    if choice == 3:
        return rng.choice((True, False))
    if choice == 4:
        return [rng.choice(_INTERESTING_INTS) for _ in range(rng.randrange(4))]
    if isinstance(like, int) and not isinstance(like, bool):
        return like + rng.choice((-2, -1, 1, 2))
    return None


def _mutate_custom_options(op: Any, rng: random.Random) -> None:
    from tflm_unit.runtime.model import decode_custom_options

    try:
        options = decode_custom_options(op.customOptions)
    except Exception:  # noqa: BLE001 - already corrupt: replace it
        options = {}
    kind = rng.randrange(5)
    if kind == 0 or not options:
        raw = bytearray(op.customOptions if op.customOptions is not None else b"\0\0\0")
        op.customOptions = np.frombuffer(mutate_bytes(bytes(raw), rng) or b"\0", dtype=np.uint8)
        return
    keys = list(options)
    if kind == 1:
        del options[rng.choice(keys)]
    elif kind in (2, 3):
        key = rng.choice(keys)
        options[key] = _random_value(rng, options[key])
    else:
        options[rng.choice(("group_size", "division", "stride_h", "dilation_w_factor", "padding", "zzz",
                            "fused_activation_function", "format_version", "keep_num_dims"))] = \
            _random_value(rng, 1)
    op.customOptions = np.frombuffer(_flexbuffer_map(options), dtype=np.uint8)


def _mutate_builtin_options(model_t: Any, op: Any, rng: random.Random) -> None:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    kind = rng.randrange(4)
    if kind == 0 or op.builtinOptions is None:  # another op's table (or none)
        tables = [("Conv2DOptions", schema.Conv2DOptionsT), ("Pool2DOptions", schema.Pool2DOptionsT),
                  ("AddOptions", schema.AddOptionsT), ("FullyConnectedOptions", schema.FullyConnectedOptionsT),
                  ("SoftmaxOptions", schema.SoftmaxOptionsT), ("ReducerOptions", schema.ReducerOptionsT),
                  ("ConcatenationOptions", schema.ConcatenationOptionsT), ("NONE", None)]
        name, cls = rng.choice(tables)
        op.builtinOptionsType = getattr(schema.BuiltinOptions, name)
        op.builtinOptions = cls() if cls is not None else None
        return
    fields = [k for k, v in vars(op.builtinOptions).items() if isinstance(v, (int, float, bool))]
    if not fields:
        return
    field_name = rng.choice(fields)
    old = getattr(op.builtinOptions, field_name)
    if isinstance(old, bool):
        setattr(op.builtinOptions, field_name, not old)
    elif isinstance(old, float):
        setattr(op.builtinOptions, field_name, rng.choice(_INTERESTING_FLOATS))
    else:
        value = rng.choice(_INTERESTING_INTS + [old + 1, old - 1, 4, 5, 6, 2])
        setattr(op.builtinOptions, field_name, value)


def _mutate_metadata(model_t: Any, rng: random.Random) -> None:
    from tflm_unit.converter.rewrite import set_metadata

    entries = model_t.metadata or []
    current = None
    for entry in entries:
        name = entry.name.decode("utf-8", "replace") if isinstance(entry.name, bytes) else entry.name
        if name == "UNIT_METADATA":
            data = model_t.buffers[entry.buffer].data if 0 <= entry.buffer < len(model_t.buffers) else None
            current = bytes(bytearray(data)) if data is not None else b""
    kind = rng.randrange(8)
    if kind == 0:
        payload = _deep_json(rng.choice((50, 200, 5000, 100000)))
    elif kind == 1:
        payload = b"\xff\xfe{" + bytes(rng.randrange(256) for _ in range(8))
    elif kind == 2 or current is None:
        payload = json.dumps(rng.choice(([], 1, "x", None, {"ops": 3}, {"ops": [1]}, {"ops": [{"op_index": "a"}]},
                                         {"ops": [{"op_index": 10 ** 30, "builtin_version": -1}]},
                                         {"ops": [{"op_index": 0, "builtin_version": 1 << 40}]},
                                         {"ops": [{"op_index": 0, "thresholds_real": [1e308, "x"]}]},
                                         {"division": 3, "ops": [{"op_index": 0, "layer": 5}]}))).encode()
    else:
        try:
            config = json.loads(current.rstrip(b"\0"))
        except Exception:  # noqa: BLE001
            config = {}
        if isinstance(config, dict) and config.get("ops") and isinstance(config["ops"], list):
            record = rng.choice(config["ops"])
            if isinstance(record, dict) and record:
                key = rng.choice(sorted(record))
                record[key] = _random_value(rng, record[key])
        elif isinstance(config, dict) and config:
            config[rng.choice(sorted(config))] = _random_value(rng, 0)
        payload = json.dumps(config, allow_nan=True).encode()
        if kind == 7:
            payload = mutate_bytes(payload, rng)
    set_metadata(model_t, "UNIT_METADATA", payload)


def _mutate_tensor(model_t: Any, t: Any, rng: random.Random) -> None:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    kind = rng.randrange(9)
    shape = [int(d) for d in (t.shape if t.shape is not None else [])]
    if kind == 0 and shape:
        shape[rng.randrange(len(shape))] = rng.choice(_INTERESTING_INTS + [s + 1 for s in shape])
        t.shape = np.asarray(shape, dtype=np.int32)
    elif kind == 1:
        if shape and rng.random() < 0.5:
            del shape[rng.randrange(len(shape))]
        else:
            shape.insert(rng.randrange(len(shape) + 1), rng.choice((1, 2, 3)))
        t.shape = np.asarray(shape, dtype=np.int32)
    elif kind == 2:
        t.type = rng.choice([v for k, v in vars(schema.TensorType).items() if not k.startswith("_")] + [99])
    elif kind == 3:
        t.buffer = rng.choice((0, 1, len(model_t.buffers) - 1, len(model_t.buffers), rng.randrange(len(model_t.buffers))))
    elif kind in (4, 5):
        q = t.quantization if t.quantization is not None else schema.QuantizationParametersT()
        which = rng.randrange(5)
        n = len(q.scale) if q.scale is not None else 1
        if which == 0:
            q.scale = np.asarray([rng.choice(_INTERESTING_FLOATS) for _ in range(max(n, 1))], np.float32)
        elif which == 1:
            q.zeroPoint = np.asarray([rng.choice(_INTERESTING_INTS) for _ in range(max(n, 1))], np.int64)
        elif which == 2:
            q.quantizedDimension = rng.choice((0, 1, 2, 3, 4, -1, 100))
        elif which == 3:
            m = rng.choice((0, 1, 2, n + 1, 1000))
            q.scale = np.full(m, 0.01, np.float32)
        else:
            q = None
        t.quantization = q
    elif kind == 6 and 0 < t.buffer < len(model_t.buffers):
        buf = model_t.buffers[t.buffer]
        raw = bytes(bytearray(buf.data if buf.data is not None else b""))
        choice = rng.randrange(4)
        if choice == 0:
            raw = raw[: rng.randrange(len(raw) + 1)]
        elif choice == 1:
            raw = raw + bytes(rng.choice((1, 3, 4, 16)))
        elif choice == 2:
            arr = np.frombuffer(raw[: len(raw) // 4 * 4], dtype=np.float32).copy()
            if arr.size:
                arr[rng.randrange(arr.size)] = rng.choice(_INTERESTING_FLOATS)
            raw = arr.tobytes() + raw[len(raw) // 4 * 4:]
        else:
            raw = mutate_bytes(raw, rng) if raw else raw
        buf.data = np.frombuffer(raw, dtype=np.uint8) if raw else None
    elif kind == 7:
        t.isVariable = not bool(t.isVariable)
    else:
        t.shape = np.asarray([rng.choice((1, 2, 1 << 20, (1 << 31) - 1)) for _ in range(rng.choice((0, 1, 4, 9)))],
                             dtype=np.int32)


def mutate_model(data: bytes, rng: random.Random) -> Optional[bytes]:
    """A schema-level mutation (None when the mutated object cannot be packed:
    the flatbuffers builder itself refuses it, which is not an input)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    from tflm_unit.runtime.model import pack_model, unpack_model

    model_t = unpack_model(data)
    sub = model_t.subgraphs[0]
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        area = rng.randrange(10)
        ops = sub.operators or []
        if area in (0, 1) and sub.tensors:
            _mutate_tensor(model_t, rng.choice(sub.tensors), rng)
        elif area == 2 and ops:
            op = rng.choice(ops)
            field_name = rng.choice(("inputs", "outputs"))
            values = [int(v) for v in (getattr(op, field_name) if getattr(op, field_name) is not None else [])]
            choice = rng.randrange(4)
            if choice == 0 and values:
                values[rng.randrange(len(values))] = rng.choice((-1, -2, len(sub.tensors), 1 << 20,
                                                                rng.randrange(len(sub.tensors))))
            elif choice == 1 and values:
                del values[rng.randrange(len(values))]
            elif choice == 2:
                values.append(rng.choice((-1, rng.randrange(len(sub.tensors)))))
            else:
                rng.shuffle(values)
            setattr(op, field_name, np.asarray(values, dtype=np.int32))
        elif area == 3 and ops:
            op = rng.choice(ops)
            if rng.random() < 0.5:
                code = schema.OperatorCodeT()
                code.builtinCode = rng.choice([schema.BuiltinOperator.ADD, schema.BuiltinOperator.CONV_2D,
                                               schema.BuiltinOperator.DEPTHWISE_CONV_2D, schema.BuiltinOperator.MEAN,
                                               schema.BuiltinOperator.FULLY_CONNECTED, schema.BuiltinOperator.PAD,
                                               schema.BuiltinOperator.SOFTMAX, schema.BuiltinOperator.RESHAPE,
                                               schema.BuiltinOperator.CONCATENATION, schema.BuiltinOperator.QUANTIZE,
                                               schema.BuiltinOperator.MAX_POOL_2D, schema.BuiltinOperator.CUSTOM,
                                               schema.BuiltinOperator.DEQUANTIZE, 150, 250])
                code.deprecatedBuiltinCode = min(code.builtinCode, 127)
                code.version = 1
                if code.builtinCode == schema.BuiltinOperator.CUSTOM:
                    code.customCode = rng.choice(("UNIT_CONV_2D", "UNIT_DEPTHWISE_CONV_2D", "UNIT_FULLY_CONNECTED",
                                                  "OTHER"))
                model_t.operatorCodes.append(code)
                op.opcodeIndex = len(model_t.operatorCodes) - 1
            else:
                op.opcodeIndex = rng.choice((0, len(model_t.operatorCodes), rng.randrange(len(model_t.operatorCodes))))
        elif area == 4 and ops:
            op = rng.choice(ops)
            if op.customOptions is not None and len(op.customOptions):
                _mutate_custom_options(op, rng)
            else:
                _mutate_builtin_options(model_t, op, rng)
        elif area == 5 and ops:
            _mutate_custom_options(rng.choice(ops), rng)
        elif area == 6:
            _mutate_metadata(model_t, rng)
        elif area == 7:
            field_name = rng.choice(("inputs", "outputs"))
            values = [int(v) for v in getattr(sub, field_name)]
            if values and rng.random() < 0.7:
                values[rng.randrange(len(values))] = rng.choice((-1, len(sub.tensors), rng.randrange(len(sub.tensors))))
            else:
                values.append(rng.randrange(len(sub.tensors)))
            setattr(sub, field_name, np.asarray(values, dtype=np.int32))
        elif area == 8 and ops:
            choice = rng.randrange(3)
            if choice == 0:
                del ops[rng.randrange(len(ops))]
            elif choice == 1:
                ops.insert(rng.randrange(len(ops) + 1), rng.choice(ops))
            else:
                i, j = rng.randrange(len(ops)), rng.randrange(len(ops))
                ops[i], ops[j] = ops[j], ops[i]
        elif area == 9 and model_t.buffers:
            buf = rng.choice(model_t.buffers)
            choice = rng.randrange(3)
            if choice == 0:
                buf.data = None
            elif choice == 1:
                buf.offset, buf.size = rng.choice(((2, 8), (1 << 20, 4), (16, 1 << 30), (0, 100)))
                buf.data = None
            elif buf.data is not None:
                buf.data = np.frombuffer(mutate_bytes(bytes(bytearray(buf.data)), rng) or b"\0", dtype=np.uint8)
    try:
        return pack_model(model_t)
    except Exception:  # noqa: BLE001 - the builder refused the object (e.g. a value outside the field's type)
        return None


def make_input(seeds: List[Tuple[str, bytes]], seed: int, index: int) -> Tuple[str, str, bytes]:
    """Input ``index`` of the run ``seed``: (seed name, mutation kind, bytes); deterministic."""
    rng = random.Random(seed * 1_000_003 + index)
    name, data = seeds[rng.randrange(len(seeds))]
    for _ in range(8):
        if rng.random() < 0.35:
            return name, "bytes", mutate_bytes(data, rng)
        mutated = mutate_model(data, rng)
        if mutated is not None:
            return name, "schema", mutated
    return name, "bytes", mutate_bytes(data, rng)


# =============================================================================== worker side


def _classify(exc: BaseException) -> str:
    from tflm_unit.errors import TflmUnitError

    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, TflmUnitError):
        return f"project:{type(exc).__name__}"
    return f"escape:{type(exc).__name__}"


def _inference(data: bytes) -> Optional[str]:
    """One inference on random inputs of the declared shapes; a description of
    any output that contradicts its declared shape / dtype (or is not finite)."""
    from tflm_unit.runtime import Interpreter

    interp = Interpreter(data)
    rng = np.random.default_rng(0)
    inputs = []
    for t in interp.input_details:
        shape = tuple(t.shape) if t.shape else (1,)
        if t.dtype == np.float32:
            inputs.append(rng.uniform(0, 1, size=shape).astype(np.float32))
        elif t.dtype is not None and np.dtype(t.dtype).kind in "iu":
            info = np.iinfo(t.dtype)
            inputs.append(rng.integers(max(info.min, -128), min(info.max, 127) + 1, size=shape).astype(t.dtype))
        else:
            inputs.append(np.zeros(shape, dtype=t.dtype or np.float32))
    result = interp.run(inputs)
    for t, y in zip(interp.output_details, result.outputs):
        expected = (inputs[0].shape[0],) + tuple(t.shape[1:]) if t.shape else ()
        if y.shape != expected or y.dtype != t.dtype:
            return f"output '{t.name}': {y.shape} {y.dtype}, declared {tuple(t.shape)} {t.type_name}"
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            return f"output '{t.name}' is not finite"
    return None


def _entry_points(work_dir: str) -> Dict[str, Callable[[bytes], Optional[str]]]:
    from tflm_unit.converter import apply_thresholds, export_c, read_unit_config, to_builtin
    from tflm_unit.converter.report import inspect_model
    from tflm_unit.resources import tflite_resources
    from tflm_unit.runtime import load_graph

    def run_export(data: bytes) -> None:
        out = os.path.join(work_dir, "export")
        try:
            export_c(data, out, name="fuzz")
        finally:
            if os.path.isdir(out):
                for f in os.listdir(out):
                    os.unlink(os.path.join(out, f))

    def run_apply(data: bytes) -> None:
        apply_thresholds(data, 0.05, allow_float=True)

    return {
        "load_graph": lambda d: load_graph(d) and None,
        "inference": _inference,
        "read_unit_config": lambda d: read_unit_config(d) and None,
        "to_builtin": lambda d: to_builtin(d) and None,
        "apply_thresholds": run_apply,
        "inspect_model": lambda d: json.dumps(inspect_model(d)) and None,
        "export_c": run_export,
        "tflite_resources": lambda d: tflite_resources(d) and None,
    }


def worker_main(memory_mb: int) -> None:
    """Read inputs (length-prefixed) on stdin, write one JSON line each on stdout."""
    import resource

    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.setrecursionlimit(10000)
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    work_dir = tempfile.mkdtemp(prefix="tflm_unit_fuzz_worker_")
    entries = _entry_points(work_dir)
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while True:
        header = stdin.read(4)
        if len(header) < 4:
            return
        (size,) = struct.unpack("<I", header)
        data = stdin.read(size)
        results = {}
        for name, fn in entries.items():
            try:
                problem = fn(data)
                results[name] = ["wrong_answer", problem] if problem else ["ok", ""]
            except BaseException as exc:  # noqa: BLE001 - classifying is the point
                if isinstance(exc, KeyboardInterrupt):
                    raise
                detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
                results[name] = [_classify(exc), detail[-3000:]]
        stdout.write(json.dumps(results) + "\n")
        stdout.flush()


# =============================================================================== parent side


class Worker:
    """One worker subprocess; restarted after a crash or a timeout."""

    def __init__(self, memory_mb: int):
        self.memory_mb = memory_mb
        self.proc: Optional[subprocess.Popen] = None
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()

    def _start(self) -> None:
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker",
                                      "--memory-mb", str(self.memory_mb)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env)
        self.lines = queue.Queue()
        proc, lines = self.proc, self.lines

        def reader() -> None:
            for line in proc.stdout:
                lines.put(line.decode())
            lines.put(None)

        threading.Thread(target=reader, daemon=True).start()

    def run(self, data: bytes, timeout: float) -> Tuple[str, Any]:
        """("done", results) or ("crash", returncode) or ("timeout", None)."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        try:
            self.proc.stdin.write(struct.pack("<I", len(data)) + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            code = self.proc.wait()
            self.proc = None
            return "crash", code
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            return "timeout", None
        if line is None:
            code = self.proc.wait()
            self.proc = None
            return "crash", code
        return "done", json.loads(line)

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None


def _save(out_dir: str, index: int, category: str, data: bytes, info: Dict[str, Any]) -> None:
    repro = os.path.join(out_dir, "reproducers")
    os.makedirs(repro, exist_ok=True)
    stem = os.path.join(repro, f"{index:07d}_{category.replace(':', '_')}")
    with open(stem + ".tflite", "wb") as f:
        f.write(data)
    with open(stem + ".json", "w") as f:
        json.dump(info, f, indent=1)


def _git_commit() -> Optional[str]:
    """The commit the fuzzed code is at (None outside a git checkout): a count means nothing without it."""
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.abspath(__file__)), timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def fuzz(count: int, seed: int = 0, jobs: int = 1, out_dir: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT,
         memory_mb: int = DEFAULT_MEMORY_MB, seeds_dir: Optional[str] = None, start: int = 0,
         progress: bool = False, max_seconds: Optional[float] = None) -> Dict[str, Any]:
    """Run inputs ``start .. start + count - 1`` (in order; with ``max_seconds``,
    no new input starts after that budget); returns (and writes
    ``out_dir/fuzz_results.json``) the counts."""
    seeds = sorted(seed_models(seeds_dir).items())
    out_dir = out_dir or tempfile.mkdtemp(prefix="tflm_unit_fuzz_")
    os.makedirs(out_dir, exist_ok=True)
    per_input: Counter = Counter()  # worst outcome per input
    per_entry: Dict[str, Counter] = {name: Counter() for name in ENTRY_POINTS}
    kinds: Counter = Counter()
    bad: List[Dict[str, Any]] = []
    lock = threading.Lock()
    todo: "queue.Queue[int]" = queue.Queue()
    for i in range(start, start + count):
        todo.put(i)
    t0 = time.time()
    done = [0]

    def record(index: int, seed_name: str, kind: str, data: bytes, status: str, payload: Any) -> None:
        with lock:
            kinds[kind] += 1
            if status != "done":
                category = status if status in ("timeout", "harness_error") else \
                    ("memory" if payload in (-9,) else "crash")
                per_input[category] += 1
                info = {"index": index, "seed": seed_name, "mutation": kind, "outcome": category,
                        "returncode": payload}
                bad.append(info)
                _save(out_dir, index, category, data, info)
            else:
                worst = "ok"
                for name, (outcome, detail) in payload.items():
                    per_entry[name][outcome] += 1
                    if outcome.split(":")[0] in BAD_OUTCOMES:
                        info = {"index": index, "seed": seed_name, "mutation": kind, "entry": name,
                                "outcome": outcome, "detail": detail}
                        bad.append(info)
                        _save(out_dir, index, f"{outcome}_{name}", data, info)
                        worst = outcome
                    elif worst == "ok" and outcome != "ok":
                        worst = outcome
                per_input[worst] += 1
            done[0] += 1
            if progress and done[0] % 500 == 0:
                rate = done[0] / (time.time() - t0)
                print(f"{done[0]} inputs, {rate:.1f}/s, bad {len(bad)}", file=sys.stderr, flush=True)

    def work() -> None:
        worker = Worker(memory_mb)
        try:
            while True:
                if max_seconds is not None and time.time() - t0 > max_seconds:
                    return
                try:
                    index = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    seed_name, kind, data = make_input(seeds, seed, index)
                except Exception:  # noqa: BLE001 - a bug of the mutator itself: counted, never silent
                    seed_name, kind, data = "?", "mutator", b""
                    status, payload = "harness_error", traceback.format_exc()[-3000:]
                else:
                    status, payload = worker.run(data, timeout)
                record(index, seed_name, kind, data, status, payload)
        finally:
            worker.stop()

    threads = [threading.Thread(target=work) for _ in range(max(1, jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    summary = {
        "inputs": done[0], "requested": count, "seed": seed, "start": start, "jobs": jobs, "seconds": round(elapsed, 1),
        "inputs_per_second": round(done[0] / elapsed, 2) if elapsed else None,
        "timeout_seconds": timeout, "memory_mb": memory_mb, "seeds": [name for name, _ in seeds],
        "mutations": dict(kinds),
        "outcomes": dict(sorted(per_input.items())),
        "per_entry_point": {name: dict(sorted(c.items())) for name, c in per_entry.items()},
        "bad": len(bad),
        "bad_counts": dict(Counter(b["outcome"] if "entry" not in b else f"{b['entry']}:{b['outcome']}"
                                   for b in bad)),
        "out_dir": out_dir,
        "commit": _git_commit(),
    }
    with open(os.path.join(out_dir, "fuzz_results.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    return summary


def merge_summaries(summaries: List[Dict[str, Any]], commit: Optional[str] = None) -> Dict[str, Any]:
    """One summary of runs over disjoint input ranges of one seed (e.g. chunks
    run by several processes): counts added, ranges listed."""
    seeds = {s["seed"] for s in summaries}
    if len(seeds) != 1:
        raise ValueError(f"summaries of different seeds {sorted(seeds)}")
    ranges = sorted((s["start"], s["start"] + s["inputs"]) for s in summaries)
    if any(a[1] > b[0] for a, b in zip(ranges, ranges[1:])):
        raise ValueError(f"overlapping input ranges {ranges}")

    def add(key: str) -> Dict[str, int]:
        total: Counter = Counter()
        for s in summaries:
            total.update(s[key])
        return dict(sorted(total.items()))

    per_entry: Dict[str, Counter] = {name: Counter() for name in ENTRY_POINTS}
    for s in summaries:
        for name, counts in s["per_entry_point"].items():
            per_entry[name].update(counts)
    outcomes = add("outcomes")
    bad_classes = {k: v for k, v in outcomes.items() if k.split(":")[0] in BAD_OUTCOMES}
    return {
        "inputs": sum(s["inputs"] for s in summaries), "seed": seeds.pop(), "input_ranges": ranges,
        "runs": len(summaries), "commit": commit,
        "process_seconds": round(sum(s["seconds"] for s in summaries), 1),
        "timeout_seconds": summaries[0]["timeout_seconds"], "memory_mb": summaries[0]["memory_mb"],
        "seeds": summaries[0]["seeds"], "mutations": add("mutations"), "outcomes": outcomes,
        "per_entry_point": {name: dict(sorted(c.items())) for name, c in per_entry.items()},
        "bad": sum(s["bad"] for s in summaries), "bad_counts": add("bad_counts"),
        "goal": {cls: bad_classes.get(cls, 0) for cls in ("crash", "timeout", "memory", "wrong_answer")}
                | {"escape (non-project exception)": sum(v for k, v in outcomes.items() if k.startswith("escape:"))},
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="first input index (to resume a run)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", default=None)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per input")
    parser.add_argument("--memory-mb", type=int, default=DEFAULT_MEMORY_MB, help="address-space cap per worker")
    parser.add_argument("--seeds-dir", default=None, help="seed cache directory")
    parser.add_argument("--max-seconds", type=float, default=None, help="start no new input after this budget")
    parser.add_argument("--merge", nargs="+", metavar="RESULTS_JSON", default=None,
                        help="merge the fuzz_results.json of runs over disjoint ranges into --out (a .json file)")
    parser.add_argument("--commit", default=None, help="with --merge: the commit the runs tested")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.memory_mb)
        return 0
    if args.merge:
        summaries = []
        for path in args.merge:
            with open(path) as f:
                summaries.append(json.load(f))
        merged = merge_summaries(summaries, args.commit)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(merged, f, indent=1, sort_keys=True)
                f.write("\n")
        print(json.dumps({k: merged[k] for k in ("inputs", "outcomes", "bad", "goal")}, indent=1))
        return 1 if merged["bad"] else 0
    if args.count < 1 or args.jobs < 1:
        parser.error("--count and --jobs must be >= 1")
    summary = fuzz(args.count, args.seed, args.jobs, args.out, args.timeout, args.memory_mb, args.seeds_dir,
                   args.start, progress=True, max_seconds=args.max_seconds)
    print(json.dumps({k: summary[k] for k in ("inputs", "seconds", "inputs_per_second", "outcomes", "bad",
                                              "bad_counts", "out_dir")}, indent=1))
    return 1 if summary["bad"] else 0


if __name__ == "__main__":
    sys.exit(main())
