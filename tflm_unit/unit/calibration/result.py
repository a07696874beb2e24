"""What a calibration returns: thresholds per op and group, what they skip
(by zero operands and by threshold, separately), and how the accuracy
promise was checked (searched drop, confirmed drop with its interval)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from tflm_unit.runtime import Interpreter
from tflm_unit.runtime.model import Operator


def base_op_name(op: Operator) -> str:
    return op.name[len("UNIT_"):] if op.name.startswith("UNIT_") else op.name


@dataclass
class LayerThresholds:
    """Calibrated thresholds of one MAC layer and what they skip on the
    calibration data (MACs per inference)."""

    op_index: int
    op_name: str
    output_name: str
    group_size: int
    thresholds_int: np.ndarray  # int16 [groups], what the kernels compare with
    thresholds_real: np.ndarray  # float64 [groups], T_q * s_x * mean(s_w over the group)
    macs_dense: float
    macs_executed: float
    macs_skipped_zero: float = 0.0  # an operand is zero (x' = 0, padding or w = 0)
    macs_skipped_threshold: float = 0.0  # both operands non-zero, skipped by the threshold

    @property
    def skip_rate(self) -> float:
        return 1.0 - self.macs_executed / self.macs_dense if self.macs_dense else 0.0

    def to_dict(self) -> dict:
        return dict(op_index=self.op_index, op_name=self.op_name, output_name=self.output_name,
                    group_size=self.group_size, thresholds_int=[int(t) for t in self.thresholds_int],
                    thresholds_real=[float(t) for t in self.thresholds_real],
                    macs_dense=float(self.macs_dense), macs_executed=float(self.macs_executed),
                    macs_skipped_zero=float(self.macs_skipped_zero),
                    macs_skipped_threshold=float(self.macs_skipped_threshold), skip_rate=float(self.skip_rate))


@dataclass
class CalibrationResult:
    """Thresholds per op and group plus the calibration summary.

    ``accuracy_dense`` / ``accuracy_unit`` and the MAC counts are measured on
    all ``num_samples`` calibration samples.  The promise: ``searched_drop``
    is the accuracy drop on the ``num_search_samples`` the search used;
    ``confirmed_drop`` the drop on the disjoint ``num_confirm_samples``, with
    ``confirmed_interval`` = (lower, upper) bounds at ``confidence``; the
    thresholds are chosen so that the upper bound is within
    ``max_accuracy_drop`` (``guaranteed``).  ``path`` holds every
    configuration measured on the search split, in search order.
    """

    division: str
    strategy: str
    group_size: Optional[int]
    objective: str
    max_accuracy_drop: float
    num_samples: int
    accuracy_dense: float
    accuracy_unit: float
    macs_dense: float
    macs_executed: float
    layers: List[LayerThresholds]
    cycles_dense: Optional[float] = None
    cycles_unit: Optional[float] = None
    path: List[dict] = field(default_factory=list, repr=False)
    dataset: Optional[str] = None
    search_runs: int = 0  # batch runs the search and the confirmation needed (full or partial graph)
    confidence: float = 0.0
    confirm_fraction: float = 0.0
    num_search_samples: int = 0
    num_confirm_samples: int = 0
    searched_drop: Optional[float] = None  # drop of the search's choice on the search split
    searched_mac_reduction: Optional[float] = None  # MACs the search's choice skips (search split)
    confirmed_drop: Optional[float] = None  # drop of the result on the confirmation split
    confirmed_interval: Optional[List[float]] = None  # [lower, upper] at ``confidence``
    guaranteed: bool = False
    confirmation: List[dict] = field(default_factory=list, repr=False)  # the fixed sequence tested
    warnings: List[str] = field(default_factory=list)
    seconds: Optional[float] = None
    dense_pass_seconds: Optional[float] = None
    cpu_seconds: Optional[float] = None  # process CPU time, all threads
    dense_pass_cpu_seconds: Optional[float] = None

    @property
    def accuracy_drop(self) -> float:
        return self.accuracy_dense - self.accuracy_unit

    @property
    def mac_reduction(self) -> float:
        return 1.0 - self.macs_executed / self.macs_dense if self.macs_dense else 0.0

    @property
    def macs_skipped_zero(self) -> float:
        return float(sum(layer.macs_skipped_zero for layer in self.layers))

    @property
    def macs_skipped_threshold(self) -> float:
        return float(sum(layer.macs_skipped_threshold for layer in self.layers))

    @property
    def cost_dense_passes(self) -> Optional[float]:
        """Calibration wall time in dense passes over the same samples (cost.py)."""
        if not self.seconds or not self.dense_pass_seconds:
            return None
        return self.seconds / self.dense_pass_seconds

    @property
    def cost_dense_passes_cpu(self) -> Optional[float]:
        """The same ratio in process CPU time (less sensitive to other jobs' load)."""
        if not self.cpu_seconds or not self.dense_pass_cpu_seconds:
            return None
        return self.cpu_seconds / self.dense_pass_cpu_seconds

    def timing(self) -> dict:
        """Wall and CPU time and the cost in dense passes (kept out of the
        summary so the model's metadata stays deterministic)."""
        return dict(seconds=self.seconds, dense_pass_seconds=self.dense_pass_seconds,
                    cost_dense_passes=self.cost_dense_passes, cpu_seconds=self.cpu_seconds,
                    dense_pass_cpu_seconds=self.dense_pass_cpu_seconds,
                    cost_dense_passes_cpu=self.cost_dense_passes_cpu)

    def thresholds_real(self) -> Dict[int, np.ndarray]:
        """op_index -> real thresholds [groups] (the converter's input)."""
        return {layer.op_index: layer.thresholds_real.copy() for layer in self.layers}

    def thresholds_int(self) -> Dict[int, np.ndarray]:
        """op_index -> int16 T_q [groups], exactly what was measured."""
        return {layer.op_index: layer.thresholds_int.copy() for layer in self.layers}

    def group_sizes(self) -> Dict[int, int]:
        return {layer.op_index: layer.group_size for layer in self.layers}

    def apply(self, interpreter: Interpreter) -> None:
        """Set these thresholds on an interpreter of the same model."""
        for layer in self.layers:
            interpreter.set_skip(layer.op_index, layer.thresholds_int, layer.group_size, self.division)

    def summary(self) -> dict:
        """The calibration entry of UNIT_METADATA (and of the CLI's JSON)."""
        out = dict(dataset=self.dataset, num_samples=self.num_samples,
                   max_accuracy_drop=self.max_accuracy_drop, strategy=self.strategy,
                   group_size=self.group_size, objective=self.objective, division=self.division,
                   accuracy_dense=self.accuracy_dense, accuracy_unit=self.accuracy_unit,
                   accuracy_drop=self.accuracy_drop, macs_dense=self.macs_dense,
                   macs_executed=self.macs_executed, mac_reduction=self.mac_reduction,
                   macs_skipped_zero=self.macs_skipped_zero, macs_skipped_threshold=self.macs_skipped_threshold,
                   search_runs=self.search_runs, confidence=self.confidence,
                   confirm_fraction=self.confirm_fraction, num_search_samples=self.num_search_samples,
                   num_confirm_samples=self.num_confirm_samples, searched_drop=self.searched_drop,
                   searched_mac_reduction=self.searched_mac_reduction, confirmed_drop=self.confirmed_drop,
                   confirmed_interval=self.confirmed_interval, guaranteed=self.guaranteed,
                   warnings=list(self.warnings),
                   layers=[dict(op_index=layer.op_index, macs_dense=layer.macs_dense,
                                macs_executed=layer.macs_executed, macs_skipped_zero=layer.macs_skipped_zero,
                                macs_skipped_threshold=layer.macs_skipped_threshold) for layer in self.layers])
        if self.cycles_dense is not None:
            out.update(cycles_dense=self.cycles_dense, cycles_unit=self.cycles_unit)
        return out

    def converter_kwargs(self) -> dict:
        """Keyword arguments for ``tflm_unit.converter.convert`` /
        ``apply_thresholds`` on the int8 model that was calibrated (same op
        indices): real thresholds, group sizes, division, calibration summary."""
        return dict(thresholds=self.thresholds_real(), group_size=self.group_sizes(), division=self.division,
                    calibration=self.summary())

    def to_metadata(self) -> dict:
        """JSON-ready: summary under ``calibration`` and per-op thresholds."""
        return dict(calibration=self.summary(), division=self.division,
                    ops=[layer.to_dict() for layer in self.layers])
