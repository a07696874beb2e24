"""Accuracy and MACs of a (UnIT) int8 model on a labelled set, per layer.

``evaluate`` is what ``tflm-unit eval MODEL.tflite --data NPZ`` reports: the
model runs on the host through the C kernel core (the same kernels the
firmware links), with the thresholds the model carries or ones given here.
"""
from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional, Union

import numpy as np

from tflm_unit.errors import DataError, OptionError
from tflm_unit.inputs import (InputRange, ModelLike, load_interpreter, model_inputs, num_classes, positive_count,
                              predictions, prepare_labels)
from tflm_unit.runtime import Interpreter
from tflm_unit.unit.calibration.result import CalibrationResult

Thresholds = Union[None, str, CalibrationResult, Mapping[int, np.ndarray]]


def apply_thresholds(interpreter: Interpreter, thresholds: Thresholds, division: Optional[str] = None) -> None:
    """None: keep the model's own; "dense": every MAC layer dense; a
    CalibrationResult; or {op_index: int16 T_q [groups]} (group size from
    the number of values; ``division`` defaults to "shift")."""
    if thresholds is None:
        return
    if isinstance(thresholds, str):
        if thresholds != "dense":
            raise OptionError(f'thresholds must be None, "dense", a CalibrationResult or a dict, got {thresholds!r}')
        for op in interpreter.mac_layers():
            interpreter.set_skip(op.index, None)
        return
    if isinstance(thresholds, CalibrationResult):
        thresholds.apply(interpreter)
        return
    for op_index, values in thresholds.items():
        if values is None:
            interpreter.set_skip(int(op_index), None)
            continue
        t = np.asarray(values, dtype=np.int16).reshape(-1)
        channels = int(interpreter.graph.tensor(interpreter.graph.operators[int(op_index)].outputs[0]).shape[-1])
        interpreter.set_skip(int(op_index), t, channels // t.size, division or "shift")


def evaluate(model: ModelLike, x: np.ndarray, y: np.ndarray, thresholds: Thresholds = None,
             division: Optional[str] = None, batch_size: int = 1000, limit: Optional[int] = None,
             plot_path: Optional[Union[str, os.PathLike]] = None, *, input_range: InputRange = None) -> dict:
    """Accuracy and MACs per inference (dense vs executed), overall and per
    layer.  Returns a JSON-ready dict with ``accuracy``, ``macs_dense``,
    ``macs_executed``, ``macs_skipped_zero`` (an operand is zero: x' = 0,
    padding or w = 0), ``macs_skipped_threshold`` (both non-zero, skipped by
    a threshold), ``mac_reduction`` (= both skips / dense), ``num_samples``,
    ``input_scaling`` (how the data were mapped, see :mod:`tflm_unit.inputs`)
    and ``layers`` (each with op_index, op_name, output_name and the same MAC
    fields).  ``plot_path`` writes a PNG of per-layer skip rates.
    ``input_range`` overrides the inferred input scaling ("raw", "0,1", ...)."""
    interp = load_interpreter(model)
    apply_thresholds(interp, thresholds, division)
    if limit is not None:
        limit = positive_count(limit, "limit")
    batch_size = positive_count(batch_size, "batch_size")
    x, y = np.asarray(x), np.asarray(y)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    y = prepare_labels(y, num_classes(interp))
    if len(x) != len(y):
        raise DataError(f"need the same number of inputs and labels, got {len(x)} and {len(y)}")
    x, scaling = model_inputs(interp, x, input_range)
    correct = 0
    totals: Dict[int, List[int]] = {}
    names: Dict[int, tuple] = {}
    interp.count_zero_operands = True
    try:
        for start in range(0, len(x), batch_size):
            result = interp.run(x[start:start + batch_size])
            correct += int(np.sum(predictions(result.outputs[0]) == y[start:start + batch_size]))
            for layer in result.layers:
                acc = totals.setdefault(layer.op_index, [0, 0, 0, 0])
                acc[0] += layer.macs_total
                acc[1] += layer.macs_executed
                acc[2] += layer.macs_skipped_zero
                acc[3] += layer.macs_skipped_threshold
                names[layer.op_index] = (layer.op_name, layer.output_name)
    finally:
        interp.count_zero_operands = False
    n = len(x)
    layers = []
    for op_index in sorted(totals):
        dense, executed, zero, threshold = totals[op_index]
        layers.append(dict(op_index=op_index, op_name=names[op_index][0], output_name=names[op_index][1],
                           macs_dense=dense / n, macs_executed=executed / n, macs_skipped_zero=zero / n,
                           macs_skipped_threshold=threshold / n,
                           mac_reduction=1.0 - executed / dense if dense else 0.0))
    macs_dense = sum(layer["macs_dense"] for layer in layers)
    macs_executed = sum(layer["macs_executed"] for layer in layers)
    report = dict(accuracy=correct / n, num_samples=n, macs_dense=macs_dense, macs_executed=macs_executed,
                  macs_skipped_zero=sum(layer["macs_skipped_zero"] for layer in layers),
                  macs_skipped_threshold=sum(layer["macs_skipped_threshold"] for layer in layers),
                  mac_reduction=1.0 - macs_executed / macs_dense if macs_dense else 0.0, layers=layers,
                  input_scaling=scaling.to_dict())
    if plot_path is not None:
        plot_skip_rates(report, plot_path)
    return report


def plot_skip_rates(report: dict, path: Union[str, os.PathLike], title: Optional[str] = None) -> None:
    """Bar chart: share of MACs skipped per layer (from ``evaluate``); drawn by
    :func:`tflm_unit.plots.skip_rates_plot`."""
    from tflm_unit.plots import skip_rates_plot

    skip_rates_plot(report, path, title)
