"""The ``UNIT_METADATA`` model-metadata entry: UTF-8 JSON describing how a
model was made UnIT (DESIGN.md section 5).

Top-level keys: ``format_version``, ``package``, ``package_version``,
``model_type`` ("int8" or "float32"), ``division``, ``group_size`` (as
requested; null = one group per layer), ``macs_total``, ``ops`` (one record
per MAC op: ``op_index``, ``op``, ``builtin_version``, ``layer``, ``output``,
``channels``, ``group_size``, ``num_groups``, ``thresholds_real``,
``thresholds_int`` (null for float models), ``macs``), ``calibration`` and
``resources`` (dicts given by the caller, or null).
"""
from __future__ import annotations

import json
from typing import Any, Dict, Optional, Union

import numpy as np

from tflm_unit.runtime.model import UNIT_METADATA_NAME, ModelFormatError, load_graph

METADATA_FORMAT_VERSION = 1


def to_json_value(value: Any) -> Any:
    """Plain JSON types for NumPy scalars/arrays and tuples (recursively)."""
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_json_value(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"metadata values must be finite, got {value}")
        return value
    if value is None or isinstance(value, (str, int)):
        return value
    raise ValueError(f"cannot store a {type(value).__name__} in the UnIT metadata")


def encode_unit_config(config: Dict[str, Any]) -> bytes:
    return json.dumps(config, sort_keys=True, allow_nan=False).encode("utf-8")


def read_unit_config(model: Union[bytes, str]) -> Optional[Dict[str, Any]]:
    """The UNIT_METADATA dict of a model (bytes or path), exactly as written;
    None when the model has none."""
    graph = load_graph(model)
    raw = graph.metadata.get(UNIT_METADATA_NAME)
    if raw is None:
        return None
    try:
        config = json.loads(raw.rstrip(b"\0").decode("utf-8"), parse_constant=_non_finite)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{UNIT_METADATA_NAME} is not UTF-8 JSON: {exc}") from None
    except RecursionError:  # the decoder's own depth limit (nesting no writer of ours produces)
        raise ModelFormatError(f"{UNIT_METADATA_NAME} is nested too deeply") from None
    if not isinstance(config, dict):
        raise ModelFormatError(f"{UNIT_METADATA_NAME} must be a JSON object")
    _check_op_records(config, len(graph.operators))
    return config


def _non_finite(name: str) -> float:
    """json's hook for NaN / Infinity, which no writer of ours emits (allow_nan=False)."""
    raise ModelFormatError(f"{UNIT_METADATA_NAME} holds {name}, which is not a JSON number")


def _check_op_records(config: Dict[str, Any], num_ops: int) -> None:
    """The ``ops`` records every reader indexes by (op_index, builtin_version,
    op, layer, output): typed and in range, so readers can trust them."""
    ops = config.get("ops", [])
    if not isinstance(ops, list):
        raise ModelFormatError(f"{UNIT_METADATA_NAME}: 'ops' must be a list, got {type(ops).__name__}")
    for k, record in enumerate(ops):
        where = f"{UNIT_METADATA_NAME}: ops[{k}]"
        if not isinstance(record, dict):
            raise ModelFormatError(f"{where} must be an object, got {type(record).__name__}")
        for key, lo, hi in (("op_index", 0, num_ops - 1), ("builtin_version", 1, (1 << 31) - 1)):
            value = record.get(key)
            if value is None and key == "builtin_version":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ModelFormatError(f"{where}: '{key}' = {value!r} must be an integer in [{lo}, {hi}]")
        for key in ("op", "layer", "output"):  # the converter writes op and layer always
            if (key in record or key != "output") and not isinstance(record.get(key), str):
                raise ModelFormatError(f"{where}: '{key}' must be a string, got {type(record.get(key)).__name__}")
