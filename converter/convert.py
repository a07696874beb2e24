"""``convert``: a model → int8 ``.tflite`` whose MAC ops are UNIT_* custom ops
with thresholds, plus the ``UNIT_METADATA`` entry.

Thresholds are given as real values (the calibration step produces them) and
turned into int16 T_q here with each op's input scale and per-channel weight
scales (:func:`tflm_unit.unit.thresholds.quantize_thresholds`).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

import tflm_unit
from tflm_unit.converter.errors import ConversionError, ModelFormatError, UnsupportedModelError
from tflm_unit.converter.files import write_file_atomic
from tflm_unit.converter.metadata import (
    METADATA_FORMAT_VERSION,
    encode_unit_config,
    read_unit_config,
    to_json_value,
)
from tflm_unit.converter.quantize import DEFAULT_CALIBRATION_SAMPLES, model_to_int8
from tflm_unit.converter.rewrite import (
    BUILTIN_NAME_OF,
    DEFAULT_BUILTIN_VERSIONS,
    UNIT_NAME_OF,
    UnitSetting,
    fold_dynamic_reshapes,
    make_unit_op,
    remove_unused,
    set_metadata,
)
from tflm_unit.core.kernels import DIVISION_MODES, FLOAT_DIVISION_MODES
from tflm_unit.inputs import InputRange
from tflm_unit.runtime.model import UNIT_METADATA_NAME, ModelGraph, Operator, load_graph, pack_model, read_model_bytes
from tflm_unit.unit.thresholds import dequantize_thresholds, quantize_thresholds

ThresholdValue = Union[float, Sequence[float], np.ndarray]
Thresholds = Union[None, float, Mapping[Union[str, int], ThresholdValue]]
GroupSize = Union[None, int, Mapping[Union[str, int], Optional[int]]]
#: A layout for every op that has it, or {op index: layout} (rewrite.set_layouts).
Layouts = Union[None, str, Mapping[int, str]]

DEFAULT_DIVISION = "shift"
DEFAULT_FLOAT_DIVISION = "bitmask"


@dataclass
class MacOp:
    """A CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED (or its UNIT_* form)
    and what the rewrite needs to know about it."""

    index: int
    base: str  # builtin name
    layer: str  # the Keras layer it came from (best effort from tensor names)
    output: str
    components: List[str]  # name parts of its output and filter tensors, for matching
    channels: int
    float_model: bool
    input_scale: float
    weight_scales: np.ndarray
    builtin_version: int
    current: Optional[Dict[str, Any]] = field(default=None)  # its record in the old metadata


def _name_components(tensor_name: str) -> List[str]:
    """'net/bn/FusedBatchNormV3;net/c1/Conv2D' → ['c1', 'Conv2D', 'bn', 'FusedBatchNormV3']:
    the parts of each fused name, the model's scope dropped, the last name
    first (TensorFlow lists the op that produced the tensor last)."""
    parts: List[str] = []
    for piece in reversed([p for p in tensor_name.split(";") if p]):
        path = piece.split("/")
        parts.extend(path[1:] if len(path) > 1 else path)
    return parts


def _strip_copy_suffix(name: str) -> str:
    """Keras 3 traces layers under scopes such as 'c1_1' for layer 'c1'."""
    return re.sub(r"_\d+$", "", name)


class KerasLayerName(str):
    """A Keras MAC layer's name (a plain ``str``), carrying what identifies
    its op in the converted graph: the op kind and the kernel in TFLite's
    filter layout (None when unknown)."""

    kind: str
    kernel: Optional[np.ndarray]

    def __new__(cls, name: str, kind: str = "", kernel: Optional[np.ndarray] = None) -> "KerasLayerName":
        value = super().__new__(cls, name)
        value.kind = kind
        value.kernel = kernel
        return value


def _tflite_kernels(layer: Any) -> List[Tuple[str, str, Optional[np.ndarray]]]:
    """(name, op kind, kernel in TFLite layout) of the MAC ops a Keras layer becomes."""
    classes = {cls.__name__ for cls in type(layer).__mro__}
    weights = {}
    for w in getattr(layer, "weights", []):
        short = w.name.split("/")[-1].split(":")[0]
        weights[short] = np.asarray(w.numpy() if hasattr(w, "numpy") else w)

    def get(key: str) -> Optional[np.ndarray]:
        return weights.get(key)

    if classes & {"Conv2DTranspose", "Conv1DTranspose", "Conv3D", "Conv3DTranspose"}:
        return []
    if "SeparableConv2D" in classes:
        dw, pw = get("depthwise_kernel"), get("pointwise_kernel")
        return [(f"{layer.name}/depthwise", "DEPTHWISE_CONV_2D",
                 None if dw is None else dw.reshape((1,) + dw.shape[:2] + (-1,))),
                (f"{layer.name}/pointwise", "CONV_2D", None if pw is None else pw.transpose(3, 0, 1, 2))]
    if "DepthwiseConv2D" in classes:
        k = get("kernel")
        if k is None:
            k = get("depthwise_kernel")
        return [(layer.name, "DEPTHWISE_CONV_2D", None if k is None else k.reshape((1,) + k.shape[:2] + (-1,)))]
    if "Conv2D" in classes:
        k = get("kernel")
        return [(layer.name, "CONV_2D", None if k is None else k.transpose(3, 0, 1, 2))]
    if "Conv1D" in classes:
        k = get("kernel")
        return [(layer.name, "CONV_2D", None if k is None else k.transpose(2, 0, 1)[:, None])]
    if "Dense" in classes:
        k = get("kernel")
        return [(layer.name, "FULLY_CONNECTED", None if k is None or k.ndim != 2 else k.T)]
    return []


def keras_layer_names(model: Any) -> List[KerasLayerName]:
    """The Keras layers (nested models included) that become MAC ops, as
    :class:`KerasLayerName` (the layer's name, with its kernel so that the
    converter can find its op by weights, not by TensorFlow's scope names)."""
    names: List[KerasLayerName] = []
    for layer in getattr(model, "layers", []):
        names.extend(KerasLayerName(name, kind, kernel) for name, kind, kernel in _tflite_kernels(layer))
        if hasattr(layer, "layers"):
            names.extend(keras_layer_names(layer))
    return names


#: The same list under the name that says what it holds.
keras_mac_layers = keras_layer_names


def _guess_layer(graph: ModelGraph, op: Operator, components: List[str], known: Sequence[str]) -> str:
    known_set = set(known)
    for name in components:
        if name in known_set:
            return name
    for name in components:
        if _strip_copy_suffix(name) in known_set:
            return _strip_copy_suffix(name)
    pieces = [p for p in graph.tensor(op.inputs[1]).name.split(";") if p]
    path = pieces[-1].split("/") if pieces else []
    if len(path) >= 3:
        return path[-2]  # 'model/layer/Conv2D' → 'layer'
    return graph.tensor(op.outputs[0]).name or f"op{op.index}"


def _real_filter(graph: ModelGraph, op: Operator, base: str) -> Optional[np.ndarray]:
    """The op's filter as real values (dequantised per channel), or None."""
    tensor = graph.tensor(op.inputs[1])
    if tensor.data is None:
        return None
    data = np.asarray(tensor.data, dtype=np.float64)
    if tensor.dtype == np.float32 or tensor.scale.size == 0:
        return data
    axis = data.ndim - 1 if base == "DEPTHWISE_CONV_2D" else 0
    shape = [1] * data.ndim
    if tensor.scale.size > 1:
        shape[axis] = -1
    scale = np.asarray(tensor.scale, dtype=np.float64).reshape(shape)
    zero = np.asarray(tensor.zero_point, dtype=np.float64).reshape(shape) if tensor.zero_point.size > 1 else \
        float(tensor.scalar_zero_point())
    return (data - zero) * scale


def _similarity(filt: np.ndarray, kernel: np.ndarray, base: str) -> float:
    """Mean |cosine| per output channel of two filters (invariant to the
    per-channel scaling a folded BatchNorm applies)."""
    axis = filt.ndim - 1 if base == "DEPTHWISE_CONV_2D" else 0
    a = np.moveaxis(filt, axis, 0).reshape(filt.shape[axis], -1)
    b = np.moveaxis(kernel.astype(np.float64), axis, 0).reshape(filt.shape[axis], -1)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    valid = norms > 0
    if not np.any(valid):
        return 0.0
    return float(np.mean(np.abs(np.sum(a * b, axis=1)[valid]) / norms[valid]))


def _match_layers(graph: ModelGraph, ops: Sequence[Tuple[Operator, str, List[str]]],
                  known: Sequence[str]) -> Dict[int, str]:
    """{op index: Keras layer name} for ops whose filter matches a known
    layer's kernel (same kind, same shape, most similar weights), each layer
    used once; the name TensorFlow's scopes suggest breaks ties."""
    layers = [k for k in known if isinstance(k, KerasLayerName) and k.kernel is not None]
    if not layers:
        return {}
    scored = []
    for op, base, components in ops:
        filt = _real_filter(graph, op, base)
        if filt is None:
            continue
        guess = _guess_layer(graph, op, components, known)
        for j, layer in enumerate(layers):
            if layer.kind != base or tuple(layer.kernel.shape) != tuple(filt.shape):
                continue
            score = _similarity(filt, layer.kernel, base) + (1e-3 if str(layer) == guess else 0.0)
            scored.append((score, op.index, j))
    result: Dict[int, str] = {}
    used = set()
    for score, op_index, j in sorted(scored, key=lambda t: (-t[0], t[1], t[2])):
        if op_index in result or j in used or score < 0.5:
            continue
        result[op_index] = str(layers[j])
        used.add(j)
    return result


def _unique(names: Dict[int, str]) -> Dict[int, str]:
    """Layer labels made unique: a repeated label gets its op index appended."""
    counts: Dict[str, int] = {}
    for name in names.values():
        counts[name] = counts.get(name, 0) + 1
    taken = set(names.values())
    result = {}
    for index, name in names.items():
        if counts[name] > 1:
            candidate = f"{name}_op{index}"
            while candidate in taken:
                candidate += "_"
            taken.add(candidate)
            name = candidate
        result[index] = name
    return result


def weight_scales_of(scale: np.ndarray) -> np.ndarray:
    """Per-channel scales as a 1-D array; a per-tensor scale as a 0-D array
    (quantize_thresholds then needs the channel count, not C scales)."""
    scale = np.asarray(scale, dtype=np.float64)
    return scale.reshape(()) if scale.size == 1 else scale


def describe_mac_ops(graph: ModelGraph, known_layers: Sequence[str] = (),
                     old_config: Optional[Dict[str, Any]] = None) -> List[MacOp]:
    """The model's MAC ops, with their layer names and quantisation."""
    old_ops = {int(r["op_index"]): r for r in (old_config or {}).get("ops", [])}
    opcode_versions = [int(code.version) for code in graph.model.operatorCodes]
    found: List[Tuple[Operator, str, List[str]]] = []
    for op in graph.operators:
        base = BUILTIN_NAME_OF.get(op.name, op.name) if op.is_unit else op.name
        if base not in UNIT_NAME_OF or (op.is_custom and not op.is_unit):
            continue
        if len(op.inputs) < 2:
            raise ModelFormatError(f"operator {op.index} ({op.name}) has no filter input")
        filt, out = graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
        found.append((op, base, _name_components(filt.name) + _name_components(out.name)))  # filter first
    records: Dict[int, Optional[Dict[str, Any]]] = {}
    for op, base, _ in found:
        record = old_ops.get(op.index)
        if record is not None and record.get("op") not in (op.name, UNIT_NAME_OF[base]):
            record = None
        records[op.index] = record
    matched = _match_layers(graph, [f for f in found if records[f[0].index] is None], known_layers)
    labels = _unique({op.index: records[op.index]["layer"] if records[op.index] else  # type: ignore[index]
                      matched.get(op.index) or _guess_layer(graph, op, components, known_layers)
                      for op, base, components in found})
    result: List[MacOp] = []
    for op, base, components in found:
        inp, filt, out = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1]), graph.tensor(op.outputs[0])
        record = records[op.index]
        layer = labels[op.index]
        channels = int(filt.shape[-1] if base == "DEPTHWISE_CONV_2D" else filt.shape[0])
        float_model = inp.dtype == np.float32
        if not float_model and (inp.dtype != np.int8 or filt.dtype != np.int8 or out.dtype != np.int8):
            raise ConversionError(
                f"operator {op.index} ({op.name}, layer '{layer}') is not full-integer int8 (input "
                f"{inp.type_name}, filter {filt.type_name}, output {out.type_name}); convert the model with "
                f"representative data to a full-integer int8 model")
        if float_model and filt.dtype != np.float32:
            raise ConversionError(f"operator {op.index} ({op.name}, layer '{layer}') is a hybrid float/int8 op "
                                  f"(dynamic-range quantisation); UnIT needs a full-integer int8 model")
        if op.is_unit:
            version = int(record.get("builtin_version", DEFAULT_BUILTIN_VERSIONS[base])) if record else \
                DEFAULT_BUILTIN_VERSIONS[base]
        else:
            version = opcode_versions[graph.model.subgraphs[0].operators[op.index].opcodeIndex]
        result.append(MacOp(
            index=op.index, base=base, layer=layer, output=out.name, components=components,
            channels=channels, float_model=float_model,
            input_scale=float(inp.scale[0]) if inp.scale.size else 0.0,
            weight_scales=weight_scales_of(filt.scale), builtin_version=version, current=record))
    if not result:
        raise ConversionError("the model has no CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED op to make UnIT")
    return result


