"""What a layer costs on the MCU: the cycle-model interface the "cycles"
objective of the calibration uses, and a simple linear implementation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Protocol, Tuple

import numpy as np


@dataclass(frozen=True)
class LayerWork:
    """What one MAC layer does in one inference (averaged over a batch).

    ``unit`` is False for the dense builtin kernel (no divisions, nothing
    skipped).  ``divisions`` is the number of threshold quotients computed:
    conv / depthwise: one per non-zero kernel weight; fully connected: one per
    (input activation, group).
    """

    op_name: str  # CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED
    unit: bool
    division: str
    macs_total: float
    macs_executed: float
    divisions: float
    outputs: int
    group_size: int
    num_groups: int
    #: The op's ``layout`` option (DESIGN.md §9): compare, sorted (fully
    #: connected) or bucketed (conv), and what the bucketed conv's extra
    #: work scales with: input elements (bucketed once per call) and output
    #: rows (each weight ends one walk per output row).
    layout: str = "compare"
    input_elements: int = 0
    output_rows: int = 1
    #: int8 CONV_2D: the non-zero weights whose quotient is below 255, i.e. that
    #: the kernels walk at all (a quotient >= 255 covers every |x'|: the weight
    #: is passed over at every position, UNIT_TAU_SKIPS_ALL).
    walked_weights: float = 0.0

    @property
    def macs_skipped(self) -> float:
        return self.macs_total - self.macs_executed


def walked_weights(filter_oc_first: np.ndarray, thresholds: np.ndarray, group_size: int, division: str) -> int:
    """Non-zero weights of an int8 conv filter [Co, ...] whose quotient
    T_q[group] / |w| (the kernels' division) is below 255: the ones walked."""
    from tflm_unit.core import kernels

    w = np.abs(filter_oc_first.reshape(filter_oc_first.shape[0], -1).astype(np.int16))
    t = np.repeat(np.asarray(thresholds, np.int16).reshape(-1), group_size)[:, None]
    nonzero = w > 0
    tau = kernels.divide(np.broadcast_to(t, w.shape)[nonzero], w[nonzero], division)
    return int(np.count_nonzero(tau < 255))


def layer_work(graph: Any, op: Any, stats: Any, batch: int, unit: bool, division: str, group_size: int,
               layout: Optional[str] = None, nonzero_weights: Optional[int] = None,
               thresholds: Optional[np.ndarray] = None) -> LayerWork:
    """The LayerWork of one MAC op from a run's LayerStats over ``batch``
    samples.  ``layout`` None: the op's own option (compare for builtin ops);
    ``thresholds`` (int16 T_q per group) None: the op's thresholds tensor."""
    from tflm_unit.unit.calibration.result import base_op_name

    name = base_op_name(op)
    channels = len(stats.channel_executed)
    if not unit:
        divisions = 0.0
    elif name == "FULLY_CONNECTED":
        divisions = float(int(graph.tensor(op.inputs[1]).shape[1]) * (channels // group_size))
    else:
        divisions = float(np.count_nonzero(graph.tensor(op.inputs[1]).data) if nonzero_weights is None
                          else nonzero_weights)
    if layout is None:
        layout = op.custom_options.get("layout", "compare") if op.is_unit else "compare"
    in_shape, out_shape = graph.tensor(op.inputs[0]).shape, graph.tensor(op.outputs[0]).shape
    walked = 0.0
    if unit and name == "CONV_2D":
        if thresholds is None and op.is_unit and len(op.inputs) > 3:
            thresholds = graph.tensor(op.inputs[3]).data
        if thresholds is not None and np.asarray(thresholds).dtype.kind == "i":
            walked = float(walked_weights(graph.tensor(op.inputs[1]).data, thresholds, group_size, division))
    return LayerWork(op_name=name, unit=unit, division=division, macs_total=stats.macs_total / batch,
                     macs_executed=stats.macs_executed / batch, divisions=divisions,
                     outputs=int(np.prod(out_shape[1:])), group_size=group_size, num_groups=channels // group_size,
                     layout=layout, input_elements=int(np.prod(in_shape[1:])),
                     output_rows=int(out_shape[1]) if len(out_shape) == 4 else 1, walked_weights=walked)


class CycleModel(Protocol):
    """Anything that estimates the cycles of one layer's inference."""

    def layer_cycles(self, work: LayerWork) -> float: ...


@dataclass(frozen=True)
class LinearCycleModel:
    """cycles = executed MACs * mac + skipped MACs * skip + divisions *
    division[mode] + outputs * output (UnIT kernels); dense kernels pay
    ``dense_mac`` per MAC and ``output`` per output.  The defaults are
    placeholders in the right order of magnitude for an MSP430 with a
    hardware multiplier; pass measured figures."""

    mac: float = 45.0
    dense_mac: float = 40.0
    skip: float = 12.0
    output: float = 60.0
    division: Tuple[Tuple[str, float], ...] = (("exact", 400.0), ("shift", 60.0), ("tree", 30.0),
                                               ("clz", 20.0))

    def layer_cycles(self, work: LayerWork) -> float:
        if not work.unit:
            return work.macs_total * self.dense_mac + work.outputs * self.output
        per_division = dict(self.division)[work.division]
        return (work.macs_executed * self.mac + work.macs_skipped * self.skip
                + work.divisions * per_division + work.outputs * self.output)
