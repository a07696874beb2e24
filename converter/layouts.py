"""The converter's choice of kernel layout per layer (DESIGN.md §9
"Zero-cost skipping"): for each UNIT_CONV_2D / UNIT_FULLY_CONNECTED, the
layout with the fewer MSP430 cycles by the fitted cycle model
(tflm_unit/msp430/cycle_model.json), given the MACs the model's thresholds
execute on representative data.  Every layout executes the same MACs (the
kernels are bit-exact), so one host run prices them all."""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Union

import numpy as np

from tflm_unit.converter.errors import ConversionError
from tflm_unit.runtime.model import UNIT_LAYOUTS, load_graph, read_model_bytes

#: Samples of the data the choice runs (the executed MACs are averages).
AUTO_LAYOUT_SAMPLES = 64


def layout_cycles(model: Union[bytes, str, os.PathLike], x: Any, multiplier: str = "hardware", *,
                  cycle_model: Any = None, input_range: Any = None,
                  max_samples: int = AUTO_LAYOUT_SAMPLES) -> Dict[int, Dict[str, float]]:
    """{op index: {layout: modelled cycles per inference}} for every
    UNIT_CONV_2D / UNIT_FULLY_CONNECTED op and each layout its kernel can
    take (compare always).  x: data as the model expects them (raw, scaled
    as tflm_unit.inputs infers, or as ``input_range`` says); the first
    ``max_samples`` are run.  cycle_model: anything with
    ``layer_cycles(LayerWork)`` (default: the shipped MSP430 model of
    ``multiplier``)."""
    from tflm_unit.inputs import model_inputs
    from tflm_unit.runtime import Interpreter
    from tflm_unit.runtime.interpreter import layout_problem
    from tflm_unit.unit.calibration.cycle_model import layer_work

    data = read_model_bytes(model)
    graph = load_graph(data)
    ops = [op for op in graph.operators if op.name in UNIT_LAYOUTS]
    if not ops:
        return {}
    if cycle_model is None:
        from tflm_unit.msp430.cycle_model import load_cycle_model

        cycle_model = load_cycle_model(multiplier)
    interpreter = Interpreter(data)
    xq, _ = model_inputs(interpreter, np.asarray(x)[:max_samples], input_range, what="layout data")
    stats = {layer.op_index: layer for layer in interpreter.run(xq).layers}
    out: Dict[int, Dict[str, float]] = {}
    for op in ops:
        o = op.custom_options
        out[op.index] = {
            layout: float(cycle_model.layer_cycles(layer_work(graph, op, stats[op.index], len(xq), True,
                                                              o["division"], int(o["group_size"]), layout)))
            for layout in UNIT_LAYOUTS[op.name] if layout_problem(graph, op, layout) is None}
    return out


def choose_layouts(model: Union[bytes, str, os.PathLike], x: Any, multiplier: str = "hardware", *,
                   cycle_model: Any = None, input_range: Any = None,
                   max_samples: int = AUTO_LAYOUT_SAMPLES) -> Dict[int, str]:
    """{op index: layout}: per op the layout of :func:`layout_cycles` with
    the fewest modelled cycles (compare on a tie: every runner reads it).
    Give the result to :func:`tflm_unit.converter.rewrite.set_layouts`."""
    if x is None:
        raise ConversionError("layout 'auto' needs data (the MACs the thresholds execute): give representative "
                              "data (--calib-data) or a layout (compare, sorted, bucketed, fast)")
    cycles = layout_cycles(model, x, multiplier, cycle_model=cycle_model, input_range=input_range,
                           max_samples=max_samples)
    return {index: min(costs, key=lambda layout: (costs[layout], layout != "compare"))
            for index, costs in cycles.items()}


def auto_layouts(model: bytes, x: Any, multiplier: str = "hardware", **kwargs: Optional[Any]) -> bytes:
    """The model with the layouts :func:`choose_layouts` picks."""
    from tflm_unit.converter.rewrite import set_layouts

    return set_layouts(model, choose_layouts(model, x, multiplier, **kwargs))


__all__ = ["AUTO_LAYOUT_SAMPLES", "layout_cycles", "choose_layouts", "auto_layouts"]