def _find_op(key: Union[str, int], ops: Sequence[MacOp]) -> MacOp:
    """The MAC op a user key names: an op index (int), a layer name, or a
    part of its tensor names; ConversionError if none or several match."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        matches = [op for op in ops if op.index == int(key)]
    else:
        name = str(key)
        matches = [op for op in ops if op.layer == name]
        if not matches:
            matches = [op for op in ops if name in op.components]
        if not matches:
            pattern = re.compile(re.escape(name) + r"_\d+")
            matches = [op for op in ops if any(pattern.fullmatch(c) for c in op.components)]
        if not matches and name.isdigit():
            matches = [op for op in ops if op.index == int(name)]
    if len(matches) == 1:
        return matches[0]
    listing = ", ".join(f"{op.layer} (op {op.index})" for op in ops)
    if not matches:
        raise ConversionError(f"no MAC layer named {key!r}; the model's MAC layers are: {listing}")
    raise ConversionError(f"{key!r} matches several MAC layers ({', '.join(op.layer for op in matches)}); "
                          f"use the op index")


def _per_op(spec: Any, ops: Sequence[MacOp], what: str) -> Dict[int, Any]:
    """A scalar (every op) or a dict keyed by layer/op index → {op index: value}."""
    if isinstance(spec, Mapping):
        result: Dict[int, Any] = {}
        for key, value in spec.items():
            op = _find_op(key, ops)
            if op.index in result:
                raise ConversionError(f"{what} for layer '{op.layer}' given twice")
            result[op.index] = value
        return result
    return {op.index: spec for op in ops}


def _current_real_thresholds(op: MacOp, graph: ModelGraph) -> Optional[np.ndarray]:
    """The real thresholds the op carries now (metadata first, then its tensor)."""
    if op.current is not None and op.current.get("thresholds_real") is not None:
        return np.asarray(op.current["thresholds_real"], dtype=np.float64)
    graph_op = graph.operators[op.index]
    if not graph_op.is_unit or len(graph_op.inputs) < 4:
        return None
    values = graph.tensor(graph_op.inputs[3]).data
    if values is None:
        return None
    if op.float_model:
        return values.astype(np.float64).reshape(-1)
    group = int(graph_op.custom_options.get("group_size", op.channels))
    return dequantize_thresholds(values.reshape(-1), op.input_scale, op.weight_scales, group, op.channels)


def _group_size_for(op: MacOp, requested: Optional[int], t_real: Any) -> int:
    t = np.asarray(t_real, dtype=np.float64)
    if requested is None:
        if t.ndim == 1 and t.size > 1:
            if op.channels % t.size:
                raise ConversionError(f"layer '{op.layer}': {t.size} thresholds do not split its "
                                      f"{op.channels} output channels into equal groups")
            return op.channels // t.size
        return op.channels
    if isinstance(requested, bool) or not isinstance(requested, (int, np.integer)) or requested < 1:
        raise ConversionError(f"group size must be a positive integer, got {requested!r}")
    if op.channels % int(requested):
        raise ConversionError(f"group size {requested} does not divide the {op.channels} output channels of "
                              f"layer '{op.layer}'; give a divisor, or a dict of group sizes per layer")
    return int(requested)


def _thresholds_for(op: MacOp, value: Any, group_size: int) -> np.ndarray:
    """Real thresholds of one op, broadcast to its number of groups."""
    groups = op.channels // group_size
    try:
        t = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConversionError(f"layer '{op.layer}': thresholds must be numbers, got {value!r}") from None
    if t.ndim > 1:
        raise ConversionError(f"layer '{op.layer}': thresholds must be a number or a list, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ConversionError(f"layer '{op.layer}': thresholds must be finite")
    if np.any(t < 0):
        raise ConversionError(f"layer '{op.layer}': thresholds must be >= 0")
    if t.ndim == 1 and t.size != groups:
        raise ConversionError(f"layer '{op.layer}': {t.size} thresholds for {groups} groups of "
                              f"{group_size} channels")
    return np.broadcast_to(t, (groups,)).astype(np.float64)


@dataclass
class _Plan:
    op: MacOp
    group_size: int
    thresholds_real: np.ndarray
    stored: np.ndarray  # int16 T_q or float32 T


def _plan(ops: Sequence[MacOp], graph: ModelGraph, thresholds: Thresholds, group_size: GroupSize) -> List[_Plan]:
    new_values = {} if thresholds is None else _per_op(thresholds, ops, "thresholds")
    groups = _per_op(group_size, ops, "group size") if isinstance(group_size, Mapping) else \
        {op.index: group_size for op in ops}
    plans: List[_Plan] = []
    for op in ops:
        if op.index in new_values:
            value = new_values[op.index]
            size = _group_size_for(op, groups.get(op.index), value)
        else:  # keep what the op has (0 for a builtin op)
            current = _current_real_thresholds(op, graph)
            value = 0.0 if current is None else current
            size = _group_size_for(op, groups.get(op.index), value)
            if np.ndim(value) == 1 and np.size(value) != op.channels // size:
                if not np.all(value == value[0]):
                    raise ConversionError(f"layer '{op.layer}': its {np.size(value)} current thresholds do not fit "
                                          f"groups of {size} channels; give new thresholds for it")
                value = float(value[0])
        real = _thresholds_for(op, value, size)
        if op.float_model:
            stored = real.astype(np.float32)
        else:
            try:
                stored = quantize_thresholds(real, op.input_scale, op.weight_scales, size, op.channels)
            except ValueError as exc:
                raise ConversionError(f"layer '{op.layer}': {exc}") from None
        plans.append(_Plan(op, size, real, stored))
    return plans


def _check_division(division: Optional[str], float_model: bool, old: Optional[Dict[str, Any]]) -> str:
    if division is None:
        division = (old or {}).get("division") or (DEFAULT_FLOAT_DIVISION if float_model else DEFAULT_DIVISION)
    modes = FLOAT_DIVISION_MODES if float_model else DIVISION_MODES
    if division not in modes:
        kind = "float32" if float_model else "int8"
        raise ConversionError(f"unknown division {division!r} for an {kind} model; choose one of {', '.join(modes)}")
    return division


def apply_thresholds(tflite: Union[bytes, str, os.PathLike], thresholds: Thresholds = 0.0,
                     division: Optional[str] = None, group_size: GroupSize = None, *,
                     layer_names: Sequence[str] = (), calibration: Optional[Dict[str, Any]] = None,
                     resources: Optional[Dict[str, Any]] = None, allow_float: bool = False,
                     check_runtime: bool = True, input_scaling: Optional[Dict[str, Any]] = None,
                     layout: Layouts = None, layout_data: Any = None) -> bytes:
    """Rewrite an int8 ``.tflite`` (builtin or already UnIT) into UnIT form.

    thresholds: a real T for every MAC layer, a dict {layer name or op index
    → T or [T per group]} (other layers keep their current thresholds, 0 for
    builtin ops), or None (keep all).  division None keeps the model's, else
    "shift".  group_size None = one group per layer (or as many as the given
    list); an int for every layer, or a dict per layer.  calibration /
    resources / input_scaling: dicts recorded in the metadata (None keeps
    what is there).  layer_names: the Keras model's MAC layers
    (:func:`keras_mac_layers`, or just their names) to label the ops with.
    Re-running on a UnIT model replaces its thresholds in place.  layout
    (DESIGN.md §9; None keeps each op's) sets the ops' ``layout`` option as
    :func:`tflm_unit.converter.rewrite.set_layouts` does (one value or
    {op index: layout}), or ``"auto"``: per layer the layout with the fewer
    modelled MSP430 cycles (hardware multiplier) for the MACs the thresholds
    execute on ``layout_data`` (:func:`tflm_unit.converter.layouts.choose_layouts`);
    the outputs do not change.
    """
    data = fold_dynamic_reshapes(read_model_bytes(tflite))
    graph = load_graph(data)
    old_config = read_unit_config(data)
    ops = describe_mac_ops(graph, layer_names, old_config)
    float_model = ops[0].float_model
    if any(op.float_model != float_model for op in ops):
        raise ConversionError("the model mixes float32 and int8 MAC ops; UnIT needs a full-integer int8 model")
    if float_model and not allow_float:
        raise ConversionError("the .tflite is float32, not full-integer int8, and a .tflite cannot be quantised "
                              "again: convert the Keras model or SavedModel it came from (with --calib-data / "
                              "representative data), or give a full-integer int8 .tflite")
    division = _check_division(division, float_model, old_config)
    plans = _plan(ops, graph, thresholds, group_size)

    from tflm_unit.resources import tflite_resources

    macs = {i: layer.macs for i, layer in enumerate(tflite_resources(data).layers)}
    model_t = graph.model
    for plan in plans:
        make_unit_op(model_t, graph, UnitSetting(plan.op.index, plan.stored, plan.group_size, division,
                                                 plan.op.layer))
    remove_unused(model_t)
    previous = old_config or {}
    config = {
        "format_version": METADATA_FORMAT_VERSION,
        "package": "tflm-unit",
        "package_version": tflm_unit.__version__,
        "model_type": "float32" if float_model else "int8",
        "division": division,
        "group_size": None if isinstance(group_size, Mapping) else group_size,
        "macs_total": int(sum(macs.get(p.op.index, 0) for p in plans)),
        "ops": [{
            "op_index": p.op.index,
            "op": UNIT_NAME_OF[p.op.base],
            "builtin_version": p.op.builtin_version,
            "layer": p.op.layer,
            "output": p.op.output,
            "channels": p.op.channels,
            "group_size": p.group_size,
            "num_groups": int(p.stored.size),
            "thresholds_real": p.thresholds_real,
            "thresholds_int": None if float_model else p.stored,
            "macs": int(macs.get(p.op.index, 0)),
        } for p in plans],
        "calibration": calibration if calibration is not None else previous.get("calibration"),
        "resources": resources if resources is not None else previous.get("resources"),
    }
    if input_scaling is not None or previous.get("input_scaling") is not None:
        config["input_scaling"] = input_scaling if input_scaling is not None else previous.get("input_scaling")
    try:
        config = to_json_value(config)
    except ValueError as exc:
        raise ConversionError(f"cannot record the metadata: {exc}") from None
    set_metadata(model_t, UNIT_METADATA_NAME, encode_unit_config(config))
    result = pack_model(model_t)
    if layout == "auto":
        from tflm_unit.converter.layouts import auto_layouts

        result = auto_layouts(result, layout_data)
    elif layout is not None:
        from tflm_unit.converter.rewrite import set_layouts

        result = set_layouts(result, layout)
    if check_runtime:
        from tflm_unit.runtime import Interpreter

        try:
            Interpreter(result)
        except (UnsupportedModelError, ValueError) as exc:
            raise ConversionError(f"the converted model cannot run in tflm_unit.runtime: {exc}") from None
    return result


#: The same operation under the name that says what it does to the graph.
rewrite_to_unit = apply_thresholds


def convert(model: Any, representative_data: Any = None, thresholds: Thresholds = 0.0,
            division: Optional[str] = None, group_size: GroupSize = None,
            out_path: Optional[Union[str, os.PathLike]] = None, *,
            calibration: Optional[Dict[str, Any]] = None, resources: Optional[Dict[str, Any]] = None,
            num_calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES, allow_float: bool = False,
            check_runtime: bool = True, input_range: InputRange = None, layout: Layouts = None) -> bytes:
    """Keras model (tf_keras or Keras 3), ``.keras``/``.h5`` file, SavedModel
    directory or int8 ``.tflite`` (bytes or path) → UnIT int8 ``.tflite`` bytes.

    Keras and SavedModel inputs are quantised to full-integer int8 (int8
    input and output) with ``representative_data`` (array or Dataset, raw as
    stored), scaled as the model expects (DESIGN.md §9 "Input scaling"; a
    model that starts with Rescaling / Normalization gets raw values) or as
    ``input_range`` says ("raw", "0,1", (-1, 1), ...); the inference is
    recorded in the metadata under ``input_scaling``.  A ``.tflite`` is
    rewritten as it is.  See :func:`apply_thresholds` for thresholds,
    division, group_size and layout (``"auto"`` prices the layouts on
    ``representative_data``).  Writes ``out_path`` atomically when given.
    """
    int8_bytes, keras_model, scaling = model_to_int8(model, representative_data, num_calibration_samples,
                                                     input_range)
    source = model if int8_bytes is None else int8_bytes
    layers = keras_layer_names(keras_model) if keras_model is not None else ()
    result = apply_thresholds(source, thresholds, division, group_size, layer_names=layers,
                              calibration=calibration, resources=resources, allow_float=allow_float,
                              check_runtime=check_runtime, layout=layout,
                              layout_data=representative_data if layout == "auto" else None,
                              input_scaling=None if scaling is None else scaling.to_dict())
    if out_path is not None:
        write_file_atomic(out_path, result)
    return result


def int8_model(model: Any, representative_data: Any,
               num_calibration_samples: int = DEFAULT_CALIBRATION_SAMPLES, *,
               input_range: InputRange = None) -> bytes:
    """The builtin full-integer int8 ``.tflite`` that :func:`convert` starts
    from (for comparisons, or to deploy without UnIT)."""
    int8_bytes, _, _ = model_to_int8(model, representative_data, num_calibration_samples, input_range)
    if int8_bytes is None:
        return read_model_bytes(model)
    return int8_bytes
