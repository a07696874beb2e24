"""What a layer costs on the MCU: the cycle-model interface the "cycles"
objective of the calibration uses, and a simple linear implementation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Tuple


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

    @property
    def macs_skipped(self) -> float:
        return self.macs_total - self.macs_executed


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
