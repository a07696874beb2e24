"""What ``tflm-unit inspect`` shows: ops with options and thresholds,
metadata, per-layer MACs, flash bytes and a peak-RAM estimate."""
from __future__ import annotations

import os
from typing import Any, Dict, Union

import numpy as np

from tflm_unit.converter.convert import weight_scales_of
from tflm_unit.converter.metadata import read_unit_config, to_json_value
from tflm_unit.converter.rewrite import BUILTIN_NAME_OF, builtin_options_dict
from tflm_unit.runtime.model import UNIT_METADATA_NAME, Tensor, load_graph, read_model_bytes
from tflm_unit.unit.thresholds import dequantize_thresholds


def _tensor_info(t: Tensor) -> Dict[str, Any]:
    return {"name": t.name, "shape": list(t.shape), "dtype": t.type_name.lower(),
            "scale": t.scale.tolist() if t.scale.size <= 1 else f"per-channel ({t.scale.size})",
            "zero_point": t.zero_point.tolist() if t.zero_point.size <= 1 else f"per-channel ({t.zero_point.size})"}


def inspect_model(model: Union[bytes, str, os.PathLike]) -> Dict[str, Any]:
    """A JSON-ready description of a ``.tflite`` (UnIT or builtin)."""
    from tflm_unit.resources import tflite_resources

    data = read_model_bytes(model)
    graph = load_graph(data)
    resources = tflite_resources(data)
    config = read_unit_config(data)
    recorded = {int(r["op_index"]): r for r in (config or {}).get("ops", [])}
    ops = []
    for op, layer in zip(graph.operators, resources.layers):
        entry: Dict[str, Any] = {
            "index": op.index, "op": op.name, "custom": op.is_custom,
            "inputs": [graph.tensor(i).name if i >= 0 else None for i in op.inputs],
            "outputs": [graph.tensor(i).name for i in op.outputs],
            "output_shape": list(graph.tensor(op.outputs[0]).shape) if op.outputs else [],
            "macs": int(layer.macs), "flash_bytes": int(layer.flash_bytes),
        }
        if op.is_unit:
            entry.update(layout=op.custom_options.get("layout", "compare"), layout_bytes=int(layer.layout_bytes),
                         layout_ram_bytes=int(layer.layout_ram_bytes),
                         scratch_bytes=int(layer.scratch_bytes), min_scratch_bytes=int(layer.min_scratch_bytes))
        if op.is_custom:
            entry["options"] = op.custom_options
        elif op.builtin_options is not None:
            try:
                entry["options"] = builtin_options_dict(op.name, op.builtin_options) if op.name in \
                    ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") else {
                        k: v for k, v in vars(op.builtin_options).items() if isinstance(v, (bool, int, float))}
            except ValueError:
                entry["options"] = {}
        if op.is_unit and len(op.inputs) > 3:
            values = graph.tensor(op.inputs[3]).data.reshape(-1)
            group = int(op.custom_options.get("group_size", 0))
            entry.update(division=op.custom_options.get("division"), group_size=group)
            if values.dtype == np.int16:
                inp, filt = graph.tensor(op.inputs[0]), graph.tensor(op.inputs[1])
                channels = int(graph.tensor(op.outputs[0]).shape[-1])
                entry["thresholds_int"] = values.tolist()
                entry["thresholds_real"] = dequantize_thresholds(
                    values, inp.scalar_scale(), weight_scales_of(filt.scale), group, channels).tolist()
            else:
                entry["thresholds_int"] = None
                entry["thresholds_real"] = values.tolist()
            if op.index in recorded:
                entry["layer"] = recorded[op.index].get("layer")
                entry["thresholds_requested"] = recorded[op.index].get("thresholds_real")
        elif op.index in recorded:
            entry["layer"] = recorded[op.index].get("layer")
        ops.append(entry)
    metadata = {name: f"{len(raw)} bytes" for name, raw in graph.metadata.items() if name != UNIT_METADATA_NAME}
    return to_json_value({
        "file_bytes": len(data),
        "unit": any(op.is_unit for op in graph.operators),
        "inputs": [_tensor_info(graph.tensor(i)) for i in graph.inputs],
        "outputs": [_tensor_info(graph.tensor(i)) for i in graph.outputs],
        "ops": ops,
        "macs_total": int(resources.macs),
        "flash_bytes": int(resources.flash_bytes),
        "peak_ram_bytes": int(resources.peak_ram_bytes),
        "peak_ram_note": "activation arena planned like TFLM's greedy planner (batch 1, 16-byte aligned); "
                         "excludes TFLM's persistent allocations and UnIT scratch",
        "unit_scratch_bytes": int(resources.unit_scratch_bytes),
        "layout_ram_bytes": int(resources.layout_ram_bytes),
        "unit_metadata": config,
        "other_metadata": metadata,
    })
