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
    raw = load_graph(model).metadata.get(UNIT_METADATA_NAME)
    if raw is None:
        return None
    try:
        config = json.loads(raw.rstrip(b"\0").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{UNIT_METADATA_NAME} is not UTF-8 JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ModelFormatError(f"{UNIT_METADATA_NAME} must be a JSON object")
    return config
